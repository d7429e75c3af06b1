"""The robustness check: a model noise breaks, a robust one, refused input, bad options."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder
from sklearn.tree import DecisionTreeClassifier

from dockyard import models
from dockyard.errors import InvalidArgument
from dockyard.validation import robustness as robustness_module
from dockyard.validation.evaluation import Evaluation
from dockyard.validation.robustness import robustness


def _data(n: int, seed: int, *, fragile: bool) -> pd.DataFrame:
    """Column a decides the label: in 20 narrow stripes (fragile) or at one threshold;
    b (integers) and c are noise, g a category that plays no part."""
    rng = np.random.default_rng(seed)
    a = rng.uniform(0, 1, n)
    label = np.floor(a * 20) % 2 if fragile else a > 0.5
    return pd.DataFrame({"a": a, "b": rng.integers(0, 100, n), "c": rng.normal(size=n),
                         "g": rng.choice(["x", "y", "z"], n), "y": label.astype(int)})


def _tree(train: pd.DataFrame) -> DecisionTreeClassifier:
    features = train[["a", "b", "c"]]
    return DecisionTreeClassifier(random_state=0).fit(features, train["y"])


def _names(ev: Evaluation, **options: object) -> set[str]:
    return set(robustness_module.names(ev.task, ev.metric_names, **options))  # type: ignore


def test_noise_breaks_a_model_that_leans_on_one_fine_grained_feature() -> None:
    ev = Evaluation(_tree(_data(4000, 0, fragile=True)),
                    _data(2000, 1, fragile=True).drop(columns="g"), "y")
    result = robustness(ev)
    metrics = result.metrics
    assert metrics["robustness.noise_0.1.accuracy_drop"] > 0.25
    assert metrics["robustness.noise_0.2.accuracy_drop"] > metrics[
        "robustness.noise_0.05.accuracy_drop"] > 0.1
    assert metrics["robustness.noise_0.1.accuracy"] == pytest.approx(
        ev.score_rows()["accuracy"] - metrics["robustness.noise_0.1.accuracy_drop"])
    assert metrics["robustness.worst_feature_drop"] > 0.25
    features = result.tables["features"]
    assert features[0]["column"] == "a" and features[0]["perturbation"] == "noise 0.1"
    assert {row["column"] for row in features} == {"a", "b", "c"}
    assert all(row["drop"] < 0.02 for row in features[1:])
    assert set(metrics) <= _names(ev)
    assert not any(k.startswith("robustness.swap") for k in metrics)  # no text column
    assert "no column to apply swap to" in result.summary
    curve = [row for row in result.tables["curves"]
             if row["kind"] == "noise" and row["metric"] == "accuracy"]
    assert [row["scale"] for row in curve] == [0.05, 0.1, 0.2]
    assert result.tables["failures"] == []


def test_a_robust_model_barely_moves() -> None:
    ev = Evaluation(_tree(_data(4000, 0, fragile=False)),
                    _data(2000, 1, fragile=False).drop(columns="g"), "y")
    metrics = robustness(ev, noise=[0.05, 0.1]).metrics
    assert metrics["robustness.noise_0.05.accuracy_drop"] < 0.05
    assert metrics["robustness.noise_0.1.accuracy_drop"] < 0.08
    assert metrics["robustness.outliers_0.05.accuracy_drop"] < 0.05
    assert metrics["robustness.worst_feature_drop"] < 0.08
    assert "robustness.noise_0.2.accuracy" not in metrics
    assert set(metrics) <= _names(ev, noise=[0.05, 0.1])


def test_a_model_that_refuses_missing_values_records_a_failure() -> None:
    train, test = _data(1000, 2, fragile=False), _data(500, 3, fragile=False)
    model = LogisticRegression().fit(train[["a", "b", "c"]], train["y"])
    result = robustness(Evaluation(model, test.drop(columns="g"), "y"))
    assert result.error is None
    failures = result.tables["failures"]
    assert [(row["kind"], row["scale"]) for row in failures] == [("missing", 0.1)]
    assert "NaN" in failures[0]["error"]
    assert not any(k.startswith("robustness.missing") for k in result.metrics)
    assert "robustness.noise_0.1.roc_auc_drop" in result.metrics
    assert "failed under missing at 0.1" in result.summary


def test_swapped_categories_break_a_model_that_reads_the_category() -> None:
    rng = np.random.default_rng(4)
    frame = pd.DataFrame({"g": rng.choice(["x", "y", "z"], 3000), "c": rng.normal(size=3000)})
    frame["y"] = (frame["g"] == "x").astype(int)
    model = make_pipeline(make_column_transformer((OneHotEncoder(), ["g"]),
                                                  remainder="passthrough"),
                          LogisticRegression()).fit(frame[["g", "c"]], frame["y"])
    ev = Evaluation(model, frame, "y")
    result = robustness(ev, swap=[0.1, 0.3], missing=[])
    metrics = result.metrics
    assert 0.05 < metrics["robustness.swap_0.1.accuracy_drop"] < 0.1  # 2/3 of swaps matter
    assert metrics["robustness.swap_0.3.accuracy_drop"] > 0.15
    assert not any(k.startswith("robustness.missing") for k in metrics)
    rows = {row["column"]: row for row in result.tables["features"]}
    assert rows["g"]["perturbation"] == "swap 0.3" and rows["g"]["drop"] > 0.15
    assert result.tables["features"][0]["column"] == "g"
    assert set(metrics) <= _names(ev, swap=[0.1, 0.3], missing=[])


def test_a_regression_drop_is_positive_when_the_error_grows() -> None:
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"a": rng.normal(size=800), "b": rng.normal(size=800)})
    frame["t"] = 3 * frame["a"] + 0.1 * rng.normal(size=800)
    ev = Evaluation(LinearRegression().fit(frame[["a", "b"]], frame["t"]), frame, "t")
    metrics = robustness(ev, missing=[], swap=[]).metrics
    assert metrics["robustness.noise_0.2.rmse_drop"] > 0.3
    assert metrics["robustness.noise_0.2.r2_drop"] > 0.0
    assert metrics["robustness.noise_0.2.rmse"] == pytest.approx(
        ev.score_rows()["rmse"] + metrics["robustness.noise_0.2.rmse_drop"])
    assert set(metrics) <= _names(ev, missing=[], swap=[])


def test_columns_restrict_the_perturbation_and_rows_are_subsampled() -> None:
    ev = Evaluation(_tree(_data(4000, 0, fragile=True)),
                    _data(3000, 1, fragile=True).drop(columns="g"), "y")
    result = robustness(ev, columns=["b", "c"], max_rows=500, seed=3)
    assert result.metrics["robustness.noise_0.2.accuracy_drop"] < 0.02
    assert {row["column"] for row in result.tables["features"]} == {"b", "c"}
    assert result.summary.startswith("On 500 rows")
    again = robustness(ev, columns="b", max_rows=500, seed=3)
    assert {row["column"] for row in again.tables["features"]} == {"b"}


def test_only_the_signature_columns_of_a_loaded_model_are_perturbed(tmp_path: object) -> None:
    train = _data(1000, 6, fragile=False)
    features = train[["a", "b", "c"]]
    path = f"{tmp_path}/model"
    models.save(_tree(train), path, input_example=features.iloc[:5])
    loaded = models.load(path, trust=True)
    ev = Evaluation(loaded, _data(400, 7, fragile=False), "y")  # g is not a model feature
    assert ev.model_columns == ["a", "b", "c"]
    assert ev.predictions is not None and ev.scores is not None  # no warning: g is left out
    result = robustness(ev)
    assert {row["column"] for row in result.tables["features"]} == {"a", "b", "c"}
    assert not any(k.startswith("robustness.swap") for k in result.metrics)
    with pytest.raises(InvalidArgument, match="'g' are not among the model's features"):
        robustness(ev, columns=["a", "g"])


def test_bad_options() -> None:
    ev = Evaluation(_tree(_data(300, 8, fragile=False)),
                    _data(200, 9, fragile=False).drop(columns="g"), "y")
    with pytest.raises(InvalidArgument, match="noise scales must be positive"):
        robustness(ev, noise=[0.1, -0.2])
    with pytest.raises(InvalidArgument, match="missing scales must be shares"):
        robustness(ev, missing=[1.5])
    with pytest.raises(InvalidArgument, match="swap must be a list of numbers"):
        robustness(ev, swap="0.1")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="max_rows must be a positive integer"):
        robustness(ev, max_rows=0)
    with pytest.raises(InvalidArgument, match="'zzz' are not among the model's features"):
        robustness(ev, columns=["zzz"])
    with pytest.raises(InvalidArgument, match="columns must be"):
        robustness(ev, columns=[])
    with pytest.raises(InvalidArgument, match="noise scales must be positive"):
        robustness_module.names("classification", ev.metric_names, noise=[0])
