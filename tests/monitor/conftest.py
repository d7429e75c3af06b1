"""Real receivers for alert notifications, on loopback.

- ``webhook_receiver``: an HTTP server (stdlib, in a thread) that records
  every request and answers with the statuses it is told to.
- ``smtp_server``: aiosmtpd's SMTP server, recording every message; it
  accepts mail without login and also takes ``SMTP_USER`` / ``SMTP_PASSWORD``.
- ``alertmanager``: Debian's ``prometheus-alertmanager`` binary, one process
  for the session, read back through its API.

Alertmanager missing fails the tests instead of skipping them: a skipped
channel looks like a working one.
"""

from __future__ import annotations

import email
import email.policy
import json
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

SMTP_USER = "dockyard"
SMTP_PASSWORD = "s3cret"

ALERTMANAGER_HINT = (
    "the Alertmanager binary (prometheus-alertmanager or alertmanager) was not found on PATH. "
    "Install Debian's `prometheus-alertmanager` package (apt-get install -y "
    "prometheus-alertmanager; `./dev test` does it); the tests start their own Alertmanager "
    "and need no running service."
)
_READY_TIMEOUT_S = 20.0
_START_ATTEMPTS = 3


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(predicate: Any, timeout: float = 5.0, interval: float = 0.02) -> Any:
    """Poll ``predicate`` until it returns something truthy; that value, or the last one."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


# -- webhook ------------------------------------------------------------------------------


@dataclass
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    """An HTTP server on ``url``; ``requests`` holds what it received, oldest first.

    It answers 200 unless told otherwise: ``respond(500, 200)`` makes the next
    two answers 500 then 200.
    """

    url: str
    port: int
    requests: list[ReceivedRequest] = field(default_factory=list)
    _statuses: list[int] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def respond(self, *statuses: int) -> None:
        with self._lock:
            self._statuses.extend(statuses)

    def _record(self, request: ReceivedRequest) -> int:
        with self._lock:
            self.requests.append(request)
            return self._statuses.pop(0) if self._statuses else 200


def _handler_for(receiver: WebhookReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status = receiver._record(ReceivedRequest(
                method=self.command, path=self.path,
                headers={k.lower(): v for k, v in self.headers.items()}, body=body,
            ))
            answer = b"ok" if status < 400 else f"refused with {status}".encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep the test output clean

    return Handler


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    """A local HTTP receiver for webhooks (``.url``, ``.requests``, ``.respond(...)``)."""
    receiver = WebhookReceiver(url="", port=0)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(receiver))
    server.daemon_threads = True
    receiver.port = int(server.server_address[1])
    receiver.url = f"http://127.0.0.1:{receiver.port}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# -- SMTP ---------------------------------------------------------------------------------


@dataclass
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    login: str | None


@dataclass
class SmtpServer:
    """aiosmtpd on ``host``:``port``; ``messages`` holds what it received, oldest first."""

    host: str
    port: int
    messages: list[ReceivedMail] = field(default_factory=list)
    username: str = SMTP_USER
    password: str = SMTP_PASSWORD


class _Recorder:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        # SMTP carries CRLF line ends; the parsed message has Python's.
        content = envelope.original_content.replace(b"\r\n", b"\n")
        message = email.message_from_bytes(content, policy=email.policy.default)
        login = session.auth_data.login.decode() if session.authenticated else None
        self.server.messages.append(ReceivedMail(
            mail_from=envelope.mail_from, rcpt_tos=list(envelope.rcpt_tos),
            message=message, login=login,
        ))
        return "250 Message accepted for delivery"


def _authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> Any:
    from aiosmtpd.smtp import AuthResult, LoginPassword

    ok = isinstance(auth_data, LoginPassword) and (
        auth_data.login.decode(), auth_data.password.decode()) == (SMTP_USER, SMTP_PASSWORD)
    # handled=False: aiosmtpd answers the client itself (235, or 535 on a wrong password).
    return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """An SMTP server (aiosmtpd) on loopback (``.host``, ``.port``, ``.messages``)."""
    from aiosmtpd.controller import Controller

    # aiosmtpd itself sets the deprecated Session.login_data on every login; the filter
    # lasts for the test that uses this fixture (pytest restores the filters after it).
    warnings.filterwarnings("ignore", "Session.login_data is deprecated", DeprecationWarning)
    smtp = SmtpServer(host="127.0.0.1", port=free_port())
    # Login over plain text is fine on loopback; mail without login is accepted too.
    controller = Controller(
        _Recorder(smtp), hostname=smtp.host, port=smtp.port, ready_timeout=5,
        authenticator=_authenticate, auth_require_tls=False, auth_required=False,
    )
    controller.start()
    try:
        yield smtp
    finally:
        controller.stop()


# -- Alertmanager -------------------------------------------------------------------------

_ALERTMANAGER_CONFIG = """\
route:
  receiver: "null"
  group_wait: 100ms
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: "null"
"""


@dataclass
class AlertmanagerServer:
    """A running Alertmanager on ``url``; ``alerts()`` reads what it holds through its API."""

    url: str
    port: int
    log: Path

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(f"{self.url}{path}", timeout=5) as response:
            return json.loads(response.read())

    def alerts(self, **labels: str) -> list[dict[str, Any]]:
        """``GET /api/v2/alerts``: the alerts it holds (not resolved) matching every label."""
        query = urllib.parse.urlencode([("filter", f'{k}="{v}"') for k, v in labels.items()])
        return list(self.get(f"/api/v2/alerts?{query}"))

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "alertmanager log:\n" + "\n".join(text.splitlines()[-lines:])


def find_alertmanager() -> str | None:
    """Debian names the binary prometheus-alertmanager; upstream's is alertmanager."""
    return shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")


def _start_alertmanager(
        binary: str, root: Path) -> tuple[subprocess.Popen[bytes], AlertmanagerServer]:
    port = free_port()
    server = AlertmanagerServer(url=f"http://127.0.0.1:{port}", port=port,
                                log=root / f"alertmanager-{port}.log")
    with open(server.log, "wb") as out:
        process = subprocess.Popen(
            [binary, f"--config.file={root / 'alertmanager.yml'}",
             f"--storage.path={root / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
             "--cluster.listen-address=", "--log.level=info"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    deadline = time.monotonic() + _READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            with urllib.request.urlopen(f"{server.url}/-/ready", timeout=1) as response:
                if response.status == 200:
                    return process, server
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.05)
    _stop(process)
    raise RuntimeError(f"Alertmanager did not become ready on port {port} within "
                       f"{_READY_TIMEOUT_S:.0f} s (exit code {process.returncode})\n"
                       f"{server.log_tail()}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="session")
def alertmanager() -> Iterator[AlertmanagerServer]:
    """Alertmanager for the session on a free loopback port (``.url``, ``.alerts(**labels)``).

    Its own process with a temporary storage path and clustering off; the
    Debian package's service, if any, is not used. Alerts persist between
    tests: give each test's alerts a label value of its own.
    """
    binary = find_alertmanager()
    if binary is None:
        pytest.fail(ALERTMANAGER_HINT, pytrace=False)
    root = Path(tempfile.mkdtemp(prefix="dockyard-alertmanager-"))
    (root / "alertmanager.yml").write_text(_ALERTMANAGER_CONFIG)
    process = None
    try:
        errors: list[str] = []
        # A free port can be taken between choosing it and binding it; try another.
        for _ in range(_START_ATTEMPTS):
            try:
                process, server = _start_alertmanager(binary, root)
                break
            except RuntimeError as exc:
                errors.append(str(exc))
        else:
            pytest.fail("\n\n".join(errors), pytrace=False)
        yield server
    finally:
        if process is not None:
            _stop(process)
        shutil.rmtree(root, ignore_errors=True)
