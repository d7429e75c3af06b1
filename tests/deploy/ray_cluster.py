"""A Ray head on loopback for the Ray Serve tests, and a model that takes its time.

:func:`ray_head` runs ``ray start --head --block`` in a process group of its
own, every port it opens on 127.0.0.1, and stops exactly that cluster:
SIGTERM to its ``ray start`` process (which stops what it started), then
SIGKILL to its process group if anything outlived that. ``ray stop`` is not
used: it stops every Ray process of the machine.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dockyard.models import PythonModel
from tests.services.server import free_port

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 90.0


class Sleepy(PythonModel):
    """Row sums, after ``delay`` seconds of sleep per predict call: a slow model."""

    def __init__(self, delay: float) -> None:
        self.delay = delay

    def predict(self, context: Any, model_input: Any) -> Any:
        time.sleep(self.delay)
        return np.asarray(model_input, dtype=np.float64).sum(axis=1)


@dataclass(frozen=True)
class RayHead:
    """A running head: its GCS address, its Ray Client address and its log."""

    address: str
    client_address: str
    log: Path


@contextmanager
def ray_head(*, num_cpus: int = 2, env: Mapping[str, str] | None = None) -> Iterator[RayHead]:
    """Start a one-node Ray cluster on loopback; stop it (and only it) on exit.

    ``env`` adds variables for every Ray process (Serve's tunables, say).
    The workers import Dockyard and the test models (``PYTHONPATH`` holds
    the repository root).
    """
    # Ray's socket paths must stay under 108 bytes: a short folder, not pytest's tmp_path.
    temp_dir = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))
    log = temp_dir / "ray-start.log"
    port, client_port = free_port(), free_port()
    ports = {name: free_port() for name in (
        "node-manager-port", "object-manager-port", "dashboard-port",
        "dashboard-agent-listen-port", "dashboard-agent-grpc-port", "runtime-env-agent-port",
        "metrics-export-port")}
    command = [
        str(Path(sys.executable).with_name("ray")), "start", "--head", "--block",
        "--node-ip-address=127.0.0.1", f"--port={port}", f"--ray-client-server-port={client_port}",
        f"--num-cpus={num_cpus}", "--include-dashboard=false", "--disable-usage-stats",
        "--object-store-memory=300000000", f"--temp-dir={temp_dir}",
        *(f"--{name}={value}" for name, value in ports.items())]
    variables = {
        **os.environ,
        "RAY_USAGE_STATS_ENABLED": "0",
        # Ray's local-only switch: the node takes the loopback address and binds its servers
        # there; otherwise Ray replaces 127.0.0.1 with the machine's outward address.
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        **(env or {}),
    }
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=variables, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_started(process, log)
        yield RayHead(f"127.0.0.1:{port}", f"ray://127.0.0.1:{client_port}", log)
    finally:
        _stop(process)
        shutil.rmtree(temp_dir, ignore_errors=True)


def _wait_started(process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while b"Ray runtime started" not in log.read_bytes():
        if process.poll() is not None or time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"the Ray head did not start (exit code {process.poll()}):\n{tail}")
        time.sleep(0.2)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pass
    try:  # whatever of this cluster is left: its own process group, nothing else
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()
