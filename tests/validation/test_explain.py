"""The explain check: permutation importance, SHAP tables and the summary figure."""

from __future__ import annotations

import importlib.util

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.ensemble import GradientBoostingRegressor, RandomForestClassifier
from sklearn.inspection import permutation_importance
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from dockyard.errors import InvalidArgument
from dockyard.validation import explain as explain_module
from dockyard.validation.evaluation import Evaluation
from dockyard.validation.explain import explain


def _data(n: int, seed: int) -> pd.DataFrame:
    """``signal`` decides the label; n0..n3 are pure noise; g is a category of no use."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(n, 4)), columns=[f"n{i}" for i in range(4)])
    frame.insert(2, "signal", rng.normal(size=n))
    frame["g"] = rng.choice(["x", "y", "z"], n)
    frame["y"] = (frame["signal"] + 0.3 * rng.normal(size=n) > 0).astype(int)
    return frame


NUMERIC = ["n0", "n1", "signal", "n2", "n3"]


def _names(ev: Evaluation, **options: object) -> set[str]:
    return set(explain_module.names(ev.task, ev.metric_names, **options))  # type: ignore


def test_an_informative_feature_ranks_above_noise_and_shap_agrees() -> None:
    train, test = _data(1500, 0), _data(800, 1)
    model = RandomForestClassifier(n_estimators=30, max_depth=6, random_state=0)
    model.fit(train[NUMERIC], train["y"])
    ev = Evaluation(model, test[NUMERIC + ["y"]], "y")
    result = explain(ev, n_repeats=3)
    assert result.error is None
    table = result.tables["permutation_importance"]
    assert table[0]["feature"] == "signal" and table[0]["importance_mean"] > 0.3
    assert all(row["importance_mean"] < 0.03 for row in table[1:])
    assert [row["importance_mean"] for row in table] == sorted(
        (row["importance_mean"] for row in table), reverse=True)
    assert result.metrics == {"explain.top_feature_importance": table[0]["importance_mean"]}
    assert set(result.metrics) <= _names(ev, n_repeats=3)

    shap_rows = result.tables["shap"]
    assert shap_rows[0]["feature"] == "signal"
    assert {row["feature"] for row in shap_rows} == set(NUMERIC)
    assert shap_rows[0]["mean_abs_shap"] > 5 * shap_rows[1]["mean_abs_shap"]
    svg = result.figures["shap_summary"]
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg and "signal" in svg
    assert "SHAP (tree, 500 rows)" in result.summary


def test_importance_matches_scikit_learns_on_a_regression() -> None:
    train, test = _data(1000, 2), _data(600, 3)
    target = 3 * train["signal"] + train["n0"]
    model = GradientBoostingRegressor(random_state=0).fit(train[NUMERIC], target)
    frame = test[NUMERIC].assign(t=3 * test["signal"] + test["n0"])
    ev = Evaluation(model, frame, "t")
    result = explain(ev, n_repeats=4, seed=1, shap=False)
    ours = {row["feature"]: row["importance_mean"]
            for row in result.tables["permutation_importance"]}
    assert [row["feature"] for row in result.tables["permutation_importance"]][:2] == \
        ["signal", "n0"]
    assert ours["signal"] > 1.0 and ours["n0"] > 0.2  # RMSE grows when they are shuffled
    reference = permutation_importance(model, test[NUMERIC], frame["t"], n_repeats=4,
                                       random_state=0, scoring="neg_root_mean_squared_error")
    for i, feature in enumerate(NUMERIC):
        assert ours[feature] == pytest.approx(reference.importances_mean[i], rel=0.2, abs=0.02)
    assert "shap" not in result.tables and not result.figures


def test_a_pipeline_with_a_text_column_gets_model_agnostic_shap() -> None:
    train, test = _data(1500, 4), _data(400, 5)
    model = make_pipeline(make_column_transformer((OneHotEncoder(), ["g"]),
                                                  remainder=StandardScaler()),
                          LogisticRegression()).fit(train.drop(columns="y"), train["y"])
    ev = Evaluation(model, test, "y")
    result = explain(ev, n_repeats=2, max_rows=300, shap=True)
    assert result.tables["permutation_importance"][0]["feature"] == "signal"
    shap_rows = result.tables["shap"]
    assert shap_rows[0]["feature"] == "signal"
    assert {row["feature"] for row in shap_rows} == set(NUMERIC) | {"g"}
    assert "SHAP (permutation" in result.summary
    assert "<svg" in result.figures["shap_summary"]


def test_bad_options(monkeypatch: pytest.MonkeyPatch) -> None:
    train = _data(200, 6)
    model = LogisticRegression().fit(train[NUMERIC], train["y"])
    ev = Evaluation(model, train[NUMERIC + ["y"]], "y")
    with pytest.raises(InvalidArgument, match="n_repeats must be an integer of at least 1"):
        explain(ev, n_repeats=0)
    with pytest.raises(InvalidArgument, match="max_rows must be an integer of at least 2"):
        explain(ev, max_rows=1.5)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="shap must be 'auto', True or False"):
        explain(ev, shap="yes")
    with pytest.raises(InvalidArgument, match="shap must be"):
        explain_module.names("classification", ev.metric_names, shap=1)  # type: ignore

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "shap" else find_spec(name, *args))
    with pytest.raises(InvalidArgument, match=r"pip install 'dockyard\[shap\]'"):
        explain(ev, shap=True)
    result = explain(ev, n_repeats=1)  # auto: without shap, permutation importance only
    assert "shap" not in result.tables and result.tables["permutation_importance"]
