"""Server metrics: families, labels and values in the exposition; several processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest
from prometheus_client.parser import text_string_to_metric_families

from dockyard.errors import InvalidState
from dockyard.serve.batching import BatchInfo
from dockyard.serve.metrics import (
    LATENCY_BUCKETS,
    ServerMetrics,
    mark_process_dead,
    prepare_multiprocess_dir,
)


def samples(body: bytes) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of an exposition, keyed by name and label set."""
    out = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def labels(**kw: str) -> frozenset[tuple[str, str]]:
    return frozenset(kw.items())


M = {"model": "churn", "version": "3"}


@pytest.fixture
def no_multiprocess(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)


def test_exposition_has_every_family_with_its_labels(no_multiprocess: None) -> None:
    metrics = ServerMetrics()
    metrics.observe_request("churn", "3", "v2", 200, 0.0004)
    metrics.observe_request("churn", "3", "v2", 200, 0.003)
    metrics.observe_request("churn", "3", "v2", 400, 0.0001)
    metrics.observe_request("churn", "3", "invocations", 200, 2.0)
    metrics.track_in_flight("churn", "3", lambda: 1)  # one still running, read at render
    hook = metrics.batch_observer("churn", "3")
    hook(
        BatchInfo(
            rows=5,
            requests=3,
            predict_seconds=0.002,
            queued_rows=7,
            queued_requests=4,
            reason="idle",
        )
    )
    hook(
        BatchInfo(
            rows=1,
            requests=1,
            predict_seconds=0.0001,
            queued_rows=0,
            queued_requests=0,
            reason="idle",
        )
    )
    metrics.observe_model_load("churn", "3", 1.5)
    metrics.bind_prediction_log(SimpleNamespace(written=10, dropped=2, lag_seconds=0.25))

    body, content_type = metrics.render()
    assert content_type.startswith("text/plain")
    got = samples(body)

    req = "dockyard_serve_requests_total"
    assert got[(req, labels(**M, protocol="v2", status="200"))] == 2
    assert got[(req, labels(**M, protocol="v2", status="400"))] == 1
    assert got[(req, labels(**M, protocol="invocations", status="200"))] == 1

    lat = "dockyard_serve_request_duration_seconds"
    v2 = labels(**M, protocol="v2")
    assert got[(lat + "_count", v2)] == 3
    assert got[(lat + "_sum", v2)] == pytest.approx(0.0035)
    assert got[(lat + "_bucket", v2 | {("le", "0.0002")})] == 1
    assert got[(lat + "_bucket", v2 | {("le", "0.0005")})] == 2
    assert got[(lat + "_bucket", v2 | {("le", "0.005")})] == 3
    assert got[(lat + "_bucket", labels(**M, protocol="invocations", le="1.0"))] == 0
    assert got[(lat + "_bucket", labels(**M, protocol="invocations", le="2.5"))] == 1
    buckets = {dict(k[1])["le"] for k in got if k[0] == lat + "_bucket"}
    assert len(buckets) == len(LATENCY_BUCKETS) + 1

    model = labels(**M)
    assert got[("dockyard_serve_batch_rows_count", model)] == 2
    assert got[("dockyard_serve_batch_rows_sum", model)] == 6
    assert got[("dockyard_serve_batch_rows_bucket", model | {("le", "1.0")})] == 1
    assert got[("dockyard_serve_batch_rows_bucket", model | {("le", "8.0")})] == 2
    assert got[("dockyard_serve_predict_duration_seconds_count", model)] == 2
    assert got[("dockyard_serve_predict_duration_seconds_sum", model)] == pytest.approx(0.0021)
    assert got[("dockyard_serve_queue_depth_requests", model)] == 0  # the last batch left none
    assert got[("dockyard_serve_in_flight_requests", model)] == 1
    assert got[("dockyard_serve_model_load_seconds", model)] == 1.5
    assert got[("dockyard_serve_prediction_log_lag_seconds", frozenset())] == 0.25
    assert got[("dockyard_serve_prediction_log_written_total", frozenset())] == 10
    assert got[("dockyard_serve_prediction_log_dropped_total", frozenset())] == 2


def test_prediction_log_counters_follow_the_writer_totals(no_multiprocess: None) -> None:
    metrics = ServerMetrics()
    log = SimpleNamespace(written=3, dropped=0, lag_seconds=0.0)
    metrics.bind_prediction_log(log)
    metrics.render()
    log.written, log.dropped, log.lag_seconds = 8, 1, 1.25
    got = samples(metrics.render()[0])
    assert got[("dockyard_serve_prediction_log_written_total", frozenset())] == 8
    assert got[("dockyard_serve_prediction_log_dropped_total", frozenset())] == 1
    assert got[("dockyard_serve_prediction_log_lag_seconds", frozenset())] == 1.25
    # a new writer starts from zero: its totals add to the counters
    metrics.set_prediction_log(written=2, dropped=0, lag_seconds=0.0)
    metrics.bind_prediction_log(SimpleNamespace(written=2, dropped=0, lag_seconds=0.0))
    got = samples(metrics.render()[0])
    assert got[("dockyard_serve_prediction_log_written_total", frozenset())] == 10 + 2


def test_tracked_batcher_queue_depth_is_read_at_render(no_multiprocess: None) -> None:
    metrics = ServerMetrics()
    batcher = SimpleNamespace(queued_requests=7)
    metrics.track_batcher("churn", "3", batcher)
    assert samples(metrics.render()[0])[("dockyard_serve_queue_depth_requests", labels(**M))] == 7
    batcher.queued_requests = 0
    assert samples(metrics.render()[0])[("dockyard_serve_queue_depth_requests", labels(**M))] == 0


def test_openmetrics_when_asked(no_multiprocess: None) -> None:
    metrics = ServerMetrics()
    metrics.observe_request("churn", "3", "v2", 200, 0.001)
    body, content_type = metrics.render(accept="application/openmetrics-text; version=1.0.0")
    assert content_type.startswith("application/openmetrics-text")
    assert body.rstrip().endswith(b"# EOF")
    body, content_type = metrics.render(accept="text/plain")
    assert content_type.startswith("text/plain") and b"# EOF" not in body


def test_instances_have_their_own_registries(no_multiprocess: None) -> None:
    one, two = ServerMetrics(), ServerMetrics()
    one.observe_request("a", "1", "v2", 200, 0.001)
    assert b'model="a"' in one.render()[0]
    assert b'model="a"' not in two.render()[0]
    custom = ServerMetrics(namespace="acme")
    custom.observe_request("a", "1", "v2", 200, 0.001)
    assert b"acme_serve_requests_total{" in custom.render()[0]


def test_multiprocess_dir_set_too_late_is_refused(tmp_path: Path) -> None:
    # this process imported prometheus_client without the variable
    with pytest.raises(InvalidState, match="PROMETHEUS_MULTIPROC_DIR"):
        ServerMetrics(multiprocess_dir=str(tmp_path))


def test_prepare_multiprocess_dir_removes_stale_files(tmp_path: Path) -> None:
    directory = tmp_path / "prom"
    directory.mkdir()
    (directory / "counter_123.db").write_bytes(b"stale")
    (directory / "keep.txt").write_text("x")
    assert prepare_multiprocess_dir(directory) == directory
    assert sorted(p.name for p in directory.iterdir()) == ["keep.txt"]
    assert prepare_multiprocess_dir(tmp_path / "new").is_dir()


WORKER = textwrap.dedent(
    """
    import json, os, sys
    from dockyard.serve.batching import BatchInfo
    from dockyard.serve.metrics import ServerMetrics

    n, render = int(sys.argv[1]), sys.argv[2] == "render"
    metrics = ServerMetrics()
    for _ in range(n):
        metrics.observe_request("churn", "3", "v2", 200, 0.001)
    metrics.track_in_flight("churn", "3", lambda: 1)()  # one left in flight, published
    metrics.batch_observer("churn", "3")(BatchInfo(n, n, 0.002, 0, n, "idle"))
    metrics.observe_model_load("churn", "3", float(n))
    metrics.set_prediction_log(written=n, dropped=1, lag_seconds=n / 10)
    out = {"pid": os.getpid()}
    if render:
        body, content_type = metrics.render()
        out["body"] = body.decode()
    print(json.dumps(out))
    """
)


def run_worker(directory: Path, n: int, render: bool = False) -> dict:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    done = subprocess.run(
        [sys.executable, "-c", WORKER, str(n), "render" if render else "write"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_multiprocess_render_sums_every_worker(tmp_path: Path) -> None:
    directory = prepare_multiprocess_dir(tmp_path / "prom")
    first = run_worker(directory, 2)
    run_worker(directory, 3)
    renderer = run_worker(directory, 5, render=True)
    got = samples(renderer["body"].encode())
    model = labels(**M)

    assert got[("dockyard_serve_requests_total", labels(**M, protocol="v2", status="200"))] == 10
    lat = "dockyard_serve_request_duration_seconds"
    assert got[(lat + "_count", labels(**M, protocol="v2"))] == 10
    assert got[(lat + "_bucket", labels(**M, protocol="v2", le="0.001"))] == 10
    assert got[("dockyard_serve_batch_rows_count", model)] == 3
    assert got[("dockyard_serve_batch_rows_sum", model)] == 10
    assert got[("dockyard_serve_queue_depth_requests", model)] == 10  # livesum
    assert got[("dockyard_serve_in_flight_requests", model)] == 3  # one left by each worker
    assert got[("dockyard_serve_model_load_seconds", model)] == 5  # livemax
    assert got[("dockyard_serve_prediction_log_written_total", frozenset())] == 10
    assert got[("dockyard_serve_prediction_log_dropped_total", frozenset())] == 3
    assert got[("dockyard_serve_prediction_log_lag_seconds", frozenset())] == 0.5
    # no per-process duplicates, no pid label
    assert not any("pid" in dict(key[1]) for key in got)

    # the parent forgets the live gauges of workers that exited
    mark_process_dead(first["pid"], directory)
    mark_process_dead(renderer["pid"], directory)
    got = samples(run_worker(directory, 0, render=True)["body"].encode())
    assert got[("dockyard_serve_in_flight_requests", model)] == 1 + 1  # second + this one
    assert got[("dockyard_serve_model_load_seconds", model)] == 3
    # counters keep what the dead workers counted
    assert got[("dockyard_serve_requests_total", labels(**M, protocol="v2", status="200"))] == 10
