"""One window of a monitor: the metric values of the predictions made in it.

:func:`window_values` takes the window's rows of the prediction log, the
labels that have arrived for them, and the monitor's stored reference, and
returns :class:`~dockyard.entities.MonitorValue` rows:

- per feature and for the prediction: drift against the reference profile
  and data quality (see :mod:`dockyard.monitor.profile`). ``drift_score`` is
  the Jensen-Shannon distance on the reference's bins, from 0 (the same
  distribution) to 1 (disjoint), one scale for every column; ``drifted`` is
  the flag of the default test for the column's type and size (see
  :mod:`dockyard.monitor.report`);
- for the window, overall and per cohort: rows, label coverage and delay,
  model quality once labels are there (:mod:`dockyard.monitor.quality`);
- for the window: latency percentiles and throughput from the log, and
  requests and error rates from Prometheus (:mod:`dockyard.monitor.system`).

A value that cannot be computed is ``None`` with a ``status`` that says why
(``no_data: 12 rows, 30 needed``, ``missing: ...``), never a silent zero.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dockyard.entities import GroundTruth, now_ms
from dockyard.entities.monitoring import PREDICTION, Cohort, Monitor, MonitorValue
from dockyard.errors import InvalidArgument
from dockyard.monitor import quality
from dockyard.monitor.profile import Profile, compare, profile
from dockyard.monitor.profile import quality as data_quality

__all__ = ["Reference", "cohort_keys", "epoch_ms", "frame_of", "logged_columns",
           "window_values"]

CLASSIFICATION_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss")
REGRESSION_METRICS = ("mae", "rmse", "mape", "r2")
DRIFT_METRICS = ("drift_score", "drifted", "psi", "jensen_shannon", "wasserstein", "ks",
                 "chi_square_p", "linf")
QUALITY_METRICS = ("null_rate", "type_error_rate", "out_of_range", "unseen_categories",
                   "distinct_change")


@dataclass
class Reference:
    """A monitor's stored reference: the profile, and the reference's own metric values.

    ``values`` maps ``(metric, feature)`` to the reference's value: drift limits
    derived from the reference's chunks (mean + 3 sigma) and, when the reference
    came with labels and predictions, its model quality (feature ``""``).
    """

    profile: Profile
    values: dict[tuple[str, str], float] = field(default_factory=dict)
    digest: str = ""
    """Of the stored profile: serving profiles made against another reference are ignored."""


def epoch_ms(column: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """Timestamps (of any unit: the log writes ms, DuckDB answers in µs) as ms since the epoch."""
    return pc.cast(pc.cast(column, pa.timestamp("ms", tz="UTC"), safe=False), pa.int64())


def logged_columns(table: pa.Table, monitor: Monitor, names: Sequence[str]) -> dict[str, str]:
    """The log's column of each of ``names`` it has: ``input.<feature>``, and for
    ``prediction`` the output the monitor watches (see :func:`prediction_column`)."""
    found = {}
    for name in names:
        logged = prediction_column(table, monitor) if name == PREDICTION else f"input.{name}"
        if logged is not None and logged in table.column_names:
            found[name] = logged
    return found


def frame_of(table: pa.Table, monitor: Monitor, features: Sequence[str]) -> pd.DataFrame:
    """The monitored columns of prediction-log rows, by feature name (``prediction`` last)."""
    return pd.DataFrame({name: table.column(logged).to_pandas() for name, logged in
                         logged_columns(table, monitor, [*features, PREDICTION]).items()})


def prediction_column(table: pa.Table, monitor: Monitor) -> str | None:
    """The logged output column the monitor watches, or None if the log has none."""
    outputs = [n for n in table.column_names if n.startswith("output.")]
    if monitor.prediction:
        wanted = f"output.{monitor.prediction}"
        if wanted not in outputs and outputs:
            raise InvalidArgument(
                f"monitor {monitor.name!r} watches output {monitor.prediction!r}, but the log "
                f"has {', '.join(o.removeprefix('output.') for o in outputs)}: edit the "
                "monitor's prediction")
        return wanted if wanted in outputs else None
    if len(outputs) > 1:
        raise InvalidArgument(
            f"the model has outputs {', '.join(o.removeprefix('output.') for o in outputs)}: "
            f"set the prediction the monitor {monitor.name!r} watches")
    return outputs[0] if outputs else None


def cohort_keys(frame: pd.DataFrame, cohort: Cohort) -> pd.Series:
    """The cohort key of each row: ``plan=pro``, ``plan=other``, ``age=[30, 60)``."""
    if cohort.column not in frame.columns:
        return pd.Series([None] * len(frame), index=frame.index, dtype=object)
    values = frame[cohort.column]
    if cohort.bins:
        edges = [-math.inf, *cohort.bins, math.inf]
        numbers = pd.to_numeric(values, errors="coerce")
        labels = [f"{cohort.column}=[{_edge(a)}, {_edge(b)})" for a, b in zip(edges, edges[1:])]
        keys = pd.cut(numbers, edges, right=False, labels=labels).astype(object)
        return keys.where(numbers.notna(), f"{cohort.column}=missing")
    text = values.astype(object).where(values.notna(), None).map(
        lambda v: None if v is None else str(v))
    top = text.value_counts().index[:cohort.max_values]
    return text.map(lambda v: f"{cohort.column}=missing" if v is None else
                    f"{cohort.column}={v}" if v in top else f"{cohort.column}=other")


def _edge(value: float) -> str:
    return "-inf" if value == -math.inf else "inf" if value == math.inf else f"{value:g}"


def window_values(
    monitor: Monitor,
    table: pa.Table,
    labels: Mapping[str, GroundTruth],
    reference: Reference | None,
    start: int,
    end: int,
    *,
    now: int | None = None,
    health: Mapping[str, float | None] | str | None = None,
    current: Profile | None = None,
) -> list[MonitorValue]:
    """Every value of one window; see the module docstring.

    ``health`` is what :func:`dockyard.monitor.system.serving_health` found for
    the window, or the reason it could not be asked (no Prometheus set, or an
    error), which becomes the status of the system-health values. ``current`` is the
    window's profile when the model servers made it (:mod:`dockyard.monitor.summaries`);
    without it the window's rows are profiled here.
    """
    now = now_ms() if now is None else now
    out: list[MonitorValue] = []

    def emit(metric: str, value: Any, *, feature: str = "", cohort: str = "", count: int = 0,
             status: str = "ok") -> None:
        number = None if value is None or (isinstance(value, float) and not math.isfinite(value)) \
            else float(value)
        if number is None and status == "ok":
            status = "no_data"
        out.append(MonitorValue(
            monitor_id=monitor.id, window_start=start, window_end=end, metric=metric,
            feature=feature, cohort=cohort, value=number, count=count,
            reference=reference.values.get(
                ("jensen_shannon" if metric == "drift_score" else metric, feature))
            if reference else None,
            status=status, computed_at=now))

    rows = table.num_rows
    emit("rows", rows, count=rows)
    short = f"no_data: {rows} rows, {monitor.min_rows} needed" if rows < monitor.min_rows else ""
    features = list(monitor.features) or (
        [c for c in reference.profile.columns if c != PREDICTION] if reference else
        [n.removeprefix("input.") for n in table.column_names if n.startswith("input.")])
    cohort_columns = [c.column for c in monitor.cohorts if c.column not in features]
    frame = frame_of(table, monitor, [*features, *cohort_columns]) if rows else pd.DataFrame()

    _system(emit, table, start, end, now)
    for metric in ("requests", "error_rate", "client_error_rate"):
        if isinstance(health, Mapping):
            emit(metric, health.get(metric), count=int(health.get("requests") or 0),
                 status="ok" if health.get(metric) is not None else "no_data: no requests")
        else:
            emit(metric, None, status=health or "no_data: set DOCKYARD_PROMETHEUS_URL to a "
                                                "Prometheus that scrapes the model servers")
    _drift(emit, monitor, frame, features, reference, short, rows, current)
    ids = table.column("prediction_id").to_pylist() if rows else []
    times = epoch_ms(table.column("time")).to_numpy() if rows else np.empty(0)
    _labelled(emit, monitor, frame, ids, times, labels, "", np.ones(rows, bool))
    for spec in monitor.cohorts:
        keys = cohort_keys(frame, spec) if rows else pd.Series([], dtype=object)
        if rows and keys.isna().all():
            emit("rows", None, cohort=f"{spec.column}=*",
                 status=f"missing: the log has no column {spec.column!r} for this cohort")
            continue
        for key in sorted(k for k in keys.dropna().unique()):
            mask = (keys == key).to_numpy()
            emit("rows", int(mask.sum()), cohort=key, count=int(mask.sum()))
            _labelled(emit, monitor, frame, ids, times, labels, key, mask)
    return out


def _system(emit: Any, table: pa.Table, start: int, end: int, now: int) -> None:
    rows = table.num_rows
    span = max(min(end, now) - start, 1) / 1000
    emit("throughput", rows / span, count=rows)
    if not rows:
        for metric in ("latency_p50", "latency_p95", "latency_p99"):
            emit(metric, None, status="no_data: no predictions in the window")
        return
    latency = table.column("latency_ms").to_numpy(zero_copy_only=False)
    for q, metric in ((50, "latency_p50"), (95, "latency_p95"), (99, "latency_p99")):
        emit(metric, float(np.nanpercentile(latency, q)), count=rows)


def _drift(emit: Any, monitor: Monitor, frame: pd.DataFrame, features: Sequence[str],
           reference: Reference | None, short: str, rows: int,
           current: Profile | None) -> None:
    if reference is None:
        for name in [*features, PREDICTION]:
            emit("drift_score", None, feature=name,
                 status="no_reference: set the monitor's reference to compute drift")
        return
    # every watched column once: what the reference profiles, the prediction if it does
    watched = [n for n in [*features, PREDICTION] if n in reference.profile.columns]
    present = [n for n in watched if n in frame.columns]
    for name in watched:
        if name not in present:
            emit("drift_score", None, feature=name,
                 status=short or f"missing: the prediction log has no column for {name!r}")
        elif short:
            emit("drift_score", None, feature=name, status=short)
    if short or not present:
        emit("share_drifted", None, status=short or "no_data: no watched column is logged")
        return
    if current is None:
        current = profile(frame[present], categorical=list(monitor.categorical),
                          reference=reference.profile)
    drift = compare(reference.profile, current, columns=present).set_index("column")
    checks = data_quality(reference.profile, current, columns=present).set_index("column")
    drifted = []
    for name in present:
        row = drift.loc[name]
        count = int(row.get("current_rows", rows))
        for metric in DRIFT_METRICS:
            value = row.get("jensen_shannon" if metric == "drift_score" else metric)
            if metric == "drifted":
                value = None if pd.isna(row.get("drifted")) else float(bool(row["drifted"]))
                if value is not None:
                    drifted.append(value)
            emit(metric, None if value is None or pd.isna(value) else value, feature=name,
                 count=count)
        check = checks.loc[name] if name in checks.index else None
        for metric in QUALITY_METRICS:
            value = None if check is None else check.get(metric)
            emit(metric, None if value is None or pd.isna(value) else value, feature=name,
                 count=rows)
    emit("share_drifted", float(np.mean(drifted)) if drifted else None, count=len(drifted))


def _labelled(emit: Any, monitor: Monitor, frame: pd.DataFrame, ids: Sequence[str],
              times: np.ndarray, labels: Mapping[str, GroundTruth], cohort: str,
              mask: np.ndarray) -> None:
    rows = int(mask.sum())
    picked = [i for i, keep in zip(range(len(ids)), mask) if keep and ids[i] in labels]
    emit("label_coverage", len(picked) / rows if rows else None, cohort=cohort, count=rows,
         status="ok" if rows else "no_data: no predictions")
    metrics = (CLASSIFICATION_METRICS if monitor.task == "classification" else
               REGRESSION_METRICS if monitor.task == "regression" else ())
    if not picked:
        emit("label_delay_p50", None, cohort=cohort, status="no_data: no labels yet")
        for metric in metrics:
            emit(metric, None, cohort=cohort, status="no_data: no labels yet")
        return
    delays = [(labels[ids[i]].label_time - int(times[i])) / 1000 for i in picked]
    emit("label_delay_p50", float(np.median(delays)), cohort=cohort, count=len(picked))
    if not metrics:
        return
    if len(picked) < monitor.min_rows:
        for metric in metrics:
            emit(metric, None, cohort=cohort, count=len(picked),
                 status=f"no_data: {len(picked)} labels, {monitor.min_rows} needed")
        return
    if PREDICTION not in frame.columns:
        for metric in metrics:
            emit(metric, None, cohort=cohort, status="missing: the log has no prediction")
        return
    predicted = frame[PREDICTION].to_numpy()[picked]
    truth = np.asarray([labels[ids[i]].label for i in picked])
    try:
        if monitor.task == "classification":
            values, reasons = quality.classification(predicted, truth,
                                                     positive_class=monitor.positive_class)
        else:
            values, reasons = quality.regression(predicted, truth)
    except InvalidArgument as exc:
        for metric in metrics:
            emit(metric, None, cohort=cohort, count=len(picked), status=f"error: {exc.message}")
        return
    for metric in metrics:
        emit(metric, values.get(metric), cohort=cohort, count=len(picked),
             status=f"no_data: {reasons[metric]}" if metric in reasons else "ok")
