"""A throwaway PostgreSQL cluster for the tests.

``postgres_server`` runs ``initdb`` and ``pg_ctl`` in a temporary directory
and listens on a free loopback port with trust authentication; it yields a
SQLAlchemy URI of an empty database. ``postgres_uri`` gives each test a
database of its own, so that stores start empty.

PostgreSQL refuses to run as root, so under root the cluster belongs to the
``postgres`` user and its commands run through ``runuser`` (or ``su``).
Missing binaries fail the tests instead of skipping them: a skipped backend
looks like a passing one.
"""

from __future__ import annotations

import glob
import os
import pwd
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

_SUPERUSER = "postgres"
_DATABASE = "dockyard_test"
_START_ATTEMPTS = 3
_READY_TIMEOUT_S = 30.0

INSTALL_HINT = (
    "PostgreSQL server binaries (initdb, pg_ctl) were not found on PATH or in "
    "/usr/lib/postgresql/*/bin. Install Debian's `postgresql` package "
    "(apt-get install -y postgresql); the PostgreSQL tests start their own "
    "throwaway cluster and need no running service."
)


def _version_key(path: str) -> tuple[int, ...]:
    version = Path(path).parent.parent.name
    return tuple(int(p) for p in version.split(".") if p.isdigit())


def find_pg_bindir() -> Path | None:
    """The directory holding initdb, pg_ctl and pg_isready of one installation.

    All three come from the same directory: Debian's ``/usr/bin/pg_isready``
    is a wrapper that expects configured clusters, and mixing versions of
    ``initdb`` and ``pg_ctl`` does not work.
    """
    candidates: list[Path] = []
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(os.path.realpath(on_path)).parent)
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version_key, reverse=True)
    candidates += [Path(p).parent for p in found]
    for bindir in candidates:
        if all((bindir / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
            return bindir
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class _Cluster:
    bindir: Path
    root: Path
    as_postgres: bool
    port: int = 0

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    @property
    def logfile(self) -> Path:
        return self.root / "postgres.log"

    def command(self, argv: list[str]) -> list[str]:
        if not self.as_postgres:
            return argv
        if shutil.which("runuser"):
            return ["runuser", "-u", _SUPERUSER, "--", *argv]
        return ["su", _SUPERUSER, "-s", "/bin/sh", "-c", shlex.join(argv)]

    def run(self, argv: list[str], timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        # cwd inside the cluster dir: the postgres user may not be able to read ours.
        return subprocess.run(
            self.command(argv), cwd=self.root, capture_output=True, text=True,
            timeout=timeout, check=False,
        )

    def initdb(self) -> None:
        result = self.run([
            str(self.bindir / "initdb"), "-D", str(self.datadir), "-U", _SUPERUSER,
            "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions",
        ])
        if result.returncode != 0:
            pytest.fail(f"initdb failed:\n{result.stdout}\n{result.stderr}", pytrace=False)

    def start(self) -> None:
        # Durability settings off: the cluster lives for one test session.
        options = " ".join([
            "-c listen_addresses=127.0.0.1",
            f"-c port={self.port}",
            f"-c unix_socket_directories={self.root}",
            "-c fsync=off",
            "-c synchronous_commit=off",
            "-c full_page_writes=off",
            "-c max_connections=200",
        ])
        result = self.run([
            str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-l", str(self.logfile),
            "-o", options, "-w", "-t", str(int(_READY_TIMEOUT_S)), "start",
        ])
        if result.returncode != 0:
            raise RuntimeError(
                f"pg_ctl start failed on port {self.port}:\n{result.stdout}\n{result.stderr}\n"
                f"{self.log_tail()}"
            )

    def wait_ready(self) -> None:
        pg_isready = self.bindir / "pg_isready"
        deadline = time.monotonic() + _READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if pg_isready.is_file():
                probe = subprocess.run(
                    [str(pg_isready), "-h", "127.0.0.1", "-p", str(self.port), "-U", _SUPERUSER],
                    capture_output=True, text=True, check=False,
                )
                if probe.returncode == 0:
                    return
            else:
                try:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                        return
                except OSError:
                    pass
            time.sleep(0.1)
        pytest.fail(
            f"PostgreSQL did not accept connections on port {self.port} within "
            f"{_READY_TIMEOUT_S:.0f} s\n{self.log_tail()}",
            pytrace=False,
        )

    def stop(self) -> None:
        self.run([str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "stop", "-m", "immediate"],
                 timeout=60)

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.logfile.read_text(errors="replace")
        except OSError:
            return "(no server log)"
        return "server log:\n" + "\n".join(text.splitlines()[-lines:])


def _admin_conninfo(server_uri: str, database: str = "postgres") -> str:
    parts = urlsplit(server_uri)
    return f"postgresql://{parts.username}@{parts.hostname}:{parts.port}/{database}"


def execute_autocommit(server_uri: str, sql: str) -> None:
    """Run a statement that cannot run in a transaction (CREATE/DROP DATABASE)."""
    import psycopg

    with psycopg.connect(_admin_conninfo(server_uri), autocommit=True) as conn:
        conn.execute(sql)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """Start a PostgreSQL cluster for the session; yields the URI of an empty database."""
    bindir = find_pg_bindir()
    if bindir is None:
        pytest.fail(INSTALL_HINT, pytrace=False)
    as_postgres = os.geteuid() == 0
    root = Path(tempfile.mkdtemp(prefix="dockyard-pg-"))
    cluster = _Cluster(bindir=bindir, root=root, as_postgres=as_postgres)
    started = False
    try:
        if as_postgres:
            try:
                account = pwd.getpwnam(_SUPERUSER)
            except KeyError:
                pytest.fail(
                    "running as root, but there is no `postgres` user to run PostgreSQL as; "
                    "install Debian's `postgresql` package, which creates it",
                    pytrace=False,
                )
            os.chown(root, account.pw_uid, account.pw_gid)
            root.chmod(0o700)
        cluster.initdb()
        errors: list[str] = []
        # A free port can be taken between choosing it and binding it; try another.
        for _ in range(_START_ATTEMPTS):
            cluster.port = _free_port()
            try:
                cluster.start()
            except RuntimeError as exc:
                errors.append(str(exc))
                continue
            started = True
            break
        if not started:
            pytest.fail("\n\n".join(errors), pytrace=False)
        cluster.wait_ready()
        uri = f"postgresql://{_SUPERUSER}@127.0.0.1:{cluster.port}/{_DATABASE}"
        execute_autocommit(uri, f'CREATE DATABASE "{_DATABASE}"')
        yield uri
    finally:
        if started:
            cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_uri(postgres_server: str) -> Iterator[str]:
    """A fresh, empty database for one test; dropped afterwards."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(_admin_conninfo(postgres_server), autocommit=True) as conn:
        # FILE_COPY (PostgreSQL 15+) skips WAL-logging the template: faster per test
        strategy = " STRATEGY FILE_COPY" if conn.info.server_version >= 150000 else ""
        conn.execute(f'CREATE DATABASE "{name}"{strategy}')
    parts = urlsplit(postgres_server)
    yield f"postgresql://{parts.username}@{parts.hostname}:{parts.port}/{name}"
    # FORCE: a test that failed mid-way may have left connections open.
    execute_autocommit(postgres_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
