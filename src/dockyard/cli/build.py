"""``dockyard build``: write a container build context for a model."""

from __future__ import annotations

import typer

from dockyard.cli.common import handle_errors


@handle_errors
def build(model: str = typer.Argument(..., help="The model to build.")) -> None:
    """Write a self-contained container build context for a model."""
    raise typer.Exit(2)
