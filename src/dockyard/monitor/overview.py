"""What needs attention: every monitor's state, worst first.

A monitor is ``firing`` when one of its alerts fires, ``degraded`` when a
rule's condition holds in its latest window without firing (yet: pending,
or the alert was resolved by hand), ``no_data`` when its latest window has
too few rows, and ``ok`` otherwise. Firing monitors come first, by severity.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from dockyard.entities.monitoring import SEVERITIES, Alert, Monitor, MonitorValue
from dockyard.monitor.alerts import evaluate_rules

if TYPE_CHECKING:
    from dockyard.client import Client

__all__ = ["MonitorStatus", "Overview", "latest_values", "latest_window", "newest_full_window",
           "overview", "status_of"]

_RANK = {"firing": 0, "degraded": 1, "no_data": 2, "ok": 3}


class MonitorStatus(BaseModel):
    """One monitor in the overview."""

    model_config = ConfigDict(frozen=True)

    monitor: Monitor
    status: str
    """``firing``, ``degraded``, ``no_data`` or ``ok``."""
    severity: str | None = None
    """The worst severity of its firing alerts."""
    alerts: list[Alert] = Field(default_factory=list)
    """Its open (firing and pending) alerts, worst first."""
    degraded: list[str] = Field(default_factory=list)
    """Conditions that hold in the latest window, as sentences."""
    drifted: list[str] = Field(default_factory=list)
    window_start: int | None = None
    window_end: int | None = None
    rows: int | None = None
    label_coverage: float | None = None


class Overview(BaseModel):
    """``GET /api/v1/monitoring/overview``: monitors that need attention first."""

    items: list[MonitorStatus]
    counts: dict[str, int]
    """How many monitors are in each status."""


def newest_full_window(monitor: Monitor, values: list[MonitorValue]) -> int | None:
    """The start of the newest window of ``values`` with at least ``min_rows`` rows, else of
    the newest window; None without any ``rows`` value."""
    rows = {v.window_start: v.value or 0 for v in values
            if v.metric == "rows" and not v.feature and not v.cohort}
    full = [start for start, n in rows.items() if n >= monitor.min_rows]
    return max(full) if full else max(rows, default=None)


def latest_window(monitor: Monitor, values: list[MonitorValue]) -> list[MonitorValue]:
    """Of ``values`` (several windows), those of :func:`newest_full_window`."""
    start = newest_full_window(monitor, values)
    return [v for v in values if v.window_start == start]


def latest_values(client: Client, monitor: Monitor) -> list[MonitorValue]:
    """The stored values of the monitor's :func:`newest_full_window`, whether the last run
    ran on the clock or over a chosen period (two queries, whatever the history)."""
    rows = client.get_monitor_values(monitor.id, metric="rows", feature="", cohort="")
    start = newest_full_window(monitor, rows)
    return [] if start is None else client.get_monitor_values(monitor.id, since=start,
                                                              until=start + 1)


def status_of(client: Client, monitor: Monitor) -> MonitorStatus:
    """The state of one monitor, from its stored values and alerts."""
    values = latest_values(client, monitor)
    open_alerts = sorted(client.list_alerts(monitor_id=monitor.id, states=("firing", "pending")),
                         key=lambda a: (a.state != "firing", SEVERITIES.index(a.severity)))
    firing = [a for a in open_alerts if a.state == "firing"]
    holding = [c for c in evaluate_rules(monitor.rules, values) if c.holds]
    overall = {v.metric: v for v in values if not v.feature and not v.cohort}
    rows = overall.get("rows")
    if firing:
        status = "firing"
    elif holding:
        status = "degraded"
    elif rows is None or (rows.value or 0) < monitor.min_rows:
        status = "no_data"
    else:
        status = "ok"
    coverage = overall.get("label_coverage")
    return MonitorStatus(
        monitor=monitor, status=status, severity=firing[0].severity if firing else None,
        alerts=open_alerts, degraded=[f"{c.rule.name}: {c.summary}" for c in holding],
        drifted=sorted({v.feature for v in values if v.metric == "drifted" and v.value == 1.0
                        and not v.cohort}),
        window_start=values[0].window_start if values else None,
        window_end=values[0].window_end if values else None,
        rows=int(rows.value) if rows and rows.value is not None else None,
        label_coverage=coverage.value if coverage else None)


def overview(client: Client) -> Overview:
    """Every monitor's status: firing first (critical before warning), then degraded."""
    items = [status_of(client, m) for m in client.list_monitors()]
    items.sort(key=lambda s: (_RANK[s.status],
                              SEVERITIES.index(s.severity) if s.severity else 0,
                              s.monitor.name))
    counts = {name: sum(1 for s in items if s.status == name) for name in _RANK}
    return Overview(items=items, counts=counts)
