"""Ground truth, monitors, their values and alerts on SQL: the monitoring half of SqlMetadataStore.

Ground truth: a call reads which of its ids already have a label and writes
the rest in one transaction. Two writers racing on one id cannot both win:
the primary key refuses the second insert, its transaction rolls back whole,
and the caller gets Conflict (a retry then reports the id as a duplicate).

Monitor values and alerts are upserts (``INSERT ... ON CONFLICT DO UPDATE``,
the same text on SQLite and PostgreSQL). A call writes its values in key
order, so that two writers of overlapping keys on PostgreSQL lock rows in
the same order and take turns instead of deadlocking.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

import orjson
from pydantic import TypeAdapter
from sqlalchemy import Connection, delete, select

from dockyard.entities import (
    Alert,
    AlertEvent,
    GroundTruth,
    GroundTruthResult,
    Monitor,
    MonitorSpec,
    MonitorValue,
    now_ms,
)
from dockyard.entities import validation as v
from dockyard.entities.monitoring import (
    check_alert,
    check_alert_event,
    check_alert_states,
    check_label_times,
    check_labels,
    check_monitor_spec,
    check_monitor_values,
    check_prediction_id,
)
from dockyard.errors import NotFound
from dockyard.store.monitoring import MonitoringStore
from dockyard.store.sql.common import check_max_results, unique_name
from dockyard.store.sql.schema import (
    alert_events,
    alerts,
    ground_truth,
    monitor_values,
    monitors,
)

_CHUNK = 900  # ids per IN (...)
_INSERT = ("INSERT INTO ground_truth (prediction_id, label, label_time, logged_at) "
           "VALUES (?, ?, ?, ?)")
_REPLACE = ("UPDATE ground_truth SET label = ?, label_time = ?, logged_at = ? "
            "WHERE prediction_id = ?")

_VALUE_KEY = ("monitor_id", "window_start", "metric", "feature", "cohort")
_VALUE_REST = ("window_end", "value", "count", "reference", "status", "computed_at")
_UPSERT_VALUE = (
    f"INSERT INTO monitor_values ({', '.join(_VALUE_KEY + _VALUE_REST)}) "
    f"VALUES ({', '.join('?' * len(_VALUE_KEY + _VALUE_REST))}) "
    f"ON CONFLICT ({', '.join(_VALUE_KEY)}) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _VALUE_REST)
)
_ALERT_COLUMNS = tuple(c.name for c in alerts.columns)
_UPSERT_ALERT = (
    f"INSERT INTO alerts ({', '.join(_ALERT_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(_ALERT_COLUMNS))}) "
    "ON CONFLICT (id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _ALERT_COLUMNS if c != "id")
)
# The spec's fields stored as columns; the rest is the JSON document in ``spec``.
_SPEC_COLUMNS = ("name", "model_name", "deployment")
_SPEC_FIELDS = frozenset(MonitorSpec.model_fields)
_VALUES = TypeAdapter(list[MonitorValue])


def _monitor(row: Any) -> Monitor:
    spec = {k: val for k, val in orjson.loads(row["spec"]).items() if k in _SPEC_FIELDS}
    return Monitor(**spec, **{k: row[k] for k in _SPEC_COLUMNS}, id=row["id"],
                   created_at=row["created_at"], updated_at=row["updated_at"],
                   last_run_at=row["last_run_at"])


def _spec_row(spec: MonitorSpec) -> dict[str, Any]:
    doc = spec.model_dump(exclude=set(_SPEC_COLUMNS))
    return {**{k: getattr(spec, k) for k in _SPEC_COLUMNS}, "spec": orjson.dumps(doc).decode()}


def _new_id() -> str:
    return uuid.uuid4().hex


class SqlMonitoringMixin(MonitoringStore):
    """Ground truth, monitors, monitor values, alerts and alert events in the SQL store's tables."""

    if TYPE_CHECKING:
        def _read(self) -> AbstractContextManager[Connection]: ...

        def _write(self) -> AbstractContextManager[Connection]: ...

        def _sql(self, conn: Connection, sql: str, args: tuple[Any, ...]) -> Any: ...

        def _executemany(self, conn: Connection, sql: str, rows: list[tuple[Any, ...]]) -> None: ...

    def log_ground_truth(self, prediction_ids: Sequence[str], labels: Sequence[Any],
                         label_time: int | Sequence[int] | None = None,
                         replace: bool = False) -> GroundTruthResult:
        pairs = check_labels(prediction_ids, labels)
        logged_at = now_ms()
        times = check_label_times(label_time, len(pairs), logged_at)
        first: dict[str, tuple[str, int]] = {}  # id -> (label as JSON, label time)
        duplicates: list[str] = []
        for (pid, label), when in zip(pairs, times):
            if pid in first:
                duplicates.append(pid)
            else:
                first[pid] = (orjson.dumps(label).decode(), when)
        with self._write() as conn:
            stored = self._stored_ids(conn, list(first))
            new = [(pid, label, when, logged_at)
                   for pid, (label, when) in first.items() if pid not in stored]
            replaced: list[str] = []
            if stored and replace:
                replaced = [pid for pid in first if pid in stored]
                self._executemany(conn, _REPLACE, [(*first[pid], logged_at, pid)
                                                   for pid in replaced])
            elif stored:
                duplicates.extend(pid for pid in first if pid in stored)
            if new:
                self._executemany(conn, _INSERT, new)
        return GroundTruthResult(accepted=len(new) + len(replaced), duplicate_ids=duplicates,
                                 replaced_ids=replaced)

    def get_ground_truth(self, prediction_ids: Sequence[str]) -> list[GroundTruth]:
        if isinstance(prediction_ids, str):
            prediction_ids = [prediction_ids]
        ids = list(dict.fromkeys(check_prediction_id(pid) for pid in prediction_ids))
        found: list[GroundTruth] = []
        with self._read() as conn:
            for start in range(0, len(ids), _CHUNK):
                rows = conn.execute(select(ground_truth).where(
                    ground_truth.c.prediction_id.in_(ids[start:start + _CHUNK]))).all()
                found.extend(GroundTruth(prediction_id=r.prediction_id,
                                         label=orjson.loads(r.label), label_time=r.label_time,
                                         logged_at=r.logged_at) for r in rows)
        return found

    @staticmethod
    def _stored_ids(conn: Connection, ids: list[str]) -> set[str]:
        stored: set[str] = set()
        for start in range(0, len(ids), _CHUNK):
            stored.update(conn.execute(select(ground_truth.c.prediction_id).where(
                ground_truth.c.prediction_id.in_(ids[start:start + _CHUNK]))).scalars())
        return stored

    # monitors ---------------------------------------------------------------------------
    def create_monitor(self, spec: MonitorSpec) -> Monitor:
        spec = check_monitor_spec(spec)
        now = now_ms()
        row = {"id": _new_id(), **_spec_row(spec), "created_at": now, "updated_at": now,
               "last_run_at": None}
        with self._write() as conn:
            with unique_name(f"a monitor named {spec.name!r} already exists"):
                conn.execute(monitors.insert().values(**row))
        return _monitor(row)

    def get_monitor(self, monitor_id: str) -> Monitor:
        with self._read() as conn:
            return _monitor(self._monitor_row(conn, monitor_id))

    def get_monitor_by_name(self, name: str) -> Monitor:
        with self._read() as conn:
            row = conn.execute(select(monitors).where(monitors.c.name == name)).mappings().first()
        if row is None:
            raise NotFound(f"no monitor is named {name!r}")
        return _monitor(row)

    def list_monitors(self, model_name: str | None = None,
                      deployment: str | None = None) -> list[Monitor]:
        query = select(monitors).order_by(monitors.c.name)
        if model_name is not None:
            query = query.where(monitors.c.model_name == model_name)
        if deployment is not None:
            query = query.where(monitors.c.deployment == deployment)
        with self._read() as conn:
            return [_monitor(r) for r in conn.execute(query).mappings()]

    def update_monitor(self, monitor_id: str, spec: MonitorSpec) -> Monitor:
        spec = check_monitor_spec(spec)
        with self._write() as conn:
            current = self._monitor_row(conn, monitor_id)
            # Strictly later, even within one millisecond: a reader can tell the versions apart.
            changes = {**_spec_row(spec), "updated_at": max(now_ms(), current["updated_at"] + 1)}
            with unique_name(f"a monitor named {spec.name!r} already exists"):
                conn.execute(monitors.update().where(monitors.c.id == monitor_id).values(**changes))
        return _monitor({**current, **changes})

    def set_monitor_run(self, monitor_id: str, time: int) -> None:
        time = v.int64("time", time)
        with self._write() as conn:
            if conn.execute(monitors.update().where(monitors.c.id == monitor_id)
                            .values(last_run_at=time)).rowcount == 0:
                raise NotFound(f"monitor {monitor_id!r} does not exist")

    def delete_monitor(self, monitor_id: str) -> Monitor:
        with self._write() as conn:
            current = self._monitor_row(conn, monitor_id)
            its_alerts = select(alerts.c.id).where(alerts.c.monitor_id == monitor_id)
            conn.execute(delete(alert_events).where(alert_events.c.alert_id.in_(its_alerts)))
            conn.execute(delete(alerts).where(alerts.c.monitor_id == monitor_id))
            conn.execute(delete(monitor_values).where(monitor_values.c.monitor_id == monitor_id))
            conn.execute(delete(monitors).where(monitors.c.id == monitor_id))
        return _monitor(current)

    @staticmethod
    def _monitor_row(conn: Connection, monitor_id: str) -> Any:
        row = conn.execute(select(monitors).where(monitors.c.id == monitor_id)).mappings().first()
        if row is None:
            raise NotFound(f"monitor {monitor_id!r} does not exist")
        return row

    @staticmethod
    def _require_monitors(conn: Connection, ids: Sequence[str]) -> None:
        found: set[str] = set()
        for start in range(0, len(ids), _CHUNK):
            found.update(conn.execute(select(monitors.c.id).where(
                monitors.c.id.in_(ids[start:start + _CHUNK]))).scalars())
        missing = [i for i in ids if i not in found]
        if missing:
            raise NotFound(f"monitor {missing[0]!r} does not exist")

    # values per window --------------------------------------------------------------------
    def log_monitor_values(self, values: Sequence[MonitorValue]) -> int:
        rows: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        for val in check_monitor_values(values):  # the later of a key given twice wins
            key = (val.monitor_id, val.window_start, val.metric, val.feature, val.cohort)
            rows[key] = (*key, val.window_end, val.value, val.count, val.reference, val.status,
                         val.computed_at)
        if not rows:
            return 0
        ordered = [rows[k] for k in sorted(rows)]
        with self._write() as conn:
            self._require_monitors(conn, sorted({k[0] for k in rows}))
            self._executemany(conn, _UPSERT_VALUE, ordered)
        return len(ordered)

    def get_monitor_values(self, monitor_id: str, since: int | None = None,
                           until: int | None = None, metric: str | None = None,
                           feature: str | None = None,
                           cohort: str | None = None) -> list[MonitorValue]:
        c = monitor_values.c
        query = select(monitor_values).where(c.monitor_id == monitor_id)
        if since is not None:
            query = query.where(c.window_start >= v.int64("since", since))
        if until is not None:
            query = query.where(c.window_start < v.int64("until", until))
        for column, wanted in ((c.metric, metric), (c.feature, feature), (c.cohort, cohort)):
            if wanted is not None:
                query = query.where(column == wanted)
        query = query.order_by(c.window_start, c.metric, c.feature, c.cohort)
        with self._read() as conn:
            self._monitor_row(conn, monitor_id)
            rows = conn.execute(query).all()
        names = [col.name for col in monitor_values.columns]
        # plain rows zipped with the names: twice as fast as row mappings for a long history
        return _VALUES.validate_python([dict(zip(names, r)) for r in rows])

    # alerts -----------------------------------------------------------------------------------
    def save_alert(self, alert: Alert) -> Alert:
        alert = check_alert(alert)
        row = alert.model_dump()
        with self._write() as conn:
            self._require_monitors(conn, [alert.monitor_id])
            self._sql(conn, _UPSERT_ALERT, tuple(row[c] for c in _ALERT_COLUMNS))
        return alert

    def get_alert(self, alert_id: str) -> Alert:
        with self._read() as conn:
            row = conn.execute(select(alerts).where(alerts.c.id == alert_id)).mappings().first()
        if row is None:
            raise NotFound(f"alert {alert_id!r} does not exist")
        return Alert(**row)

    def list_alerts(self, monitor_id: str | None = None, states: Sequence[str] | None = None,
                    max_results: int = 1000) -> list[Alert]:
        wanted = check_alert_states(states)
        limit = check_max_results(max_results)
        query = select(alerts)
        if monitor_id is not None:
            query = query.where(alerts.c.monitor_id == monitor_id)
        if wanted:
            query = query.where(alerts.c.state.in_(wanted))
        query = query.order_by(alerts.c.updated_at.desc(), alerts.c.id).limit(limit)
        with self._read() as conn:
            return [Alert(**r) for r in conn.execute(query).mappings()]

    def record_alert_event(self, event: AlertEvent) -> AlertEvent:
        event = check_alert_event(event)
        row = {**event.model_dump(), "deliveries": orjson.dumps(event.deliveries).decode()}
        with self._write() as conn:
            self._require_alert(conn, event.alert_id)
            conn.execute(alert_events.insert().values(**row))
        return event

    def list_alert_events(self, alert_id: str) -> list[AlertEvent]:
        e = alert_events.c
        query = (select(e.alert_id, e.time, e.state, e.value, e.message, e.deliveries)
                 .where(e.alert_id == alert_id).order_by(e.time, e.id))
        with self._read() as conn:
            self._require_alert(conn, alert_id)
            rows = conn.execute(query).mappings().all()
        return [AlertEvent(**{**r, "deliveries": orjson.loads(r["deliveries"])}) for r in rows]

    @staticmethod
    def _require_alert(conn: Connection, alert_id: str) -> None:
        if conn.execute(select(alerts.c.id).where(alerts.c.id == alert_id)).first() is None:
            raise NotFound(f"alert {alert_id!r} does not exist")
