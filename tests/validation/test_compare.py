"""The champion-vs-challenger check on classifiers and regressors, and its bad options."""

from __future__ import annotations

import pandas as pd
import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.dummy import DummyRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.svm import LinearSVC
from sklearn.tree import DecisionTreeClassifier

from dockyard.errors import InvalidArgument
from dockyard.validation import compare as compare_module
from dockyard.validation.compare import compare
from dockyard.validation.evaluation import Evaluation


def _classification() -> tuple[pd.DataFrame, pd.DataFrame]:
    features, labels = make_classification(n_samples=1600, n_features=8, n_informative=5,
                                           random_state=0)
    frame = pd.DataFrame(features, columns=[f"f{i}" for i in range(8)]).assign(y=labels)
    return frame.iloc[:800], frame.iloc[800:]


def _regression() -> tuple[pd.DataFrame, pd.DataFrame]:
    features, target = make_regression(n_samples=800, n_features=5, noise=10.0,
                                       random_state=0)
    frame = pd.DataFrame(features, columns=[f"f{i}" for i in range(5)]).assign(y=target)
    return frame.iloc[:400], frame.iloc[400:]


def _fit(model: object, train: pd.DataFrame) -> object:
    return model.fit(train.drop(columns="y"), train["y"])  # type: ignore[attr-defined]


def _names(ev: Evaluation, name: str = "champion") -> set[str]:
    return set(compare_module.names(ev.task, ev.metric_names, name=name))


def test_a_clearly_better_classifier_wins_significantly() -> None:
    train, test = _classification()
    ev = Evaluation(_fit(LogisticRegression(), train), test, "y")
    weak = _fit(DecisionTreeClassifier(max_depth=1, random_state=0), train)
    result = compare(ev, weak)
    metrics = result.metrics
    assert metrics["champion.better"] == 1.0
    assert metrics["champion.p_value"] < 0.01
    assert metrics["champion.accuracy_delta"] > 0.05
    assert metrics["champion.accuracy"] == pytest.approx(
        ev.score_rows()["accuracy"] - metrics["champion.accuracy_delta"])
    assert metrics["champion.log_loss_delta"] < 0
    assert set(metrics) <= _names(ev)
    rows = {row["metric"]: row for row in result.tables["side_by_side"]}
    assert rows["accuracy"]["delta"] == pytest.approx(
        rows["accuracy"]["challenger"] - rows["accuracy"]["baseline"])
    assert "better than champion" in result.summary and "McNemar" in result.summary

    # the other way round: the weak model is the challenger and loses
    reverse = compare(Evaluation(weak, test, "y"), ev.model, name="strong")
    assert reverse.metrics["strong.better"] == 0.0
    assert reverse.metrics["strong.accuracy_delta"] < -0.05
    assert reverse.metrics["strong.p_value"] == pytest.approx(metrics["champion.p_value"])


def test_equal_classifiers_are_not_different() -> None:
    train, test = _classification()
    ev = Evaluation(_fit(LogisticRegression(), train), test, "y")
    result = compare(ev, _fit(LogisticRegression(), train))
    assert result.metrics["champion.p_value"] == 1.0
    assert result.metrics["champion.better"] == 0.0
    assert result.metrics["champion.accuracy_delta"] == 0.0
    assert "as good as" in result.summary


def test_a_baseline_without_probabilities_has_no_probability_metrics() -> None:
    train, test = _classification()
    ev = Evaluation(_fit(LogisticRegression(), train), test, "y")
    result = compare(ev, _fit(LinearSVC(), train), name="svm_v2")
    assert "svm_v2.roc_auc" not in result.metrics and "svm_v2.accuracy" in result.metrics
    rows = {row["metric"]: row for row in result.tables["side_by_side"]}
    assert rows["roc_auc"]["baseline"] is None and rows["roc_auc"]["delta"] is None
    assert rows["roc_auc"]["challenger"] > 0.5
    assert 0 <= result.metrics["svm_v2.p_value"] <= 1
    assert set(result.metrics) <= _names(ev, "svm_v2")


def test_a_clearly_better_regressor_wins_significantly() -> None:
    train, test = _regression()
    ev = Evaluation(_fit(LinearRegression(), train), test, "y")
    result = compare(ev, _fit(DummyRegressor(), train))
    assert result.metrics["champion.better"] == 1.0
    assert result.metrics["champion.rmse_delta"] < 0
    assert result.metrics["champion.r2_delta"] > 0.5
    assert result.metrics["champion.p_value"] < 0.01
    assert "Wilcoxon" in result.summary
    assert set(result.metrics) <= _names(ev)


def test_equal_regressors_are_not_different() -> None:
    train, test = _regression()
    ev = Evaluation(_fit(LinearRegression(), train), test, "y")
    result = compare(ev, ev.model)
    assert result.metrics["champion.p_value"] == 1.0
    assert result.metrics["champion.better"] == 0.0
    assert result.metrics["champion.rmse_delta"] == 0.0


@pytest.mark.parametrize("name", ["", "1st", "my-model", "a.b", 3])
def test_a_bad_name_is_refused(name: object) -> None:
    train, test = _classification()
    ev = Evaluation(_fit(LogisticRegression(), train), test, "y")
    with pytest.raises(InvalidArgument, match="name must start with a letter"):
        compare(ev, ev.model, name=name)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="name must start with a letter"):
        compare_module.names(ev.task, ev.metric_names, name=name)  # type: ignore[arg-type]
    assert "predictions" not in ev.__dict__


def test_a_baseline_that_cannot_predict_is_refused() -> None:
    train, test = _classification()
    ev = Evaluation(_fit(LogisticRegression(), train), test, "y")
    with pytest.raises(InvalidArgument, match="the baseline \\(str\\) has no predict method"):
        compare(ev, "models:/churn/1")
