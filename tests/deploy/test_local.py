"""The local target end to end: real supervisor, router and model server processes.

Deploy, update under steady load with no failed request, a canary rolled back
by itself when the new version errors, a canary promoted step by step, a
shadow, rollback by command, and a model server restarted after it dies.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from typer.testing import CliRunner

import dockyard
from dockyard.cli.main import app
from dockyard.client import Client
from dockyard.deploy import deployments as ops
from dockyard.deploy.local import LocalTarget, judge_canary, next_step, supervisor_pid
from dockyard.deploy.router import Stats
from dockyard.entities.deployment import DeploymentSpec, Rollout, Route
from dockyard.errors import InvalidState
from tests.deploy._models import Broken, Scaled, Unready
from tests.services.server import free_port

pytestmark = pytest.mark.timeout(240)
ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = np.array([[0.5, 1.0, 2.0]])


@pytest.fixture
def record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    """A store with model ``churn``: versions 1 (x1), 2 (x2), 3 (broken), 4 (x4) and 5 (never
    ready)."""
    monkeypatch.setenv("DOCKYARD_URI", f"sqlite:///{tmp_path}/record.db")
    monkeypatch.setenv("DOCKYARD_ARTIFACTS", str(tmp_path / "artifacts"))
    # The model servers import the test models by reference.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [
        str(ROOT), os.environ.get("PYTHONPATH")])))
    for model in (Scaled(1.0), Scaled(2.0), Broken(), Scaled(4.0), Unready()):
        with dockyard.start_run():
            info = dockyard.log_model(model, "model", input_example=EXAMPLE)
        dockyard.register_model(info.uri, "churn")
    monkeypatch.setenv("DOCKYARD_TEST_UNREADY", "1")  # version 5's servers fail to load it
    client = Client()
    yield client
    for deployment in client.store.list_deployments():
        LocalTarget(client).stop(deployment.name)
    client.close()


def _deploy(client: Client, version: str = "1", **fields: object) -> str:
    spec = DeploymentSpec(name="churn", routes=[Route(model_name="churn", version=version)],
                          config={"port": free_port()}, **fields)
    deployment = ops.deploy(client, spec)
    LocalTarget(client).apply(deployment)
    return ops.wait_until_ready(client, "churn", timeout=120).endpoint or ""


class Load:
    """Steady traffic from a few threads; every answer's status and version is kept."""

    def __init__(self, endpoint: str, threads: int = 4) -> None:
        self.url = f"{endpoint}/v2/models/churn/infer"
        self.answers: list[tuple[int, str, float]] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _run(self) -> None:
        body = {"inputs": [{"name": "input-0", "shape": [1, 3], "datatype": "FP64",
                            "data": [1.0, 2.0, 3.0]}]}
        with httpx.Client(timeout=30) as http:
            while not self._stop.is_set():
                try:
                    r = http.post(self.url, json=body)
                except httpx.HTTPError as exc:
                    self.failures.append(f"{type(exc).__name__}: {exc}")
                    continue
                value = r.json()["outputs"][0]["data"][0] if r.status_code == 200 else np.nan
                self.answers.append((r.status_code, r.headers.get("x-dockyard-version", ""),
                                     value))

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def wait_for(self, n: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        start = len(self.answers)
        while len(self.answers) < start + n:
            assert time.monotonic() < deadline, "the load got no answers"
            time.sleep(0.05)


def _until(check: Callable[[], object], timeout: float = 60, what: str = "") -> object:
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
    return result


def test_update_canary_rollback_end_to_end(record: Client) -> None:
    endpoint = _deploy(record, rollout=Rollout(steps=[50, 100], interval_seconds=60,
                                               min_requests=10))
    with Load(endpoint) as load:
        load.wait_for(20)
        # 1. Update under steady load: start v2, switch, drain v1; nothing fails.
        ops.update(record, "churn", "models:/churn/2")
        ops.wait_until_ready(record, "churn", timeout=120)
        load.wait_for(50)
        assert not load.failures
        assert {status for status, _, _ in load.answers} == {200}
        versions = [v for _, v, _ in load.answers]
        assert versions[0] == "churn/1" and versions[-1] == "churn/2"
        assert all(value in (6.0, 12.0) for _, _, value in load.answers)
        # 2. A broken canary is rolled back by itself.
        before = len(load.answers)
        ops.canary(record, "churn", "models:/churn/3", 50)
        _until(lambda: record.store.get_deployment("churn").revision == 4, 90,
               "the automatic rollback")
        ops.wait_until_ready(record, "churn", timeout=60)
        load.wait_for(30)
    during = load.answers[before:]
    failed = [v for status, v, _ in during if status != 200]
    assert failed and set(failed) == {"churn/3"}, "only the canary failed"
    tail = load.answers[-20:]
    assert {(status, v) for status, v, _ in tail} == {(200, "churn/2")}
    history = record.store.get_deployment_history("churn")
    rollback = next(e for e in history if e.action == "rollback")
    assert rollback.message.startswith("automatic rollback: canary error rate")
    assert rollback.after == {"routes": [Route(model_name="churn", version="2").model_dump()]}
    # 3. Rollback by command (the CLI) returns to the version before v2: v1.
    runner = CliRunner()
    result = runner.invoke(app, ["deploy", "rollback", "churn", "--wait", "--timeout", "120"])
    assert result.exit_code == 0, result.output
    assert record.store.get_deployment("churn").versions() == ["churn/1"]
    assert _infer(endpoint) == ("churn/1", 3.0)
    # Rolling back again undoes the rollback.
    result = runner.invoke(app, ["deploy", "rollback", "churn", "--wait", "--timeout", "120"])
    assert result.exit_code == 0, result.output
    assert _infer(endpoint) == ("churn/2", 6.0)


def _infer(endpoint: str) -> tuple[str, float]:
    r = httpx.post(f"{endpoint}/v2/models/churn/infer", json={"inputs": [
        {"name": "input-0", "shape": [1, 3], "datatype": "FP64", "data": [1.0, 1.0, 1.0]}]})
    assert r.status_code == 200, r.text
    return r.headers["x-dockyard-version"], r.json()["outputs"][0]["data"][0]


def test_canary_steps_forward_and_is_promoted(record: Client) -> None:
    endpoint = _deploy(record, rollout=Rollout(steps=[20, 60, 100], interval_seconds=1,
                                               min_requests=5))
    with Load(endpoint, threads=3):
        ops.canary(record, "churn", "models:/churn/4")
        ops.wait_until_ready(record, "churn", timeout=120)
        pinned = httpx.post(f"{endpoint}/v2/models/churn/versions/4/infer", json={"inputs": [
            {"name": "input-0", "shape": [1, 3], "datatype": "FP64", "data": [1.0, 1.0, 1.0]}]})
        assert pinned.headers["x-dockyard-version"] == "churn/4"
        assert pinned.json()["outputs"][0]["data"] == [12.0]
        _until(lambda: [r.version for r in record.store.get_deployment("churn").routes] == ["4"],
               90, "the promotion")
    history = record.store.get_deployment_history("churn", 100)
    changes = [(e.action, [(r["version"], r["weight"]) for r in e.after["routes"]])
               for e in reversed(history) if e.after and "routes" in e.after]
    assert changes == [
        ("create", [("1", 100)]),
        ("canary", [("1", 80), ("4", 20)]),
        ("canary", [("1", 40), ("4", 60)]),
        ("promote", [("4", 100)]),
    ]
    assert "canary step to 60%" in next(e.message for e in history if e.revision == 3
                                        and e.action == "canary")


def test_shadow_gets_a_copy_and_never_answers(record: Client) -> None:
    endpoint = _deploy(record)
    ops.shadow(record, "churn", "models:/churn/2")
    ops.wait_until_ready(record, "churn", timeout=120)
    with Load(endpoint, threads=2) as load:
        load.wait_for(40)
    assert {(s, v) for s, v, _ in load.answers} == {(200, "churn/1")}

    def shadowed() -> float:  # the copies go out after the answers: they may still be due
        metrics = httpx.get(f"{endpoint}/metrics").text
        counts = [float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                  if line.startswith("dockyard_deployment_requests_total")
                  and 'role="shadow"' in line]
        return counts[0] if counts else 0.0

    deadline = time.monotonic() + 20
    while shadowed() < 30 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert shadowed() >= 30
    # Promoting the shadow makes it the stable version.
    ops.promote(record, "churn")
    ops.wait_until_ready(record, "churn", timeout=60)
    assert _infer(endpoint) == ("churn/2", 6.0)


def test_a_dead_model_server_is_restarted(record: Client) -> None:
    endpoint = _deploy(record)
    # A revision that cannot start fails; the old version keeps serving ...
    ops.update(record, "churn", "models:/churn/5")
    with pytest.raises(ops.DeploymentFailed, match="revision 2: the server of churn/5 exited"):
        ops.wait_until_ready(record, "churn", timeout=120)
    assert _infer(endpoint) == ("churn/1", 3.0)
    # ... and is still supervised: its server is restarted when it dies.
    supervisor = supervisor_pid("churn")
    assert supervisor is not None
    children = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
    assert len(children) == 1
    os.kill(int(children[0]), signal.SIGKILL)
    _until(lambda: record.store.get_deployment("churn").status == "degraded", 30, "degraded")
    _until(lambda: record.store.get_deployment("churn").status == "healthy", 120, "healthy")
    assert _infer(endpoint) == ("churn/1", 3.0)
    events = [e.message for e in record.store.get_deployment_history("churn")]
    assert any("exited (-9); restarting it" in m for m in events)
    # A new revision after a failure is waited for, not failed at once.
    ops.update(record, "churn", "models:/churn/2")
    assert ops.wait_until_ready(record, "churn", timeout=120).versions() == ["churn/2"]
    assert _infer(endpoint) == ("churn/2", 6.0)


def test_one_supervisor_per_deployment(record: Client) -> None:
    spec = DeploymentSpec(name="churn", routes=[Route(model_name="churn", version="1")],
                          config={"port": free_port()})
    deployment = ops.deploy(record, spec)
    target = LocalTarget(record)
    first, second = target.apply(deployment), target.apply(deployment)  # before either is up
    assert first != second
    ops.wait_until_ready(record, "churn", timeout=120)
    winner = supervisor_pid("churn")
    assert winner in (first, second)
    loser = second if winner == first else first

    def gone() -> bool:
        try:
            os.kill(loser, 0)
        except ProcessLookupError:
            return True
        return False

    _until(gone, 30, "the second supervisor to leave")
    time.sleep(0.5)
    assert record.store.get_deployment("churn").status == "healthy"


def test_cli_deploy_wait_and_inventory(record: Client) -> None:
    runner = CliRunner()
    port = str(free_port())
    result = runner.invoke(app, ["deploy", "models:/churn/1", "--name", "churn", "--env",
                                 "staging", "--port", port, "--sla-p99-ms", "250", "--wait"])
    assert result.exit_code == 0, result.output
    assert f"healthy at http://127.0.0.1:{port}" in result.output
    # Running the same command again changes nothing.
    again = runner.invoke(app, ["deploy", "models:/churn/1", "--name", "churn", "--env",
                                "staging", "--port", port, "--sla-p99-ms", "250"])
    assert again.exit_code == 0 and record.store.get_deployment("churn").revision == 1
    listed = runner.invoke(app, ["deployments", "list", "--json"])
    assert '"name": "churn"' in listed.output and '"environment": "staging"' in listed.output
    # A version that cannot start fails the revision; --wait exits 1 and v1 keeps serving.
    missing = runner.invoke(app, ["deploy", "update", "churn", "models:/churn/9", "--wait"])
    assert missing.exit_code == 1 and "version 9" in missing.output
    status = runner.invoke(app, ["deploy", "status", "churn"])
    assert "churn/1" in status.output or "1" in status.output
    stopped = runner.invoke(app, ["deploy", "stop", "churn"])
    assert stopped.exit_code == 0 and supervisor_pid("churn") is None
    assert record.store.get_deployment("churn").status == "stopped"


def test_canary_rules() -> None:
    rollout = Rollout(min_requests=10, max_error_rate_increase=0.05, max_p99_ratio=2.0,
                      max_p90_ratio=None, latency_floor_ms=5)
    fine = Stats(100, 0, 10.0, 20.0)
    assert judge_canary(rollout, fine, Stats(9, 9, 1.0, 1.0)) is None  # too few to judge
    assert "error rate 50.0%" in judge_canary(rollout, fine, Stats(10, 5, 10.0, 20.0))
    assert judge_canary(rollout, Stats(100, 10, 10, 20), Stats(10, 1, 10.0, 20.0)) is None
    fine = Stats(1000, 0, 10.0, 20.0)
    assert judge_canary(rollout, fine, Stats(999, 0, 10.0, 41.0)) is None  # p99 needs 1,000
    assert "p99 latency 41.0 ms" in judge_canary(rollout, fine, Stats(1000, 0, 10.0, 41.0))
    assert judge_canary(rollout, Stats(1000, 0, 1.0, 1.0), Stats(1000, 0, 4.0, 4.9)) is None
    p90 = rollout.model_copy(update={"max_p90_ratio": 1.5})
    assert "p90 latency 16.0 ms" in judge_canary(p90, fine, Stats(100, 0, 16.0, 20.0))
    assert judge_canary(p90, fine, Stats(99, 0, 16.0, 20.0)) is None
    assert next_step(Rollout(steps=[10, 50, 100]), 10) == 50
    assert next_step(Rollout(steps=[10, 50, 100]), 50) == 100


def test_changes_that_make_no_sense_are_refused(record: Client) -> None:
    spec = DeploymentSpec(name="churn", routes=[Route(model_name="churn", version="1")])
    ops.deploy(record, spec)
    with pytest.raises(InvalidState, match="nothing to roll back to"):
        ops.rollback(record, "churn")
    with pytest.raises(InvalidState, match="no canary or shadow"):
        ops.promote(record, "churn")
    with pytest.raises(dockyard.DockyardError, match="already the stable version"):
        ops.canary(record, "churn", "models:/churn/1", 10)
    with pytest.raises(dockyard.DockyardError, match="give 1 to 99"):
        ops.canary(record, "churn", "models:/churn/2", 100)
    run_id = record.resolve_model_uri("models:/churn/1").run_id
    with pytest.raises(dockyard.DockyardError, match="not a registered model version"):
        ops.update(record, "churn", f"runs:/{run_id}/model")
    assert Counter(e.action for e in record.store.get_deployment_history("churn")) == {
        "create": 1}
