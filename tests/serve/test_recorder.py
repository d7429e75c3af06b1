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


def read(tmp_path: Path, log: PredictionLog, columns: list[str] | None = None):
    assert log.flush(upload=True, timeout=30)
    return ds.dataset(tmp_path / "store" / "predictions", partitioning="hive").to_table(
        columns=columns)


def test_one_iteration_is_one_batch_per_model(tmp_path: Path, log: PredictionLog) -> None:
    appended = []
    original = log.append
    log.append = lambda batch: (appended.append(batch), original(batch))  # count, then log

    async def answer() -> None:
        recorder = Recorder(log)
        recorder.add(("m", "1"), ["a"], np.array([[1.0, 2.0]]), np.array([3]), 1.5, "r1")
        recorder.add(("m", "1"), ["b-0", "b-1"], np.array([[4.0, 5.0], [6.0, 7.0]]),
                     np.array([8, 9]), 2.5, "r2")
        recorder.add(("m", "2"), ["c"], {"x": np.array([1.0])}, np.array([0]), 0.5, "r3")
        recorder.add(("m", "2"), ["d"], {"x": np.array([2.0])}, [7], 0.1, "r4")  # not an array
        recorder.add(("m", "1"), ["e"], np.array([[9.0, 9.0]]), np.array([1.5]), 0.2, "r5")
        assert appended == []  # nothing before the iteration ends
        await asyncio.sleep(0)

    asyncio.run(answer())
    # model 1: e's output is a float, so a, b and e go one by one; so do c and d (d's
    # output is a list). A model whose records are alike gets one batch (next test).
    assert sorted(len(batch.prediction_ids) for batch in appended) == [1, 1, 1, 1, 2]
    # The files differ in their input and output types: read the columns they share.
    table = read(tmp_path, log, ["prediction_id", "request_id", "latency_ms"])
    table = table.sort_by("prediction_id").to_pydict()
    assert table["prediction_id"] == ["a", "b-0", "b-1", "c", "d", "e"]
    assert table["request_id"] == ["r1", "r2", "r2", "r3", "r4", "r5"]
    assert table["latency_ms"] == [1.5, 2.5, 2.5, 0.5, 0.1, 0.2]


def test_alike_records_become_one_batch(tmp_path: Path, log: PredictionLog) -> None:
    appended = []
    original = log.append
    log.append = lambda batch: (appended.append(batch), original(batch))

    async def answer() -> None:
        recorder = Recorder(log)
        for i in range(5):
            recorder.add(("m", "1"), [f"p{i}"], {"x": np.array([float(i)]), "n": np.array([i])},
                         np.array([i * 2]), float(i), f"r{i}")
        await asyncio.sleep(0)

    asyncio.run(answer())
    [batch] = appended
    assert batch.request_id == ["r0", "r1", "r2", "r3", "r4"]
    table = read(tmp_path, log).sort_by("prediction_id").to_pydict()
    assert table["input.n"] == [0, 1, 2, 3, 4] and table["output.0"] == [0, 2, 4, 6, 8]
    assert table["input.x"] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert table["latency_ms"] == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_flush_hands_over_what_is_pending(tmp_path: Path, log: PredictionLog) -> None:
    async def answer() -> Recorder:
        recorder = Recorder(log)
        recorder.add(("m", "1"), ["a"], np.array([[1.0]]), np.array([1]), 1.0, "r")
        recorder.flush()  # as the server does at shutdown
        return recorder

    asyncio.run(answer())
    assert read(tmp_path, log).column("prediction_id").to_pylist() == ["a"]
