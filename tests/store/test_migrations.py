"""The migrations build exactly the schema the queries are written against."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from dockyard.entities import Batch, Metric, NewModelValidation, Param
from dockyard.store.sql import SqlMetadataStore
from dockyard.store.sql.engine import _alembic_config, current_revision, head_revision, make_engine, upgrade
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
    store = SqlMetadataStore("sqlite:///~/nested/x.db")
    store.create_experiment("e")
    store.close()
    assert (tmp_path / "nested" / "x.db").is_file()


def _migrate(url: str, move: str, revision: str) -> set[str]:
    """Move the database at ``url`` to ``revision`` (``move`` is upgrade or downgrade);
    the tables it then has, checked to be at that revision."""
    engine = make_engine(url)
    cfg = _alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        getattr(command, move)(cfg, revision)
    with engine.connect() as conn:
        tables = set(inspect(conn).get_table_names())
    assert current_revision(engine) == revision
    engine.dispose()
    return tables


def _backend_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    return (f"sqlite:///{tmp_path / 'old.db'}" if backend == "sqlite"
            else request.getfixturevalue("postgres_uri"))


def test_upgrade_from_0001_keeps_every_row(tmp_path: Path) -> None:
    """0002 rebuilds params, tags and latest metrics on SQLite; nothing is lost."""
    run_id = "0123456789abcdef0123456789abcdef"
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    with engine.begin() as conn:
        cfg = _alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        for sql in (
            "INSERT INTO projects VALUES ('p', 'default', '', 0)",
            "INSERT INTO experiments VALUES ('e', 'p', 'exp', '', 0, 0)",
            "INSERT INTO runs (id, experiment_id, name, status, start_time, user, entry_point, "
            "python_version, artifact_location) VALUES (:r, 'e', 'run', 'RUNNING', 1, 'u', '', '3', '')",
            "INSERT INTO params VALUES (:r, 'lr', '0.1')",
            "INSERT INTO tags VALUES (:r, 'team', 'growth')",
            "INSERT INTO latest_metrics VALUES (:r, 'auc', 0.9, 3, 7)",
        ):
            conn.execute(text(sql), {"r": run_id})
    assert current_revision(engine) == "0001"
    engine.dispose()

    store = SqlMetadataStore(url)  # upgrades on open
    run = store.get_run(run_id)
    assert run.params == {"lr": "0.1"} and run.tags == {"team": "growth"}
    assert (run.metrics["auc"].value, run.metrics["auc"].step) == (0.9, 3)
    store.log_batch(Batch(run_id=run_id, params=[Param(key="depth", value="8")],
                          metrics=[Metric(key="auc", value=0.95, step=4, timestamp=8)]))
    assert [r.id for r in store.search_runs(["e"], "metrics.auc > 0.92 and params.lr = '0.1'").items] == [run_id]
    with store.engine.connect() as conn:
        ddl = dict(conn.exec_driver_sql("SELECT name, sql FROM sqlite_master WHERE type = 'table'").all())
    store.close()
    for table in ("params", "tags", "latest_metrics"):
        assert ddl[table].endswith("WITHOUT ROWID"), ddl[table]


@pytest.mark.parametrize("backend", [
    "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_0008_keeps_models_and_goes_back(backend: str, tmp_path: Path,
                                         request: pytest.FixtureRequest) -> None:
    """0008 adds the policy columns to existing models and the validations table; its
    downgrade removes them again."""
    url = _backend_url(backend, tmp_path, request)
    _migrate(url, "upgrade", "0007")
    store = SqlMetadataStore(url, migrate=False)
    run = store.create_run(store.create_experiment("e").id)
    with store.engine.begin() as conn:
        conn.execute(text("INSERT INTO registered_models VALUES ('churn', '', '', '', 1, 0, 0)"))
        conn.execute(text("INSERT INTO model_versions (name, version, source, run_id, stage, "
                          "status, description, card, created_at, updated_at) VALUES "
                          "('churn', 1, :s, :r, 'None', 'READY', '', '', 0, 0)"),
                     {"s": f"runs:/{run.id}/model", "r": run.id})
    store.close()

    store = SqlMetadataStore(url)  # upgrades on open
    model = store.get_registered_model("churn")
    assert (model.policy, model.policy_digest, model.protected_aliases) == (None, None, [])
    store.record_validation("churn", 1, NewModelValidation(values={"accuracy": 0.9}))
    store.close()

    tables = _migrate(url, "downgrade", "0007")
    engine = make_engine(url)
    with engine.connect() as conn:
        columns = {c["name"] for c in inspect(conn).get_columns("registered_models")}
    engine.dispose()
    assert "model_validations" not in tables and "model_versions" in tables
    assert not columns & {"policy", "policy_digest", "protected_aliases"}


@pytest.mark.parametrize("backend", [
    "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_0009_adds_identities_and_goes_back(backend: str, tmp_path: Path,
                                            request: pytest.FixtureRequest) -> None:
    """0009 adds users and api_tokens (the digest unique) to a store at 0008; its downgrade
    removes them and keeps the rest."""
    url = _backend_url(backend, tmp_path, request)
    _migrate(url, "upgrade", "0008")
    store = SqlMetadataStore(url)  # upgrades on open
    store.create_experiment("kept")
    store.create_user("ana")
    token = store.create_token("ana")
    assert store.authenticate(token.secret).name == "ana"
    with store.engine.connect() as conn:
        indexes = {i["name"]: i for i in inspect(conn).get_indexes("api_tokens")}
    assert indexes["ix_api_tokens_digest"]["unique"]
    store.close()

    tables = _migrate(url, "downgrade", "0008")
    assert not tables & {"users", "api_tokens"} and "experiments" in tables


@pytest.mark.parametrize("backend", [
    "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_0010_adds_governance_and_goes_back(backend: str, tmp_path: Path,
                                            request: pytest.FixtureRequest) -> None:
    """0010 adds role bindings, approval requests and the audit trail's ``before`` to a store
    at 0009, keeping its users and audit events; its downgrade removes them again."""
    url = _backend_url(backend, tmp_path, request)
    _migrate(url, "upgrade", "0009")
    store = SqlMetadataStore(url, migrate=False)
    store.create_user("ana")
    store.create_experiment("kept")  # an audit-free write; the event below is the old shape
    with store.engine.begin() as conn:
        conn.execute(text("INSERT INTO audit_events (time, actor, action, resource_type, "
                          "resource_id, request, status) VALUES (1, 'ana', 'create_run', "
                          "'run', 'r1', '{}', 201)"))
    store.close()

    store = SqlMetadataStore(url)  # upgrades on open
    assert store.grant_role("ana", "admin").role == "admin"
    [event] = store.search_audit_events(actor="ana")
    assert (event.action, event.before) == ("create_run", None)
    run = store.create_run(store.get_experiment_by_name("kept").id)
    store.create_registered_model("churn")
    store.create_model_version("churn", f"runs:/{run.id}/model")
    assert store.create_approval_request("churn", 1, "stage:Production", "ana").status == "pending"
    store.close()

    tables = _migrate(url, "downgrade", "0009")
    engine = make_engine(url)
    with engine.connect() as conn:
        columns = {c["name"] for c in inspect(conn).get_columns("audit_events")}
    engine.dispose()
    assert not tables & {"role_bindings", "approval_requests"} and "users" in tables
    assert "before" not in columns
