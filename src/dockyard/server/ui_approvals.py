"""The approvals page: requests to move a model version to a protected target.

``/approvals`` lists the requests newest first (pending ones unless the
filter says otherwise), each with the checks as last evaluated. Whoever may
decide a pending request gets a form on it, posted to
``/approvals/<id>/approve`` or ``/approvals/<id>/reject``: an approver on the
model who did not open it (on a single-user server, anyone). A decision runs
the same workflow (:mod:`dockyard.manage.approvals`) and records the same
audit event as ``POST /api/v1/approval-requests/<id>:approve`` and
``:reject``; a check that fails, or a request someone else decided first,
answers the page again with the reason (409) and the request unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from dockyard.entities import AuditEvent, now_ms
from dockyard.entities.approval import STATUSES, ApprovalRequest, check_request_id
from dockyard.errors import Conflict, InvalidArgument, InvalidState
from dockyard.manage import approvals
from dockyard.server.auth import Principal, check_csrf, principal_of
from dockyard.server.deps import client_of
from dockyard.server.forms import CSRF_FIELD, check_origin, read_form
from dockyard.server.ui import query_url, render

router = APIRouter(include_in_schema=False)

APPROVER = "approver"
ALL = "all"
STATUS_FILTERS = (*STATUSES, ALL)
MAX_SHOWN = 200
_ACTIONS = {"approve": "approve_request", "reject": "reject_request"}


@dataclass(frozen=True)
class Row:
    """A request as the page shows it: whether this user may decide it, and if not, why."""

    request: ApprovalRequest
    can_decide: bool
    note: str = ""


def _row(found: ApprovalRequest, principal: Principal, two_people: bool) -> Row:
    if found.status != "pending":
        return Row(found, False)
    if not two_people:  # single-user: one person, every right
        return Row(found, True)
    if principal.name == found.author:
        return Row(found, False, "you opened this request: another approver decides it")
    if not principal.can(APPROVER, [f"model:{found.model}"]):
        return Row(found, False, "awaiting an approver")
    return Row(found, True)


def _status_filter(status: str) -> str | None:
    if status not in STATUS_FILTERS:
        raise InvalidArgument(f"status must be one of {', '.join(STATUS_FILTERS)}; "
                              f"got {status!r:.40}")
    return None if status == ALL else status


def _page(request: Request, principal: Principal, status: str, model: str,
          error: str | None = None, status_code: int = 200) -> Response:
    model = model.strip()
    found = client_of(request).store.list_approval_requests(
        model or None, _status_filter(status), MAX_SHOWN + 1)
    two_people = request.app.state.auth.required
    rows = [_row(r, principal, two_people) for r in found[:MAX_SHOWN]]
    return render(request, "approvals.html", "approvals", status_code=status_code, rows=rows,
                  status=status, model=model, statuses=STATUS_FILTERS, error=error,
                  more=len(found) > MAX_SHOWN, max_shown=MAX_SHOWN)


@router.get("/approvals")
def approvals_page(request: Request, status: str = "pending", model: str = "") -> Response:
    """Approval requests, newest first, with a decision form where this user may decide."""
    return _page(request, principal_of(request), status, model)


def _decide(request: Request, request_id: str, verb: str, form: dict[str, str]) -> Response:
    principal = principal_of(request)
    check_csrf(request, form.get(CSRF_FIELD))  # passes on a single-user server
    store = client_of(request).store
    found = store.get_approval_request(check_request_id(request_id))
    two_people = request.app.state.auth.required
    if two_people and not principal.can(APPROVER, [f"model:{found.model}"]):
        raise principal.denied(APPROVER, f"to {verb} a request", f"model:{found.model}")
    back_status, back_model = form.get("status", "pending"), form.get("model", "")
    decide = approvals.approve if verb == "approve" else approvals.reject
    try:
        done = decide(store, found.id, principal.name, form.get("comment", ""),
                      two_people=two_people)
    except (InvalidState, Conflict) as exc:
        return _page(request, principal, back_status if back_status in STATUS_FILTERS
                     else "pending", back_model, exc.message, exc.http_status)
    store.record_audit_event(AuditEvent(
        time=now_ms(), actor=principal.name, action=_ACTIONS[verb],
        resource_type="model-version", resource_id=f"{done.model}/{done.version}",
        request=approvals.audit_summary(done), status=200))
    back = query_url("/approvals", {"status": done.status, "model": back_model.strip()})
    return RedirectResponse(f"{back}#request-{done.id}", status_code=303)


@router.post("/approvals/{request_id}/approve")
async def approve(request: Request, request_id: str) -> Response:
    """Approve a request and commit its change, when its checks pass."""
    check_origin(request)
    form = await read_form(request)
    return await run_in_threadpool(_decide, request, request_id, "approve", form)


@router.post("/approvals/{request_id}/reject")
async def reject(request: Request, request_id: str) -> Response:
    """Reject a request: nothing changes, and the decision is recorded."""
    check_origin(request)
    form = await read_form(request)
    return await run_in_threadpool(_decide, request, request_id, "reject", form)
