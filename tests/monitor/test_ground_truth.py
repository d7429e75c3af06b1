"""Ground truth from the SDK, the REST API and the CLI, checked against a real prediction log."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import dockyard
from dockyard.cli.main import app
from dockyard.client import Client
from dockyard.errors import InvalidArgument
from tests.monitor.test_predictions import write_log
from tests.services.server import ServerProcess


@pytest.fixture
def local(tmp_path: Path) -> Client:
    """A local client whose artifact root holds predictions a, b, c (churn) and d (fraud)."""
    write_log(str(tmp_path / "artifacts"), tmp_path / "spool")
    return Client(f"sqlite:///{tmp_path / 'x.db'}", str(tmp_path / "artifacts"))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> ServerProcess:
    workdir = tmp_path_factory.mktemp("ground-truth-server")
    write_log(str(workdir / "artifacts"), workdir / "spool")
    server = ServerProcess(workdir)
    server.start()
    yield server
    server.stop()


def test_labels_join_by_id_and_unknown_ids_are_reported(local: Client) -> None:
    report = local.log_ground_truth(["a", "b", "zz"], [0, 1, 1], label_time=dt.datetime(
        2026, 11, 20, tzinfo=dt.UTC))
    assert (report.received, report.accepted) == (3, 3)
    assert report.unknown_ids == ["zz"] and report.duplicate_ids == []
    found = {g.prediction_id: g for g in local.get_ground_truth(["a", "b", "zz", "c"])}
    assert {k: g.label for k, g in found.items()} == {"a": 0, "b": 1, "zz": 1}
    assert found["a"].label_time == 1_795_132_800_000


def test_a_second_label_is_a_duplicate_unless_replacing(local: Client) -> None:
    local.log_ground_truth(["a"], [0])
    again = local.log_ground_truth(["a", "c"], [1, 1])
    assert again.accepted == 1 and again.duplicate_ids == ["a"]
    fixed = local.log_ground_truth(["a"], [1], replace=True)
    assert fixed.replaced_ids == ["a"] and local.get_ground_truth(["a"])[0].label == 1


def test_one_label_time_per_label(local: Client) -> None:
    local.log_ground_truth(["a", "b"], [0, 1], label_time=[1_000, 2_000])
    assert sorted(g.label_time for g in local.get_ground_truth(["a", "b"])) == [1_000, 2_000]
    with pytest.raises(InvalidArgument, match="one per label"):
        local.log_ground_truth(["c"], [0], label_time=[1, 2])


def test_the_fluent_call_uses_the_configured_store(local: Client, monkeypatch) -> None:
    monkeypatch.setenv("DOCKYARD_URI", local.uri)
    monkeypatch.setenv("DOCKYARD_ARTIFACTS", local._artifact_root)
    dockyard.set_tracking_uri(local.uri)
    try:
        report = dockyard.log_ground_truth(["d"], [1])
    finally:
        dockyard.set_tracking_uri(None)
    assert report.accepted == 1 and report.unknown_ids == []


def test_rest_reports_unknown_ids_from_the_servers_log(server: ServerProcess) -> None:
    with Client(server.url) as remote:
        report = remote.log_ground_truth(["b", "nope-1"], ["yes", "no"])
        assert report.accepted == 2 and report.unknown_ids == ["nope-1"]
        assert remote.get_ground_truth(["b"])[0].label == "yes"
        assert remote.log_ground_truth(["b"], ["no"]).duplicate_ids == ["b"]
    audit = httpx.get(f"{server.url}/api/v1/audit-events",
                      params={"resource_type": "ground-truth"}).json()["items"]
    assert [e["request"]["unknown"] for e in audit] == [1, 0]


@pytest.mark.parametrize(("body", "message"), [
    ({"prediction_ids": ["a"], "labels": [None]}, "labels"),
    ({"prediction_ids": ["a"], "labels": [[1]]}, "labels"),
    ({"prediction_ids": ["a"], "labels": [1], "label_time": "soon"}, "label_time"),
    ({"prediction_ids": ["a"]}, "labels"),
    ({"prediction_ids": ["a"], "labels": [1, 2]}, "1 prediction ids but 2 labels"),
    ({"prediction_ids": ["a b"], "labels": [1]}, "is not valid"),
    ({"prediction_ids": ["a"], "labels": [1], "extra": True}, "extra"),
])
def test_rest_refuses_bad_bodies_with_400(server: ServerProcess, body: dict,
                                          message: str) -> None:
    response = httpx.post(f"{server.url}/api/v1/ground-truth", json=body)
    assert response.status_code == 400, response.text
    assert message in response.json()["message"]


def test_cli_loads_a_parquet_file_and_reports(local: Client, tmp_path: Path) -> None:
    path = tmp_path / "labels.parquet"
    pq.write_table(pa.table({"id": ["a", "b", "ghost"], "outcome": [1, 0, 1],
                             "known_at": pa.array([dt.datetime(2026, 11, 20)] * 3,
                                                  pa.timestamp("us"))}), path)
    args = ["ground-truth", "load", str(path), "--uri", local.uri, "--id-column", "id",
            "--label-column", "outcome", "--time-column", "known_at"]
    env = {"DOCKYARD_ARTIFACTS": local._artifact_root}
    result = CliRunner().invoke(app, [*args, "--json"], env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["unknown_ids"] == ["ghost"]
    assert {g.label_time for g in local.get_ground_truth(["a", "b"])} == {1_795_132_800_000}
    again = CliRunner().invoke(app, [*args, "--strict"], env=env)
    assert again.exit_code == 1
    assert "0 of 3 labels written" in again.output
    assert "3 ids already had a label" in again.output


def test_cli_loads_csv_with_iso_times(local: Client, tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text("prediction_id,label,at\n0012,cat,2026-11-20T00:00:00Z\nc,dog,"
                    "2026-11-20T00:00:00Z\n")
    result = CliRunner().invoke(app, ["ground-truth", "load", str(path), "--uri", local.uri,
                                      "--time-column", "at", "--json"],
                                env={"DOCKYARD_ARTIFACTS": local._artifact_root})
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["unknown_ids"] == ["0012"]  # kept as text, zeros and all
    assert {g.label for g in local.get_ground_truth(["0012", "c"])} == {"cat", "dog"}


@pytest.mark.parametrize(("content", "args", "message"), [
    ("prediction_id,label\na,1\n", ["--label-column", "y"], "no column 'y'"),
    ("prediction_id,label\na,\n", [], "have no label"),
    ("prediction_id,label,at\na,1,tomorrow\n", ["--time-column", "at"], "not a time"),
])
def test_cli_errors_name_the_problem(local: Client, tmp_path: Path, content: str,
                                     args: list[str], message: str) -> None:
    path = tmp_path / "labels.csv"
    path.write_text(content)
    result = CliRunner().invoke(app, ["ground-truth", "load", str(path), "--uri", local.uri,
                                      *args])
    assert result.exit_code == 1
    assert message in result.output
    assert local.get_ground_truth(["a"]) == []


def test_cli_refuses_an_unknown_file_type(tmp_path: Path) -> None:
    path = tmp_path / "labels.xlsx"
    path.write_text("x")
    result = CliRunner().invoke(app, ["ground-truth", "load", str(path)])
    assert result.exit_code == 1 and "give a .parquet, .csv or .jsonl file" in result.output
