"""``dockyard serve`` as a user runs it: a process, several workers, a registry URI, SIGTERM."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pyarrow.dataset as ds
import pytest
from typer.testing import CliRunner

import dockyard
from dockyard.cli.main import app
from tests.serve.test_app import v2_tensor
from tests.services.server import free_port, wait_for_http

ROOT = Path(__file__).resolve().parents[2]
ROW = [0.5, -0.1, 0.3, 0.2]


class ServeProcess:
    """``python -m dockyard serve ARGS`` over this test's DOCKYARD_HOME."""

    def __init__(self, tmp_path: Path, *args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp_path / "serve.log"
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "dockyard", "serve", *args, "--port", str(self.port)],
                stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT,
            )

    def wait_ready(self, timeout: float = 90) -> None:
        wait_for_http(self.proc, self.url + "/v2/health/ready", self.log, timeout)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=60)


def test_help_lists_the_options() -> None:
    result = CliRunner().invoke(app, ["serve", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for option in ("--workers", "--max-batch-size", "--max-wait-ms", "--max-queue", "--timeout",
                   "--no-prediction-log", "--sample-rate", "--flush-interval", "--deployment"):
        assert option in result.output, option


@pytest.mark.parametrize(("args", "message"), [
    (["no/such/folder"], "neither a model URI"),
    (["models:/missing@champion"], "missing"),
    (["a", "b", "--name", "x"], "--name"),
    (["{pkg}", "--max-body-size", "lots"], "not a size"),
])
def test_bad_arguments_are_clear_errors(args: list[str], message: str, packages) -> None:
    args = [arg.replace("{pkg}", str(packages["logreg"])) for arg in args]
    result = CliRunner().invoke(app, ["serve", *args], env={"COLUMNS": "200"})
    assert result.exit_code != 0
    assert message in result.output


def test_a_folder_without_a_manifest_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["serve", str(tmp_path)], env={"COLUMNS": "200"})
    assert result.exit_code == 1 and "dockyard-model.yaml" in result.output


def test_two_workers_a_registry_alias_and_sigterm_under_load(packages, tmp_path: Path) -> None:
    """Serve models:/churn@champion with 2 workers; SIGTERM under load loses no acknowledged
    prediction, and the metrics of both workers are merged."""
    from sklearn.linear_model import LogisticRegression

    model = dockyard.load_model(packages["logreg"], trust=True).raw
    assert isinstance(model, LogisticRegression)
    with dockyard.start_run():
        info = dockyard.log_model(model, "model", input_example=[ROW])
    version = dockyard.register_model(info.uri, "churn")
    dockyard.set_alias("churn", "champion", version.version)
    store = tmp_path / "predictions-store"

    server = ServeProcess(
        tmp_path, "models:/churn@champion", "--workers", "2", "--prediction-log-uri",
        str(store), "--no-access-log", "--deployment", "churn-prod",
    )
    try:
        server.wait_ready()
        with httpx.Client(base_url=server.url) as client:
            meta = client.get("/v2/models/churn").json()
            assert meta["versions"] == [str(version.version)]
            for _ in range(20):
                assert client.post("/v2/models/churn/infer",
                                   json=v2_tensor([ROW])).status_code == 200
            metrics = client.get("/metrics").text
        served = re.search(r'dockyard_serve_requests_total\{deployment="churn-prod",'
                           r'model="churn",protocol="v2",status="200",version="1"\} (\S+)',
                           metrics)
        assert served and float(served.group(1)) == 20.0  # whichever worker answered

        acknowledged = asyncio.run(load_then_sigterm(server))
        assert server.proc.wait(timeout=60) == 0, server.log.read_text()[-3000:]
    finally:
        server.stop()
    assert len(acknowledged) > 50
    table = ds.dataset(store / "predictions", partitioning="hive").to_table(
        columns=["prediction_id", "model", "version", "deployment"])
    logged = set(table.column("prediction_id").to_pylist())
    missing = acknowledged - logged
    assert not missing, f"{len(missing)} of {len(acknowledged)} acknowledged predictions lost"
    assert set(table.column("deployment").to_pylist()) == {"churn-prod"}


async def load_then_sigterm(server: ServeProcess) -> set[str]:
    """Eight clients send requests until the server goes away; SIGTERM comes after 1.5 s."""
    acknowledged: set[str] = set()

    async def client_loop(client: httpx.AsyncClient) -> None:
        while True:
            try:
                response = await client.post("/v2/models/churn/infer", json=v2_tensor([ROW] * 2))
            except httpx.HTTPError:
                return
            if response.status_code != 200:
                return
            acknowledged.update(response.json()["parameters"]["prediction_ids"])

    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        clients = [asyncio.ensure_future(client_loop(client)) for _ in range(8)]
        await asyncio.sleep(1.5)
        server.proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(asyncio.gather(*clients), timeout=60)
    return acknowledged
