"""The prediction log: Parquet in the artifact store, exactly once, durable within a flush."""

from __future__ import annotations

import math
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from dockyard.errors import InvalidArgument, StoreError
from dockyard.serve.predlog import (
    FIXED_COLUMNS,
    PredictionBatch,
    PredictionLog,
    escape_partition_value,
    is_sampled,
    partition_path,
    unescape_partition_value,
)
from dockyard.store.artifacts import ArtifactStore, LocalArtifactStore, S3ArtifactStore

DAY_MS = 86_400_000


@pytest.fixture
def store(tmp_path: Path) -> LocalArtifactStore:
    return LocalArtifactStore(tmp_path / "artifacts")


@pytest.fixture
def spool(tmp_path: Path) -> Path:
    return tmp_path / "spool"


def batch(ids: list[str], model: str = "iris", version: str | int = 1, **kw: object) -> PredictionBatch:
    n = len(ids)
    kw.setdefault("inputs", {"x": np.arange(n, dtype=np.float64), "k": np.arange(n)})
    kw.setdefault("outputs", np.arange(n) % 3)
    kw.setdefault("latency_ms", 2.5)
    return PredictionBatch(ids, model, version, **kw)  # type: ignore[arg-type]


def parquet_files(store: ArtifactStore, prefix: str = "predictions") -> list[str]:
    return sorted(f.path for f in store.walk(prefix) if f.path.endswith(".parquet"))


def read_log(store: ArtifactStore, tmp_path: Path, prefix: str = "predictions") -> pa.Table:
    """Every file of the log, read as one hive-partitioned dataset (downloaded first if remote)."""
    if isinstance(store, LocalArtifactStore):
        root = store.root / prefix
    else:
        root = tmp_path / "download" / prefix
        shutil.rmtree(root, ignore_errors=True)
        for path in parquet_files(store, prefix):
            store.get_file(path, tmp_path / "download" / path)
    files = sorted(str(p) for p in Path(root).rglob("*.parquet"))
    hive = pa.schema([("model", pa.string()), ("version", pa.string()), ("date", pa.string())])
    # Files may differ in their input columns (a new column starts a new file).
    schema = pa.unify_schemas([*(pq.read_schema(f) for f in files), hive])
    dataset = ds.dataset(files, schema=schema, partition_base_dir=str(root),
                         partitioning=ds.partitioning(hive, flavor="hive"))
    return dataset.to_table()


def ids_of(table: pa.Table) -> list[str]:
    return table.column("prediction_id").to_pylist()


# -- the whole path ------------------------------------------------------------------------


def test_appends_from_many_threads_land_exactly_once(
    store: LocalArtifactStore, spool: Path, tmp_path: Path
) -> None:
    log = PredictionLog(store, spool_dir=spool, flush_interval=0.05, deployment="prod")
    threads, per_thread = 8, 150
    expected: set[str] = set()

    def worker(t: int) -> None:
        for i in range(per_thread):
            size = 1 + i % 4
            ids = [f"t{t}-{i}-{j}" for j in range(size)]
            log.append(batch(ids, model="iris" if t % 2 else "churn", version=1 + t % 3,
                             request_id=f"req-{t}-{i}", latency_ms=np.full(size, 1.0 + t)))

    for t in range(threads):
        for i in range(per_thread):
            expected.update(f"t{t}-{i}-{j}" for j in range(1 + i % 4))
    workers = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert log.close() is True

    table = read_log(store, tmp_path)
    ids = ids_of(table)
    assert len(ids) == len(set(ids)) == len(expected)
    assert set(ids) == expected
    assert log.written == len(expected)
    assert (log.dropped, log.failed, log.sampled_out) == (0, 0, 0)
    assert table.schema.names[: len(FIXED_COLUMNS)] == list(FIXED_COLUMNS)
    assert table.schema.field("time").type == pa.timestamp("ms", tz="UTC")
    assert table.schema.field("input.x").type == pa.float64()
    assert table.schema.field("input.k").type == pa.int64()
    assert table.schema.field("output.0").type == pa.int64()
    rows = {r["prediction_id"]: r for r in table.to_pylist()}
    row = rows["t3-5-1"]
    assert (row["model"], row["version"], row["model_name"], row["model_version"]) == (
        "iris", "1", "iris", "1")
    assert (row["deployment"], row["request_id"], row["latency_ms"]) == ("prod", "req-3-5", 4.0)
    assert row["input.x"] == 1.0 and row["output.0"] == 1
    assert row["date"] == row["time"].date().isoformat()
    # nothing left behind in the spool
    assert [p.name for p in spool.iterdir()] == []


def test_inputs_as_tensors_frames_and_tables(
    store: LocalArtifactStore, spool: Path, tmp_path: Path
) -> None:
    with PredictionLog(store, spool_dir=spool, flush_interval=0.05) as log:
        log.append(batch(["a", "b"], inputs=np.arange(12, dtype=np.float32).reshape(2, 2, 3),
                         outputs={"proba": np.array([[0.1, 0.9], [0.8, 0.2]]),
                                  "label": np.array(["yes", "no"])}))
        log.append(batch(["c", "d"], model="frame",
                         inputs=pd.DataFrame({"age": [30, 40], "city": ["Oslo", None]}),
                         outputs=pa.table({"score": [0.5, 0.25]})))
    table = read_log(store, tmp_path).sort_by("prediction_id")
    rows = table.to_pylist()
    assert rows[0]["input.0"] == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    assert rows[1]["output.proba"] == [0.8, 0.2] and rows[1]["output.label"] == "no"
    assert table.schema.field("input.0").type == pa.list_(pa.list_(pa.float32(), 3), 2)
    assert (rows[2]["input.age"], rows[2]["input.city"], rows[2]["output.score"]) == (30, "Oslo", 0.5)
    assert rows[3]["input.city"] is None


def test_one_flush_of_mixed_calls_and_a_bad_one(
    store: LocalArtifactStore, spool: Path, tmp_path: Path
) -> None:
    """One-row calls are gathered per shape; one bad call fails alone."""
    far_future = 400_000 * 365 * DAY_MS
    with PredictionLog(store, spool_dir=spool, flush_interval=60) as log:
        for i in range(30):
            kind = i % 5
            if kind == 0:
                log.append(batch([f"p{i}"], inputs={"s": np.array(["x" * (1 + i % 3)])}))
            elif kind == 1:
                log.append(batch([f"p{i}"], inputs=np.array([[1.0, 2.0]]), request_id=[f"r{i}"]))
            elif kind == 2:
                log.append(batch([f"p{i}"], inputs={"s": ["list", "path"][: 1]}))  # not numpy
            elif kind == 3:
                log.append(batch([f"p{i}"], latency_ms=None, outputs=None))
            else:
                log.append(batch([f"p{i}"], time_ms=far_future if i == 9 else None))
    assert log.failed == 1 and log.written == 29
    table = read_log(store, tmp_path)
    assert sorted(ids_of(table)) == sorted(f"p{i}" for i in range(30) if i != 9)
    rows = {r["prediction_id"]: r for r in table.to_pylist()}
    assert rows["p5"]["input.s"] == "xxx" and rows["p2"]["input.s"] == "list"
    assert rows["p6"]["input.0"] == [1.0, 2.0] and rows["p6"]["request_id"] == "r6"
    assert rows["p3"]["latency_ms"] is None and rows["p3"]["output.0"] is None


# -- rotation ------------------------------------------------------------------------------


def test_rotation_by_size(store: LocalArtifactStore, spool: Path, tmp_path: Path) -> None:
    log = PredictionLog(store, spool_dir=spool, flush_interval=60, rotate_bytes=8 * 1024)
    for i in range(8):
        log.append(batch([f"p{i}-{j}" for j in range(200)]))
        assert log.flush(timeout=5)
    assert log.close()
    files = parquet_files(store)
    assert 3 <= len(files) <= 8
    counts = [pq.read_metadata(store.root / f).num_rows for f in files]
    assert all(c % 200 == 0 and c > 0 for c in counts)
    assert sum(counts) == 1600
    assert len(set(ids_of(read_log(store, tmp_path)))) == 1600


def test_rotation_by_time_publishes_without_close(store: LocalArtifactStore, spool: Path) -> None:
    log = PredictionLog(store, spool_dir=spool, flush_interval=0.05, rotate_seconds=0.2)
    try:
        log.append(batch(["a", "b"]))
        deadline = time.monotonic() + 3
        while not parquet_files(store) and time.monotonic() < deadline:
            time.sleep(0.02)
        files = parquet_files(store)
        assert len(files) == 1, "a segment older than rotate_seconds should be uploaded"
        assert log.written == 2
        log.append(batch(["c"]))
    finally:
        assert log.close()
    assert len(parquet_files(store)) == 2


def test_flush_with_upload_makes_records_visible_now(store: LocalArtifactStore, spool: Path) -> None:
    with PredictionLog(store, spool_dir=spool, flush_interval=60, rotate_seconds=3600) as log:
        log.append(batch(["a"]))
        assert log.flush(timeout=5)
        assert parquet_files(store) == []  # durable on disk, not yet a Parquet file
        assert log.flush(upload=True, timeout=5)
        assert len(parquet_files(store)) == 1


def test_a_new_column_or_type_starts_a_new_file(store: LocalArtifactStore, spool: Path) -> None:
    with PredictionLog(store, spool_dir=spool, flush_interval=60) as log:
        for ids, inputs in [
            (["a"], {"x": np.array([1])}),
            (["b"], {"x": np.array([1.5])}),  # int -> float: a new file
            (["c"], {"x": np.array([2])}),  # an int fits the float file
            (["d"], {}),  # a missing column is null
        ]:
            log.append(batch(ids, inputs=inputs))
            assert log.flush(timeout=5)
    tables = [pq.read_table(store.root / f) for f in parquet_files(store)]
    by_type = {str(t.schema.field("input.x").type): t for t in tables}
    assert sorted(by_type) == ["double", "int64"]
    assert ids_of(by_type["int64"]) == ["a"]
    assert ids_of(by_type["double"]) == ["b", "c", "d"]
    assert by_type["double"].column("input.x").to_pylist() == [1.5, 2.0, None]


# -- partitions ----------------------------------------------------------------------------


def test_partition_paths_escape_names_and_split_dates(
    store: LocalArtifactStore, spool: Path, tmp_path: Path
) -> None:
    name, version = "fraud=v2/eu 100% ok?", "rc/1"
    day = 19_800 * DAY_MS  # 2024-03-18
    with PredictionLog(store, spool_dir=spool, flush_interval=60) as log:
        log.append(batch(["a", "b", "c"], model=name, version=version,
                         time_ms=np.array([day + 5, day + DAY_MS - 1, day + DAY_MS + 7])))
    files = parquet_files(store)
    folders = sorted({f.rsplit("/", 1)[0] for f in files})
    assert folders == [
        "predictions/model=fraud%3Dv2%2Feu%20100%25%20ok%3F/version=rc%2F1/date=2024-03-18",
        "predictions/model=fraud%3Dv2%2Feu%20100%25%20ok%3F/version=rc%2F1/date=2024-03-19",
    ]
    assert folders[0] == partition_path("predictions", name, version, "2024-03-18")
    assert all(f.rsplit("/", 1)[1].startswith("part-") for f in files)
    table = read_log(store, tmp_path).sort_by("prediction_id")
    assert set(table.column("model").to_pylist()) == {name}  # the reader decodes the path
    assert set(table.column("version").to_pylist()) == {version}
    assert table.column("date").to_pylist() == ["2024-03-18", "2024-03-18", "2024-03-19"]
    assert table.column("time").to_pylist()[2].isoformat() == "2024-03-19T00:00:00.007000+00:00"


@pytest.mark.parametrize(
    "value", ["plain", "a/b", "k=v", "50%", "dots.", "é ü", "tab\there", "x#y?z*:[]{}|<>\"'\\^+"]
)
def test_escaping_round_trips(value: str) -> None:
    escaped = escape_partition_value(value)
    assert "/" not in escaped and "=" not in escaped and "\t" not in escaped
    assert not escaped.endswith(".")
    assert unescape_partition_value(escaped) == value


def test_prefix_is_configurable(store: LocalArtifactStore, spool: Path) -> None:
    with PredictionLog(store, prefix="logs/preds", spool_dir=spool, flush_interval=60) as log:
        log.append(batch(["a"]))
    assert parquet_files(store, "logs/preds")[0].startswith("logs/preds/model=iris/version=1/")


# -- sampling and the off switch -----------------------------------------------------------


def test_sampling_keeps_the_rate_and_is_deterministic(
    store: LocalArtifactStore, spool: Path, tmp_path: Path
) -> None:
    ids = [f"pred-{i}" for i in range(4000)]
    kept_by_function = {i for i in ids if is_sampled(i, 0.25)}
    assert 0.22 < len(kept_by_function) / len(ids) < 0.28
    # monotone: a lower rate keeps a subset
    assert {i for i in ids if is_sampled(i, 0.1)} <= kept_by_function
    for run in range(2):  # two logs (two replicas) agree
        prefix = f"run{run}"
        with PredictionLog(store, prefix=prefix, spool_dir=spool, flush_interval=60,
                           sample_rate=0.25) as log:
            for start in range(0, 4000, 100):
                log.append(batch(ids[start : start + 100]))
        assert set(ids_of(read_log(store, tmp_path, prefix))) == kept_by_function
        assert log.sampled_out == 4000 - len(kept_by_function)
        assert log.written == len(kept_by_function)


def test_sample_rate_zero_keeps_nothing(store: LocalArtifactStore, spool: Path) -> None:
    with PredictionLog(store, spool_dir=spool, sample_rate=0) as log:
        log.append(batch(["a", "b"]))
    assert log.sampled_out == 2 and log.written == 0
    assert parquet_files(store) == []


def test_disabled_log_does_nothing(store: LocalArtifactStore, spool: Path) -> None:
    log = PredictionLog(store, spool_dir=spool, enabled=False)
    started = time.perf_counter()
    for i in range(1000):
        log.append(batch([f"p{i}"]))
    assert time.perf_counter() - started < 0.5
    assert log.flush(upload=True) and log.close()
    assert not spool.exists()
    assert parquet_files(store) == []
    assert log.stats() == {"written": 0, "dropped": 0, "sampled_out": 0, "failed": 0,
                           "recovered": 0, "lag_seconds": 0.0, "pending_segments": 0}


# -- back-pressure and lag -----------------------------------------------------------------


def test_full_queue_drops_and_counts_without_blocking(
    store: LocalArtifactStore, spool: Path, tmp_path: Path
) -> None:
    log = PredictionLog(store, spool_dir=spool, flush_interval=60, max_pending_bytes=4000)
    gate = threading.Event()
    write_pending = log._write_pending

    def stalled_write() -> None:  # the disk is slow: the writer is stuck
        gate.wait(10)
        write_pending()

    log._write_pending = stalled_write  # type: ignore[method-assign]
    try:
        log.append(batch([f"a{j}" for j in range(10)]))  # ~800 bytes: accepted
        log.flush(timeout=0)  # the writer takes the first batch and stalls
        time.sleep(0.05)
        slowest = 0.0
        for i in range(20):
            started = time.perf_counter()
            log.append(batch([f"b{i}-{j}" for j in range(10)]))
            slowest = max(slowest, time.perf_counter() - started)
        assert slowest < 0.05, "append blocked"
        assert log.dropped > 0
        assert log.lag_seconds > 0.04
    finally:
        gate.set()
        assert log.close()
    assert log.lag_seconds == 0.0
    ids = ids_of(read_log(store, tmp_path))
    assert len(ids) == len(set(ids)) == log.written
    assert log.written + log.dropped == 210
    assert {f"a{j}" for j in range(10)} <= set(ids)


def test_appends_after_close_are_dropped(store: LocalArtifactStore, spool: Path) -> None:
    log = PredictionLog(store, spool_dir=spool)
    assert log.close()
    log.append(batch(["late"]))
    assert log.dropped == 1
    assert log.close() is True  # idempotent


# -- durability ----------------------------------------------------------------------------


class FlakyStore(LocalArtifactStore):
    """A local store that refuses uploads while ``down`` is set."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.down = True
        self.attempts = 0

    def put_file(self, local_path, path, progress=None) -> None:  # type: ignore[no-untyped-def]
        self.attempts += 1
        if self.down:
            raise StoreError("the store is away")
        super().put_file(local_path, path, progress)


def test_store_outage_keeps_segments_until_the_next_log(
    tmp_path: Path, spool: Path
) -> None:
    flaky = FlakyStore(tmp_path / "artifacts")
    log = PredictionLog(flaky, spool_dir=spool, flush_interval=0.05)
    log.append(batch(["a", "b", "c"]))
    assert log.flush(upload=True, timeout=0.3) is False
    assert log.pending_segments == 1 and flaky.attempts >= 1
    assert log.close(timeout=0.3) is False
    assert len(list(spool.rglob("seg-*.arrows"))) == 1

    flaky.down = False
    with PredictionLog(flaky, spool_dir=spool, flush_interval=0.05) as second:
        pass
    assert second.recovered == 3 and second.written == 3
    assert sorted(ids_of(read_log(flaky, tmp_path))) == ["a", "b", "c"]
    assert list(spool.iterdir()) == []


def test_upload_retries_until_the_store_is_back(tmp_path: Path, spool: Path) -> None:
    flaky = FlakyStore(tmp_path / "artifacts")
    with PredictionLog(flaky, spool_dir=spool, flush_interval=0.05) as log:
        log.append(batch(["a"]))
        log.flush(upload=True, timeout=0.2)
        flaky.down = False
        assert log.flush(upload=True, timeout=5)
    assert flaky.attempts >= 2 and log.written == 1
    assert ids_of(read_log(flaky, tmp_path)) == ["a"]


def test_a_live_log_keeps_its_segments(store: LocalArtifactStore, spool: Path, tmp_path: Path) -> None:
    first = PredictionLog(store, spool_dir=spool, flush_interval=60)
    first.append(batch(["a"]))
    assert first.flush(timeout=5)
    second = PredictionLog(store, spool_dir=spool, flush_interval=60)
    assert second.pending_segments == 0  # the first log is alive: nothing to recover
    second.append(batch(["b"]))
    assert first.close() and second.close()
    assert second.recovered == 0
    assert sorted(ids_of(read_log(store, tmp_path))) == ["a", "b"]


def test_torn_segment_tail_is_cut_off(store: LocalArtifactStore, spool: Path) -> None:
    log = PredictionLog(store, spool_dir=spool, flush_interval=60)
    log.append(batch(["a", "b"]))
    assert log.flush(timeout=5)
    log.append(batch(["c", "d"]))
    assert log.flush(timeout=5)
    (segment,) = spool.glob("owner-*/seg-*.arrows")
    # A dead process's folder holding the same segment with its last write torn.
    dead = spool / "owner-dead"
    dead.mkdir()
    (dead / "lock").touch()
    copy = dead / "seg-0000000000001-00000000000000000000000000000000.arrows"
    data = segment.read_bytes()
    copy.write_bytes(data[:-40])
    assert log.close()

    with PredictionLog(store, spool_dir=spool) as recovering:
        pass
    assert recovering.recovered == 2
    recovered = pq.read_table(
        store.root / partition_path("predictions", "iris", 1, _today(store)) /
        "part-0000000000001-00000000000000000000000000000000.parquet")
    assert ids_of(recovered) == ["a", "b"]
    assert not dead.exists()


def _today(store: LocalArtifactStore) -> str:
    (path,) = {f.split("/")[3] for f in parquet_files(store)}
    return path.removeprefix("date=")


CHILD = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from dockyard.serve.predlog import PredictionBatch, PredictionLog
    from dockyard.store.artifacts import LocalArtifactStore

    log = PredictionLog(LocalArtifactStore(sys.argv[1]), spool_dir=sys.argv[2],
                        flush_interval=float(sys.argv[3]), rotate_seconds=0.4)
    print("ready", flush=True)
    i = 0
    while True:
        now = time.time_ns() // 1_000_000
        log.append(PredictionBatch([f"p{i}"], "crash", 1, inputs={"x": np.array([float(i)])},
                                   outputs=np.array([i]), latency_ms=0.5, time_ms=now))
        print(i, now, flush=True)
        i += 1
        time.sleep(0.003)
    """
)


def test_sigkill_loses_at_most_the_last_flush_interval(
    store: LocalArtifactStore, spool: Path, tmp_path: Path
) -> None:
    interval = 0.25
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(store.root), str(spool), str(interval)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        time.sleep(1.5)  # several flushes and a few rotations (some files already uploaded)
        killed_ms = time.time_ns() // 1_000_000
        os.kill(child.pid, signal.SIGKILL)
        out, _ = child.communicate(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    appended = {int(i): int(t) for i, t in (line.split() for line in out.splitlines())}
    assert len(appended) > 100

    with PredictionLog(store, spool_dir=spool) as recovering:
        pass
    assert recovering.recovered > 0
    ids = ids_of(read_log(store, tmp_path))
    assert len(ids) == len(set(ids)), "a record was written twice"
    got = {int(i[1:]) for i in ids}
    # A crash loses a tail, never a record in the middle.
    assert got == set(range(len(got)))
    # Everything older than the flush interval (plus one write's time) was durable.
    cutoff = killed_ms - interval * 1000 - 250
    must_have = {i for i, t in appended.items() if t < cutoff}
    assert must_have and must_have <= got
    assert max(got) <= max(appended) + 1
    # A second start finds nothing more to do.
    with PredictionLog(store, spool_dir=spool) as again:
        pass
    assert again.recovered == 0
    assert len(ids_of(read_log(store, tmp_path))) == len(ids)


# -- S3 ------------------------------------------------------------------------------------


@pytest.mark.s3
def test_s3_store(s3_bucket: str, s3_endpoint: str, spool: Path, tmp_path: Path) -> None:
    s3 = S3ArtifactStore(f"s3://{s3_bucket}/dockyard", endpoint_url=s3_endpoint)
    with PredictionLog(s3, spool_dir=spool, flush_interval=0.05, deployment="eu") as log:
        for i in range(20):
            log.append(batch([f"p{i}-{j}" for j in range(5)], model="a=b", version=2))
    keys = [o["Key"] for o in s3.client.list_objects_v2(Bucket=s3_bucket)["Contents"]]
    assert keys and all(k.startswith("dockyard/predictions/model=a%3Db/version=2/date=")
                        for k in keys)
    table = read_log(s3, tmp_path)
    assert sorted(ids_of(table)) == sorted(f"p{i}-{j}" for i in range(20) for j in range(5))
    assert set(table.column("model").to_pylist()) == {"a=b"}
    assert set(table.column("deployment").to_pylist()) == {"eu"}


# -- DuckDB --------------------------------------------------------------------------------


def test_duckdb_queries_the_log_and_joins_ground_truth(
    store: LocalArtifactStore, spool: Path
) -> None:
    duckdb = pytest.importorskip("duckdb")
    with PredictionLog(store, spool_dir=spool, deployment="prod") as log:
        log.append(batch(["a", "b"], model="m=1", version=1, outputs=np.array([1, 0])))
        log.append(batch(["c"], model="m=1", version=2, outputs=np.array([1])))
    con = duckdb.connect()
    con.execute("CREATE TABLE truth AS SELECT * FROM (VALUES ('a', 1), ('b', 1), ('c', 1)) "
                "t(prediction_id, label)")
    glob = f"{store.root}/predictions/**/*.parquet"
    rows = con.execute(
        "SELECT model, version, count(*), avg((p.\"output.0\" = t.label)::INT) "
        f"FROM read_parquet('{glob}', hive_partitioning = true, union_by_name = true) p "
        "JOIN truth t USING (prediction_id) "
        "WHERE deployment = 'prod' AND time > now() - INTERVAL 1 DAY "
        "GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    assert rows == [("m=1", 1, 2, 0.5), ("m=1", 2, 1, 1.0)]


# -- bad arguments -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"flush_interval": -1}, "flush_interval must be a positive number of seconds"),
        ({"flush_interval": 0}, "flush_interval"),
        ({"flush_interval": math.nan}, "flush_interval"),
        ({"rotate_seconds": -5}, "rotate_seconds"),
        ({"rotate_bytes": 0}, "rotate_bytes must be a positive integer"),
        ({"rotate_bytes": 1.5}, "rotate_bytes"),
        ({"max_pending_bytes": -1}, "max_pending_bytes"),
        ({"sample_rate": -0.1}, r"sample_rate must be a number from 0 to 1"),
        ({"sample_rate": 1.5}, "sample_rate"),
        ({"sample_rate": math.nan}, "sample_rate"),
        ({"sample_rate": "0.5"}, "sample_rate"),
        ({"prefix": "../elsewhere"}, r"\.\."),
        ({"deployment": 3}, "deployment"),
    ],
)
def test_bad_arguments(store: LocalArtifactStore, spool: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        PredictionLog(store, spool_dir=spool, **kwargs)
    assert not spool.exists()


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (lambda: batch(["a", "b"], inputs={"x": np.arange(3)}), r"inputs\['x'\] has 3 rows for 2"),
        (lambda: batch(["a"], outputs=np.arange(2)), r"outputs has shape \(2,\)"),
        (lambda: batch(["a"], latency_ms=[1.0, 2.0]), "latency_ms has 2 entries for 1"),
        (lambda: batch("abc"), "prediction_ids must be an array"),
        (lambda: batch(["a"], model=""), "model_name must be a non-empty string"),
        (lambda: batch(["a"], version=None), "model_version must be a string or an integer"),
        (lambda: batch(["a"], model="m" * 300), "too long"),
        (lambda: batch(["a"], inputs={3: [1]}), "names must be non-empty strings"),
        (lambda: {"prediction_ids": ["a"]}, "append takes a PredictionBatch"),
    ],
)
def test_bad_batches(store: LocalArtifactStore, spool: Path, bad, message: str) -> None:  # type: ignore[no-untyped-def]
    with PredictionLog(store, spool_dir=spool) as log, pytest.raises(InvalidArgument, match=message):
        log.append(bad())
    assert log.written == 0
