"""The spool and the logger's error reporting, on real stores."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

import dockyard
from dockyard.entities import Batch, Metric
from dockyard.errors import Conflict
from dockyard.store.sql import SqlMetadataStore
from dockyard.train.spool import Spool, spools_under


@pytest.fixture
def store(tmp_path: Path) -> SqlMetadataStore:
    return SqlMetadataStore(f"sqlite:///{tmp_path / 'db.sqlite'}")


def _batch(run_id: str, step: int) -> Batch:
    return Batch(run_id=run_id, metrics=[Metric(key="m", value=float(step), step=step)],
                 batch_id=uuid.uuid4().hex)


def test_replay_sends_oldest_first_once(tmp_path: Path, store: SqlMetadataStore) -> None:
    run = store.create_run(store.create_experiment("e").id)
    spool = Spool(tmp_path / "spool", "http://example.invalid:5000")
    batches = [_batch(run.id, i) for i in range(5)]
    files = [spool.add(b) for b in batches]
    assert spool.pending() == files and not list(spool.dir.glob(".*.tmp"))
    assert [s.uri for s in spools_under(tmp_path / "spool")] == [spool.uri]

    result = spool.replay(store)
    assert (result.sent, result.duplicates, result.failed, result.remaining) == (5, 0, 0, 0)
    assert spool.pending() == []
    assert store.get_metric_history(run.id, "m").steps == [0, 1, 2, 3, 4]

    spool.add(batches[2])  # delivered before, spooled again (the server died before answering)
    result = spool.replay(store)
    assert (result.sent, result.duplicates) == (0, 1)
    assert len(store.get_metric_history(run.id, "m")) == 5


def test_rejected_batch_is_set_aside_not_blocking(tmp_path: Path, store: SqlMetadataStore) -> None:
    run = store.create_run(store.create_experiment("e").id)
    spool = Spool(tmp_path / "spool", "sqlite://")
    spool.add(_batch(uuid.uuid4().hex, 0))  # a run that does not exist
    spool.add(_batch(run.id, 1))
    (spool.dir / "garbage.json").write_text("{not json")
    result = spool.replay(store)
    assert (result.sent, result.failed) == (1, 2)
    failed = sorted(p.name for p in spool.failed_dir.iterdir())
    assert len([f for f in failed if f.endswith(".error.txt")]) == 2
    assert any("NOT_FOUND" in p.read_text() for p in spool.failed_dir.glob("*.error.txt"))
    assert spool.pending() == []


def test_rejected_batch_surfaces_at_flush(tmp_path: Path) -> None:
    dockyard.set_experiment("conflicts")
    with pytest.raises(Conflict, match="'p'"):
        with dockyard.start_run() as run:
            dockyard.flush()
            dockyard.Client().log_param(run.id, "p", "from another process")
            dockyard.log_params({"p": "mine", "q": "new and fine"})
            dockyard.log_metric("still-written", 1.0)
            dockyard.flush()
    got = dockyard.get_run(run.id)
    assert got.params == {"p": "from another process", "q": "new and fine"}
    assert got.metrics["still-written"].value == 1.0  # not lost with the rejected param
