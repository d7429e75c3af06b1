"""Monitors through a server: the reference is profiled by the client, the server runs them."""

from __future__ import annotations

import json
import uuid

import httpx
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from dockyard.cli.main import app
from dockyard.client import Client
from dockyard.entities.monitoring import MonitorSpec
from dockyard.errors import InvalidArgument
from dockyard.monitor.monitors import create_monitor, load_reference, run_monitor
from tests.monitor.test_predictions import NOW, write_log
from tests.services.server import ServerProcess


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    workdir = tmp_path_factory.mktemp("monitor-server")
    write_log(str(workdir / "artifacts"), workdir / "spool")  # churn v3: ages 30, 40, 50
    server = ServerProcess(workdir)
    server.start()
    yield server
    server.stop()


def test_create_and_run_a_monitor_from_a_remote_client(server: ServerProcess) -> None:
    reference = pd.DataFrame({"age": np.random.default_rng(0).normal(40, 10, 500)})
    with Client(server.url) as remote:
        monitor = create_monitor(remote, MonitorSpec(name="remote-churn", model_name="churn",
                                                     min_rows=1, interval_seconds=0), reference)
        loaded = load_reference(remote, monitor)
        assert loaded is not None and loaded.profile.columns["age"].count == 500
        done = run_monitor(remote, "remote-churn", since=NOW - 2 * 86_400_000, until=NOW + 10)
    rows = done.latest("rows")
    assert rows is not None and rows.value == 3
    assert done.latest("drift_score", "age").value is not None


def test_cli_runs_a_monitor_on_the_server(server: ServerProcess) -> None:
    with Client(server.url) as remote:
        create_monitor(remote, MonitorSpec(name="cli-churn", model_name="churn", min_rows=1,
                                           interval_seconds=0),
                       pd.DataFrame({"age": [30.0, 40.0, 50.0, 60.0]}))
    result = CliRunner().invoke(app, ["monitor", "run", "cli-churn", "--uri", server.url,
                                      "--since", "2026-11-01T00:00", "--until", "2026-12-01",
                                      "--json"])
    assert result.exit_code == 0, result.output
    (report,) = json.loads(result.output)
    assert report["monitor"] == "cli-churn" and report["windows"] == 1


def test_a_reference_that_is_not_a_profile_is_refused(server: ServerProcess) -> None:
    with Client(server.url) as remote:
        monitor = remote.create_monitor(MonitorSpec(name="bad-ref", model_name="churn"))
    response = httpx.put(f"{server.url}/api/v1/monitors/{monitor.id}/reference",
                         json={"profile": "bm90IGEgcHJvZmlsZQ==", "meta": {"values": []}})
    assert response.status_code == 400 and "profile" in response.json()["message"]
    missing = httpx.get(f"{server.url}/api/v1/monitors/{monitor.id}/reference")
    assert missing.status_code == 404


def test_reading_the_log_needs_the_artifact_root(server: ServerProcess) -> None:
    with Client(server.url) as remote:
        with pytest.raises(InvalidArgument, match="prediction log is read where it is stored"):
            remote.prediction_store()


def test_the_server_exports_monitor_values_on_metrics(server: ServerProcess) -> None:
    with Client(server.url) as remote:
        create_monitor(remote, MonitorSpec(name="scraped", model_name="churn", min_rows=1,
                                           interval_seconds=0),
                       pd.DataFrame({"age": [30.0, 40.0, 50.0, 60.0]}))
        run_monitor(remote, "scraped", since=NOW - 2 * 86_400_000, until=NOW + 10)
    response = httpx.get(f"{server.url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert 'dockyard_monitor_rows{model="churn",monitor="scraped",version="any"} 3.0' \
        in response.text


@pytest.mark.parametrize(("method", "path", "kwargs", "message"), [
    ("POST", "/run", {"params": {"since": 0, "until": 10**17}}, "year 9999"),
    ("POST", "/run", {"params": {"since": 5}}, "both since and until"),
    ("PUT", "/reference", {"json": {"profile": "{profile}",
                                    "meta": {"values": [["psi", "age", "x"]]}}}, "meta.values"),
    ("GET", "/features/age/histogram", {"params": {"since": 10, "until": 5}}, "after since"),
])
def test_monitor_routes_refuse_bad_input_with_400(server: ServerProcess, method: str, path: str,
                                                  kwargs: dict, message: str) -> None:
    with Client(server.url) as remote:
        monitor = create_monitor(remote, MonitorSpec(name=f"bad-{uuid.uuid4().hex[:6]}",
                                                     model_name="churn", interval_seconds=0),
                                 pd.DataFrame({"age": [30.0, 40.0, 50.0, 60.0]}))
    if "json" in kwargs:  # a real profile: only the values are wrong
        stored = httpx.get(f"{server.url}/api/v1/monitors/{monitor.id}/reference").json()
        kwargs = {"json": {**kwargs["json"], "profile": stored["profile"]}}
    response = httpx.request(method, f"{server.url}/api/v1/monitors/{monitor.id}{path}",
                             **kwargs)
    assert response.status_code == 400, response.text
    assert message in response.json()["message"]
