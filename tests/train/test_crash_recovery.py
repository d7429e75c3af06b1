"""The server dies (SIGKILL) while a client logs: nothing is lost, nothing doubled."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import dockyard
from dockyard.train import fluent
from tests.services.server import ServerProcess


def _wait(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_sigkill_during_logging_then_replay_exactly_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = ServerProcess(tmp_path / "srv")
    (tmp_path / "srv").mkdir()
    server.start()
    monkeypatch.setenv("DOCKYARD_URI", server.url)
    monkeypatch.setenv("DOCKYARD_FLUSH_INTERVAL", "0.02")
    monkeypatch.setenv("DOCKYARD_BATCH_SIZE", "250")
    dockyard.set_tracking_uri(None)
    try:
        dockyard.set_experiment("crash")
        run = dockyard.start_run(name="survivor")
        killed = threading.Event()

        def killer() -> None:
            # Kill while batches are in flight: after some points, before the last.
            _wait(lambda: fluent._state.steps.get((run.id, "m"), 0) >= 4000, 60, "4000 points")
            server.kill()
            killed.set()

        t = threading.Thread(target=killer)
        t.start()
        for i in range(10_000):
            dockyard.log_metric("m", float(i), step=i)
            if i % 500 == 0:
                time.sleep(0.01)  # let the logger send batches between bursts
        t.join()
        assert killed.is_set()
        dockyard.flush()  # durable now: on the server or in the spool
        logger = fluent._logger()
        assert logger.spooled > 0, "the kill should have left batches in the spool"

        server.start()
        dockyard.end_run()  # queued behind the spool; replays it
        _wait(lambda: logger.spooled == 0, 30, "the spool to drain")

        client = dockyard.Client(server.url)
        history = client.get_metric_history(run.id, "m")
        assert sorted(history.steps) == list(range(10_000))
        assert len(history) == 10_000, "a replayed batch was applied twice"
        assert history.values == [float(s) for s in history.steps]
        assert client.get_run(run.id).status == dockyard.RunStatus.FINISHED
    finally:
        server.stop()


def test_dockyard_sync_replays_what_a_dead_client_spooled(tmp_path: Path) -> None:
    workdir = tmp_path / "srv"
    workdir.mkdir()
    server = ServerProcess(workdir)
    server.start()
    env = {**os.environ, "DOCKYARD_URI": server.url, "DOCKYARD_HOME": str(tmp_path / "client")}
    script = """
import dockyard, os, signal
dockyard.set_experiment("offline")
run = dockyard.start_run(name="offline")
print(run.id, flush=True)
os.kill(int(os.environ["SERVER_PID"]), signal.SIGKILL)
for i in range(3000):
    dockyard.log_metric("m", i, step=i)
dockyard.log_param("p", 1)
dockyard.flush()
"""
    assert server.proc is not None
    out = subprocess.run([sys.executable, "-c", script], env={**env, "SERVER_PID": str(server.proc.pid)},
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    run_id = out.stdout.split()[0]
    server.proc.wait(timeout=10)
    spool = list((tmp_path / "client" / "spool").rglob("*.json"))
    assert spool, "the client should have spooled its batches"

    server.start()
    try:
        sync = subprocess.run([sys.executable, "-m", "dockyard", "sync"], env=env,
                              capture_output=True, text=True, timeout=120)
        assert sync.returncode == 0, sync.stdout + sync.stderr
        again = subprocess.run([sys.executable, "-m", "dockyard", "sync"], env=env,
                               capture_output=True, text=True, timeout=120)
        assert "nothing to sync" in again.stdout
        client = dockyard.Client(server.url)
        assert len(client.get_metric_history(run_id, "m")) == 3000
        assert client.get_run(run_id).params == {"p": "1"}
    finally:
        server.stop()
