"""Monitors: create one with its reference and default rules, and run it.

A run reads the monitor's windows from the prediction log, joins the labels
that have arrived, computes every value (:mod:`dockyard.monitor.windows`),
stores them, and moves the alerts of the latest window
(:mod:`dockyard.monitor.alerts`), notifying the monitor's channels.

The reference is profiled once, where its data is, when it is set, and
stored beside the monitor (``monitors/<id>/reference.profile`` and
``reference.json`` in the artifact store, through the server for a remote
client); runs read the profile, never the reference data.
"""

from __future__ import annotations

import logging
import math
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pandas as pd
import pyarrow.compute as pc

from dockyard.config import get_settings
from dockyard.entities import now_ms
from dockyard.entities.dataset import SCHEME, DatasetVersion
from dockyard.entities.monitoring import (
    ANY_FEATURE,
    PREDICTION,
    Alert,
    PREDICTION_ID_PATTERN,
    Monitor,
    MonitorSpec,
    MonitorValue,
    Rule,
)
from dockyard.errors import DockyardError, InvalidArgument, NotFound
from dockyard.monitor import alerts as alerting
from dockyard.monitor import notify, quality
from dockyard.monitor.profile import Profile, profile, reference_thresholds
from dockyard.monitor.report import side_by_side
from dockyard.monitor.summaries import FOLDER, reference_digest, window_profile
from dockyard.monitor.system import serving_health
from dockyard.monitor.windows import Reference, epoch_ms, frame_of, window_values

if TYPE_CHECKING:
    from dockyard.client import Client

__all__ = ["MonitorRun", "create_monitor", "default_rules", "feature_histogram", "load_reference",
           "run_monitor", "set_reference"]

log = logging.getLogger("dockyard.monitor")

THRESHOLD_ROWS = 100
"""A reference with fewer rows gets no derived drift limits (its chunks would be too small)."""
LOOKBACK_WINDOWS = 24
"""A scheduled run recomputes this many windows back, so that late labels are counted."""


def default_rules(task: str | None, *, reference_quality: bool) -> list[Rule]:
    """The rules a monitor gets when none are given: drift, missing values, quality, latency."""
    rules = [
        Rule(name="feature drift", metric="drifted", feature=ANY_FEATURE, op=">=",
             threshold=1, severity="warning"),
        Rule(name="most features drifted", metric="share_drifted", op=">=", threshold=0.5,
             severity="critical"),
        Rule(name="missing values", metric="null_rate", feature=ANY_FEATURE, op=">",
             threshold=0.1, relative=True, severity="warning"),
        Rule(name="slow predictions", metric="latency_p99", op=">", threshold=1000,
             severity="warning"),
    ]
    if reference_quality and task == "classification":
        rules.append(Rule(name="accuracy drop", metric="accuracy", op="<", threshold=-0.05,
                          relative=True, severity="critical"))
    elif reference_quality and task == "regression":
        rules.append(Rule(name="R2 drop", metric="r2", op="<", threshold=-0.1, relative=True,
                          severity="critical"))
    return rules


def create_monitor(client: Client, spec: MonitorSpec, reference: Any = None, *,
                   target: str | None = None, prediction: str | None = None) -> Monitor:
    """Store a monitor and, when given, profile its reference (a DataFrame, a file, or a
    dataset version: a :class:`DatasetVersion` or ``datasets:/<name>/<version>``).

    ``target`` and ``prediction`` name the reference's label and prediction
    columns, if it has them: then the reference's model quality is stored, and
    rules relative to it (the default "accuracy drop") can be evaluated. A spec
    without rules gets :func:`default_rules`.
    """
    frame = None if reference is None else _frame(reference, client)
    if frame is not None:
        _check_columns(spec, frame, target, prediction)
    if not spec.rules:
        with_quality = frame is not None and target is not None and prediction is not None
        spec = spec.model_copy(update={"rules": default_rules(spec.task,
                                                               reference_quality=with_quality)})
    monitor = client.create_monitor(spec)
    if frame is not None:
        try:
            monitor = _store_reference(client, monitor, frame, target, prediction)
        except Exception:
            client.delete_monitor(monitor.id)  # no half-made monitor
            raise
    return monitor


def set_reference(client: Client, monitor: Monitor, reference: Any, *,
                  target: str | None = None, prediction: str | None = None) -> Monitor:
    """Profile ``reference`` once and store it as the monitor's reference."""
    frame = _frame(reference, client)
    _check_columns(monitor, frame, target, prediction)
    return _store_reference(client, monitor, frame, target, prediction)


def _store_reference(client: Client, monitor: Monitor, frame: pd.DataFrame,
                     target: str | None, prediction: str | None) -> Monitor:
    """Profile a checked reference frame and store it with its own values."""
    features = list(monitor.features) or [c for c in frame.columns if c not in (target, prediction)]
    columns = frame[features].copy()
    if prediction is not None:
        columns[PREDICTION] = frame[prediction]
    categorical = [c for c in monitor.categorical if c in columns.columns]
    ref = profile(columns, categorical=categorical)
    values: list[tuple[str, str, float]] = [
        (metric, name, value) for (metric, name), value in
        reference_thresholds(columns, ref, categorical=categorical).items()
    ] if len(columns) >= THRESHOLD_ROWS else []
    values += [("null_rate", name, float(columns[name].isna().mean())) for name in columns]
    if target is not None and prediction is not None and monitor.task:
        scores = (quality.classification(frame[prediction].to_numpy(), frame[target].to_numpy(),
                                         positive_class=monitor.positive_class)[0]
                  if monitor.task == "classification"
                  else quality.regression(frame[prediction].to_numpy(),
                                          frame[target].to_numpy())[0])
        values += [(metric, "", value) for metric, value in scores.items()
                   if isinstance(value, float) and math.isfinite(value)]
    folder = client.put_monitor_reference(monitor.id, ref.to_bytes(),
                                          {"rows": len(frame), "values": values})
    spec = MonitorSpec(**{**monitor.model_dump(include=set(MonitorSpec.model_fields)),
                          "reference": folder, "features": features})
    return client.update_monitor(monitor.id, spec)


def load_reference(client: Client, monitor: Monitor) -> Reference | None:
    """The monitor's stored reference, or None when it has none."""
    stored = client.get_monitor_reference(monitor)
    if stored is None:
        if monitor.reference:
            log.warning("monitor %s: its reference at %s is gone", monitor.name,
                        monitor.reference)
        return None
    blob, meta = stored
    values = {(metric, name): value for metric, name, value in meta["values"]}
    return Reference(Profile.from_bytes(blob), values, reference_digest(blob))


@dataclass
class MonitorRun:
    """What one run of a monitor did."""

    monitor: Monitor
    windows: list[tuple[int, int]]
    values: list[MonitorValue]
    alerts: list[Alert] = field(default_factory=list)
    served_profiles: list[tuple[int, int]] = field(default_factory=list)
    """Windows whose drift came from the model servers' profiles, not from the log's rows."""

    @property
    def firing(self) -> list[Alert]:
        return [a for a in self.alerts if a.state == "firing"]

    def latest(self, metric: str, feature: str = "", cohort: str = "") -> MonitorValue | None:
        """The value of ``metric`` in the last window of the run."""
        start = self.windows[-1][0] if self.windows else None
        return next((v for v in self.values if v.window_start == start and v.metric == metric
                     and v.feature == feature and v.cohort == cohort), None)


def run_monitor(client: Client, monitor: Monitor | str, *, since: int | None = None,
                until: int | None = None, now: int | None = None, alert: bool = True,
                url: str | None = None) -> MonitorRun:
    """Compute the monitor's windows, store their values, and update its alerts.

    Without ``since`` and ``until``, the run covers the last
    :data:`LOOKBACK_WINDOWS` windows of the monitor's size up to now (the
    current one included, for the charts), and the rules judge the newest
    finished window that has enough rows. With them, it covers exactly
    ``[since, until)`` as one window (to check a period on demand, in CI),
    and the rules judge that window; pass ``alert=False`` to backfill an old
    period without moving today's alerts.
    """
    if isinstance(monitor, str):
        monitor = _find(client, monitor)
    if (since is None) != (until is None):
        raise InvalidArgument("give both since and until, or neither")
    for name, value in (("since", since), ("until", until)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or not 0 <= value <= _LAST_MS):
            raise InvalidArgument(f"{name} is ms since the epoch, from 0 to year 9999; "
                                  f"got {value!r:.40}")
    if since is not None and until is not None and until <= since:
        raise InvalidArgument("until must be after since")
    if client.is_remote:  # the server reads the prediction log where it is
        return _run_remote(client, monitor, since, until, alert)
    with _running(monitor.id):
        return _run(client, monitor, since, until, now_ms() if now is None else now, alert,
                    url)


def _run(client: Client, monitor: Monitor, since: int | None, until: int | None, now: int,
         alert: bool, url: str | None) -> MonitorRun:
    if since is not None and until is not None:
        windows = [(since, until)]
    else:
        size = monitor.window_seconds * 1000
        current = now - now % size
        windows = [(current - i * size, current - (i - 1) * size)
                   for i in range(LOOKBACK_WINDOWS - 1, -1, -1)]
    reference = load_reference(client, monitor)
    predictions = client.prediction_store()
    values: list[MonitorValue] = []
    newest: list[MonitorValue] = []  # of the newest window with rows
    judged: list[MonitorValue] = []  # of the newest window with enough rows
    done_by_servers: list[tuple[int, int]] = []
    profiles = (predictions.list_files(f"{FOLDER}/monitor={monitor.id}/ref={reference.digest}")
                if reference is not None else [])
    health_url = get_settings().prometheus_url
    logged = predictions.query(model=monitor.model_name, version=monitor.model_version,
                               deployment=monitor.deployment, since=_datetime(windows[0][0]),
                               until=_datetime(windows[-1][1]))  # one scan for every window
    stamps = epoch_ms(logged.column("time"))
    for start, end in windows:
        table = logged if len(windows) == 1 else logged.filter(
            pc.and_(pc.greater_equal(stamps, start), pc.less(stamps, end)))
        if not table.num_rows and len(windows) > 1:
            continue
        ids = [i for i in table.column("prediction_id").to_pylist() if _LABELLED.match(i)]
        labels = {g.prediction_id: g for g in client.get_ground_truth(ids)} if ids else {}
        served = None if reference is None else window_profile(
            predictions, monitor, reference.profile, profiles, start, end, table.num_rows)
        if served is not None:
            done_by_servers.append((start, end))
        health = _health(health_url, monitor, start, min(end, now))
        if isinstance(health, str) and health.startswith("error"):
            health_url = None  # one failure per run: a hung Prometheus must not stall it
        window = window_values(monitor, table, labels, reference, start, end, now=now,
                               health=health, current=served)
        values.extend(window)
        if end <= now or len(windows) == 1:  # the rules judge finished windows only
            newest = window
            if table.num_rows >= monitor.min_rows:
                judged = window
    judged = judged or newest
    if values:
        client.log_monitor_values(values)
    client.set_monitor_run(monitor.id, now)
    done = MonitorRun(monitor, sorted({(v.window_start, v.window_end) for v in values}), values,
                      served_profiles=done_by_servers)
    if alert and judged:
        channels = [notify.channel_from_config(c) for c in monitor.channels]
        conditions = alerting.evaluate_rules(monitor.rules, judged)
        done.alerts = alerting.apply_conditions(client.store, monitor, conditions,
                                                channels=channels, now=now, url=url)
    return done


def _health(url: str | None, monitor: Monitor, start: int,
            end: int) -> dict[str, float | None] | str | None:
    """Requests and error rates from Prometheus, or why there are none."""
    if url is None or end <= start:
        return None
    try:
        return serving_health(url, monitor.model_name, monitor.model_version, start, end,
                              monitor.deployment)
    except DockyardError as exc:
        log.warning("monitor %s: %s", monitor.name, exc.message)
        return f"error: {exc.message}"


def _run_remote(client: Client, monitor: Monitor, since: int | None, until: int | None,
                alert: bool) -> MonitorRun:
    params: dict[str, Any] = {k: v for k, v in (("since", since), ("until", until))
                              if v is not None}
    params["alert"] = alert
    answer = client.store.http.request(  # type: ignore[attr-defined]
        "POST", f"/monitors/{quote(monitor.id, safe='')}/run", params=params).json()
    return MonitorRun(monitor, [tuple(w) for w in answer["windows"]],  # type: ignore[misc]
                      [MonitorValue(**v) for v in answer["values"]],
                      [Alert(**a) for a in answer["alerts"]])


_LAST_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
_LABELLED = re.compile(PREDICTION_ID_PATTERN)
_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_LOCK = threading.Lock()


@contextmanager
def _running(monitor_id: str) -> Iterator[None]:
    """One run of a monitor at a time in this process: a scheduled run and one asked for
    over the API wait for each other (the store refuses a second open alert anyway)."""
    with _LOCKS_LOCK:
        lock = _LOCKS.setdefault(monitor_id, threading.Lock())
    with lock:
        yield


def _find(client: Client, name_or_id: str) -> Monitor:
    try:
        return client.get_monitor_by_name(name_or_id)
    except NotFound:
        try:
            return client.get_monitor(name_or_id)
        except (NotFound, InvalidArgument):
            raise NotFound(f"no monitor is named {name_or_id!r}: see dockyard monitor list"
                           ) from None


def _frame(data: Any, client: Client) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, DatasetVersion) or (isinstance(data, str) and data.startswith(SCHEME)):
        from dockyard.data.datasets import load_dataset

        return load_dataset(data, client)
    if isinstance(data, str | Path):
        path = Path(data)
        if not path.is_file():
            raise InvalidArgument(f"the reference file {path} does not exist")
        if path.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(path)
        if path.suffix.lower() == ".csv":
            return pd.read_csv(path)
        raise InvalidArgument(f"{path.name}: give the reference as a .parquet or .csv file, or "
                              "a dataset version (datasets:/<name>/<version>)")
    if hasattr(data, "to_pandas"):
        return data.to_pandas()
    raise InvalidArgument(f"the reference is a {type(data).__name__}: give a DataFrame, an "
                          "Arrow table, a .parquet/.csv file or a dataset version")


def _check_columns(spec: MonitorSpec, frame: pd.DataFrame, target: str | None,
                   prediction: str | None) -> None:
    if frame.empty:
        raise InvalidArgument("the reference has no rows: a reference needs data to compare with")
    wanted = [*spec.features, *spec.categorical, *(c for c in (target, prediction) if c)]
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise InvalidArgument(f"the reference has no column {missing[0]!r}; it has "
                              f"{', '.join(map(str, frame.columns))}")
    empty = [c for c in (spec.features or frame.columns) if frame[c].isna().all()]
    if empty:
        raise InvalidArgument(f"the reference column {empty[0]!r} is empty (all null): "
                              "drop it from the features or give a reference that has it")


def _datetime(ms: int) -> Any:
    import datetime as dt

    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC)


def feature_histogram(client: Client, monitor: Monitor, feature: str, *, since: int,
                      until: int, max_categories: int = 20) -> dict[str, Any]:
    """The reference's and the window's histogram of one feature, for a side-by-side view.

    :func:`~dockyard.monitor.report.side_by_side` of the two profiles, with the
    ``feature``. Numbers: the reference's bins (``edges`` are the inner edges;
    the first and last bins are open) with both counts. Categories: the
    reference's most frequent ``max_categories`` and the window's unseen ones,
    the rest as ``(other)``.
    """
    reference = load_reference(client, monitor)
    if reference is None:
        raise InvalidArgument(f"monitor {monitor.name!r} has no reference: set one to compare "
                              "histograms")
    if feature not in reference.profile.columns:
        raise NotFound(f"monitor {monitor.name!r} does not watch {feature!r}; it watches "
                       f"{', '.join(reference.profile.columns)}")
    table = client.prediction_store().query(
        model=monitor.model_name, version=monitor.model_version, deployment=monitor.deployment,
        since=_datetime(since), until=_datetime(until))
    ref = reference.profile.columns[feature]
    frame = frame_of(table, monitor, [feature]) if table.num_rows else pd.DataFrame()
    cur = (profile(frame[[feature]], reference=reference.profile).columns[feature]
           if feature in frame.columns else None)
    return {"feature": feature, **side_by_side(ref, cur, max_categories=max_categories)}
