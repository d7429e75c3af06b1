"""Hand the server's predictions to the prediction log, one batch per model per loop iteration.

Under load, the requests of one predict batch are answered in the same
event-loop iteration. Appending each on its own would cost the log a
validation and a conversion per request; :class:`Recorder` gathers what one
iteration answered and appends it as one :class:`PredictionBatch` per model
version and layout (ids, request ids and latencies per row, inputs and
outputs concatenated), at the end of that iteration. A lone request is
appended as it is.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable
from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np

from dockyard.serve.batching import batch_key, concat_rows
from dockyard.serve.predlog import PredictionBatch, PredictionLog

__all__ = ["Recorder"]


@dataclass(slots=True)
class _Record:
    ids: list[str]
    model: str
    version: str
    inputs: Any
    outputs: Any
    latency_ms: float
    request_id: str


class Recorder:
    """Collects answered predictions and appends them to ``log`` once per loop iteration."""

    def __init__(self, log: PredictionLog) -> None:
        self.log = log
        self._records: list[_Record] = []

    def add(
        self,
        ids: list[str],
        model: str,
        version: str,
        inputs: Any,
        outputs: Any,
        latency_ms: float,
        request_id: str,
    ) -> None:
        """Queue one request's predictions; they reach the log at the end of this iteration."""
        if not self._records:
            asyncio.get_running_loop().call_soon(self.flush)
        self._records.append(_Record(ids, model, version, inputs, outputs, latency_ms, request_id))

    def flush(self) -> None:
        """Append everything queued (also called at shutdown, before the log closes)."""
        records, self._records = self._records, []
        if len(records) == 1:
            self._append([records[0]])
            return
        groups: dict[Hashable, list[_Record]] = {}
        for record in records:
            groups.setdefault(_layout(record), []).append(record)
        for key, group in groups.items():
            if key is None:
                for record in group:
                    self._append([record])
            else:
                self._append(group)

    def _append(self, group: list[_Record]) -> None:
        first = group[0]
        if len(group) == 1:
            batch = PredictionBatch(
                first.ids, first.model, first.version, inputs=first.inputs,
                outputs=first.outputs, latency_ms=first.latency_ms, request_id=first.request_id,
            )
        else:
            rows = [len(record.ids) for record in group]
            batch = PredictionBatch(
                list(chain.from_iterable(record.ids for record in group)),
                first.model,
                first.version,
                inputs=concat_rows([record.inputs for record in group]),
                outputs=concat_rows([record.outputs for record in group]),
                latency_ms=np.repeat([record.latency_ms for record in group], rows),
                request_id=list(chain.from_iterable(
                    [record.request_id] * n for record, n in zip(group, rows))),
            )
        self.log.append(batch)


def _layout(record: _Record) -> Hashable | None:
    """What records must share to be concatenated; None when they cannot be."""
    parts = []
    for value in (record.inputs, record.outputs):
        if isinstance(value, np.ndarray) and value.ndim >= 1:
            parts.append(batch_key(value))
        elif type(value) is dict and all(type(v) is np.ndarray and v.ndim >= 1
                                         for v in value.values()):
            parts.append(batch_key(value))
        else:
            return None
    return (record.model, record.version, *parts)
