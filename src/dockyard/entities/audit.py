"""Audit events: who changed what, when."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from dockyard.entities.tracking import Page


class AuditEvent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: int | None = None
    time: int
    actor: str
    action: str
    """The operation, named after its route: ``create_run``, ``log_batch``, ``upload_artifact``..."""
    resource_type: str
    resource_id: str | None = None
    request: dict[str, Any] = Field(default_factory=dict)
    """A summary of the change (sizes and keys, not bulk data)."""
    status: int = 200
    before: dict[str, Any] | None = None
    """The state the change replaced, when the route knows it (a summary, like ``request``)."""


AuditEventPage = Page[AuditEvent]
