"""``dockyard features``: feature tables from a YAML file, materialized and looked up."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from dockyard.cli.common import JsonOption, handle_errors
from dockyard.cli.output import console, print_json, table

app = typer.Typer(
    help="Feature tables: point-in-time training frames, the online store and its lookups.",
    no_args_is_help=True,
)

ConfigArgument = typer.Argument(..., help="The YAML file of the feature tables "
                                           "(see docs/feature-store.md).")
OnlineOption = typer.Option(None, "--online",
                            help="The online store (sqlite:///path.db or redis://host:6379/0); "
                                 "default: the file's, else SQLite under DOCKYARD_HOME.")


def _store(config: Path, online: str | None) -> Any:
    from dockyard.data.feature_store import FeatureStore

    return FeatureStore.from_yaml(config, online=online)


def _when(text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a time such as 2026-05-01T12:00",
                                 param_hint="--until") from None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _id(text: str) -> Any:
    """An entity id as typed: a whole number when it is one, else text."""
    return int(text) if text.lstrip("-").isdigit() else text


@app.command("list")
@handle_errors
def list_command(config: Path = ConfigArgument, as_json: bool = JsonOption) -> None:
    """List the feature tables of a YAML file."""
    with _store(config, None) as store:
        found = [{"name": t.name, "entity": list(t.entity), "timestamp": t.timestamp,
                  "features": list(t.features),
                  "ttl_seconds": None if t.ttl is None else t.ttl.total_seconds(),
                  "source": str(t.source)} for t in store.tables.values()]
    if as_json:
        print_json(found)
        return
    table(None, ["table", "entity", "timestamp", "features", "ttl", "source"],
          [[t["name"], ", ".join(t["entity"]), t["timestamp"], ", ".join(t["features"]),
            "-" if t["ttl_seconds"] is None else f"{t['ttl_seconds']:g} s", t["source"]]
           for t in found])


@app.command("materialize")
@handle_errors
def materialize_command(
    config: Path = ConfigArgument,
    table_names: list[str] = typer.Option(None, "--table", "-t",
                                          help="Only this table (repeatable); default: all."),
    until: str = typer.Option(None, "--until",
                              help="The latest values as of this time (ISO 8601, naive is "
                                   "UTC); default: now."),
    online: str = OnlineOption,
) -> None:
    """Write the latest value per entity of each table to the online store."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    cutoff = _when(until)
    with _store(config, online) as store, Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("entities"), console=console, transient=True) as bar:
        tasks: dict[str, Any] = {}

        def progress(name: str, done: int, total: int) -> None:
            if name not in tasks:
                tasks[name] = bar.add_task(name, total=total)
            bar.update(tasks[name], completed=done)

        written = store.materialize(table_names or None, until=cutoff, progress=progress)
    for name, rows in written.items():
        console.print(f"materialized [bold]{escape(name)}[/]: {rows:,} entities")


@app.command("lookup")
@handle_errors
def lookup_command(
    config: Path = ConfigArgument,
    ids: list[str] = typer.Argument(..., help="Entity ids (tables keyed by one column)."),
    feature: list[str] = typer.Option(..., "--feature", "-f",
                                      help="table:feature or table:* (repeatable)."),
    online: str = OnlineOption,
    as_json: bool = JsonOption,
) -> None:
    """Look up the latest materialized values of entities."""
    with _store(config, online) as store:
        found = store.get_online_features([_id(i) for i in ids], feature, as_frame=False)
    if as_json:
        print_json(found)
        return
    names = list(found)
    table(None, names, [[found[n][i] for n in names] for i in range(len(ids))])
