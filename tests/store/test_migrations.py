"""The migrations build exactly the schema the queries are written against."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from dockyard.store.sql.engine import current_revision, head_revision, make_engine, upgrade
from dockyard.store.sql.schema import metadata


def test_migrations_match_schema(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    before, after = upgrade(engine)
    assert before is None and after == head_revision() == current_revision(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    engine.dispose()
    assert diff == []


def test_upgrade_is_idempotent(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(engine)
    assert upgrade(engine) == (head_revision(), head_revision())
    engine.dispose()


def test_sqlite_path_with_a_tilde(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("HOME", str(tmp_path))
    from dockyard.store.sql import SqlMetadataStore

    store = SqlMetadataStore("sqlite:///~/nested/x.db")
    store.create_experiment("e")
    store.close()
    assert (tmp_path / "nested" / "x.db").is_file()
