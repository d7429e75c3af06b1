"""The approval workflow: a second person, and evidence, before a version goes live.

Moving a version to Production, or pointing one of a model's protected
aliases at it, on a server that requires authentication opens an
:class:`~dockyard.entities.approval.ApprovalRequest` instead of committing.
An approver other than the request's author approves or rejects it with a
comment. Approval commits the change only when its checks pass:

* **validation**: the version passed a validation under the model's current
  policy (``dockyard validate``; see docs/validate.md);
* **model card**: the version has a model card.

A failing check leaves the request pending, with the checks recorded, so
that the evidence can be added and the approval tried again.
"""

from __future__ import annotations

from typing import Any

from dockyard.entities.approval import PRODUCTION, ApprovalCheck, ApprovalRequest
from dockyard.errors import Conflict, InvalidState, PermissionDenied
from dockyard.store.base import MetadataStore


def audit_summary(found: ApprovalRequest) -> dict[str, Any]:
    """What the audit event of a step of ``found`` records (from the API or the UI)."""
    return {"approval_request": found.id, "target": found.target, "author": found.author,
            "status": found.status, "checks": {c.name: c.passed for c in found.checks}}


def evaluate_checks(store: MetadataStore, request: ApprovalRequest) -> list[ApprovalCheck]:
    """The checks of ``request`` as things stand now."""
    model = store.get_registered_model(request.model)
    version = store.get_model_version(request.model, request.version)
    if model.policy_digest is None:
        validation = ApprovalCheck(
            name="validation", passed=False,
            detail=f"{model.name} has no validation policy: set one (dockyard models policy "
                   f"{model.name} policy.yaml) and validate the version (dockyard validate)")
    else:
        passed = [found for found in store.list_validations(model.name, version.version, 100)
                  if found.passed and found.policy_digest == model.policy_digest]
        validation = ApprovalCheck(
            name="validation", passed=bool(passed),
            detail=(f"validation {passed[0].id} passed under policy {model.policy_digest[:12]}"
                    if passed else
                    f"no passing validation under the current policy "
                    f"{model.policy_digest[:12]}: run dockyard validate on version "
                    f"{version.version}"))
    card = ApprovalCheck(
        name="model card", passed=bool(version.card.strip()),
        detail=("the version has a model card" if version.card.strip() else
                "the version has no model card: add one (dockyard models card "
                f"models:/{model.name}/{version.version} --set CARD.md)"))
    return [validation, card]


def needs_approval(store: MetadataStore, model: str, *, stage: str | None = None,
                   alias: str | None = None) -> str | None:
    """The approval target of a change, or None when it needs no approval."""
    if stage is not None:
        return PRODUCTION if str(stage).lower() == "production" else None
    if alias is not None and alias in store.get_registered_model(model).protected_aliases:
        return f"alias:{alias}"
    return None


def _decider(request: ApprovalRequest, user: str, verb: str, two_people: bool) -> None:
    if request.status != "pending":
        raise Conflict(f"request {request.id} was already {request.status} by "
                       f"{request.decided_by}; open a new one to ask again")
    if two_people and user == request.author:
        raise PermissionDenied(f"{user} opened request {request.id} and cannot {verb} it: "
                               "another approver must")


def approve(store: MetadataStore, request_id: str, approver: str, comment: str = "", *,
            two_people: bool = True) -> ApprovalRequest:
    """Approve a pending request and commit its change, if its checks pass.

    Raises PermissionDenied for the request's author (with ``two_people``, as
    on every server that requires authentication; a single-user server has
    one person), Conflict for a request already decided, and InvalidState
    (409) naming every failing check.
    """
    request = store.get_approval_request(request_id)
    _decider(request, approver, "approve", two_people)
    checks = evaluate_checks(store, request)
    failing = [check for check in checks if not check.passed]
    if failing:
        store.record_approval_checks(request.id, checks)
        raise InvalidState(f"request {request.id} cannot be committed until its checks pass: "
                           + "; ".join(f"{c.name}: {c.detail}" for c in failing),
                           request_id=request.id, failing=[c.name for c in failing])
    if request.target == PRODUCTION:
        store.transition_stage(request.model, request.version, "Production",
                               request.archive_existing, user=approver)
    else:
        store.set_alias(request.model, request.target.removeprefix("alias:"), request.version,
                        user=approver)
    return store.decide_approval_request(request.id, "approved", approver, comment, checks)


def reject(store: MetadataStore, request_id: str, approver: str, comment: str = "", *,
           two_people: bool = True) -> ApprovalRequest:
    """Reject a pending request: nothing changes, and the decision is recorded."""
    request = store.get_approval_request(request_id)
    _decider(request, approver, "reject", two_people)
    return store.decide_approval_request(request.id, "rejected", approver, comment)
