"""``dockyard deploy`` for Kubernetes, ``dockyard loadtest`` and the CLI's errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import orjson
import pytest
import yaml
from sklearn.linear_model import LinearRegression
from typer.testing import CliRunner

import dockyard
from dockyard.cli.main import app
from dockyard.client import Client
from dockyard.deploy import deployments as ops
from dockyard.deploy.kubernetes import validate_manifests
from dockyard.deploy.loadtest import LoadResult, check_sla, v2_request
from dockyard.deploy.local import LocalTarget
from dockyard.entities.deployment import Sla
from tests.services.server import free_port

runner = CliRunner()


@pytest.fixture
def record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    """Model ``churn`` with versions 1 and 2 (linear regressions)."""
    monkeypatch.setenv("DOCKYARD_URI", f"sqlite:///{tmp_path}/record.db")
    X = np.random.default_rng(0).normal(size=(50, 3))
    for slope in (1.0, 2.0):
        with dockyard.start_run():
            info = dockyard.log_model(LinearRegression().fit(X, X.sum(axis=1) * slope), "model",
                                      input_example=X[:2])
        dockyard.register_model(info.uri, "churn")
    client = Client()
    yield client
    for deployment in client.store.list_deployments():
        LocalTarget(client).stop(deployment.name)
    client.close()


def _objects(folder: Path) -> list[dict]:
    return [doc for path in sorted(folder.glob("*.yaml"))
            for doc in yaml.safe_load_all(path.read_text()) if doc]


def test_kubernetes_dry_run_writes_valid_manifests_and_records_nothing(
        record: Client, tmp_path: Path) -> None:
    out = tmp_path / "k8s"
    result = runner.invoke(app, [
        "deploy", "models:/churn/1", "--name", "churn", "--target", "kubernetes", "--dry-run",
        "-o", str(out), "--storage-uri", "s3://models/{name}/{version}", "--min-replicas", "2",
        "--max-replicas", "5"])
    assert result.exit_code == 0, result.output
    assert "checked against the Kubernetes" in result.output
    assert "kubectl apply -f" in result.output
    objects = _objects(out)
    validate_manifests(objects)
    service = next(o for o in objects if o["kind"] == "InferenceService")
    predictor = service["spec"]["predictor"]
    assert (predictor["minReplicas"], predictor["maxReplicas"]) == (2, 5)
    assert predictor["model"]["storageUri"] == "s3://models/churn/1"
    assert record.store.list_deployments() == []


def test_kubernetes_deploy_records_it_and_renders_a_canary(record: Client,
                                                          tmp_path: Path) -> None:
    out = tmp_path / "k8s"
    common = ["--target", "kubernetes", "-o", str(out), "--storage-uri",
              "s3://models/{name}/{version}"]
    first = runner.invoke(app, ["deploy", "models:/churn/1", "--name", "churn", "--env", "prod",
                                *common])
    assert first.exit_code == 0, first.output
    deployment = record.store.get_deployment("churn")
    assert (deployment.target, deployment.status) == ("kubernetes", "pending")
    assert "kubectl" in deployment.message
    canary = runner.invoke(app, ["deploy", "models:/churn/2", "--name", "churn", "--canary",
                                 "10", *common])
    assert canary.exit_code == 0, canary.output
    assert record.store.get_deployment("churn").versions() == ["churn/1", "churn/2"]
    objects = _objects(out)
    validate_manifests(objects)
    predictor = next(o for o in objects if o["kind"] == "InferenceService")["spec"]["predictor"]
    assert predictor["canaryTrafficPercent"] == 10
    assert predictor["model"]["storageUri"] == "s3://models/churn/2"
    # Changes are rendered again for kubectl.
    promoted = runner.invoke(app, ["deploy", "promote", "churn"])
    assert promoted.exit_code == 0 and "dockyard deploy render churn" in promoted.output
    rendered = runner.invoke(app, ["deploy", "render", "churn", "-o", str(out),
                                   "--storage-uri", "s3://models/{name}/{version}"])
    assert rendered.exit_code == 0, rendered.output
    predictor = next(o for o in _objects(out) if o["kind"] == "InferenceService")["spec"][
        "predictor"]
    assert "canaryTrafficPercent" not in predictor
    assert predictor["model"]["storageUri"] == "s3://models/churn/2"
    plain = runner.invoke(app, ["deploy", "models:/churn/1", "--name", "churn", "--target",
                                "kubernetes", "--dry-run", "--kind", "plain", "-o",
                                str(tmp_path / "plain")])
    assert plain.exit_code == 0, plain.output
    kinds = sorted(o["kind"] for o in _objects(tmp_path / "plain"))
    assert kinds == ["Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Service"]


def test_kserve_needs_a_location_a_cluster_can_read(record: Client, tmp_path: Path) -> None:
    result = runner.invoke(app, ["deploy", "models:/churn/1", "--name", "churn", "--target",
                                 "kubernetes", "--dry-run", "-o", str(tmp_path / "k8s")])
    assert result.exit_code == 1
    assert "a cluster cannot read" in result.output and "--storage-uri" in result.output


@pytest.mark.parametrize(("args", "message"), [
    (["deploy", "models:/churn/1", "--name", "Churn!"], "deployment name"),
    (["deploy", "models:/churn/7", "--name", "churn"], "version 7"),
    (["deploy", "models:/churn/1", "--name", "churn", "--dry-run"], "--target kubernetes"),
    (["deploy", "models:/churn/1", "--name", "churn", "--target", "kubernetes"], "-o"),
    (["deploy", "models:/churn/1", "--name", "churn", "--steps", "50,10"], "steps"),
    (["deploy", "rollback", "nope"], "no deployment is named 'nope'"),
    (["deploy", "models:/churn/1", "--name", "churn", "--target", "ray"], "address"),
    (["deploy", "models:/churn/1", "--name", "churn", "--target", "kubernetes", "-o", "k8s",
      "--kind", "helm"], "kserve, plain"),
    (["deploy", "models:/churn/1", "--name", "churn", "--monitor-reference", "nope.parquet"],
     "does not exist"),
    (["deploy", "render", "nope", "-o", "k8s"], "no deployment is named 'nope'"),
    (["loadtest", "--url", "127.0.0.1:8080/infer", "--data", "x.json"], "not an http"),
    (["loadtest", "churn", "--duration", "soon"], "not a duration"),
    (["loadtest"], "name a deployment"),
])
def test_bad_input_is_refused_clearly(record: Client, args: list[str], message: str,
                                      tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.json").write_text("{}")
    result = runner.invoke(app, args)
    assert result.exit_code != 0
    assert message in " ".join(result.output.split()), result.output
    assert record.store.list_deployments() == []  # nothing was written


def test_loadtest_reports_and_checks_the_sla(record: Client) -> None:
    port = free_port()
    result = runner.invoke(app, ["deploy", "models:/churn/1", "--name", "churn", "--port",
                                 str(port), "--sla-p99-ms", "5000", "--wait"])
    assert result.exit_code == 0, result.output
    held = runner.invoke(app, ["loadtest", "churn", "--duration", "2s", "--concurrency", "4",
                               "--json"])
    assert held.exit_code == 0, held.output
    report = orjson.loads(held.stdout)
    assert report["requests"] > 0 and report["errors"] == 0 and report["sla_holds"]
    assert 0 < report["p50_ms"] <= report["p95_ms"] <= report["p99_ms"]
    assert report["throughput"] == pytest.approx(report["requests"] / report["seconds"])
    broken = runner.invoke(app, ["loadtest", "churn", "--duration", "1s", "--concurrency", "2",
                                 "--sla-min-throughput", "1000000"])
    assert broken.exit_code == 1
    assert "SLA broken: throughput" in " ".join(broken.output.split())
    ops.wait_until_ready(record, "churn")


def test_sla_checks_and_request_bodies() -> None:
    result = LoadResult(requests=100, errors=2, seconds=2.0, throughput=50.0, p50_ms=5.0,
                        p95_ms=9.0, p99_ms=30.0)
    assert check_sla(result, Sla()) == ["2 of 100 requests failed (2.0%, more than 1%)"]
    assert check_sla(result, Sla(p99_ms=40), max_error_rate=0.05) == []
    assert check_sla(result, Sla(p99_ms=20, min_throughput=60), max_error_rate=0.05) == [
        "p99 latency 30.0 ms is over the SLA's 20 ms",
        "throughput 50.0 requests/s is under the SLA's 60"]
    import pandas as pd

    body = v2_request(pd.DataFrame({"x": [1.5, 2.0], "city": ["Oslo", "Lima"]}))
    assert body == {"inputs": [
        {"name": "x", "shape": [2], "datatype": "FP64", "data": [1.5, 2.0]},
        {"name": "city", "shape": [2], "datatype": "BYTES", "data": ["Oslo", "Lima"]}]}
    assert v2_request(np.ones((2, 3), dtype=np.int64))["inputs"][0]["shape"] == [2, 3]


def test_deploy_can_set_up_a_monitor(record: Client, tmp_path: Path) -> None:
    import pandas as pd

    reference = tmp_path / "reference.parquet"
    frame = pd.DataFrame(np.random.default_rng(1).normal(size=(200, 3)), columns=["a", "b", "c"])
    frame.to_parquet(reference)
    args = ["deploy", "models:/churn/1", "--name", "churn", "--target", "kubernetes", "-o",
            str(tmp_path / "k8s"), "--storage-uri", "s3://m/{name}/{version}",
            "--monitor-reference", str(reference)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    monitor = record.get_monitor_by_name("churn")
    assert (monitor.model_name, monitor.deployment) == ("churn", "churn")
    assert monitor.reference and monitor.rules
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and "exists already" in again.output
