"""The prediction store reads what the prediction log wrote, locally and on S3."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from dockyard.cli.main import app
from dockyard.errors import InvalidArgument
from dockyard.monitor.predictions import PredictionStore
from dockyard.serve.predlog import PredictionBatch, PredictionLog
from dockyard.store.artifacts import artifact_store_for

DAY = 86_400_000
NOW = 1_795_000_000_000  # ms since the epoch, 2026-11-18


def write_log(root: str, spool: Path) -> None:
    """Four files: churn v3 on two days (the second with a new input column), fraud v1."""
    log = PredictionLog(artifact_store_for(root), spool_dir=spool, deployment="prod")
    log.append(PredictionBatch(["a", "b"], "churn", 3, inputs={"age": np.array([30, 40])},
                               outputs=np.array([0.1, 0.9]), latency_ms=[1.0, 3.0],
                               time_ms=NOW - DAY, request_id="r1"))
    log.append(PredictionBatch(["c"], "churn", 3,
                               inputs={"age": np.array([50]),
                                       "plan": np.array(["pro"], dtype=object)},
                               outputs=np.array([0.5]), latency_ms=2.0, time_ms=NOW,
                               request_id="r2"))
    log.append(PredictionBatch(["d"], "fraud", "1", inputs=np.array([[1.0, 2.0]]),
                               outputs=np.array([1]), latency_ms=4.0, time_ms=NOW + 1,
                               deployment="canary"))
    assert log.close()


@pytest.fixture(params=["local", "s3"])
def root(request, tmp_path: Path) -> str:
    if request.param == "local":
        uri = str(tmp_path / "artifacts")
    else:
        bucket = request.getfixturevalue("s3_bucket")
        request.getfixturevalue("monkeypatch").setenv(
            "DOCKYARD_S3_ENDPOINT_URL", request.getfixturevalue("s3_endpoint"))
        uri = f"s3://{bucket}/team"
    write_log(uri, tmp_path / "spool")
    return uri


def ids(table) -> list[str]:
    return table.column("prediction_id").to_pylist()


def test_query_filters_by_model_version_deployment_and_time(root: str) -> None:
    store = PredictionStore(root)
    assert ids(store.query()) == ["a", "b", "c", "d"]
    assert ids(store.query(model="churn")) == ["a", "b", "c"]
    assert ids(store.query(model="churn", version=3)) == ["a", "b", "c"]
    assert ids(store.query(version="1")) == ["d"]
    assert ids(store.query(deployment="canary")) == ["d"]
    today = dt.datetime.fromtimestamp(NOW / 1000, dt.UTC)
    assert ids(store.query(since=today)) == ["c", "d"]
    assert ids(store.query(until=today)) == ["a", "b"]
    assert ids(store.query(since=today.replace(tzinfo=None), limit=1)) == ["c"]
    assert ids(store.query(newest_first=True, limit=2)) == ["d", "c"]
    assert ids(store.tail(2)) == ["c", "d"]


def test_files_with_different_columns_read_as_one(root: str) -> None:
    table = PredictionStore(root).query(model="churn", columns=["prediction_id", "input.plan",
                                                                "input.age", "latency_ms"])
    assert table.to_pydict() == {
        "prediction_id": ["a", "b", "c"], "input.plan": [None, None, "pro"],
        "input.age": [30, 40, 50], "latency_ms": [1.0, 3.0, 2.0]}


def test_sql_over_the_log(root: str) -> None:
    result = PredictionStore(root).sql(
        "SELECT model, count(*) AS n, max(latency_ms) AS slowest FROM predictions "
        "GROUP BY model ORDER BY model")
    assert result.to_pydict() == {"model": ["churn", "fraud"], "n": [3, 1], "slowest": [3.0, 4.0]}


@pytest.mark.parametrize(("call", "message"), [
    (lambda s: s.sql("DROP TABLE predictions"), "read-only"),
    (lambda s: s.sql("SELECT nope FROM predictions"), "nope"),
    (lambda s: s.sql("SELECT * FROM read_csv('/etc/passwd')"), "Permission"),
    (lambda s: s.sql("  "), "SQL statement"),
    (lambda s: s.query(columns=["input.height"]), "no column 'input.height'"),
    (lambda s: s.query(limit=-1), "limit"),
    (lambda s: s.query(since="yesterday"), "datetimes"),
])
def test_mistakes_are_clear_errors(tmp_path: Path, call, message: str) -> None:
    write_log(str(tmp_path / "artifacts"), tmp_path / "spool")
    with pytest.raises(InvalidArgument, match=message):
        call(PredictionStore(str(tmp_path / "artifacts")))


def test_an_empty_log_is_empty_not_an_error(tmp_path: Path) -> None:
    store = PredictionStore(str(tmp_path / "nothing"))
    assert store.query().num_rows == 0 and "prediction_id" in store.query().column_names
    assert store.tail(5).num_rows == 0
    assert store.sql("SELECT count(*) AS n FROM predictions").to_pydict() == {"n": [0]}


def test_cli_tail_and_query(tmp_path: Path) -> None:
    root = str(tmp_path / "artifacts")
    write_log(root, tmp_path / "spool")
    runner = CliRunner()
    env = {"COLUMNS": "200", "DOCKYARD_ARTIFACTS": root}
    tail = runner.invoke(app, ["predictions", "tail", "-n", "2"], env=env)
    assert tail.exit_code == 0, tail.output
    assert tail.output.index("c") < tail.output.index("fraud")
    as_json = runner.invoke(app, ["predictions", "query", "--model", "churn", "--format", "json",
                                  "--columns", "prediction_id,input.age"], env=env)
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.output) == [
        {"prediction_id": "a", "input.age": 30}, {"prediction_id": "b", "input.age": 40},
        {"prediction_id": "c", "input.age": 50}]
    csv = runner.invoke(app, ["predictions", "query", "SELECT count(*) AS n FROM predictions",
                              "--format", "csv"], env=env)
    assert csv.exit_code == 0 and csv.output.split() == ['"n"', "4"]
    recent = runner.invoke(app, ["predictions", "query", "--since", "1h", "--format", "json"],
                           env=env)
    assert json.loads(recent.output) == []  # the test data is from days ago
    bad = runner.invoke(app, ["predictions", "query", "--since", "last week"], env=env)
    assert bad.exit_code == 2 and "duration" in bad.output
    wrong = runner.invoke(app, ["predictions", "query", "SELECT x FROM predictions"], env=env)
    assert wrong.exit_code == 1 and "x" in wrong.output
    none = runner.invoke(app, ["predictions", "tail", "--model", "nope"], env=env)
    assert none.exit_code == 0 and "no predictions match" in none.output
