"""The audit page: who changed what, when, and what the change replaced.

``/audit`` lists the matching events newest first, a page at a time: the
next page starts after the last event shown (``after``, an event id), so a
page costs one query however long the trail is. Filters are GET parameters,
so a link shows what its sender saw.
"""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Request
from fastapi.responses import Response

from dockyard.entities.audit import parse_time, summarize
from dockyard.errors import InvalidArgument
from dockyard.server.deps import client_of
from dockyard.server.ui import PAGE_SIZES, query_url, render, templates

router = APIRouter(include_in_schema=False)

DEFAULT_SIZE = 50
RESOURCE_TYPES = ("project", "experiment", "run", "artifact", "registered-model",
                  "model-version", "model-alias", "deployment", "monitor", "alert", "dataset",
                  "user", "token")


def _time_field(ms: int | None) -> str:
    """A time as the form's datetime-local field shows it (UTC)."""
    if ms is None:
        return ""
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M")


@router.get("/audit")
def audit(request: Request, resource_type: str = "", resource_id: str = "", actor: str = "",
          since: str = "", until: str = "", size: int = DEFAULT_SIZE,
          after: int | None = None) -> Response:
    """The audit trail, newest first, filtered by resource, user and time, a page at a time."""
    if size not in PAGE_SIZES:
        raise InvalidArgument(f"size must be one of {', '.join(map(str, PAGE_SIZES))}; got {size}")
    since_ms = parse_time(since, "since") if since.strip() else None
    until_ms = parse_time(until, "until") if until.strip() else None
    found = client_of(request).search_audit_events(
        resource_type.strip() or None, resource_id.strip() or None, actor.strip() or None,
        since_ms, until_ms, size + 1, after, newest_first=True)
    events, more = found[:size], len(found) > size
    state = {"resource_type": resource_type, "resource_id": resource_id, "actor": actor,
             "since": since, "until": until, "size": size if size != DEFAULT_SIZE else None}
    return render(
        request, "audit.html", "audit", events=events, resource_type=resource_type,
        resource_id=resource_id, actor=actor, since=_time_field(since_ms),
        until=_time_field(until_ms), size=size, page_sizes=PAGE_SIZES,
        resource_types=RESOURCE_TYPES, first_page=after is None,
        next_url=query_url("/audit", {**state, "after": events[-1].id}) if more else None,
        newest_url=query_url("/audit", state))


templates.env.globals.update(change_summary=summarize)
