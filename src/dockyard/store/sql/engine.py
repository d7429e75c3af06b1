"""Engines for SQLite and PostgreSQL, and applying the migrations."""

from __future__ import annotations

import threading
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool

from dockyard.errors import InvalidArgument, MissingExtra

MIGRATIONS = Path(__file__).parent / "migrations"
_migrate_lock = threading.Lock()
_PG_MIGRATION_LOCK = 0x646F636B  # any constant shared by every Dockyard process


def normalize_uri(uri: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` and pick the psycopg 3 driver."""
    for prefix in ("postgresql://", "postgres://"):
        if uri.startswith(prefix):
            return "postgresql+psycopg://" + uri[len(prefix) :]
    return uri


def make_engine(uri: str) -> Engine:
    """An engine with the settings Dockyard relies on.

    SQLite: WAL journal (readers never block the writer), foreign keys on,
    case-sensitive LIKE (as on PostgreSQL), a busy timeout, and
    ``BEGIN IMMEDIATE`` for write transactions so that two writers queue
    instead of failing with "database is locked".
    """
    uri = normalize_uri(uri)
    try:
        url = make_url(uri)
    except Exception as exc:
        raise InvalidArgument(
            f"cannot parse store URI {uri!r}: use sqlite:///path/to/file.db, "
            "postgresql://user:pass@host:port/db or http://host:port"
        ) from exc
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    if url.get_backend_name() == "postgresql":
        try:
            import psycopg  # noqa: F401  (the driver SQLAlchemy loads for postgresql+psycopg)
        except ImportError:
            raise MissingExtra(
                "PostgreSQL needs the psycopg driver: pip install 'dockyard[postgres]'") from None
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
    raise InvalidArgument(
        f"unsupported store URI scheme {url.drivername!r}; use sqlite, postgresql or http(s)"
    )


def _sqlite_engine(url) -> Engine:  # type: ignore[no-untyped-def]
    database = url.database
    memory = database in (None, "", ":memory:")
    if memory:
        engine = create_engine(
            "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
        )
    else:
        path = Path(database).expanduser().absolute()  # sqlite:///~/x.db means the home folder
        path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url.set(database=str(path)),
            connect_args={"check_same_thread": False, "timeout": 30}, pool_size=8,
        )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        if not memory:
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA case_sensitive_like=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        # Searches touch every run of an experiment: keep the hot pages near
        # (a 32 MiB page cache per connection, and reads through mmap).
        cur.execute("PRAGMA cache_size=-32768")
        cur.execute("PRAGMA mmap_size=268435456")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # type: ignore[no-untyped-def]
        write = conn.get_execution_options().get("dockyard_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def _alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str:
    return ScriptDirectory.from_config(_alembic_config()).get_current_head() or ""


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Apply pending migrations; returns (revision before, revision after).

    An up-to-date database is only read (no write lock). Otherwise the
    migrations run in one transaction; on PostgreSQL a transaction-scoped
    advisory lock makes servers that start together migrate one at a time.
    """
    head = head_revision()
    before = current_revision(engine)
    if before == head:
        return before, head
    with _migrate_lock, engine.connect().execution_options(dockyard_write=True) as conn:
        with conn.begin():
            if engine.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
            before = MigrationContext.configure(conn).get_current_revision()
            if before != head:
                cfg = _alembic_config()
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
    return before, head
