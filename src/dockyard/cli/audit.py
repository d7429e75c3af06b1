"""``dockyard audit``: read the audit trail, who changed what and when.

``list`` shows the newest matching events as a table; ``export`` writes every
matching event as JSON Lines, read from the store a page at a time, so that a
trail of any length exports in bounded memory.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import IO

import typer

from dockyard.cli.common import JsonOption, UriOption, client, handle_errors
from dockyard.cli.output import err_console, fmt_time, print_json, table
from dockyard.entities import AuditEvent
from dockyard.entities.audit import parse_time, summarize
from dockyard.errors import InvalidArgument

app = typer.Typer(help="The audit trail: who changed what, when, and what it replaced.",
                  no_args_is_help=True)

SUMMARY_CHARS = 80

_WHEN = "ISO date or time (2026-05-01, 2026-05-01T12:00; naive is UTC) or ms since the epoch"
ResourceTypeOption = typer.Option(
    None, "--resource-type", "-t",
    help="Only this kind of resource: run, experiment, model-version, deployment, monitor...")
ResourceIdOption = typer.Option(None, "--resource-id", "-r",
                                help="Only this resource (a run id, a deployment name, "
                                     "a model version as <name>/<version>).")
UserOption = typer.Option(None, "--user", "-u", help="Only changes made by this user.")
SinceOption = typer.Option(None, "--since", help=f"From this time, included: {_WHEN}.")
UntilOption = typer.Option(None, "--until", help=f"Up to this time, excluded: {_WHEN}.")


def _time(text: str | None, option: str) -> int | None:
    if text is None:
        return None
    try:
        return parse_time(text, option)
    except InvalidArgument as exc:
        raise typer.BadParameter(exc.message, param_hint=option) from None


@app.command("list")
@handle_errors
def list_events(
    resource_type: str = ResourceTypeOption,
    resource_id: str = ResourceIdOption,
    user: str = UserOption,
    since: str = SinceOption,
    until: str = UntilOption,
    max_results: int = typer.Option(50, "--max", "-n", min=1, max=1000,
                                    help="Show at most this many events (the newest)."),
    as_json: bool = JsonOption,
    uri: str = UriOption,
) -> None:
    """The newest matching events, newest first: time, user, action, resource, status, the
    change and the state it replaced."""
    events = client(uri).search_audit_events(
        resource_type, resource_id, user, _time(since, "--since"),
        _time(until, "--until"), max_results, newest_first=True)
    if as_json:
        print_json(events)
        return
    table("Audit events", ["id", "time", "user", "action", "resource", "status", "change",
                           "before"],
          [(e.id, fmt_time(e.time), e.actor, e.action,
            e.resource_type + (f" {e.resource_id}" if e.resource_id else ""), e.status,
            summarize(e.request, SUMMARY_CHARS) or "-",
            summarize(e.before, SUMMARY_CHARS) or "-") for e in events])


def _write(events: Iterable[AuditEvent], out: IO[bytes]) -> int:
    count = 0
    for event in events:
        out.write(event.model_dump_json().encode() + b"\n")
        count += 1
    return count


@app.command("export")
@handle_errors
def export(
    resource_type: str = ResourceTypeOption,
    resource_id: str = ResourceIdOption,
    user: str = UserOption,
    since: str = SinceOption,
    until: str = UntilOption,
    output: Path = typer.Option(None, "--output", "-o", dir_okay=False,
                                help="Write to this file instead of standard output."),
    uri: str = UriOption,
) -> None:
    """Every matching event as JSON Lines (one JSON object per line), oldest first."""
    events = client(uri).iter_audit_events(
        resource_type, resource_id, user, _time(since, "--since"),
        _time(until, "--until"))
    if output is None:
        _write(events, sys.stdout.buffer)
        sys.stdout.buffer.flush()
        return
    with output.open("wb") as out:
        count = _write(events, out)
    err_console.print(f"Wrote {count} audit events to {output}", markup=False, highlight=False)
