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

from dockyard.entities import AuditEvent, now_ms
from dockyard.server.auth import (
    ScopeResolver,
    check_csrf,
    principal_of,
    required_role,
)
from dockyard.store.http import API_PREFIX

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSRF_HEADER = "X-Dockyard-CSRF"
_SCOPES = ScopeResolver()


def actor_of(request: Request) -> str:
    """Who made the request: the signed-in user; in single-user mode, the client's
    ``X-Dockyard-User`` header, else the server's OS user."""
    return principal_of(request).name


async def authorize(request: Request, role: str | None, path: str, action: str,
                    read_only: bool = False) -> None:
    """Refuse the request unless its principal holds ``role`` on what it touches.

    Raises Unauthenticated (401) without valid credentials and PermissionDenied (403)
    without the role. Single-user servers let every request through.
    """
    if not request.app.state.auth.required:
        return
    principal = await run_in_threadpool(principal_of, request)
    if principal.session and request.method in WRITE_METHODS and not read_only:
        # A browser sends the session cookie with any request to this site, a forged one
        # too: an API write on a session must also carry the session's CSRF token.
        check_csrf(request, request.headers.get(CSRF_HEADER))
    if principal.can(role):
        return
    body = await request.body() if _SCOPES.body_key(request.method, path) else None
    store = request.app.state.client.store
    params = {**request.query_params, **request.path_params}
    groups = await run_in_threadpool(_SCOPES.scopes, store, request.method, path, params, body)
    if not groups:
        raise principal.denied(str(role), action)
    for group in groups:
        if not principal.can(role, group):
            raise principal.denied(str(role), action, group[0])


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
        path = self.path.removeprefix(API_PREFIX)
        methods = self.methods or {"GET"}
        roles = {m: required_role(m, path, read_only) for m in methods}
        described = action.replace("_", " ")

        async def audited(request: Request) -> Response:
            request.state.audit = {}
            await authorize(request, roles.get(request.method, "editor"), path, described,
                            read_only)
            response = await handler(request)
            if request.method in WRITE_METHODS and not read_only and response.status_code < 400:
                event = AuditEvent(
                    time=now_ms(),
                    actor=actor_of(request),  # no store read: authorize() cached it
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
