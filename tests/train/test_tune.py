"""dockyard.tune: Optuna studies recorded as a run with one child run per trial."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import optuna
import pytest

import dockyard
from dockyard.errors import InvalidArgument
from dockyard.train.tune import report, trial_run_id


def _children(parent_id: str, experiment: str) -> list[dockyard.Run]:
    return dockyard.search_runs(experiment, filter=f"parent_id = '{parent_id}'")


def test_a_declarative_space_tunes_a_model_and_records_every_trial() -> None:
    from sklearn.datasets import make_regression
    from sklearn.linear_model import Ridge
    from sklearn.metrics import mean_squared_error
    from sklearn.model_selection import train_test_split

    X, y = make_regression(n_samples=200, n_features=8, noise=10.0, random_state=0)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)

    def objective(params: dict[str, Any], trial: optuna.Trial) -> float:
        model = Ridge(alpha=params["alpha"], fit_intercept=params["fit_intercept"])
        model.fit(X_train, y_train)
        return float(mean_squared_error(y_test, model.predict(X_test)))

    dockyard.set_experiment("ridge")
    space = {"alpha": ("log_float", 1e-3, 100.0), "fit_intercept": [True, False]}
    result = dockyard.tune(objective, space, n_trials=8, seed=0, study_name="ridge-study")

    parent = dockyard.get_run(result.run_id)
    assert parent.name == "ridge-study" and parent.status == dockyard.RunStatus.FINISHED
    assert parent.tags["dockyard.study"] == "ridge-study"
    assert parent.tags["dockyard.study.direction"] == "minimize"
    assert parent.tags["dockyard.study.n_trials"] == "8"
    assert "alpha" in parent.tags["dockyard.study.space"]
    children = _children(parent.id, "ridge")
    assert sorted(r.name for r in children) == sorted(f"trial-{i}" for i in range(8))
    for run in children:
        assert run.status == dockyard.RunStatus.FINISHED
        assert set(run.params) == {"alpha", "fit_intercept"}
        assert run.tags["dockyard.study"] == "ridge-study"
        assert run.tags["dockyard.trial_state"] == "complete"
        assert run.tags["dockyard.trial"] == run.name.removeprefix("trial-")
    values = {r.id: r.metrics["objective"].value for r in children}
    assert result.best_value == min(values.values())
    assert values[result.best_run_id] == result.best_value
    best = [r for r in children if r.tags.get("dockyard.best_trial") == "true"]
    assert [r.id for r in best] == [result.best_run_id]
    assert parent.tags["dockyard.best_trial_run"] == result.best_run_id
    assert parent.metrics["best_value"].value == result.best_value
    assert parent.params["best_alpha"] == str(result.best_params["alpha"])
    assert parent.params["best_fit_intercept"] == str(result.best_params["fit_intercept"])
    assert dockyard.active_run() is None


def test_the_trial_form_inside_an_active_run_with_threads() -> None:
    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", -5.0, 5.0)
        n = trial.suggest_int("n", 1, 3)
        return (x - 1.0) ** 2 + n

    dockyard.set_experiment("quadratic")
    with dockyard.start_run(name="outer") as outer:
        result = dockyard.tune(objective, n_trials=12, n_jobs=4, direction="minimize",
                               sampler="random", seed=1, metric="loss")
        assert dockyard.active_run() is not None and dockyard.active_run().id == outer.id
    assert result.run_id == outer.id
    children = _children(outer.id, "quadratic")
    assert len(children) == 12
    by_id = {r.id: r for r in children}
    # each thread logged into its own run: the params and value match the trial's
    for trial in result.study.trials:
        run = by_id[trial_run_id(trial)]
        assert run.parent_id == outer.id and run.name == f"trial-{trial.number}"
        assert run.params == {"x": str(trial.params["x"]), "n": str(trial.params["n"])}
        assert run.metrics["loss"].value == trial.value
    assert dockyard.get_run(outer.id).status == dockyard.RunStatus.FINISHED


def test_pruned_trials_are_tagged_and_keep_their_curve() -> None:
    def objective(params: dict[str, Any], trial: optuna.Trial) -> float:
        bad = trial.number >= 3 and trial.number % 2 == 1
        value = 0.0
        for step in range(5):
            value = 10.0 + step if bad else 1.0 / (step + 1)
            report(trial, value, step)
        return value

    dockyard.set_experiment("pruning")
    pruner = optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1)
    result = dockyard.tune(objective, {"x": ("float", 0.0, 1.0)}, n_trials=8, pruner=pruner,
                           sampler="random", seed=0)
    states = {t.number: t.state for t in result.study.trials}
    pruned = [n for n, s in states.items() if s == optuna.trial.TrialState.PRUNED]
    assert pruned == [3, 5, 7]
    client = dockyard.Client()
    for run in _children(result.run_id, "pruning"):
        number = int(run.tags["dockyard.trial"])
        history = client.get_metric_history(run.id, "objective")
        if number in pruned:
            assert run.tags["dockyard.trial_state"] == "pruned"
            assert run.status == dockyard.RunStatus.FINISHED
            assert history.steps == [0, 1] and history.values == [10.0, 11.0]
        else:
            assert run.tags["dockyard.trial_state"] == "complete"
            assert history.steps[:5] == [0, 1, 2, 3, 4]
            assert run.metrics["objective"].value == pytest.approx(0.2)


def test_a_failing_trial_fails_its_run_and_the_study_goes_on() -> None:
    def objective(params: dict[str, Any], trial: optuna.Trial) -> float:
        if trial.number == 1:
            raise ValueError("diverged")
        return params["k"] * 2.0

    dockyard.set_experiment("failing")
    result = dockyard.tune(objective, {"k": ("int", 1, 4)}, n_trials=4, direction="maximize")
    runs = {int(r.tags["dockyard.trial"]): r for r in _children(result.run_id, "failing")}
    assert sorted(runs) == [0, 1, 2, 3]
    assert runs[1].status == dockyard.RunStatus.FAILED
    assert runs[1].tags["dockyard.trial_state"] == "failed"
    assert runs[1].tags["dockyard.error"] == "ValueError: diverged"
    assert "objective" not in runs[1].metrics
    assert all(runs[n].status == dockyard.RunStatus.FINISHED for n in (0, 2, 3))
    assert result.best_value == max(runs[n].metrics["objective"].value for n in (0, 2, 3))
    assert dockyard.get_run(result.run_id).status == dockyard.RunStatus.FINISHED


@pytest.mark.parametrize(("space", "options", "message"), [
    ({"x": ("uniform", 0, 1)}, {}, "unknown kind 'uniform'"),
    ({"x": ("float", 2.0, 1.0)}, {}, "low (2.0) is greater than high (1.0)"),
    ({"x": ("log_float", 0.0, 1.0)}, {}, "a log scale needs low > 0"),
    ({"x": ("int", 1, 2.5)}, {}, "high must be an integer"),
    ({"x": []}, {}, "non-empty list of choices"),
    ({"x": 3}, {}, "expected a tuple"),
    ({}, {}, "non-empty dict"),
    ({"x": ("float", 0.0, 1.0)}, {"sampler": "bayes"}, "unknown sampler 'bayes'"),
    ({"x": ("float", 0.0, 1.0)}, {"pruner": "early"}, "unknown pruner 'early'"),
    ({"x": ("float", 0.0, 1.0)}, {"n_trials": 0}, "n_trials must be a positive integer"),
    ({"x": ("float", 0.0, 1.0)}, {"n_trials": None}, "give n_trials or timeout"),
    ({"x": ("float", 0.0, 1.0)}, {"direction": "down"}, "direction must be 'minimize'"),
    ({"x": ("float", 0.0, 1.0)}, {"storage": "sqlite:///x.db"}, "needs a study_name"),
])
def test_bad_input_is_refused_before_any_run(space: dict[str, Any], options: dict[str, Any],
                                             message: str) -> None:
    dockyard.set_experiment("bad")
    kwargs: dict[str, Any] = {"n_trials": 2, **options}
    with pytest.raises(InvalidArgument) as info:
        dockyard.tune(lambda params, trial: 0.0, space, **kwargs)
    assert message in str(info.value)
    assert dockyard.search_runs("bad") == []


_WORKER = """
import sys
import dockyard

def objective(params, trial):
    return (params["x"] - 2.0) ** 2 + params["depth"]

dockyard.set_experiment("distributed")
result = dockyard.tune(objective, {"x": ("float", -10.0, 10.0), "depth": ("int", 1, 4)},
                       n_trials=5, storage=sys.argv[1], study_name="shared", sampler="random")
print(result.run_id)
"""


@pytest.mark.postgres
def test_two_worker_processes_share_one_study_in_postgres(tmp_path: Path,
                                                          postgres_uri: str) -> None:
    script = tmp_path / "worker.py"
    script.write_text(_WORKER)
    env = {**os.environ, "DOCKYARD_URI": f"sqlite:///{tmp_path / 'dockyard.db'}",
           "DOCKYARD_HOME": str(tmp_path / "home"), "DOCKYARD_LOG_SOURCE": "false",
           "DOCKYARD_SYSTEM_METRICS": "false"}
    workers = [subprocess.Popen([sys.executable, str(script), postgres_uri], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for _ in range(2)]
    outputs = [w.communicate(timeout=240) for w in workers]
    for worker, (out, err) in zip(workers, outputs):
        assert worker.returncode == 0, err
    parents = {out.split()[-1] for out, _ in outputs}
    assert len(parents) == 2

    storage = optuna.storages.RDBStorage(postgres_uri.replace("postgresql://",
                                                              "postgresql+psycopg://"))
    try:
        study = optuna.load_study(study_name="shared", storage=storage)
        trials_in_storage = study.trials
        best_trial = study.best_trial
    finally:
        storage.engine.dispose()
    assert sorted(t.number for t in trials_in_storage) == list(range(10))
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials_in_storage)

    dockyard.set_tracking_uri(env["DOCKYARD_URI"])
    runs = dockyard.search_runs("distributed")
    trials = [r for r in runs if r.parent_id is not None]
    assert {r.id for r in runs if r.parent_id is None} == parents
    assert len(trials) == 10 and {r.parent_id for r in trials} == parents
    assert sorted(int(r.tags["dockyard.trial"]) for r in trials) == list(range(10))
    assert all(r.tags["dockyard.study"] == "shared" for r in runs)
    # each worker tags the best of its own trials; its study run names the study's best as
    # the storage held it when the worker finished (the last worker's is the final best)
    best_run_id = best_trial.user_attrs["dockyard.run_id"]
    for parent_id in parents:
        own = [r for r in trials if r.parent_id == parent_id]
        tagged = [r for r in own if r.tags.get("dockyard.best_trial") == "true"]
        assert [r.id for r in tagged] == [min(own, key=lambda r: r.metrics["objective"].value).id]
    by_parent = {r.id: r for r in runs if r.id in parents}
    assert best_run_id in {r.tags["dockyard.best_trial_run"] for r in by_parent.values()}
    assert min(r.metrics["best_value"].value for r in by_parent.values()) == best_trial.value
    assert all(r.status == dockyard.RunStatus.FINISHED for r in runs)
