"""The server's predictions reach the log coalesced per loop iteration, each row intact."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pyarrow.dataset as ds
import pytest

from dockyard.serve.predlog import PredictionLog
from dockyard.serve.recorder import Recorder
from dockyard.store.artifacts import artifact_store_for


@pytest.fixture
def log(tmp_path: Path):
    log = PredictionLog(artifact_store_for(str(tmp_path / "store")), spool_dir=tmp_path / "spool")
    yield log
    log.close()


def read(tmp_path: Path, log: PredictionLog):
    assert log.flush(upload=True, timeout=30)
    return ds.dataset(tmp_path / "store" / "predictions", partitioning="hive").to_table()


def test_one_iteration_is_one_batch_per_layout(tmp_path: Path, log: PredictionLog) -> None:
    appended = []
    original = log.append
    log.append = lambda batch: (appended.append(batch), original(batch))  # count, then log

    async def answer() -> None:
        recorder = Recorder(log)
        recorder.add(["a"], "m", "1", np.array([[1.0, 2.0]]), np.array([3]), 1.5, "r1")
        recorder.add(["b-0", "b-1"], "m", "1", np.array([[4.0, 5.0], [6.0, 7.0]]),
                     np.array([8, 9]), 2.5, "r2")
        recorder.add(["c"], "m", "1", {"x": np.array([1.0])}, np.array([0]), 0.5, "r3")
        recorder.add(["d"], "m", "1", np.array([[0.0, 0.0]]), [7], 0.1, "r4")  # not an array
        assert appended == []  # nothing before the iteration ends
        await asyncio.sleep(0)

    asyncio.run(answer())
    assert [len(batch.prediction_ids) for batch in appended] == [3, 1, 1]
    table = read(tmp_path, log).sort_by("prediction_id").to_pydict()
    assert table["prediction_id"] == ["a", "b-0", "b-1", "c", "d"]
    assert table["request_id"] == ["r1", "r2", "r2", "r3", "r4"]
    assert table["latency_ms"] == [1.5, 2.5, 2.5, 0.5, 0.1]
    assert table["input.0"][:3] == [[1.0, 2.0], [4.0, 5.0], [6.0, 7.0]]
    assert table["output.0"][:3] == [3, 8, 9]


def test_flush_hands_over_what_is_pending(tmp_path: Path, log: PredictionLog) -> None:
    async def answer() -> Recorder:
        recorder = Recorder(log)
        recorder.add(["a"], "m", "1", np.array([[1.0]]), np.array([1]), 1.0, "r")
        recorder.flush()  # as the server does at shutdown
        return recorder

    asyncio.run(answer())
    assert read(tmp_path, log).column("prediction_id").to_pylist() == ["a"]
