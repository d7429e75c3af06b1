"""Approval requests: moving a model version to a protected target takes a second person.

A request names a version and its target: ``stage:Production`` or
``alias:<name>`` (one of the model's protected aliases). Its author cannot
decide it; an approver approves or rejects it with a comment. It is
committed only when approved and its checks pass (:class:`ApprovalCheck`).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from dockyard.errors import InvalidArgument

STATUSES = ("pending", "approved", "rejected")
PRODUCTION = "stage:Production"
_TARGET = re.compile(r"^(stage:Production|alias:[A-Za-z0-9_][A-Za-z0-9_.-]{0,99})\Z")
_REQUEST_ID = re.compile(r"^[0-9a-f]{32}\Z")
MAX_COMMENT = 10_000


def check_target(target: Any) -> str:
    """``stage:Production`` or ``alias:<name>``. Raises InvalidArgument."""
    if not isinstance(target, str) or not _TARGET.match(target):
        raise InvalidArgument(f"approval target {target!r:.80} is not valid: use "
                              "stage:Production or alias:<name>")
    return target


def check_request_id(request_id: Any) -> str:
    """An approval request id: 32 lowercase hex characters. Raises InvalidArgument."""
    if not isinstance(request_id, str) or not _REQUEST_ID.match(request_id):
        raise InvalidArgument(f"approval request id {request_id!r:.80} is not valid: it is 32 "
                              "hex characters (see dockyard approvals list)")
    return request_id


def check_comment(comment: Any) -> str:
    """A comment: text of at most 10,000 characters."""
    if comment is None:
        return ""
    if not isinstance(comment, str) or len(comment) > MAX_COMMENT:
        raise InvalidArgument(f"comment must be text of at most {MAX_COMMENT:,} characters")
    return comment


def check_status(status: Any) -> str:
    if status not in STATUSES:
        raise InvalidArgument(f"approval status {status!r:.40} is not one of "
                              f"{', '.join(STATUSES)}")
    return str(status)


class ApprovalCheck(BaseModel):
    """One condition of an approval: its name, whether it holds, and why."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    passed: bool
    detail: str = ""


class ApprovalRequest(BaseModel):
    """A request to move ``model`` version ``version`` to ``target``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    model: str
    version: int
    target: str
    """``stage:Production`` or ``alias:<name>``."""
    archive_existing: bool = False
    """For ``stage:Production``: archive the versions in Production when committed."""
    author: str
    comment: str = ""
    created_at: int
    status: Literal["pending", "approved", "rejected"] = "pending"
    decided_by: str | None = None
    decided_at: int | None = None
    decision_comment: str | None = None
    checks: list[ApprovalCheck] = Field(default_factory=list)
    """The checks as last evaluated: when approved, those that let it commit."""
