"""Approval requests: open one, read them, and approve or reject one.

Audit events: ``open_approval_request``, ``approve_request`` and
``reject_request``, each on the model version (``<name>/<version>``) with the
request's id, target, author and, for a decision, the checks.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from dockyard.entities import Page
from dockyard.entities.approval import ApprovalRequest
from dockyard.manage import approvals
from dockyard.server.deps import client_of, json_response
from dockyard.server.schemas import CreateApprovalRequest, Decision
from dockyard.server.writes import AuditedRoute, actor_of

router = APIRouter(prefix="/approval-requests", tags=["approval-requests"],
                   route_class=AuditedRoute)


def _audit(request: Request, found: ApprovalRequest) -> None:
    request.state.resource_type = "model-version"
    request.state.resource_id = f"{found.model}/{found.version}"
    request.state.audit = approvals.audit_summary(found)


@router.post("", response_model=ApprovalRequest, status_code=201,
             summary="Ask for a version to be moved to Production or a protected alias")
def open_approval_request(body: CreateApprovalRequest, request: Request) -> Response:
    found = client_of(request).store.create_approval_request(
        body.model, body.version, body.target, actor_of(request), body.comment,
        body.archive_existing)
    _audit(request, found)
    return json_response(found, 201)


@router.get("", response_model=Page[ApprovalRequest],
            summary="Approval requests, newest first, of one model and/or in one status")
def list_approval_requests(request: Request, model: str | None = None,
                           status: str | None = None, max_results: int = 100) -> Response:
    found = client_of(request).store.list_approval_requests(model, status, max_results)
    return json_response(Page[ApprovalRequest](items=found))


@router.get("/{request_id}", response_model=ApprovalRequest, summary="One approval request")
def get_approval_request(request_id: str, request: Request) -> Response:
    return json_response(client_of(request).store.get_approval_request(request_id))


@router.post("/{request_id}:approve", response_model=ApprovalRequest,
             summary="Approve a request and commit its change (its author cannot; its checks "
                     "must pass)")
def approve_request(request_id: str, body: Decision, request: Request) -> Response:
    found = approvals.approve(client_of(request).store, request_id, actor_of(request),
                              body.comment, two_people=request.app.state.auth.required)
    _audit(request, found)
    return json_response(found)


@router.post("/{request_id}:reject", response_model=ApprovalRequest,
             summary="Reject a request: nothing changes (its author cannot)")
def reject_request(request_id: str, body: Decision, request: Request) -> Response:
    found = approvals.reject(client_of(request).store, request_id, actor_of(request),
                             body.comment, two_people=request.app.state.auth.required)
    _audit(request, found)
    return json_response(found)
