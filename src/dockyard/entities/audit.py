"""Audit events: who changed what, when."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson

from pydantic import BaseModel, ConfigDict, Field

from dockyard.entities.tracking import Page
from dockyard.errors import InvalidArgument


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


def parse_time(text: str, name: str = "time") -> int:
    """A time as typed by a person, as ms since the epoch: digits are already that; anything
    else is an ISO 8601 date or time (2026-05-01, 2026-05-01T12:00), UTC unless it names its
    zone. Raises InvalidArgument."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InvalidArgument(f"{name} {text!r:.60} is neither an ISO date or time (2026-05-01, "
                              "2026-05-01T12:00) nor ms since the epoch") from None
    when = when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)
    return int(when.timestamp() * 1000)


def summarize(change: dict[str, Any] | None, width: int = 160) -> str:
    """A change, or the state it replaced, on one line (``key=value, ...``), cut to ``width``
    characters."""
    if not change:
        return ""
    text = ", ".join(f"{k}={orjson.dumps(value).decode()}" for k, value in change.items())
    return text if len(text) <= width else text[:width - 1] + "\u2026"
