"""The acceptance path, with every part real: ``dockyard serve`` answers traffic whose inputs
shift halfway, labels arrive late through the REST API, ``dockyard server`` runs the monitor,
and the alert fires through a webhook, SMTP and Alertmanager, then resolves."""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from dockyard import models
from dockyard.client import Client
from dockyard.entities.monitoring import MonitorSpec
from dockyard.monitor.monitors import create_monitor, run_monitor
from dockyard.monitor.predictions import PredictionStore
from dockyard.monitor.summaries import BUCKET_MS
from tests.monitor.conftest import wait_until
from tests.serve.test_serve_cli import ServeProcess
from tests.services.server import ServerProcess

ROWS_PER_REQUEST = 20
REQUESTS = 15


def customers(rng: np.random.Generator, n: int, *, shifted: bool) -> pd.DataFrame:
    age = rng.normal(62 if shifted else 40, 6, n)
    income = rng.normal(50, 10, n)
    return pd.DataFrame({"age": age, "income": income})


def truth(data: pd.DataFrame, *, shifted: bool) -> np.ndarray:
    """Who churns; after the shift the old customers stay, so the model is wrong about them."""
    old = data["age"].to_numpy() > 45
    return (~old if shifted else old).astype(int)


@pytest.fixture
def system(tmp_path: Path):
    rng = np.random.default_rng(3)
    train = customers(rng, 2000, shifted=False)
    target = truth(train, shifted=False)
    model = LogisticRegression().fit(train, target)
    models.save(model, tmp_path / "churn", input_example=train.head(2))
    home = Path(os.environ["DOCKYARD_HOME"])
    artifacts = home / "artifacts"
    serve = ServeProcess(tmp_path, str(tmp_path / "churn"), "--name", "churn",
                         "--deployment", "prod", "--flush-interval", "0.05",
                         "--rotate-seconds", "0.2", "--no-access-log")
    server = ServerProcess(tmp_path / "server", uri=f"sqlite:///{home / 'dockyard.db'}",
                           artifacts=str(artifacts))
    (tmp_path / "server").mkdir()
    try:
        serve.wait_ready()
        server.start()
        reference = train.assign(churn=target, predicted=model.predict(train))
        yield rng, serve, server, reference, Client(server.uri, str(artifacts))
    finally:
        serve.stop()
        server.stop()


def send(rng, serve: ServeProcess, *, shifted: bool) -> tuple[list[str], np.ndarray]:
    """Traffic through /invocations; returns the prediction ids and the truth."""
    ids: list[str] = []
    labels: list[np.ndarray] = []
    with httpx.Client(base_url=serve.url, timeout=30) as http:
        for _ in range(REQUESTS):
            data = customers(rng, ROWS_PER_REQUEST, shifted=shifted)
            response = http.post("/invocations", json={
                "dataframe_split": {"columns": list(data.columns), "data": data.values.tolist()}})
            response.raise_for_status()
            ids += response.json()["prediction_ids"]
            labels.append(truth(data, shifted=shifted))
    return ids, np.concatenate(labels)


def test_shift_late_labels_alert_on_three_channels_and_resolve(
        system, webhook_receiver, smtp_server, alertmanager) -> None:
    rng, serve, server, reference, local = system
    spec = MonitorSpec(
        name="churn-prod", model_name="churn", deployment="prod", task="classification",
        channels=[{"type": "webhook", "url": webhook_receiver.url},
                  {"type": "email", "host": smtp_server.host, "port": smtp_server.port,
                   "sender": "dockyard@example.com", "recipients": ["oncall@example.com"]},
                  {"type": "alertmanager", "url": alertmanager.url}])
    monitor = create_monitor(local, spec, reference, target="churn", prediction="predicted")

    phases = {}
    for phase, shifted in (("before", False), ("shifted", True), ("after", False)):
        since = _now()
        ids, labels = send(rng, serve, shifted=shifted)
        time.sleep(0.3)  # the server stamps a prediction when it logs it, after answering
        phases[phase] = (since, _now(), ids, labels)
    expected = 3 * REQUESTS * ROWS_PER_REQUEST
    store = PredictionStore(local._artifact_root)
    wait_until(lambda: store.sql("SELECT count(*) AS n FROM predictions"
                                 ).column("n")[0].as_py() == expected, timeout=30)

    # the model server profiled what it logged, a minute at a time: a run over whole minutes
    # merges those profiles instead of profiling the rows again
    first = phases["before"][0] - phases["before"][0] % BUCKET_MS
    last = phases["after"][1] + BUCKET_MS - phases["after"][1] % BUCKET_MS
    merged = run_monitor(local, monitor, since=first, until=last, alert=False)
    assert merged.served_profiles == [(first, last)]
    assert merged.latest("rows").value == expected

    with httpx.Client(base_url=f"{server.url}/api/v1", timeout=60) as api:
        for since, until, ids, labels in phases.values():  # late labels: half of each phase
            half = len(ids) // 2
            report = api.post("/ground-truth", json={
                "prediction_ids": ids[:half], "labels": labels[:half].tolist()}).json()
            assert report["accepted"] == half and report["unknown_ids"] == []

        def run(phase: str) -> dict:
            since, until, _, _ = phases[phase]
            response = api.post(f"/monitors/{monitor.id}/run",
                                params={"since": since, "until": until})
            assert response.status_code == 200, response.text
            return response.json()

        quiet = run("before")
        assert [a for a in quiet["alerts"] if a["state"] == "firing"] == []
        assert webhook_receiver.requests == [] and smtp_server.messages == []

        shifted = run("shifted")
        values = {(v["metric"], v["feature"]): v["value"] for v in shifted["values"]
                  if not v["cohort"]}
        assert values[("drifted", "age")] == 1.0 and values[("drifted", "income")] == 0.0
        assert values[("label_coverage", "")] == pytest.approx(0.5)
        assert values[("accuracy", "")] < 0.5
        firing = {(a["rule"], a["feature"]) for a in shifted["alerts"] if a["state"] == "firing"}
        assert ("feature drift", "age") in firing and ("accuracy drop", "") in firing
        assert ("feature drift", "income") not in firing

        assert any("[FIRING]" in r.json()["text"] and "age" in r.json()["text"]
                   for r in webhook_receiver.requests)
        assert any(m.message["Subject"].startswith("[FIRING]") for m in smtp_server.messages)
        assert all(m.rcpt_tos == ["oncall@example.com"] for m in smtp_server.messages)
        active = wait_until(lambda: alertmanager.alerts(alertname="accuracy drop",
                                                        monitor="churn-prod"), timeout=10)
        assert active[0]["labels"]["severity"] == "critical"
        # held for three of the monitor's intervals unless a run sends it again
        ends = dt.datetime.fromisoformat(active[0]["endsAt"].replace("Z", "+00:00"))
        assert ends > dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10)
        assert active[0]["status"]["state"] == "active"

        overview = api.get("/monitoring/overview").json()
        assert overview["items"][0]["monitor"]["name"] == "churn-prod"

        after = run("after")
        assert [a for a in after["alerts"] if a["state"] == "firing"] == []
        assert {a["state"] for a in after["alerts"]} == {"resolved"}
        assert any("[RESOLVED]" in r.json()["text"] for r in webhook_receiver.requests)
        assert any(m.message["Subject"].startswith("[RESOLVED]") for m in smtp_server.messages)
        wait_until(lambda: not alertmanager.alerts(alertname="accuracy drop",
                                                   monitor="churn-prod"), timeout=10)


def _now() -> int:
    return int(time.time() * 1000)
