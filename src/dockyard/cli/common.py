"""Options and helpers shared by the CLI commands."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.markup import escape

from dockyard.cli.output import err_console
from dockyard.client import Client
from dockyard.entities.dataset import SCHEME, parse_dataset_spec
from dockyard.errors import DockyardError

F = TypeVar("F", bound=Callable[..., Any])

UriOption = typer.Option(
    None, "--uri", envvar="DOCKYARD_URI",
    help="Store or server: sqlite:///file.db, postgresql://..., http://host:port. "
         "Default: the embedded store under DOCKYARD_HOME.")
JsonOption = typer.Option(False, "--json", help="Print JSON instead of a table (for scripts).")


def parse_tags(tags: list[str] | None, option: str = "--tag") -> dict[str, str]:
    """``KEY=VALUE`` items as a dict."""
    parsed: dict[str, str] = {}
    for item in tags or []:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise typer.BadParameter(f"{item!r} is not KEY=VALUE", param_hint=option)
        parsed[key.strip()] = value
    return parsed


def reference_data(text: str | None, option: str) -> str | Path | None:
    """A reference given on the command line: a data file, or a dataset version (churn@2,
    datasets:/churn/2) as its URI."""
    if text is None or Path(text).is_file():
        return None if text is None else Path(text)
    if "@" in text or text.startswith(SCHEME):
        name, version = parse_dataset_spec(text)
        return f"{SCHEME}{name}" + ("" if version is None else f"/{version}")
    raise typer.BadParameter(f"{text} does not exist, and is not a dataset version (churn@2)",
                             param_hint=option)


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
