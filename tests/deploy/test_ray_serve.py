"""The Ray Serve target on a real one-node Ray cluster (loopback, 2 CPUs).

Deploy a scikit-learn model and compare the endpoint's predictions with the
package loaded in process; a canary at 30 % with a shadow; autoscaling from
one replica up under load and back down. The mapping of scaling settings onto
Ray Serve's autoscaler is checked without a cluster.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

import dockyard
from dockyard.client import Client
from dockyard.deploy import deployments as ops
from dockyard.deploy.deployments import DeploymentFailed
from dockyard.deploy.ray_serve import RayServeTarget, autoscaling_config
from dockyard.entities.deployment import DeploymentSpec, Resources, Route, Scaling
from dockyard.errors import InvalidArgument, MissingExtra, NotFound
from tests.deploy.ray_cluster import RayHead, Sleepy, ray_head
from tests.services.server import free_port

X, Y = load_iris(return_X_y=True)
SMALL = Resources(cpu="100m", memory="200Mi")  # several replicas fit on two cores
# The tests on a cluster are marked slow; Ray Serve's own modules use pydantic features that
# pydantic 2 deprecates, and warn when they are imported.
RAY_WARNINGS = "ignore::DeprecationWarning:ray.*"


# -- without a cluster ----------------------------------------------------------------------
def test_autoscaling_config_maps_scaling() -> None:
    config = autoscaling_config(Scaling(min_replicas=2, max_replicas=6, target_concurrency=4))
    assert config == {"min_replicas": 2, "max_replicas": 6, "initial_replicas": 2,
                      "target_ongoing_requests": 4.0, "upscale_delay_s": 10.0,
                      "downscale_delay_s": 300.0}
    # Scale to zero, but start with one replica: the deployment proves it loads.
    assert autoscaling_config(Scaling(min_replicas=0, max_replicas=2))["initial_replicas"] == 1
    fixed = autoscaling_config(Scaling(min_replicas=3, max_replicas=3))
    assert (fixed["min_replicas"], fixed["max_replicas"], fixed["initial_replicas"]) == (3, 3, 3)
    tuned = autoscaling_config(Scaling(max_replicas=4), {
        "upscale_delay_s": 1, "downscale_delay_s": 5, "look_back_period_s": 12,
        "initial_replicas": 2, "address": "ignored"})
    assert (tuned["upscale_delay_s"], tuned["downscale_delay_s"]) == (1.0, 5.0)
    assert (tuned["look_back_period_s"], tuned["initial_replicas"]) == (12.0, 2)
    with pytest.raises(InvalidArgument, match="upscale_delay_s is -1"):
        autoscaling_config(Scaling(), {"upscale_delay_s": -1})
    with pytest.raises(InvalidArgument, match="downscale_delay_s is 'soon'"):
        autoscaling_config(Scaling(), {"downscale_delay_s": "soon"})
    with pytest.raises(InvalidArgument, match="initial_replicas is 5; give 1 to 4"):
        autoscaling_config(Scaling(max_replicas=4), {"initial_replicas": 5})


def test_missing_ray_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    with (Client(f"sqlite:///{tmp_path}/record.db") as client,
          pytest.raises(MissingExtra, match=r"pip install 'dockyard\[ray\]'")):
        RayServeTarget(client, "ray://127.0.0.1:10001").status("churn")


# -- on a Ray cluster -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def cluster() -> Iterator[RayHead]:
    """A Ray head with Serve's HTTP proxy on a free loopback port; the driver is this process.

    The driver joins through the head's GCS address, as on a node of the cluster: lighter
    than Ray Client (``ray://``), whose per-driver server may not start in time on a busy
    machine.
    """
    with ray_head(num_cpus=2) as head, pytest.MonkeyPatch.context() as env:
        # Like the head, the driver keeps 127.0.0.1 (Ray reads this when first imported).
        env.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        import ray
        from ray import serve

        ray.init(address=head.address, log_to_driver=False)
        try:
            serve.start(http_options={"host": "127.0.0.1", "port": free_port()})
            yield head
        finally:
            serve.shutdown()  # else the head waits for Serve's actors when it stops
            ray.shutdown()


@pytest.fixture
def record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    monkeypatch.setenv("DOCKYARD_URI", f"sqlite:///{tmp_path}/record.db")
    monkeypatch.setenv("DOCKYARD_ARTIFACTS", str(tmp_path / "artifacts"))
    dockyard.set_tracking_uri(None)
    with Client() as client:
        yield client


def _register(model: Any, name: str) -> str:
    with dockyard.start_run():
        info = dockyard.log_model(model, "model", input_example=X[:5])
    return f"models:/{name}/{dockyard.register_model(info.uri, name).version}"


def _apply(client: Client, cluster: RayHead, routes: list[Route], *,
           config: dict[str, Any] | None = None, **fields: Any) -> str:
    """Record deployment ``iris`` (or its new revision) and apply it, as the CLI does."""
    fields.setdefault("resources", SMALL)
    spec = DeploymentSpec(name="iris", target="ray", routes=routes,
                          config={"address": cluster.address, **(config or {})}, **fields)
    return RayServeTarget(client, cluster.address).apply(ops.deploy(client, spec))


def _v2(rows: np.ndarray) -> dict[str, Any]:
    return {"inputs": [{"name": "input-0", "shape": list(rows.shape), "datatype": "FP64",
                        "data": rows.ravel().tolist()}]}


def _replica_stats(deployment: str) -> dict[str, Any]:
    from ray import serve

    return serve.get_deployment_handle(deployment, app_name="iris").stats.remote().result()


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.filterwarnings(RAY_WARNINGS)
def test_apply_serves_the_package(cluster: RayHead, record: Client) -> None:
    uri = _register(LogisticRegression(max_iter=500).fit(X, Y), "iris")
    target = RayServeTarget(record, cluster.address)
    url = _apply(record, cluster, [Route(model_name="iris", version="1")])
    try:
        assert url.startswith("http://127.0.0.1:") and url.endswith("/iris")
        deployment = record.store.get_deployment("iris")
        assert (deployment.status, deployment.endpoint) == ("healthy", url)
        assert deployment.observed_revision == deployment.revision == 1
        expected = record.load_model(uri).predict(X)

        with httpx.Client(timeout=30) as http:
            assert http.get(f"{url}/v2/health/ready").status_code == 200
            answer = http.post(f"{url}/v2/models/iris/infer", json=_v2(X))
            assert answer.status_code == 200, answer.text
            body = answer.json()
            assert (body["model_name"], body["model_version"]) == ("iris", "1")
            assert answer.headers["x-dockyard-version"] == "iris/1"
            np.testing.assert_array_equal(np.array(body["outputs"][0]["data"]), expected)

            answer = http.post(f"{url}/invocations", json={"inputs": X[:7].tolist()})
            assert answer.status_code == 200, answer.text
            assert answer.json()["predictions"] == expected[:7].tolist()

            wrong = http.post(f"{url}/v2/models/iris/infer", json=_v2(X[:, :3]))
            assert wrong.status_code == 422 and "error" in wrong.json()
            assert http.post(f"{url}/v2/models/other/infer", json=_v2(X)).status_code == 404
            metadata = http.get(f"{url}/v2/models/iris").json()
            assert metadata["name"] == "iris" and metadata["versions"] == ["1"]
            assert http.get(f"{url}/v2/models/iris/versions/1/ready").json()["ready"] is True
            assert http.get(f"{url}/v2/models/iris/versions/9/ready").status_code == 404

        status = target.status("iris")
        assert status["status"] == "RUNNING"
        assert status["deployments"]["iris-1"]["replicas"] == 1
        assert status["deployments"]["ingress"]["status"] == "HEALTHY"
    finally:
        target.stop("iris")
    with pytest.raises(NotFound, match="no application 'iris'"):
        target.status("iris")

    # A revision whose replicas cannot be placed fails, and says why; the next one recovers.
    try:
        with pytest.raises(DeploymentFailed, match="enough CPUs"):
            _apply(record, cluster, [Route(model_name="iris", version="1")],
                   resources=Resources(cpu="64"), config={"timeout_s": 5})
        deployment = record.store.get_deployment("iris")
        assert deployment.status == "failed" and deployment.observed_revision == 1
        assert "not running after 5 s" in deployment.message
        assert _apply(record, cluster, [Route(model_name="iris", version="1")]) == url
        assert record.store.get_deployment("iris").status == "healthy"
    finally:
        target.stop("iris")


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.filterwarnings(RAY_WARNINGS)
def test_canary_and_shadow(cluster: RayHead, record: Client) -> None:
    _register(LogisticRegression(max_iter=500).fit(X, Y), "iris")
    _register(DecisionTreeClassifier(max_depth=2, random_state=0).fit(X, Y), "iris")
    _register(LogisticRegression(C=0.01, max_iter=500).fit(X, Y), "iris")
    target = RayServeTarget(record, cluster.address)
    url = _apply(record, cluster, [Route(model_name="iris", version="1")])
    try:
        with httpx.Client(timeout=30) as http:
            for _ in range(5):
                assert http.post(f"{url}/v2/models/iris/infer", json=_v2(X[:2])).is_success
        url = _apply(record, cluster, [
            Route(model_name="iris", version="1", weight=70),
            Route(model_name="iris", version="2", weight=30, role="canary"),
            Route(model_name="iris", version="3", weight=0, role="shadow")])
        assert record.store.get_deployment("iris").observed_revision == 2
        # The stable version's replica kept running through the update: its count goes on.
        assert _replica_stats("iris-1")["requests"] >= 5

        def ask(requests: int) -> list[tuple[str, str]]:
            answers = []
            with httpx.Client(timeout=30) as http:
                for _ in range(requests):
                    answer = http.post(f"{url}/v2/models/iris/infer", json=_v2(X[:3]))
                    assert answer.status_code == 200, answer.text
                    answers.append((answer.json()["model_version"],
                                    answer.headers["x-dockyard-version"]))
            return answers

        with ThreadPoolExecutor(6) as pool:
            answers = [answer for part in pool.map(ask, [50] * 6) for answer in part]
        versions = Counter(version for version, _ in answers)
        assert set(versions) == {"1", "2"}  # the shadow never answers
        assert all(header == f"iris/{version}" for version, header in answers)
        assert 0.2 < versions["2"] / 300 < 0.4  # 30 %, give or take 3.8 standard deviations
        deadline = time.monotonic() + 20
        while _replica_stats("iris-3")["requests"] < 300 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _replica_stats("iris-3")["requests"] == 300  # a copy of every request
        # Each version answers on its own route too, the shadow included.
        answer = httpx.post(f"{url}/v2/models/iris/versions/3/infer", json=_v2(X[:3]))
        assert answer.json()["model_version"] == "3"
    finally:
        target.stop("iris")


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.filterwarnings(RAY_WARNINGS)
def test_replicas_follow_the_load(cluster: RayHead, record: Client) -> None:
    _register(Sleepy(0.05), "iris")
    target = RayServeTarget(record, cluster.address)
    scaling = Scaling(min_replicas=1, max_replicas=3, target_concurrency=2)
    url = _apply(record, cluster, [Route(model_name="iris", version="1")], scaling=scaling,
                 # Callers report their load every second over a 3 s window (10 s and 30 s
                 # by default), so the autoscaler sees the load come and go in time.
                 config={"upscale_delay_s": 1, "downscale_delay_s": 5, "metrics_interval_s": 1,
                         "look_back_period_s": 3, "max_batch_size": 1})

    def replicas() -> int:
        return int(target.status("iris")["deployments"]["iris-1"]["replicas"])

    stop, answered, failed = threading.Event(), Counter(), []

    def load() -> None:
        with httpx.Client(timeout=30) as http:
            while not stop.is_set():
                answer = http.post(f"{url}/v2/models/iris/infer", json=_v2(X[:1]))
                answered[answer.status_code] += 1
                if answer.status_code != 200:
                    failed.append(answer.text)

    threads = [threading.Thread(target=load, daemon=True) for _ in range(12)]
    try:
        assert replicas() == 1
        for thread in threads:
            thread.start()
        started, peak = time.monotonic(), 1
        while time.monotonic() - started < 20 and peak <= 1:
            time.sleep(0.5)
            peak = max(peak, replicas())
        scaled_up = time.monotonic() - started
        stop.set()
        for thread in threads:
            thread.join()
        assert peak > 1, f"still one replica after 20 s of load ({dict(answered)} answers)"
        assert not failed, failed[:3]

        quiet, now = time.monotonic(), replicas()
        while now > 1 and time.monotonic() - quiet < 60:
            time.sleep(0.5)
            now = replicas()
        assert now == 1, f"{now} replicas 60 s after the load stopped (up in {scaled_up:.1f} s)"
    finally:
        stop.set()
        target.stop("iris")
