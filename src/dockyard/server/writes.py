"""The one place every state-changing request passes through.

Every router uses :class:`AuditedRoute`. For POST, PUT, PATCH and DELETE it
finds who is asking (:func:`actor_of`), runs the handler and, when the change
succeeded, appends an :class:`~dockyard.entities.AuditEvent`. Later
capabilities add their writes by using the same route class; a route that
only reads with POST (a search) says ``openapi_extra={"x-read-only": True}``.

A handler describes its change in ``request.state.audit`` (a small dict);
it may name the resource with ``request.state.resource_id`` and
``request.state.resource_type`` when the path and the route's tag do not
(a model version is ``<name>/<version>``, an alias ``<name>@<alias>``).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from dockyard.config import os_user
from dockyard.entities import AuditEvent, now_ms
from dockyard.store.http import USER_HEADER

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_SERVER_USER = os_user()


def actor_of(request: Request) -> str:
    """Who made the request: the client's user header, else the server's OS user.

    Authentication replaces this with the authenticated identity.
    """
    name = request.headers.get(USER_HEADER, "").strip()
    return name[:250] if name else _SERVER_USER


def _resource(request: Request, response: Response) -> str | None:
    named = getattr(request.state, "resource_id", None)
    if named is not None:
        return str(named)
    for key in ("run_id", "experiment_id", "project_id"):
        if key in request.path_params:
            return str(request.path_params[key])
    body = getattr(response, "body", b"")
    if body and response.media_type == "application/json":
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        if isinstance(doc, dict) and isinstance(doc.get("id"), str):
            return doc["id"]
    return None


class AuditedRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        read_only = bool((self.openapi_extra or {}).get("x-read-only"))
        resource_type = str(self.tags[0]).removesuffix("s") if self.tags else "other"
        action = self.name

        async def audited(request: Request) -> Response:
            request.state.audit = {}
            response = await handler(request)
            if request.method in WRITE_METHODS and not read_only and response.status_code < 400:
                event = AuditEvent(
                    time=now_ms(),
                    actor=actor_of(request),
                    action=action,
                    resource_type=getattr(request.state, "resource_type", None) or resource_type,
                    resource_id=_resource(request, response),
                    request=request.state.audit,
                    status=response.status_code,
                    before=getattr(request.state, "audit_before", None),
                )
                store = request.app.state.client.store
                await run_in_threadpool(store.record_audit_event, event)
            return response

        return audited
