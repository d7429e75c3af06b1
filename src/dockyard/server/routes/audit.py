"""The audit trail, read-only: a search, paged by id, and an export as JSON Lines.

There is no route that records, changes or deletes an audit event: the
server appends them itself (:mod:`dockyard.server.writes`).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse

from dockyard.entities import AuditEvent, AuditEventPage, Page
from dockyard.server.deps import client_of, json_response
from dockyard.server.writes import AuditedRoute

router = APIRouter(prefix="/audit-events", tags=["audit"], route_class=AuditedRoute)

EXPORT_PAGE = 1000
NDJSON = "application/x-ndjson"

_SINCE = Query(None, description="ms since the epoch; included")
_UNTIL = Query(None, description="ms since the epoch; excluded")


@router.get("", response_model=Page[AuditEvent], summary="Query the audit trail (read-only)")
def search_audit_events(
    request: Request,
    resource_type: str | None = None,
    resource_id: str | None = None,
    actor: str | None = None,
    since: int | None = _SINCE,
    until: int | None = _UNTIL,
    max_results: int = 1000,
    after_id: int | None = Query(None, description="only the events after this one in the "
                                                   "order asked for: pass the last id of a "
                                                   "page to read the next"),
    newest_first: bool = Query(False, description="in descending id order"),
) -> Response:
    events = client_of(request).search_audit_events(
        resource_type, resource_id, actor, since, until, max_results, after_id, newest_first)
    return json_response(AuditEventPage(items=events))


@router.get(":export", response_class=StreamingResponse,
            responses={200: {"content": {NDJSON: {}}, "description": "One event per line"}},
            summary="Every matching audit event as JSON Lines, oldest first")
def export_audit_events(
    request: Request,
    resource_type: str | None = None,
    resource_id: str | None = None,
    actor: str | None = None,
    since: int | None = _SINCE,
    until: int | None = _UNTIL,
) -> Response:
    pages = client_of(request).iter_audit_event_pages(
        resource_type, resource_id, actor, since, until, EXPORT_PAGE)
    # The first page is read here, so that a bad filter is a 400, not a broken stream.
    first = next(pages)

    def lines() -> Iterator[bytes]:
        for page in itertools.chain([first], pages):
            yield b"".join(e.model_dump_json().encode() + b"\n" for e in page)

    return StreamingResponse(lines(), media_type=NDJSON)
