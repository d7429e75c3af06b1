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

from dockyard.errors import InvalidArgument

Label = bool | int | float | str
"""A label is one JSON scalar: a class (number, string or bool) or a target value."""

MAX_LABELS_PER_CALL = 100_000
"""The most labels one call (or request) takes; send more in several calls."""
MAX_LABEL_CHARS = 1000
_PREDICTION_ID = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._:\-]{0,127}\Z")


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
    """No prediction with that id is in the prediction log yet; the label is stored anyway. The server uploads
    its log every few minutes, so a label sent right after its prediction is often here; it
    joins its prediction once the prediction is uploaded. An id that stays unknown was never
    predicted (or its prediction was not sampled into the log)."""


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
    from dockyard.entities import validation as v

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
    "latency_p95", "latency_p99", "throughput",
})
"""Values of the whole window (overall or per cohort): a rule names no feature."""
METRICS = FEATURE_METRICS | MODEL_METRICS


class Rule(_Entity):
    """When a monitor raises an alert: ``metric`` (of ``feature``, in ``cohort``) ``op`` a limit.

    The limit is ``threshold``; with ``relative`` it is the reference's value
    moved by ``threshold`` in the direction of ``op`` (``accuracy < -0.05``
    relative: five points under the reference's accuracy; ``psi > 0``
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
    """Input columns to watch (without the ``input.`` prefix); empty: every one the reference has."""
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
