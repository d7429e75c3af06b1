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
