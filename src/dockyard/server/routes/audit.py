from __future__ import annotations

from fastapi import APIRouter, Request, Response

from dockyard.entities import AuditEvent, AuditEventPage, Page
from dockyard.server.deps import client_of, json_response
from dockyard.server.writes import AuditedRoute

router = APIRouter(prefix="/audit-events", tags=["audit"], route_class=AuditedRoute)


@router.get("", response_model=Page[AuditEvent], summary="Query the audit trail (read-only)")
def search_audit_events(
    request: Request,
    resource_type: str | None = None,
    resource_id: str | None = None,
    actor: str | None = None,
    since: int | None = None,
    until: int | None = None,
    max_results: int = 1000,
) -> Response:
    events = client_of(request).search_audit_events(
        resource_type, resource_id, actor, since, until, max_results)
    return json_response(AuditEventPage(items=events))
