"""A throwaway Redis for the tests: Debian's ``redis-server`` on a free loopback port.

``redis_server`` starts one server for the session in a temporary directory,
with persistence off, and stops it at the end; it yields its URI.
``redis_uri`` hands each test that URI with the database emptied first.
A missing binary fails the tests instead of skipping them: a skipped backend
looks like a passing one.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

_READY_TIMEOUT_S = 30.0
_START_ATTEMPTS = 3

INSTALL_HINT = (
    "redis-server was not found on PATH. Install Debian's `redis-server` package "
    "(apt-get install -y redis-server, or ./dev test, which does it); the tests start their "
    "own server on loopback and need no running service."
)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _command(port: int, command: bytes) -> bytes:
    """Send one inline command and return the first reply line (no client library needed)."""
    with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
        sock.sendall(command + b"\r\n")
        reply = b""
        while not reply.endswith(b"\r\n"):
            chunk = sock.recv(1024)
            if not chunk:
                break
            reply += chunk
    return reply.strip()


def _wait_ready(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + _READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"redis-server exited with {proc.returncode}:\n"
                               f"{log.read_text(errors='replace')}")
        try:
            if _command(port, b"PING") == b"+PONG":
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"redis-server did not answer PING on port {port} within "
                       f"{_READY_TIMEOUT_S:.0f} s:\n{log.read_text(errors='replace')}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[str]:
    """Start redis-server for the session; yields ``redis://127.0.0.1:PORT/0``."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail(INSTALL_HINT, pytrace=False)
    root = Path(tempfile.mkdtemp(prefix="dockyard-redis-"))
    log = root / "redis.log"
    proc: subprocess.Popen[bytes] | None = None
    errors: list[str] = []
    try:
        # A free port can be taken between choosing it and binding it; try another.
        for _ in range(_START_ATTEMPTS):
            port = _free_port()
            with open(log, "wb") as out:
                proc = subprocess.Popen(
                    [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                     "--appendonly", "no", "--dir", str(root), "--daemonize", "no"],
                    stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                )
            try:
                _wait_ready(port, proc, log)
            except RuntimeError as exc:
                errors.append(str(exc))
                _stop(proc)
                proc = None
                continue
            break
        if proc is None:
            pytest.fail("\n\n".join(errors), pytrace=False)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        if proc is not None:
            _stop(proc)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def redis_uri(redis_server: str) -> str:
    """The session's Redis, emptied for this test."""
    port = int(redis_server.rsplit(":", 1)[1].split("/")[0])
    assert _command(port, b"FLUSHALL") == b"+OK"
    return redis_server
