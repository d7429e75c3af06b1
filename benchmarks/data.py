"""Data benchmarks: hashing and profiling a dataset, point-in-time training frames against
pandas, and online feature lookups.

    .venv/bin/python benchmarks/data.py                    # every section (about 3 minutes)
    .venv/bin/python benchmarks/data.py --sections asof    # some sections (comma-separated)
    .venv/bin/python benchmarks/data.py --quick            # 10x smaller data, a smoke run
    .venv/bin/python benchmarks/data.py --json results.json

Sections:

- ``hash_profile``: a Parquet file of ``--file-mb`` MB (1 GB by default; 8
  float columns, two integer columns, two text columns, a flag) logged as a
  dataset version by reference: ``dockyard.log_dataset`` hashes it (sha256)
  while it profiles every column, and records the version. The peer is what
  a user would write by hand: hashlib's sha256 of the file, then pandas
  ``read_parquet`` and ``describe(include="all")``. The goal is 200 MB/s.
- ``asof``: a feature table of ``--entities`` x ``--timestamps`` rows (1M x 10
  = 10 million by default) with ``--features`` float columns, written to
  Parquet in event-time order, and ``--labels`` entity rows (1 million) in
  random order with random times, 1% of them for unknown entities.
  ``FeatureStore.get_training_frame`` (scanning the Parquet file, and again
  from an in-memory DataFrame) against pandas ``merge_asof`` on the same
  data. pandas needs both sides sorted by time and answers in that order:
  its time includes sorting both inputs and putting the answer back in the
  entity rows' order; reading the Parquet file into pandas is timed apart
  and not included. Both must give the same values.
- ``online``: ``materialize`` of the same table (one row per entity) and
  single-entity ``get_online_features`` lookups of all its features
  (p50/p99 of ``--lookups`` calls): answering a dict of columns, answering a
  DataFrame, and ``FeatureLookup`` enriching a one-row request frame. On
  SQLite, and on Redis when ``redis-server`` is on PATH (started by the
  script on a free loopback port, persistence off, stopped at the end).

Add a section by writing ``def section_<name>(ctx: Context) -> None`` and
listing it in ``SECTIONS``. Everything runs in one process on this machine,
in a temporary folder that is removed at the end (``--keep`` keeps it).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "src"))

import dockyard  # noqa: E402
from dockyard.data.feature_store import FeatureStore, FeatureTable  # noqa: E402
from dockyard.data.online import FeatureLookup  # noqa: E402

START = np.datetime64("2024-01-01T00:00:00", "us")
DAY_S = 86_400
GOAL_ASOF_S = 10.0  # 10M feature rows x 1M entity rows
GOAL_P50_MS = 1.0  # one-entity online lookup


def say(msg: str) -> None:
    print(f"[bench] {msg}", flush=True)


@dataclass
class Context:
    args: argparse.Namespace
    tmp: Path
    results: dict[str, Any] = field(default_factory=dict)
    _data: tuple[pd.DataFrame, pd.DataFrame, Path] | None = None

    def data(self) -> tuple[pd.DataFrame, pd.DataFrame, Path]:
        """(features, labels, Parquet path of the features), made once per run."""
        if self._data is None:
            self._data = make_data(self.args, self.tmp)
        return self._data


# ----------------------------------------------------------------------------- data
def make_data(args: argparse.Namespace, tmp: Path) -> tuple[pd.DataFrame, pd.DataFrame, Path]:
    rng = np.random.default_rng(args.seed)
    n_e, n_t = args.entities, args.timestamps
    started = time.perf_counter()
    # Entity e's k-th value falls on day k at a random second: distinct times per entity,
    # so the "latest value before t" has one answer and both tools must agree on it.
    seconds = np.tile(np.arange(n_t, dtype=np.int64) * DAY_S, n_e)
    seconds += rng.integers(0, DAY_S, n_e * n_t)
    order = np.argsort(seconds, kind="stable")  # written in event-time order, as logs are
    features = pd.DataFrame({
        "entity_id": np.repeat(np.arange(n_e, dtype=np.int64), n_t)[order],
        "event_ts": START + seconds[order].astype("timedelta64[s]"),
    })
    for i in range(args.features):
        features[f"f{i}"] = rng.normal(size=n_e * n_t)
    del seconds, order
    labels = pd.DataFrame({
        "entity_id": rng.integers(0, int(n_e * 1.01), args.labels),  # 1% unknown entities
        "event_timestamp": START + rng.integers(0, n_t * DAY_S, args.labels)
        .astype("timedelta64[s]"),
        "label": rng.integers(0, 2, args.labels),
    })
    path = tmp / "features.parquet"
    pq.write_table(pa.Table.from_pandas(features, preserve_index=False), path,
                   row_group_size=1_000_000)
    say(f"data: {len(features):,} feature rows ({n_e:,} entities x {n_t} times, "
        f"{args.features} float features; Parquet {path.stat().st_size / 1e6:,.0f} MB), "
        f"{len(labels):,} entity rows; made in {time.perf_counter() - started:.1f}s")
    return features, labels, path


def timed(fn: Callable[[], Any], runs: int) -> tuple[float, Any]:
    """Median wall time of ``runs`` calls, and the last result."""
    times, result = [], None
    for _ in range(runs):
        result = None
        gc.collect()
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), result


def fmt_s(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def table(rows: list[list[str]], header: list[str]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(str(c).rjust(w) if i else str(c).ljust(w)
                        for i, (c, w) in enumerate(zip(row, widths))))


# ----------------------------------------------------------------------------- asof
def pandas_asof(features: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """The peer: sort both sides by time, merge_asof by entity, restore the labels' order."""
    left = labels.assign(_row=np.arange(len(labels))).sort_values("event_timestamp")
    right = features.rename(columns={"event_ts": "event_timestamp"}).sort_values(
        "event_timestamp", kind="stable")
    merged = pd.merge_asof(left, right, on="event_timestamp", by="entity_id")
    return merged.sort_values("_row").drop(columns="_row").reset_index(drop=True)


def section_asof(ctx: Context) -> None:
    features, labels, path = ctx.data()
    runs = ctx.args.runs
    names = [f"f{i}" for i in range(ctx.args.features)]
    refs = [f"features:{n}" for n in names]
    on_disk = FeatureStore([FeatureTable("features", path, entity="entity_id",
                                         timestamp="event_ts")], online="sqlite://")
    in_memory = FeatureStore([FeatureTable("features", features, entity="entity_id",
                                           timestamp="event_ts")], online="sqlite://")

    say(f"asof: Dockyard get_training_frame from Parquet ({runs} runs)")
    t_disk, ours = timed(lambda: on_disk.get_training_frame(labels, refs), runs)
    say(f"asof: Dockyard get_training_frame from a DataFrame ({runs} runs)")
    t_mem, ours_mem = timed(lambda: in_memory.get_training_frame(labels, refs), runs)
    say("asof: pandas read_parquet (not part of pandas' time below)")
    t_read, _ = timed(lambda: pd.read_parquet(path), 1)
    say(f"asof: pandas sort + merge_asof + restore order ({runs} runs)")
    t_pandas, theirs = timed(lambda: pandas_asof(features, labels), runs)

    same = all(np.array_equal(ours[n].to_numpy(), theirs[n].to_numpy(), equal_nan=True)
               and np.array_equal(ours_mem[n].to_numpy(), theirs[n].to_numpy(), equal_nan=True)
               for n in names)
    matched = int(ours[names[0]].notna().sum())
    rows = [
        ["Dockyard get_training_frame, Parquet source (scan included)", fmt_s(t_disk),
         f"{t_pandas / t_disk:.1f}x", f"< {GOAL_ASOF_S:.0f} s",
         "ok" if t_disk < GOAL_ASOF_S else "BELOW"],
        ["Dockyard get_training_frame, DataFrame source", fmt_s(t_mem),
         f"{t_pandas / t_mem:.1f}x", "", ""],
        ["pandas: sort both sides + merge_asof + restore order", fmt_s(t_pandas), "1.0x", "", ""],
        ["pandas read_parquet of the features (not included above)", fmt_s(t_read), "", "", ""],
        ["pandas read_parquet + the above (vs the Parquet source)", fmt_s(t_read + t_pandas),
         f"{(t_read + t_pandas) / t_disk:.1f}x", "", ""],
    ]
    print()
    print(f"as-of join: {len(features):,} feature rows x {len(labels):,} entity rows, "
          f"{len(names)} features (median of {runs})")
    table(rows, ["measurement", "time", "x pandas", "goal", "result"])
    print("  x pandas: pandas' time / Dockyard's (above 1: Dockyard is faster)")
    print(f"  same values as pandas merge_asof: {'yes' if same else 'NO (CHECK)'}; "
          f"{matched:,} of {len(labels):,} rows found a value")
    print()
    ctx.results["asof"] = {
        "feature_rows": len(features), "entity_rows": len(labels), "features": len(names),
        "dockyard_parquet_s": t_disk, "dockyard_dataframe_s": t_mem, "pandas_s": t_pandas,
        "pandas_read_parquet_s": t_read, "same_values": same, "matched_rows": matched,
    }
    if not same:
        raise SystemExit("CHECK: Dockyard and pandas merge_asof disagree")


# ----------------------------------------------------------------------------- online
@contextmanager
def redis_server(tmp: Path) -> Iterator[str | None]:
    binary = shutil.which("redis-server")
    if binary is None:
        yield None
        return
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    folder = tmp / "redis"
    folder.mkdir()
    log = open(folder / "redis.log", "wb")
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(folder)],
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        import redis

        client = redis.Redis(port=port)
        deadline = time.monotonic() + 30
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"redis-server did not start: see {folder}/redis.log")
                time.sleep(0.05)
        client.close()
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def lookup_latencies(fn: Callable[[Any], Any], ids: np.ndarray) -> tuple[float, float]:
    for i in ids[:200]:  # warm-up: connection, statement cache, imports
        fn(int(i))
    times = np.empty(len(ids))
    for n, i in enumerate(ids):
        key = int(i)
        t0 = time.perf_counter()
        fn(key)
        times[n] = time.perf_counter() - t0
    return float(np.percentile(times, 50)) * 1e3, float(np.percentile(times, 99)) * 1e3


def section_online(ctx: Context) -> None:
    features, _, path = ctx.data()
    names = [f"f{i}" for i in range(ctx.args.features)]
    rng = np.random.default_rng(ctx.args.seed + 1)
    ids = rng.integers(0, ctx.args.entities, ctx.args.lookups)
    table_def = FeatureTable("features", path, entity="entity_id", timestamp="event_ts")
    rows, results = [], {}
    with redis_server(ctx.tmp) as redis_uri:
        backends = [("SQLite", f"sqlite:///{ctx.tmp / 'online.db'}")]
        if redis_uri:
            backends.append(("Redis", redis_uri))
        else:
            say("online: redis-server is not on PATH; Redis skipped")
        for label, uri in backends:
            with FeatureStore([table_def], online=uri) as fs:
                say(f"online: materialize {ctx.args.entities:,} entities into {label}")
                t0 = time.perf_counter()
                written = fs.materialize()["features"]
                t_mat = time.perf_counter() - t0
                say(f"online: {len(ids):,} single-entity lookups per way, {label}")
                as_dict = lookup_latencies(
                    lambda i: fs.get_online_features([i], "features:*", as_frame=False), ids)
                as_frame = lookup_latencies(
                    lambda i: fs.get_online_features([i], "features:*"), ids)
                step = FeatureLookup(uri, "features:*")
                step_t = lookup_latencies(
                    lambda i: step(pd.DataFrame({"entity_id": [i], "amount": [1.0]})), ids)
                step.close()
                check = fs.get_online_features([int(ids[0])], "features:*", as_frame=False)
            last = features[features["entity_id"] == int(ids[0])].iloc[-1]
            assert all(check[n][0] == last[n] for n in names), "online value differs"
            rate = written / t_mat
            rows += [
                [f"{label}: materialize {written:,} entities", fmt_s(t_mat),
                 f"{rate:,.0f} rows/s", "", "", ""],
                [f"{label}: get_online_features, dict", "", "", f"{as_dict[0]:.3f} ms",
                 f"{as_dict[1]:.3f} ms", "ok" if as_dict[0] < GOAL_P50_MS else "BELOW"],
                [f"{label}: get_online_features, DataFrame", "", "", f"{as_frame[0]:.3f} ms",
                 f"{as_frame[1]:.3f} ms", "ok" if as_frame[0] < GOAL_P50_MS else "BELOW"],
                [f"{label}: FeatureLookup on a 1-row request", "", "", f"{step_t[0]:.3f} ms",
                 f"{step_t[1]:.3f} ms", "ok" if step_t[0] < GOAL_P50_MS else "BELOW"],
            ]
            results[label] = {"materialize_s": t_mat, "rows": written,
                              "dict_ms": as_dict, "frame_ms": as_frame, "step_ms": step_t}
    print()
    print(f"online: one entity, {len(names)} features per lookup; {len(ids):,} lookups "
          f"of random known ids per way; goal p50 < {GOAL_P50_MS:g} ms")
    table(rows, ["measurement", "time", "rate", "p50", "p99", "result"])
    print()
    ctx.results["online"] = results


# ----------------------------------------------------------------------------- hash_profile
def make_wide_file(path: Path, target_mb: int, seed: int) -> int:
    """A Parquet file of about ``target_mb`` MB shaped like a training table: floats,
    counts, an id, low-cardinality text and a flag; written a row group at a time."""
    rng = np.random.default_rng(seed)
    plans = ["basic", "pro", "team", "enterprise"]
    regions = [f"region-{i:02d}" for i in range(40)]
    rows = 1_000_000
    with pq.ParquetWriter(path, pa.schema([
            *(pa.field(f"x{i}", pa.float64()) for i in range(8)),
            pa.field("visits", pa.int64()), pa.field("customer_id", pa.int64()),
            pa.field("plan", pa.string()), pa.field("region", pa.string()),
            pa.field("churned", pa.bool_())])) as writer:
        written = 0
        while True:
            columns = {f"x{i}": rng.normal(i, 1 + i, rows) for i in range(8)}
            columns.update(visits=rng.poisson(7, rows),
                           customer_id=np.arange(written, written + rows, dtype=np.int64),
                           plan=np.asarray(plans, dtype=object)[rng.integers(0, 4, rows)],
                           region=np.asarray(regions, dtype=object)[rng.integers(0, 40, rows)],
                           churned=rng.random(rows) < 0.2)
            writer.write_table(pa.table(columns))
            written += rows
            if path.stat().st_size >= target_mb * 1e6 or written >= 200 * rows:
                break
    return written


def section_hash_profile(ctx: Context) -> None:
    """Hashing and profiling a Parquet file: ``dockyard.log_dataset`` (a reference: digest,
    schema, profile, record; no copy) against hashlib + pandas ``describe`` on the same file."""
    import hashlib

    path = ctx.tmp / "wide.parquet"
    say(f"hash_profile: writing about {ctx.args.file_mb} MB of Parquet")
    rows = make_wide_file(path, ctx.args.file_mb, ctx.args.seed)
    size = path.stat().st_size
    mb = size / 1e6
    say(f"hash_profile: {rows:,} rows, {mb:,.0f} MB")
    os.environ["DOCKYARD_HOME"] = str(ctx.tmp / "home")
    client = dockyard.Client(f"sqlite:///{ctx.tmp / 'bench.db'}", str(ctx.tmp / "artifacts"))
    names = iter(range(10**6))

    def ours() -> Any:  # a new dataset each run: the same file would find its version
        return client.log_dataset(path, f"bench-{next(names)}", store=False)

    def sha256() -> str:
        digest = hashlib.sha256()
        with open(path, "rb") as stream:
            while chunk := stream.read(4 << 20):
                digest.update(chunk)
        return digest.hexdigest()

    def read() -> int:
        return sum(b.num_rows for b in pq.ParquetFile(path).iter_batches(1 << 20))

    def pandas_profile() -> Any:
        return sha256(), pd.read_parquet(path).describe(include="all")

    runs = ctx.args.runs
    say(f"hash_profile: dockyard.log_dataset ({runs} runs)")
    t_ours, version = timed(ours, runs)
    say("hash_profile: hashlib sha256, pyarrow read, pandas read + describe")
    t_hash, digest = timed(sha256, runs)
    t_read, _ = timed(read, runs)
    t_pandas, _ = timed(pandas_profile, 1)
    assert version.digest == digest and version.rows == rows
    rate = mb / t_ours
    table([
        ["Dockyard log_dataset (sha256 + profile + schema + record)", fmt_s(t_ours),
         f"{rate:,.0f} MB/s", f"{t_pandas / t_ours:.1f}x", ">= 200 MB/s",
         "ok" if rate >= 200 else "BELOW"],
        ["hashlib sha256 of the file alone", fmt_s(t_hash), f"{mb / t_hash:,.0f} MB/s", "", "",
         ""],
        ["pyarrow: decode every row group alone", fmt_s(t_read), f"{mb / t_read:,.0f} MB/s", "",
         "", ""],
        ["hashlib sha256 + pandas read_parquet + describe(include='all')", fmt_s(t_pandas),
         f"{mb / t_pandas:,.0f} MB/s", "1.0x", "", ""],
    ], ["measurement", "time", "rate", "x pandas", "goal", "result"])
    print(f"  {rows:,} rows x 13 columns, {mb:,.0f} MB; median of {runs} (pandas: 1 run). "
          "x pandas: pandas' time / Dockyard's")
    print()
    ctx.results["hash_profile"] = {
        "file_mb": mb, "rows": rows, "dockyard_s": t_ours, "dockyard_mb_s": rate,
        "sha256_s": t_hash, "read_s": t_read, "pandas_describe_s": t_pandas}


SECTIONS: dict[str, Callable[[Context], None]] = {
    "hash_profile": section_hash_profile,
    "asof": section_asof,
    "online": section_online,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sections", default=",".join(SECTIONS),
                        help=f"comma-separated, from: {', '.join(SECTIONS)} (default: all)")
    parser.add_argument("--entities", type=int, default=1_000_000)
    parser.add_argument("--timestamps", type=int, default=10, help="feature rows per entity")
    parser.add_argument("--labels", type=int, default=1_000_000, help="entity rows to join")
    parser.add_argument("--features", type=int, default=10, help="float feature columns")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per join (median)")
    parser.add_argument("--lookups", type=int, default=10_000, help="online lookups per way")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--file-mb", type=int, default=1000,
                        help="hash_profile: the Parquet file's size")
    parser.add_argument("--quick", action="store_true", help="10x fewer entities and labels")
    parser.add_argument("--json", type=Path, help="write every figure to this file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    if args.quick:
        args.entities //= 10
        args.labels //= 10
        args.lookups = min(args.lookups, 2_000)
        args.file_mb //= 10
    chosen = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s) {unknown}; choose from {', '.join(SECTIONS)}")

    import duckdb

    started = time.perf_counter()
    print(f"Dockyard {dockyard.__version__} -- data benchmarks: {', '.join(chosen)}")
    print(f"Python {platform.python_version()} on {platform.system()} {platform.machine()}, "
          f"{os.cpu_count()} CPUs; DuckDB {duckdb.__version__}, pandas {pd.__version__}, "
          f"numpy {np.__version__}, pyarrow {pa.__version__}")
    tmp = Path(tempfile.mkdtemp(prefix="dockyard-bench-data-"))
    ctx = Context(args=args, tmp=tmp)
    try:
        for name in chosen:
            SECTIONS[name](ctx)
    finally:
        if args.keep:
            say(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    say(f"done in {(time.perf_counter() - started) / 60:.1f} min")
    if args.json:
        args.json.write_text(json.dumps(ctx.results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
