"""``dockyard batch``: score a file with a model, in chunks."""

from __future__ import annotations

import typer

from dockyard.cli.common import handle_errors


@handle_errors
def batch(model: str = typer.Argument(..., help="The model to score with.")) -> None:
    """Score a Parquet or CSV file with a model, in chunks, resumably."""
    raise typer.Exit(2)
