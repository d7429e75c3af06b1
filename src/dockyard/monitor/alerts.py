"""Rules against a window's values, and the alert state machine: pending, firing, resolved.

:func:`evaluate_rules` turns a monitor's rules and the values of its latest
window into conditions, one per rule, feature and cohort that has a value.
:func:`apply_conditions` moves the alerts of those conditions through their
states, keeping one open alert per fingerprint (rule, feature, cohort):

- a condition that holds opens a *pending* alert, which *fires* once it has
  held for the rule's ``for_seconds`` (at once when that is 0);
- a condition that no longer holds *resolves* the alert (a pending one
  silently: nobody was told it existed);
- a value that is missing (no data in the window) changes nothing.

Each transition is an :class:`~dockyard.entities.AlertEvent` with what was
delivered to each channel. A firing alert is sent to Alertmanager again on
every evaluation, since Alertmanager resolves alerts it stops hearing about.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from dockyard.entities import now_ms
from dockyard.entities.monitoring import (
    ANY_FEATURE,
    Alert,
    AlertEvent,
    Monitor,
    MonitorValue,
    Rule,
)
from dockyard.errors import Conflict
from dockyard.monitor import notify
from dockyard.store.base import MetadataStore

__all__ = ["Condition", "apply_conditions", "evaluate_rules", "fingerprint"]

log = logging.getLogger("dockyard.monitor")

_OPS = {
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
}


@dataclass(frozen=True)
class Condition:
    """One rule on one feature and cohort: its value, its limit, and whether it holds."""

    rule: Rule
    feature: str
    cohort: str
    value: float
    limit: float
    holds: bool

    @property
    def summary(self) -> str:
        """One line: ``age drifted``, ``accuracy is 0.55 (limit < 0.85) in cohort plan=pro``."""
        cohort = f" in cohort {self.cohort}" if self.cohort else ""
        if self.rule.metric == "drifted" and self.feature:
            return f"{self.feature} {'drifted' if self.holds else 'no longer drifts'}{cohort}"
        where = f" of {self.feature}" if self.feature else ""
        return (f"{self.rule.metric}{where} is {_fmt(self.value)} "
                f"(limit {self.rule.op} {_fmt(self.limit)}){cohort}")


def fingerprint(monitor_id: str, rule: str, feature: str, cohort: str) -> str:
    """The deduplication key of an alert: the same for every evaluation of one target."""
    return hashlib.sha256("\x1f".join((monitor_id, rule, feature, cohort)).encode()
                          ).hexdigest()[:32]


def evaluate_rules(rules: Sequence[Rule], values: Sequence[MonitorValue]) -> list[Condition]:
    """Each rule against the values it names; values without data are left out."""
    conditions = []
    for rule in rules:
        for value in values:
            if value.metric != rule.metric or value.value is None:
                continue
            if (value.cohort or None) != (rule.cohort or None):
                continue
            if rule.feature is None:
                if value.feature:
                    continue
            elif rule.feature != ANY_FEATURE and rule.feature != value.feature:
                continue
            limit = _limit(rule, value)
            if limit is None:
                continue
            conditions.append(Condition(rule, value.feature, value.cohort, value.value, limit,
                                        _OPS[rule.op](value.value, limit)))
    return conditions


def _limit(rule: Rule, value: MonitorValue) -> float | None:
    if not rule.relative:
        return rule.threshold
    if value.reference is None or not math.isfinite(value.reference):
        return None  # nothing to be relative to
    return value.reference + rule.threshold


def apply_conditions(
    store: MetadataStore,
    monitor: Monitor,
    conditions: Sequence[Condition],
    *,
    channels: Sequence[notify.Channel] = (),
    now: int | None = None,
    url: str | None = None,
) -> list[Alert]:
    """Move the monitor's alerts to match ``conditions``; notify on firing and resolving.

    Alerts of rules the monitor no longer has are resolved. Returns every alert
    that changed and every alert still open.
    """
    now = now_ms() if now is None else now
    open_alerts = {a.fingerprint: a for a in store.list_alerts(
        monitor_id=monitor.id, states=("pending", "firing"), max_results=50_000)}
    rules = {rule.name for rule in monitor.rules}
    result: list[Alert] = []
    for c in conditions:
        key = fingerprint(monitor.id, c.rule.name, c.feature, c.cohort)
        alert = open_alerts.pop(key, None)
        if alert is None and not c.holds:
            continue
        if alert is None:
            alert = Alert(id=uuid.uuid4().hex, monitor_id=monitor.id, rule=c.rule.name,
                          fingerprint=key, feature=c.feature, cohort=c.cohort,
                          severity=c.rule.severity, state="pending", value=c.value,
                          threshold=c.limit, summary=c.summary, started_at=now, updated_at=now)
            try:
                alert = _transition(store, monitor, alert, "pending", c.value, c.summary, [],
                                    now, url)
            except Conflict:  # another run of this monitor opened it a moment ago
                continue
        else:
            alert = alert.model_copy(update={"value": c.value, "threshold": c.limit,
                                             "summary": c.summary, "updated_at": now})
        if not c.holds:
            targets = _channels(channels, c.rule) if alert.state == "firing" else []
            result.append(_transition(store, monitor, alert, "resolved", c.value, c.summary,
                                      targets, now, url))
        elif alert.state == "pending" and now - alert.started_at >= c.rule.for_seconds * 1000:
            result.append(_transition(store, monitor, alert, "firing", c.value, c.summary,
                                      _channels(channels, c.rule), now, url))
        else:
            saved = store.save_alert(alert)
            if saved.state == "firing":  # keep Alertmanager from timing it out
                _send(monitor, saved, [ch for ch in channels
                                       if isinstance(ch, notify.AlertmanagerChannel)], url)
            result.append(saved)
    for alert in open_alerts.values():
        if alert.rule in rules:  # no value in this window: it stays as it is
            result.append(alert)
            continue
        summary = f"rule {alert.rule!r} was removed from the monitor"
        targets = list(channels) if alert.state == "firing" else []
        result.append(_transition(store, monitor, alert, "resolved", alert.value, summary,
                                  targets, now, url))
    return result


def _transition(store: MetadataStore, monitor: Monitor, alert: Alert, state: str,
                value: float | None, message: str, channels: Sequence[notify.Channel],
                now: int, url: str | None) -> Alert:
    """Save the alert's new state first, then tell the channels and record the event: a
    failed save sends nothing, so nothing is sent twice."""
    update: dict[str, object] = {"state": state, "updated_at": now}
    if state == "firing":
        update["fired_at"] = now
    elif state == "resolved":
        update["resolved_at"] = now
    saved = store.save_alert(alert.model_copy(update=update))
    deliveries = _send(monitor, saved, channels, url)
    store.record_alert_event(AlertEvent(
        alert_id=saved.id, time=now, state=state, value=value, message=message,
        deliveries=[{"channel": d.channel, "ok": d.ok, "error": d.error} for d in deliveries]))
    log.info("alert %s of monitor %s: %s (%s)", saved.rule, monitor.name, state, message)
    return saved


def _channels(channels: Sequence[notify.Channel], rule: Rule) -> list[notify.Channel]:
    """The monitor's channels, plus the rule's own webhook (a retraining trigger, say)."""
    if rule.webhook:
        return [*channels, notify.WebhookChannel(rule.webhook, template="raw")]
    return list(channels)


def _send(monitor: Monitor, alert: Alert, channels: Sequence[notify.Channel],
          url: str | None) -> list[notify.DeliveryResult]:
    if not channels or alert.state == "pending":
        return []
    rule = next((r for r in monitor.rules if r.name == alert.rule), None)
    note = notify.Notification(
        alert_id=alert.id, fingerprint=alert.fingerprint,
        state="resolved" if alert.state == "resolved" else "firing",
        severity=alert.severity,  # type: ignore[arg-type]
        rule=alert.rule, monitor=monitor.name,
        deployment=monitor.deployment or "", model=monitor.model_name,
        version=monitor.model_version, metric=rule.metric if rule else "",
        feature=alert.feature or None, cohort=alert.cohort or None,
        value=alert.value, threshold=alert.threshold, summary=alert.summary,
        started_at=_utc(alert.fired_at or alert.started_at),
        ended_at=_utc(alert.resolved_at) if alert.state == "resolved" else None,
        expires_at=(None if alert.state == "resolved"
                    else _utc(alert.updated_at + _expiry(monitor))),
        url=url)
    results = notify.deliver(note, channels)
    for result in results:
        if not result.ok:
            log.warning("alert %s: %s failed: %s", alert.rule, result.channel, result.error)
    return results


def _expiry(monitor: Monitor) -> int:
    """How long (ms) a firing alert holds at receivers that time alerts out: three of the
    monitor's runs (or windows, for a monitor run on demand), so that a late run does not
    resolve it there."""
    return 3 * 1000 * (monitor.interval_seconds or monitor.window_seconds)


def _utc(ms: int | None) -> dt.datetime:
    return dt.datetime.fromtimestamp((ms or 0) / 1000, dt.UTC)


def _fmt(value: float) -> str:
    return f"{value:.4g}"
