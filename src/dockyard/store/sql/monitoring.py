"""Ground truth on SQL: the monitoring half of SqlMetadataStore.

A call reads which of its ids already have a label and writes the rest in
one transaction. Two writers racing on one id cannot both win: the primary
key refuses the second insert, its transaction rolls back whole, and the
caller gets Conflict (a retry then reports the id as a duplicate).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import Connection, select

from dockyard.entities import GroundTruth, GroundTruthResult, now_ms
from dockyard.entities.monitoring import check_label_times, check_labels, check_prediction_id
from dockyard.store.monitoring import MonitoringStore
from dockyard.store.sql.schema import ground_truth

_CHUNK = 900  # ids per IN (...)
_INSERT = "INSERT INTO ground_truth (prediction_id, label, label_time, logged_at) VALUES (?, ?, ?, ?)"
_REPLACE = "UPDATE ground_truth SET label = ?, label_time = ?, logged_at = ? WHERE prediction_id = ?"


class SqlMonitoringMixin(MonitoringStore):
    """Ground truth in the SQL store's ``ground_truth`` table."""

    if TYPE_CHECKING:
        def _read(self) -> AbstractContextManager[Connection]: ...

        def _write(self) -> AbstractContextManager[Connection]: ...

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
