"""Monitoring records: ground truth that arrives after the prediction it labels.

Pure data, like :mod:`dockyard.entities.tracking`. A label is joined to its
prediction by id, so it lands in the prediction's time window whenever it
arrives; the label's own time only measures the delay.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from dockyard.entities import validation as v
from dockyard.errors import InvalidArgument

Label = bool | int | float | str
"""A label is one JSON scalar: a class (number, string or bool) or a target value."""

MAX_LABELS_PER_CALL = 100_000
"""The most labels one call (or request) takes; send more in several calls."""
MAX_LABEL_CHARS = 1000
PREDICTION_ID_PATTERN = r"^[0-9A-Za-z][0-9A-Za-z._:\-]{0,127}\Z"
"""What a prediction id that can carry a label looks like (the server's ids always do)."""
_PREDICTION_ID = re.compile(PREDICTION_ID_PATTERN)


class _Entity(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class GroundTruth(_Entity):
    """The true outcome of one prediction."""

    prediction_id: str
    label: Label
    label_time: int
    """When the outcome became known (ms since the epoch); defaults to when it was logged."""
    logged_at: int
    """When the store received it (ms since the epoch)."""


class GroundTruthResult(_Entity):
    """What the metadata store did with a call of ``log_ground_truth``."""

    accepted: int
    """Labels written (new ones, plus replaced ones when replacing)."""
    duplicate_ids: list[str] = Field(default_factory=list)
    """Ids that already had a label, and ids given twice in the call: their label was kept."""
    replaced_ids: list[str] = Field(default_factory=list)
    """Ids whose stored label was replaced (only with ``replace=True``)."""


class GroundTruthReport(GroundTruthResult):
    """The answer to logging ground truth: what was written and what needs a look."""

    received: int
    """Labels in the call."""
    unknown_ids: list[str] = Field(default_factory=list)
    """No prediction with that id is in the prediction log yet; the label is stored anyway.
    The server uploads its log every few minutes, so a label sent right after its prediction
    is often here; it joins its prediction once the prediction is uploaded. An id that stays
    unknown was never predicted (or its prediction was not sampled into the log)."""


def check_prediction_id(value: Any) -> str:
    """A prediction id as the server issues them (``X-Prediction-Id``); InvalidArgument otherwise."""
    if not isinstance(value, str) or not _PREDICTION_ID.match(value):
        raise InvalidArgument(
            f"prediction id {value!r:.80} is not valid: use the id the server returned "
            "(X-Prediction-Id, or prediction_ids in the response body)")
    return str(value)


def check_label(prediction_id: str, value: Any) -> Label:
    """One label: a finite number, a bool or a short string; InvalidArgument otherwise."""
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        value = value.item()  # a numpy scalar, as from iterating an array
    if isinstance(value, str) and 0 < len(value) <= MAX_LABEL_CHARS:
        return str(value)
    if isinstance(value, bool | int) or (isinstance(value, float) and math.isfinite(value)):
        return value
    raise InvalidArgument(
        f"the label of prediction {prediction_id!r} is {value!r:.80}: a label is a finite number, "
        f"a bool or a non-empty string of up to {MAX_LABEL_CHARS} characters")


def check_labels(prediction_ids: Sequence[Any], labels: Sequence[Any]) -> list[tuple[str, Label]]:
    """Pair ids with labels, checking both; every label must be of one kind (numbers or strings).

    Raises InvalidArgument naming the first bad id or label, for lists of
    different lengths, for an empty call and for over
    :data:`MAX_LABELS_PER_CALL` labels.
    """
    if isinstance(prediction_ids, str | bytes) or isinstance(labels, str | bytes):
        raise InvalidArgument("give prediction_ids and labels as lists, one label per id")
    ids, values = list(prediction_ids), list(labels)
    if len(ids) != len(values):
        raise InvalidArgument(
            f"{len(ids)} prediction ids but {len(values)} labels: give one label per id")
    if not ids:
        raise InvalidArgument("no labels given: pass at least one prediction id and its label")
    if len(ids) > MAX_LABELS_PER_CALL:
        raise InvalidArgument(f"{len(ids):,} labels in one call; the limit is "
                              f"{MAX_LABELS_PER_CALL:,}: send them in several calls")
    pairs = [(check_prediction_id(i), check_label(i, label)) for i, label in zip(ids, values)]
    text = [isinstance(label, str) for _, label in pairs]
    if any(text) and not all(text):
        first = pairs[text.index(not text[0])]
        raise InvalidArgument(
            f"labels mix strings and numbers (prediction {first[0]!r} has {first[1]!r}): "
            "a model's labels are all class names or all numbers")
    return pairs


def check_label_times(label_time: Any, n: int, default: int) -> list[int]:
    """``label_time`` of a call as one time per label: None (``default``), one time, or ``n``."""
    if label_time is None:
        return [default] * n
    if isinstance(label_time, str | bytes) or not hasattr(label_time, "__len__"):
        return [v.int64("label_time", label_time)] * n
    times = [v.int64("label_time", t) for t in label_time]
    if len(times) != n:
        raise InvalidArgument(f"{len(times)} label times for {n} labels: give one time, "
                              "or one per label")
    return times


# -- monitors, their values and their alerts -------------------------------------------------

SEVERITIES = ("critical", "warning", "info")
COMPARISONS = (">", ">=", "<", "<=")
ALERT_STATES = ("pending", "firing", "resolved")
ANY_FEATURE = "*"
"""A rule's ``feature`` that matches every feature (and the prediction) of the monitor."""
PREDICTION = "prediction"
"""The name drift and quality values of the model's output go by, as if it were a feature."""

FEATURE_METRICS = frozenset({
    "drift_score", "drifted", "psi", "jensen_shannon", "wasserstein", "ks", "chi_square_p",
    "linf", "null_rate", "type_error_rate", "out_of_range", "unseen_categories",
    "distinct_change",
})
"""Values per feature (and for the prediction): name the feature in a rule, or ``*``."""
MODEL_METRICS = frozenset({
    "rows", "share_drifted", "accuracy", "precision", "recall", "f1", "roc_auc", "log_loss",
    "mae", "rmse", "mape", "r2", "label_coverage", "label_delay_p50", "latency_p50",
    "latency_p95", "latency_p99", "throughput", "requests", "error_rate", "client_error_rate",
})
"""Values of the whole window (overall or per cohort): a rule names no feature."""
METRICS = FEATURE_METRICS | MODEL_METRICS
RELATIVE_METRICS = frozenset({
    "drift_score", "psi", "jensen_shannon", "wasserstein", "ks", "linf", "null_rate",
    "accuracy", "precision", "recall", "f1", "roc_auc", "log_loss", "mae", "rmse", "mape", "r2",
})
"""Metrics with a reference value (drift limits from the reference's chunks, its null rate,
its model quality), which a rule can be relative to."""


class Rule(_Entity):
    """When a monitor raises an alert: ``metric`` (of ``feature``, in ``cohort``) ``op`` a limit.

    The limit is ``threshold``; with ``relative`` it is the reference's value
    plus ``threshold`` (``accuracy < -0.05`` relative: five points under the
    reference's accuracy; ``psi > 0``
    relative: above the mean + 3 sigma the reference shows between its own
    chunks). The condition must hold for ``for_seconds`` before the alert
    fires (it is *pending* until then).
    """

    name: str
    metric: str
    feature: str | None = None
    cohort: str | None = None
    """A cohort key such as ``plan=pro`` or ``age=[30, 60)``; None is the whole window."""
    op: str = ">"
    threshold: float = 0.0
    relative: bool = False
    for_seconds: int = 0
    severity: str = "warning"
    webhook: str | None = None
    """A URL called (raw JSON) when this rule fires: a retraining trigger, for example."""


class Cohort(_Entity):
    """A segment of the traffic: one cohort per value of ``column`` (the most frequent
    ``max_values``, the rest as ``other``), or per bin of ``bins`` for a number."""

    column: str
    bins: list[float] | None = None
    max_values: int = 10


class MonitorSpec(_Entity):
    """What a monitor watches and how; everything but its identity."""

    name: str
    model_name: str
    model_version: str | None = None
    """None watches every version of the model."""
    deployment: str | None = None
    """The deployment as the server logs it (``dockyard serve --deployment``); None: any."""
    task: str | None = None
    """``classification`` or ``regression``: which quality metrics apply once labels arrive."""
    window_seconds: int = 3600
    features: list[str] = Field(default_factory=list)
    """Input columns to watch (without the ``input.`` prefix); empty: every one the reference
    has."""
    categorical: list[str] = Field(default_factory=list)
    prediction: str | None = None
    """The output column to watch (without ``output.``); None: the model's only output."""
    positive_class: Label | None = None
    """For precision, recall, F1 and ROC AUC of a binary classifier."""
    cohorts: list[Cohort] = Field(default_factory=list)
    rules: list[Rule] = Field(default_factory=list)
    channels: list[dict[str, Any]] = Field(default_factory=list)
    """Notification channels (see :func:`dockyard.monitor.notify.channel_from_config`)."""
    reference: str | None = None
    """Where the reference profile is stored (an artifact path), once one is set."""
    interval_seconds: int = 300
    """How often ``dockyard server`` evaluates the monitor; 0 turns scheduling off."""
    min_rows: int = 30
    """Fewer rows (or labels) than this in a window give "no data", not a value."""


class Monitor(MonitorSpec):
    """A stored monitor."""

    id: str
    created_at: int
    updated_at: int
    last_run_at: int | None = None


class MonitorValue(_Entity):
    """One metric of one window: per feature and cohort where that applies.

    ``value`` is None when the window had no data for it; ``status`` then says
    why (``no_data: 3 rows, 30 needed``). ``count`` is how many rows (or labels)
    it was computed from; ``reference`` is the reference's value, when known.
    """

    monitor_id: str
    window_start: int
    window_end: int
    metric: str
    feature: str = ""
    cohort: str = ""
    value: float | None = None
    count: int = 0
    reference: float | None = None
    status: str = "ok"
    computed_at: int


class Alert(_Entity):
    """An alert of a monitor's rule (for one feature and cohort): pending, firing or resolved."""

    id: str
    monitor_id: str
    rule: str
    fingerprint: str
    """The same for every alert of one rule, feature and cohort: the deduplication key."""
    feature: str = ""
    cohort: str = ""
    severity: str
    state: str
    value: float | None = None
    threshold: float | None = None
    summary: str = ""
    started_at: int
    """When the condition was first seen (the alert became pending)."""
    fired_at: int | None = None
    resolved_at: int | None = None
    updated_at: int


class AlertEvent(_Entity):
    """A change of an alert's state, with what was delivered where."""

    alert_id: str
    time: int
    state: str
    value: float | None = None
    message: str = ""
    deliveries: list[dict[str, Any]] = Field(default_factory=list)
    """One entry per channel: ``{"channel": ..., "ok": bool, "error": ...}``."""


# -- checks shared by every store ------------------------------------------------------------

TASKS = ("classification", "regression")
MIN_WINDOW_SECONDS = 60
MAX_WINDOW_SECONDS = 31 * 24 * 3600
MAX_COHORT_VALUES = 100
MAX_VALUES_PER_CALL = 100_000
"""The most monitor values one call (or request) takes."""
MAX_TEXT = 250
"""The longest rule, feature, cohort, metric, deployment and fingerprint names."""
MAX_MESSAGE = 10_000
"""The longest alert summary, event message and value status."""
_ALERT_ID = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._:\-]{0,127}\Z")


def _text(kind: str, value: Any, limit: int = MAX_TEXT, *, empty: bool = False) -> str:
    """A short string without control characters (may be empty only with ``empty``)."""
    if not isinstance(value, str):
        raise InvalidArgument(f"{kind} must be a string, got {type(value).__name__}")
    if not value and empty:
        return value
    if not value.strip():
        raise InvalidArgument(f"{kind} must not be empty")
    if len(value) > limit:
        raise InvalidArgument(f"{kind} {value[:40]!r}... is {len(value)} characters; "
                              f"the limit is {limit}")
    if any(ord(c) < 32 for c in value):
        raise InvalidArgument(f"{kind} {value!r:.80} contains control characters")
    return value


def _message(kind: str, value: Any) -> str:
    return v.validate_text(kind, value, MAX_MESSAGE)


def _integer(kind: str, value: Any, low: int, high: int | None = None, hint: str = "") -> int:
    n = v.int64(kind, value)
    if n < low or (high is not None and n > high):
        bound = f"from {low:,} to {high:,}" if high is not None else f"at least {low:,}"
        raise InvalidArgument(f"{kind} is {n:,}; it must be {bound}{hint}")
    return n


def _finite(kind: str, value: Any, *, optional: bool = True) -> float | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        none = " or None" if optional else ""
        raise InvalidArgument(f"{kind} is {value!r:.40}; it must be a finite number{none}")
    return float(value)


def _choice(kind: str, value: Any, choices: Sequence[str]) -> str:
    if value not in choices:
        raise InvalidArgument(f"{kind} {value!r:.40} is not one of {', '.join(choices)}")
    return str(value)


def _json_objects(kind: str, items: Any) -> list[dict[str, Any]]:
    import orjson

    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise InvalidArgument(f"{kind} must be a list of JSON objects")
    try:
        text = orjson.dumps(items)
    except TypeError as exc:
        raise InvalidArgument(f"{kind} is not JSON: {exc}") from None
    if b"\\u0000" in text:
        raise InvalidArgument(f"{kind} contains a NUL character")
    return items


def check_monitor_name(name: Any) -> str:
    """A monitor's name: the rules of model names (up to 200 characters, no ``/`` or ``@``)."""
    rules = "monitor names follow the rules of model names"
    if isinstance(name, str) and ("/" in name or "@" in name):
        raise InvalidArgument(f"monitor name {name!r:.80} must not contain '/' or '@' ({rules})")
    try:
        return v.validate_model_name(name)
    except InvalidArgument as exc:
        raise InvalidArgument(
            f"{exc.message.replace('model name', 'monitor name', 1)} ({rules})") from None


def _check_rule(rule: Rule, where: str, cohorts: set[str]) -> None:
    _text(f"{where} name", rule.name)
    if rule.metric not in METRICS:
        raise InvalidArgument(
            f"{where} has metric {rule.metric!r:.60}, which is not one Dockyard computes; "
            f"use one of {', '.join(sorted(METRICS))}")
    if rule.metric in MODEL_METRICS and rule.feature is not None:
        raise InvalidArgument(
            f"{where}: {rule.metric} is a value of the whole window; leave feature unset "
            f"(it is {rule.feature!r:.60})")
    if rule.metric in FEATURE_METRICS and rule.feature is None:
        raise InvalidArgument(
            f"{where}: {rule.metric} is a value per feature; name the feature, "
            f"{PREDICTION!r} for the model's output, or {ANY_FEATURE!r} for every one")
    if rule.relative and rule.metric not in RELATIVE_METRICS:
        raise InvalidArgument(
            f"{where}: {rule.metric} has no reference value to be relative to; give a fixed "
            f"threshold, or use one of {', '.join(sorted(RELATIVE_METRICS))}")
    if rule.feature is not None:
        _text(f"{where} feature", rule.feature)
    if rule.cohort is not None:
        _text(f"{where} cohort", rule.cohort)
        if rule.cohort.partition("=")[0] not in cohorts:
            raise InvalidArgument(
                f"{where}: cohort {rule.cohort!r:.60} is not one of the monitor's cohorts; "
                "name it as column=value (plan=pro) or column=[a, b) for a cohort the "
                f"monitor has ({', '.join(sorted(cohorts)) or 'none yet'})")
    _choice(f"{where} op", rule.op, COMPARISONS)
    _finite(f"{where} threshold", rule.threshold, optional=False)
    _integer(f"{where} for_seconds", rule.for_seconds, 0)
    _choice(f"{where} severity", rule.severity, SEVERITIES)
    webhook = rule.webhook
    if webhook is not None and not (
            isinstance(webhook, str) and webhook.startswith(("http://", "https://"))):
        raise InvalidArgument(f"{where} webhook {rule.webhook!r:.80} must be an http(s):// URL")


def _check_cohort(cohort: Cohort, where: str) -> None:
    _text(f"{where} column", cohort.column)
    if cohort.bins is not None:
        bins = cohort.bins
        if not bins:
            raise InvalidArgument(f"{where} bins must hold at least one edge (or be None)")
        for edge in bins:
            _finite(f"{where} bin edge", edge, optional=False)
        if any(a >= b for a, b in zip(bins, bins[1:])):
            raise InvalidArgument(
                f"{where} bins {bins!r:.80} must be increasing, e.g. [18, 30, 60]")
    _integer(f"{where} max_values", cohort.max_values, 1, MAX_COHORT_VALUES)


def check_monitor_spec(spec: Any) -> MonitorSpec:
    """A monitor's spec, checked whole: InvalidArgument naming the first mistake and its fix.

    Takes a :class:`MonitorSpec` (a :class:`Monitor` gives its spec) or a
    mapping of its fields; returns the spec alone.
    """
    from collections.abc import Mapping

    from pydantic import ValidationError

    fields = MonitorSpec.model_fields
    try:
        if isinstance(spec, MonitorSpec):
            spec = MonitorSpec.model_validate(
                {k: val for k, val in spec.__dict__.items() if k in fields})
        elif isinstance(spec, Mapping):
            spec = MonitorSpec.model_validate(dict(spec))
        else:
            raise InvalidArgument(
                f"a monitor spec must be a MonitorSpec, got {type(spec).__name__}")
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "spec"
        raise InvalidArgument(f"monitor spec {where}: {err['msg']}") from None
    check_monitor_name(spec.name)
    v.validate_model_name(spec.model_name)
    if spec.model_version is not None:
        _text("model_version", spec.model_version)
    if spec.deployment is not None:
        _text("deployment", spec.deployment)
    if spec.task is not None:
        _choice("task", spec.task, TASKS)
    _integer("window_seconds", spec.window_seconds, MIN_WINDOW_SECONDS, MAX_WINDOW_SECONDS,
             " (one minute to 31 days)")
    for kind, names in (("features", spec.features), ("categorical", spec.categorical)):
        for name in names:
            _text(f"a name in {kind}", name)
    if spec.prediction is not None:
        _text("prediction", spec.prediction)
    label = spec.positive_class
    if (isinstance(label, float) and not math.isfinite(label)) or (
            isinstance(label, str) and not 0 < len(label) <= MAX_LABEL_CHARS):
        raise InvalidArgument(f"positive_class {label!r:.40} must be a finite number, a bool or "
                              f"a string of 1 to {MAX_LABEL_CHARS} characters")
    for i, cohort in enumerate(spec.cohorts):
        _check_cohort(cohort, f"cohorts[{i}]")
    seen: set[str] = set()
    for i, rule in enumerate(spec.rules):
        _check_rule(rule, f"rules[{i}] ({rule.name!r:.60})", {c.column for c in spec.cohorts})
        if rule.name in seen:
            raise InvalidArgument(f"two rules are named {rule.name!r}: give each rule its own name")
        seen.add(rule.name)
    for i, channel in enumerate(_json_objects("channels", spec.channels)):
        if not isinstance(channel.get("type"), str) or not channel["type"]:
            raise InvalidArgument(
                f"channels[{i}] has no \"type\": each channel is an object such as "
                '{"type": "webhook", "url": "https://..."}')
    if spec.reference is not None:
        _text("reference", spec.reference, 1024)
    _integer("interval_seconds", spec.interval_seconds, 0, hint=" (0 turns scheduling off)")
    _integer("min_rows", spec.min_rows, 1)
    return spec


def check_monitor_values(values: Any) -> list[MonitorValue]:
    """Values as a list, each checked: InvalidArgument for a malformed one or too many."""
    if isinstance(values, MonitorValue):
        values = [values]
    if not isinstance(values, Sequence) or isinstance(values, str | bytes):
        raise InvalidArgument("give monitor values as a list of MonitorValue")
    if len(values) > MAX_VALUES_PER_CALL:
        raise InvalidArgument(f"{len(values):,} monitor values in one call; the limit is "
                              f"{MAX_VALUES_PER_CALL:,}: send them in several calls")
    values = list(values)
    if not _values_look_right(values):
        for i, value in enumerate(values):  # find the first mistake, and say where it is
            _check_value(i, value)
    return values


def _values_look_right(values: list[Any]) -> bool:
    """Every check of :func:`_check_value`, column by column: a call of 100,000 values is
    checked in a fraction of the time, and a bad one is then found value by value."""
    if not all(type(val) is MonitorValue for val in values):
        return False
    int64 = (-(2**63), 2**63 - 1)
    try:
        for column, limit, empty in (("monitor_id", 64, False), ("metric", MAX_TEXT, False),
                                     ("feature", MAX_TEXT, True), ("cohort", MAX_TEXT, True)):
            for text in {getattr(val, column) for val in values}:
                _text(column, text, limit, empty=empty)
        for text in {val.status for val in values}:
            _message("status", text)
    except (InvalidArgument, TypeError):
        return False
    for column, low in (("window_start", int64[0]), ("window_end", int64[0]),
                        ("computed_at", int64[0]), ("count", 0)):
        numbers = [getattr(val, column) for val in values]
        if not all(type(n) is int for n in numbers) or (
                numbers and not (low <= min(numbers) and max(numbers) <= int64[1])):
            return False
    finite = math.isfinite
    return all(val.window_end > val.window_start
               and (val.value is None or (type(val.value) is float and finite(val.value)))
               and (val.reference is None
                    or (type(val.reference) is float and finite(val.reference)))
               for val in values)


def _check_value(i: int, value: Any) -> None:
    if not isinstance(value, MonitorValue):
        raise InvalidArgument(f"values[{i}] is a {type(value).__name__}, not a MonitorValue")
    where = f"value {i} ({value.metric!r:.40})"
    _text(f"{where} monitor_id", value.monitor_id, 64)
    _text(f"{where} metric", value.metric)
    _text(f"{where} feature", value.feature, empty=True)
    _text(f"{where} cohort", value.cohort, empty=True)
    start = _integer(f"{where} window_start", value.window_start, -(2**63))
    if _integer(f"{where} window_end", value.window_end, -(2**63)) <= start:
        raise InvalidArgument(f"{where} ends at {value.window_end}, not after its start "
                              f"{start}: window_end must be later than window_start")
    _finite(f"{where} value", value.value)
    _finite(f"{where} reference", value.reference)
    _integer(f"{where} count", value.count, 0)
    _message(f"{where} status", value.status)
    _integer(f"{where} computed_at", value.computed_at, -(2**63))


def check_alert_id(alert_id: Any) -> str:
    """An alert id: 1 to 128 letters, digits and ``. _ : -``, starting with a letter or digit."""
    if not isinstance(alert_id, str) or not _ALERT_ID.match(alert_id):
        raise InvalidArgument(
            f"alert id {alert_id!r:.80} is not valid: use 1 to 128 letters, digits and . _ : -, "
            "starting with a letter or digit (a uuid4 hex is a good choice)")
    return alert_id


def check_alert(alert: Any) -> Alert:
    """An alert, checked: InvalidArgument naming the first bad field."""
    if not isinstance(alert, Alert):
        raise InvalidArgument(f"an alert must be an Alert, got {type(alert).__name__}")
    check_alert_id(alert.id)
    _text("alert monitor_id", alert.monitor_id, 64)
    _text("alert rule", alert.rule)
    _text("alert fingerprint", alert.fingerprint)
    _text("alert feature", alert.feature, empty=True)
    _text("alert cohort", alert.cohort, empty=True)
    _choice("alert severity", alert.severity, SEVERITIES)
    _choice("alert state", alert.state, ALERT_STATES)
    _finite("alert value", alert.value)
    _finite("alert threshold", alert.threshold)
    _message("alert summary", alert.summary)
    for kind in ("started_at", "fired_at", "resolved_at", "updated_at"):
        when = getattr(alert, kind)
        if when is not None:
            _integer(f"alert {kind}", when, -(2**63))
    return alert


def check_alert_event(event: Any) -> AlertEvent:
    """An alert event, checked: InvalidArgument naming the first bad field."""
    if not isinstance(event, AlertEvent):
        raise InvalidArgument(f"an alert event must be an AlertEvent, got {type(event).__name__}")
    check_alert_id(event.alert_id)
    _integer("alert event time", event.time, -(2**63))
    _choice("alert event state", event.state, ALERT_STATES)
    _finite("alert event value", event.value)
    _message("alert event message", event.message)
    _json_objects("alert event deliveries", event.deliveries)
    return event


def check_alert_states(states: Any) -> list[str]:
    """A filter of alert states: None (or empty) for every state, one state, or a list of them."""
    if states is None:
        return []
    if isinstance(states, str):
        states = [states]
    if not isinstance(states, Sequence | set | frozenset):
        raise InvalidArgument(f"states must be a list of alert states, got {type(states).__name__}")
    return [_choice("alert state", s, ALERT_STATES) for s in dict.fromkeys(states)]
