"""Autologging through real training on the embedded store: scikit-learn, XGBoost and
LightGBM, read back from the runs they made."""

from __future__ import annotations

import io
import logging

import lightgbm as lgb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import xgboost as xgb
from sklearn import metrics
from sklearn.datasets import load_diabetes, load_iris, make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

import dockyard
from dockyard import Client
from dockyard.entities import Run
from dockyard.train import autolog as autolog_module
from dockyard.train.fluent import _client


pytestmark = pytest.mark.usefixtures("autologging")


@pytest.fixture(scope="module")
def binary() -> tuple[pd.DataFrame, np.ndarray]:
    x, y = make_classification(n_samples=200, n_features=5, random_state=0)
    return pd.DataFrame(x, columns=[f"f{i}" for i in range(5)]), y


def runs() -> list[Run]:
    return dockyard.search_runs()


def only_run() -> Run:
    (run,) = runs()
    return run


def table(run_id: str, path: str) -> pd.DataFrame:
    data = b"".join(_client().iter_artifact(run_id, path))
    return pq.read_table(io.BytesIO(data)).to_pandas()


def history(run_id: str, key: str) -> list[tuple[int, float]]:
    points = _client().get_metric_history(run_id, key)
    return list(zip(points.steps, points.values))


def test_classifier_logs_params_metrics_model_and_importances(binary) -> None:
    x, y = binary
    model = RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0).fit(x, y)
    run = only_run()
    assert run.status.value == "FINISHED"
    assert run.params["n_estimators"] == "10" and run.params["max_depth"] == "4"
    pred, proba = model.predict(x), model.predict_proba(x)
    expected = {
        "training_accuracy": metrics.accuracy_score(y, pred),
        "training_f1": metrics.f1_score(y, pred, average="weighted"),
        "training_precision": metrics.precision_score(y, pred, average="weighted"),
        "training_recall": metrics.recall_score(y, pred, average="weighted"),
        "training_log_loss": metrics.log_loss(y, proba),
        "training_roc_auc": metrics.roc_auc_score(y, proba[:, 1]),
    }
    for key, value in expected.items():
        assert run.metrics[key].value == pytest.approx(value), key
    loaded = dockyard.load_model(f"runs:/{run.id}/model")
    assert loaded.manifest.signature is not None
    assert np.array_equal(np.asarray(loaded.predict(x)).ravel(), pred)
    importances = table(run.id, "feature_importances.parquet")
    assert list(importances["feature"]) == list(x.columns)
    assert np.allclose(importances["importance"], model.feature_importances_)


def test_regressor_logs_regression_metrics_and_coefficients() -> None:
    x, y = load_diabetes(return_X_y=True)
    model = LinearRegression().fit(x, y)
    run = only_run()
    pred = model.predict(x)
    mse = metrics.mean_squared_error(y, pred)
    assert run.metrics["training_mse"].value == pytest.approx(mse)
    assert run.metrics["training_rmse"].value == pytest.approx(np.sqrt(mse))
    assert run.metrics["training_mae"].value == pytest.approx(metrics.mean_absolute_error(y, pred))
    assert run.metrics["training_r2"].value == pytest.approx(metrics.r2_score(y, pred))
    assert run.params["fit_intercept"] == "True"
    loaded = dockyard.load_model(f"runs:/{run.id}/model")
    assert np.allclose(np.asarray(loaded.predict(x[:20])).ravel(), pred[:20])
    importances = table(run.id, "feature_importances.parquet")
    assert list(importances["feature"]) == [f"feature_{i}" for i in range(10)]
    assert np.allclose(importances["coefficient"], model.coef_)


def test_pipeline_is_logged_once(binary) -> None:
    x, y = binary
    with dockyard.start_run() as active:
        pipe = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())])
        pipe.fit(x[:150], y[:150])
        held_out = pipe.score(x[150:], y[150:])
    run = only_run()
    assert run.id == active.id
    assert set(run.params) == set(pipe.get_params(deep=False))  # not the steps' own params
    assert "training_accuracy" in run.metrics
    importances = table(run.id, "feature_importances.parquet")
    assert list(importances["feature"]) == list(x.columns)
    assert np.allclose(importances["coefficient"], pipe[-1].coef_[0])
    assert history(run.id, "validation_score") == [(0, pytest.approx(held_out))]


def test_validation_score_in_the_active_run(binary) -> None:
    x, y = binary
    with dockyard.start_run() as run:
        model = DecisionTreeClassifier(max_depth=2, random_state=0).fit(x[:150], y[:150])
        held_out = model.score(x[150:], y[150:])
    assert dockyard.get_run(run.id).metrics["validation_score"].value == pytest.approx(held_out)


def test_grid_search_makes_child_runs(binary) -> None:
    x, y = binary
    grid = {"max_depth": [1, 2, 3], "min_samples_leaf": [1, 5]}
    search = GridSearchCV(DecisionTreeClassifier(random_state=0), grid, cv=3).fit(x, y)
    dockyard.autolog(max_tuning_runs=4)  # settings apply to later fits
    everything = runs()
    (parent,) = [r for r in everything if r.parent_id is None]
    children = [r for r in everything if r.parent_id == parent.id]
    assert len(children) == 6  # max_tuning_runs=10 when it ran
    for key, value in search.best_params_.items():
        assert parent.params[f"best_{key}"] == str(value)
    assert parent.metrics["best_cv_score"].value == pytest.approx(search.best_score_)
    results = search.cv_results_
    by_params = {(c.params["max_depth"], c.params["min_samples_leaf"]): c for c in children}
    for i, params in enumerate(results["params"]):
        child = by_params[(str(params["max_depth"]), str(params["min_samples_leaf"]))]
        assert child.metrics["mean_test_score"].value == pytest.approx(
            results["mean_test_score"][i])
        assert child.metrics["std_test_score"].value == pytest.approx(results["std_test_score"][i])
    best = next(c for c in children if c.name == "candidate-1")
    assert best.metrics["rank_test_score"].value == 1
    cv_table = table(parent.id, "cv_results.parquet")
    assert len(cv_table) == 6 and "mean_test_score" in cv_table
    loaded = dockyard.load_model(f"runs:/{parent.id}/model")
    assert np.array_equal(np.asarray(loaded.predict(x)).ravel(), search.predict(x))

    GridSearchCV(DecisionTreeClassifier(random_state=0), grid, cv=3).fit(x, y)
    latest = [r for r in runs() if r.parent_id is None and r.id != parent.id][0]
    assert len([r for r in runs() if r.parent_id == latest.id]) == 4


def test_xgboost_train_logs_each_iteration(binary) -> None:
    x, y = binary
    train, valid = xgb.DMatrix(x[:150], y[:150]), xgb.DMatrix(x[150:], y[150:])
    seen: list[int] = []

    class Count(xgb.callback.TrainingCallback):
        def after_iteration(self, model, epoch, evals_log) -> bool:
            seen.append(epoch)
            return False

    params = {"objective": "binary:logistic", "max_depth": 2, "eval_metric": "logloss"}
    booster = xgb.train(params, train, num_boost_round=7, evals=[(train, "train"),
                                                                 (valid, "valid")],
                        callbacks=[Count()], verbose_eval=False)
    run = only_run()
    assert seen == list(range(7))  # the user's callback still ran
    assert run.params["max_depth"] == "2" and run.params["num_boost_round"] == "7"
    valid_loss = history(run.id, "valid-logloss")
    assert [step for step, _ in valid_loss] == list(range(7))
    assert len(history(run.id, "train-logloss")) == 7
    loaded = dockyard.load_model(f"runs:/{run.id}/model")
    assert np.allclose(np.asarray(loaded.predict(x.to_numpy()[:10])).ravel(),
                       booster.predict(xgb.DMatrix(x[:10])))
    gains = table(run.id, "feature_importances.parquet")
    assert set(gains["feature"]) <= set(x.columns) and (gains["gain"] > 0).all()


def test_xgb_classifier_fit_with_eval_set(binary) -> None:
    x, y = binary
    model = xgb.XGBClassifier(n_estimators=5, max_depth=2)
    model.fit(x[:150], y[:150], eval_set=[(x[150:], y[150:])], verbose=False)
    run = only_run()
    assert run.params["n_estimators"] == "5"
    assert [s for s, _ in history(run.id, "validation_0-logloss")] == list(range(5))
    assert run.metrics["training_accuracy"].value == pytest.approx(
        metrics.accuracy_score(y[:150], model.predict(x[:150])))
    loaded = dockyard.load_model(f"runs:/{run.id}/model")
    assert np.array_equal(np.asarray(loaded.predict(x)).ravel(), model.predict(x))
    assert len(table(run.id, "feature_importances.parquet")) == 5


def test_lightgbm_train_and_regressor() -> None:
    x, y = load_diabetes(return_X_y=True, as_frame=True)
    train = lgb.Dataset(x[:300], y[:300])
    valid = lgb.Dataset(x[300:], y[300:], reference=train)
    params = {"objective": "regression", "num_leaves": 7, "verbose": -1}
    lgb.train(params, train, num_boost_round=6, valid_sets=[valid], valid_names=["valid"])
    run = only_run()
    assert run.params["num_leaves"] == "7"
    assert [s for s, _ in history(run.id, "valid-l2")] == list(range(6))
    gains = table(run.id, "feature_importances.parquet")
    assert list(gains["feature"]) == list(x.columns)

    with dockyard.start_run() as outer:
        model = lgb.LGBMRegressor(n_estimators=4, num_leaves=5, verbose=-1)
        model.fit(x, y, eval_X=(x[300:],), eval_y=(y[300:],))
    logged = dockyard.get_run(outer.id)
    assert logged.params["num_leaves"] == "5"
    assert logged.metrics["training_r2"].value == pytest.approx(
        metrics.r2_score(y, model.predict(x)))
    assert len(history(outer.id, "valid_0-l2")) == 4
    loaded = dockyard.load_model(f"runs:/{outer.id}/model")
    assert np.allclose(np.asarray(loaded.predict(x[:10])).ravel(), model.predict(x[:10]))


def test_an_active_run_is_used(binary) -> None:
    x, y = binary
    with dockyard.start_run() as active:
        LogisticRegression().fit(x, y)
        assert dockyard.active_run() is active
    assert [r.id for r in runs()] == [active.id]
    assert "training_accuracy" in dockyard.get_run(active.id).metrics


def test_the_background_logs_the_fit_as_it_returned(binary) -> None:
    """The model and the metrics are logged after the call, from copies taken when it
    returned: changing the estimator or the data at once changes nothing logged."""
    original, truth = binary
    dockyard.autolog(disable=True)
    pred = RandomForestClassifier(n_estimators=10, random_state=0).fit(*binary).predict(original)
    dockyard.autolog()
    x, y = original.copy(), truth.copy()
    model = RandomForestClassifier(n_estimators=10, random_state=0).fit(x, y)
    model.estimators_ = model.estimators_[:1]
    x.iloc[:, :] = 0.0
    y[:] = 0
    run = only_run()  # reading runs back waits for the background work
    assert run.status.value == "FINISHED"
    assert run.metrics["training_accuracy"].value == pytest.approx(
        metrics.accuracy_score(truth, pred))
    loaded = dockyard.load_model(f"runs:/{run.id}/model")
    assert np.array_equal(np.asarray(loaded.predict(original)).ravel(), pred)


def test_without_background_the_model_is_stored_before_the_call_returns(binary) -> None:
    dockyard.autolog(background=False)
    LogisticRegression().fit(*binary)
    stored = Client()  # another client: sees only what reached the store
    (run,) = stored.search_runs(stored.get_experiment_by_name("default").id).items
    assert "model/dockyard-model.yaml" in {a.path for a in stored.list_artifacts(run.id, "model")}


def test_disable_restores_the_original_methods(binary) -> None:
    x, y = binary
    assert hasattr(RandomForestClassifier.fit, "__dockyard_autolog_original__")
    dockyard.autolog(disable=True)
    from sklearn.base import ClassifierMixin

    assert not hasattr(RandomForestClassifier.fit, "__dockyard_autolog_original__")
    assert not hasattr(ClassifierMixin.score, "__dockyard_autolog_original__")
    assert not hasattr(xgb.train, "__dockyard_autolog_original__")
    assert not hasattr(lgb.LGBMModel.fit, "__dockyard_autolog_original__")
    RandomForestClassifier(n_estimators=3).fit(x, y)
    assert runs() == []


def test_a_failing_logging_step_does_not_break_training(
        binary, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    x, y = binary

    def refuse(*args, **kwargs):
        raise RuntimeError("the artifact store is full")

    monkeypatch.setattr(autolog_module, "_log_model", refuse)
    with caplog.at_level(logging.WARNING, logger="dockyard.autolog"):
        model = RandomForestClassifier(n_estimators=5, random_state=0).fit(x, y)
        RandomForestClassifier(n_estimators=6, random_state=0).fit(x, y)
        dockyard.flush()  # the model is logged in the background
    assert model.predict(x).shape == (200,)  # fitted, and returned unchanged
    warned = [r for r in caplog.records if "artifact store is full" in r.getMessage()]
    assert len(warned) == 1  # once per kind
    first, second = runs()
    for run in (first, second):
        assert run.status.value == "FINISHED" and "training_accuracy" in run.metrics


def test_a_param_conflict_in_the_user_run_is_a_warning(
        binary, caplog: pytest.LogCaptureFixture) -> None:
    x, y = binary
    with caplog.at_level(logging.WARNING, logger="dockyard.autolog"):
        with dockyard.start_run() as active:
            dockyard.log_param("n_estimators", 999)
            model = RandomForestClassifier(n_estimators=5, random_state=0).fit(x, y)
    assert len(model.estimators_) == 5
    assert any("params" in r.getMessage() for r in caplog.records)
    logged = dockyard.get_run(active.id)
    assert logged.params["n_estimators"] == "999" and "training_accuracy" in logged.metrics


def test_training_errors_propagate_and_fail_the_run(binary) -> None:
    x, y = binary
    with pytest.raises(ValueError, match="n_estimators"):
        RandomForestClassifier(n_estimators=-1).fit(x, y)
    assert only_run().status.value == "FAILED"
    assert dockyard.active_run() is None


def test_iris_multiclass_roc_auc() -> None:
    x, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=500).fit(x, y)
    run = only_run()
    assert run.metrics["training_roc_auc"].value == pytest.approx(
        metrics.roc_auc_score(y, model.predict_proba(x), multi_class="ovr"))
    importances = table(run.id, "feature_importances.parquet")
    assert list(importances.columns) == ["feature", "coefficient_0", "coefficient_1",
                                         "coefficient_2"]
