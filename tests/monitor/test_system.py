"""Error rates of the model servers, read from a real Prometheus scraping a real model server."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from dockyard import models
from dockyard.client import Client
from dockyard.entities.monitoring import MonitorSpec
from dockyard.errors import StoreError
from dockyard.monitor.monitors import create_monitor, run_monitor
from dockyard.monitor.system import serving_health
from tests.monitor.conftest import free_port, wait_until
from tests.serve._models import BOOM, Doubler
from tests.serve.test_serve_cli import ServeProcess


class Prometheus:
    def __init__(self, url: str) -> None:
        self.url = url

    def value(self, query: str) -> float:
        result = httpx.get(f"{self.url}/api/v1/query", params={"query": query}
                           ).json()["data"]["result"]
        return float(result[0]["value"][1]) if result else 0.0


@pytest.fixture
def model_server(tmp_path: Path) -> Iterator[ServeProcess]:
    models.save(Doubler(), tmp_path / "doubler",
                input_example=pd.DataFrame({"x": [1.0, 2.0]}))
    server = ServeProcess(tmp_path, str(tmp_path / "doubler"), "--name", "doubler",
                          "--deployment", "doubler-prod", "--no-access-log",
                          "--rotate-seconds", "0.2",
                          "--flush-interval", "0.05")
    server.wait_ready()
    yield server
    server.stop()


@pytest.fixture
def prometheus(tmp_path: Path, model_server: ServeProcess) -> Iterator[Prometheus]:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("Prometheus is not installed: install the Debian package 'prometheus' "
                    "(./dev test does)")
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n"
        "scrape_configs:\n  - job_name: models\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{model_server.port}']\n")
    port = free_port()
    log = open(tmp_path / "prometheus.log", "wb")
    process = subprocess.Popen(
        [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _ready(url), timeout=30)
        yield Prometheus(url)
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/-/ready", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def traffic(server: ServeProcess, ok: int, failing: int, bad: int) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        for x in [1.0] * ok + [BOOM] * failing:
            http.post("/invocations", json={"dataframe_split": {"columns": ["x"],
                                                                 "data": [[x]]}})
        for _ in range(bad):
            http.post("/invocations", json={"dataframe_split": {"columns": ["y"],
                                                                 "data": [[1]]}})


def test_error_rates_come_from_prometheus(tmp_path: Path, model_server, prometheus,
                                          monkeypatch) -> None:
    traffic(model_server, 1, 1, 1)  # every series exists before the window starts
    total = 'sum(dockyard_serve_requests_total{model="doubler"})'
    wait_until(lambda: prometheus.value(total) == 3, timeout=15)
    start = int(time.time() * 1000)
    time.sleep(1.5)  # a scrape inside the window sees the counts before the traffic
    traffic(model_server, 24, 4, 2)
    wait_until(lambda: prometheus.value(total) == 33, timeout=15)
    time.sleep(1.5)
    end = int(time.time() * 1000)

    health = serving_health(prometheus.url, "doubler", None, start, end)
    assert health["requests"] == pytest.approx(30, rel=0.5)  # increase() extrapolates
    # increase() extrapolates each series to the window's edges a little differently: close to
    # the true shares over a few seconds, and closer still over the hours a window usually lasts
    assert health["error_rate"] == pytest.approx(4 / 30, abs=0.03)
    assert health["client_error_rate"] == pytest.approx(2 / 30, abs=0.03)
    quiet = serving_health(prometheus.url, "doubler", None, start - 600_000, start - 300_000)
    assert quiet["requests"] == 0 and quiet["error_rate"] is None
    # The servers of one deployment, by its label.
    mine = serving_health(prometheus.url, "doubler", None, start, end, "doubler-prod")
    assert mine == health
    other = serving_health(prometheus.url, "doubler", None, start, end, "doubler-staging")
    assert other["requests"] == 0

    # and through a monitor, which reads DOCKYARD_PROMETHEUS_URL
    monkeypatch.setenv("DOCKYARD_PROMETHEUS_URL", prometheus.url)
    client = Client()
    monitor = create_monitor(client, MonitorSpec(name="doubler", model_name="doubler",
                                                 deployment="doubler-prod",
                                                 interval_seconds=0, min_rows=1),
                             pd.DataFrame({"x": np.linspace(0, 2, 200)}))
    done = run_monitor(client, monitor, since=start, until=end)
    assert done.latest("error_rate").value == pytest.approx(health["error_rate"])


def test_an_unreachable_prometheus_is_a_clear_error() -> None:
    with pytest.raises(StoreError, match="cannot reach Prometheus at http://127.0.0.1:9"):
        serving_health("http://127.0.0.1:9", "m", None, 0, 60_000)


def test_without_prometheus_the_window_says_how_to_get_error_rates(tmp_path: Path) -> None:
    client = Client(f"sqlite:///{tmp_path / 'db.sqlite'}", str(tmp_path / "artifacts"))
    monitor = create_monitor(client, MonitorSpec(name="m", model_name="m", interval_seconds=0),
                             pd.DataFrame({"x": [1.0, 2.0, 3.0]}))
    done = run_monitor(client, monitor, since=0, until=60_000)
    error_rate = done.latest("error_rate")
    assert error_rate.value is None and "DOCKYARD_PROMETHEUS_URL" in error_rate.status
