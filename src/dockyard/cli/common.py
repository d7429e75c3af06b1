"""Options and helpers shared by the CLI commands."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import typer
from rich.markup import escape

from dockyard.cli.output import err_console
from dockyard.client import Client
from dockyard.errors import DockyardError

F = TypeVar("F", bound=Callable[..., Any])

UriOption = typer.Option(
    None, "--uri", envvar="DOCKYARD_URI",
    help="Store or server: sqlite:///file.db, postgresql://..., http://host:port. "
         "Default: the embedded store under DOCKYARD_HOME.")
JsonOption = typer.Option(False, "--json", help="Print JSON instead of a table (for scripts).")


def client(uri: str | None) -> Client:
    return Client(uri)


def handle_errors(fn: F) -> F:
    """Print a DockyardError as one clear line and exit 1 (no traceback)."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except DockyardError as exc:
            # The message may quote user input ("models:/a[/]b"): print it as text, not markup.
            err_console.print(f"[bold red]error:[/] {escape(exc.message)} [dim]({exc.error_code})[/]")
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]
