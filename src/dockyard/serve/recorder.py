"""Hand the server's predictions to the prediction log, one batch per model per loop iteration.

Under load, the requests of one predict batch are answered in the same
event-loop iteration. Appending each on its own would cost the log a
validation and a conversion per request; :class:`Recorder` gathers what one
iteration answered and appends it as one :class:`PredictionBatch` per model
version (ids, request ids and latencies per row, inputs and outputs
concatenated), at the end of that iteration. Records whose arrays differ in
dtype or trailing shape, or that are not arrays, are appended one by one.
"""

from __future__ import annotations

import asyncio
from itertools import chain
from typing import Any

import numpy as np

from dockyard.serve.batching import concat_rows
from dockyard.serve.predlog import PredictionBatch, PredictionLog

__all__ = ["Recorder"]

# (model, version), prediction ids, inputs, outputs, latency in ms, request id
_Record = tuple[tuple[str, str], list[str], Any, Any, float, str]


class Recorder:
    """Collects answered predictions and appends them to ``log`` once per loop iteration."""

    def __init__(self, log: PredictionLog) -> None:
        self.log = log
        self._records: list[_Record] = []

    def add(
        self,
        model: tuple[str, str],
        ids: list[str],
        inputs: Any,
        outputs: Any,
        latency_ms: float,
        request_id: str,
    ) -> None:
        """Queue one request's predictions (``model`` is ``(name, version)``).

        They reach the log at the end of the current loop iteration.
        """
        if not self._records:
            asyncio.get_running_loop().call_soon(self.flush)
        self._records.append((model, ids, inputs, outputs, latency_ms, request_id))

    def flush(self) -> None:
        """Append everything queued (also called at shutdown, before the log closes)."""
        records, self._records = self._records, []
        if len(records) == 1:
            self._append_one(records[0])
            return
        groups: dict[tuple[str, str], list[_Record]] = {}
        for record in records:
            groups.setdefault(record[0], []).append(record)
        for group in groups.values():
            if len(group) > 1 and _alike([r[2] for r in group]) and _alike([r[3] for r in group]):
                self._append_many(group)
            else:
                for record in group:
                    self._append_one(record)

    def _append_one(self, record: _Record) -> None:
        (name, version), ids, inputs, outputs, latency_ms, request_id = record
        self.log.append(PredictionBatch(
            ids, name, version, inputs=inputs, outputs=outputs, latency_ms=latency_ms,
            request_id=request_id,
        ))

    def _append_many(self, group: list[_Record]) -> None:
        name, version = group[0][0]
        rows = [len(record[1]) for record in group]
        self.log.append(PredictionBatch(
            list(chain.from_iterable(record[1] for record in group)),
            name,
            version,
            inputs=concat_rows([record[2] for record in group]),
            outputs=concat_rows([record[3] for record in group]),
            latency_ms=np.repeat([record[4] for record in group], rows),
            request_id=list(chain.from_iterable(
                [record[5]] * n for record, n in zip(group, rows))),
        ))


def _alike(values: list[Any]) -> bool:
    """Whether ``values`` are arrays (or dicts of arrays) that concatenate without a cast."""
    first = values[0]
    if type(first) is np.ndarray:
        if first.ndim == 0:
            return False
        dtype, trailing = first.dtype, first.shape[1:]
        return all(type(v) is np.ndarray and v.dtype == dtype and v.ndim and
                   v.shape[1:] == trailing for v in values)
    if type(first) is dict and first:
        return all(type(v) is dict and v.keys() == first.keys() for v in values) and all(
            _alike([v[name] for v in values]) for name in first)
    return False
