"""The fluent API, embedded and against a live server: same code, same results."""

from __future__ import annotations

from pathlib import Path

import pytest

import dockyard
from dockyard.errors import Conflict, InvalidArgument, InvalidState
from tests.services.server import ServerProcess


@pytest.fixture(params=["embedded", "server"])
def tracking(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "server":
        server: ServerProcess = request.getfixturevalue("dockyard_server")
        monkeypatch.setenv("DOCKYARD_URI", server.url)
    dockyard.set_tracking_uri(None)
    return request.param


def _workflow(tmp_path: Path, experiment: str) -> str:
    dockyard.set_experiment(experiment)
    artifact = tmp_path / "confusion.txt"
    artifact.write_text("tp=5 fp=1\n")
    with dockyard.start_run(name="rf-baseline") as run:
        dockyard.log_params({"n_estimators": 200, "max_depth": 8})
        for epoch in range(100):
            dockyard.log_metric("loss", 1.0 / (epoch + 1), step=epoch)
        dockyard.log_metric("auc", 0.91)
        dockyard.set_tags({"team": "growth"})
        dockyard.log_artifact(artifact)
    with dockyard.start_run(name="shallow"):
        dockyard.log_params({"n_estimators": 50, "max_depth": 2})
        dockyard.log_metric("auc", 0.7)
    return run.id


def test_quickstart_workflow(tracking: str, tmp_path: Path) -> None:
    name = f"churn-{tmp_path.name}"
    run_id = _workflow(tmp_path, name)
    best = dockyard.search_runs(
        name,
        filter="metrics.auc > 0.8 and (params.max_depth = '8' or tags.team = 'growth')",
        order_by=["metrics.auc DESC"],
    )
    assert [r.id for r in best] == [run_id]
    run = best[0]
    assert run.status == dockyard.RunStatus.FINISHED and run.end_time is not None
    assert run.params == {"n_estimators": "200", "max_depth": "8"}
    assert run.metrics["loss"].step == 99 and run.metrics["auc"].value == 0.91
    assert run.tags["team"] == "growth"
    assert run.python_version and run.user and run.entry_point
    client = dockyard.Client()
    assert [f.path for f in client.list_artifacts(run_id)] == ["confusion.txt"]
    history = client.get_metric_history(run_id, "loss")
    assert history.steps == list(range(100))
    assert history.values[0] == 1.0


def test_failing_block_marks_run_failed(tracking: str, tmp_path: Path) -> None:
    dockyard.set_experiment(f"fail-{tmp_path.name}")
    with pytest.raises(ZeroDivisionError):
        with dockyard.start_run() as run:
            dockyard.log_metric("x", 1.0)
            1 / 0
    got = dockyard.get_run(run.id)
    assert got.status == dockyard.RunStatus.FAILED
    assert got.metrics["x"].value == 1.0


def test_nested_runs_and_steps_count_up(tracking: str, tmp_path: Path) -> None:
    dockyard.set_experiment(f"nested-{tmp_path.name}")
    with dockyard.start_run(name="parent") as parent:
        with pytest.raises(InvalidState):
            dockyard.start_run()
        with dockyard.start_run(name="child", nested=True) as child:
            dockyard.log_metric("m", 1.0)
            dockyard.log_metric("m", 2.0)
        assert dockyard.active_run().id == parent.id
    assert dockyard.get_run(child.id).parent_id == parent.id
    assert dockyard.Client().get_metric_history(child.id, "m").steps == [0, 1]


def test_bad_values_fail_at_the_call(tracking: str, tmp_path: Path) -> None:
    dockyard.set_experiment(f"bad-{tmp_path.name}")
    with dockyard.start_run() as run:
        dockyard.log_param("lr", 0.1)
        dockyard.log_param("lr", 0.1)  # the same value again is fine
        with pytest.raises(Conflict, match="lr"):
            dockyard.log_param("lr", 0.2)
        with pytest.raises(InvalidArgument, match="not finite"):
            dockyard.log_metric("loss", float("nan"))
        with pytest.raises(InvalidArgument, match="not finite"):
            dockyard.log_metric("loss", float("inf"))
        with pytest.raises(InvalidArgument, match="characters"):
            dockyard.log_metric("bad key!", 1.0)
        with pytest.raises(InvalidArgument, match="limit"):
            dockyard.log_param("long", "x" * 6001)
        with pytest.raises(InvalidArgument, match="escapes"):
            dockyard.Client().log_artifact(run.id, __file__, "../outside")
    got = dockyard.get_run(run.id)
    assert got.params == {"lr": "0.1"} and got.metrics == {}


def test_no_active_run_is_a_clear_error(tracking: str) -> None:
    with pytest.raises(InvalidState, match="start_run"):
        dockyard.log_metric("x", 1.0)


def test_flush_makes_points_visible_to_other_clients(tracking: str, tmp_path: Path) -> None:
    dockyard.set_experiment(f"flush-{tmp_path.name}")
    with dockyard.start_run() as run:
        for i in range(2500):
            dockyard.log_metric("m", float(i), step=i)
        dockyard.flush()
        other = dockyard.Client()  # a separate connection sees it all
        assert len(other.get_metric_history(run.id, "m")) == 2500
        assert other.get_run(run.id).status == dockyard.RunStatus.RUNNING
