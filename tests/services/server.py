"""A real ``dockyard server`` in a subprocess on a free loopback port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dockyard.deploy.local import free_port

__all__ = ["ServerProcess", "dockyard_server", "free_port", "wait_for_http"]


def wait_for_http(proc: subprocess.Popen[bytes], url: str, log: Path, timeout: float) -> None:
    """Wait until ``url`` answers 200; fail with the end of ``log`` if ``proc`` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited: {log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the server did not start: {log.read_text()[-3000:]}")


class ServerProcess:
    """Start, kill and restart a Dockyard server over one database and artifact root."""

    def __init__(self, workdir: Path, uri: str | None = None, artifacts: str | None = None,
                 port: int | None = None, env: dict[str, str] | None = None,
                 args: tuple[str, ...] = ()) -> None:
        self.workdir = workdir
        self.uri = uri or f"sqlite:///{workdir / 'server.db'}"
        self.artifacts = artifacts or str(workdir / "artifacts")
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = env or {}
        self.args = args
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = workdir / "server.log"

    def start(self, timeout: float = 30.0) -> None:
        env = {**os.environ, "DOCKYARD_HOME": str(self.workdir / "home"), **self.env}
        env.pop("DOCKYARD_URI", None)
        cmd = [sys.executable, "-m", "dockyard", "server", "--port", str(self.port),
               "--uri", self.uri, "--artifacts", self.artifacts, "--no-access-log",
               *(() if "--monitors" in self.args else ("--no-monitors",)), *self.args]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        wait_for_http(self.proc, self.url + "/health", self.log, timeout)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        self.kill(signal.SIGTERM)


@pytest.fixture(scope="session")
def dockyard_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One live server for the session; tests must not assume it is empty."""
    server = ServerProcess(tmp_path_factory.mktemp("dockyard-server"))
    server.start()
    yield server
    server.stop()
