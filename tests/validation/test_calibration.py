"""The calibration check: calibrated and miscalibrated classifiers, and where it cannot run."""

from __future__ import annotations

import pandas as pd
import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.naive_bayes import GaussianNB
from sklearn.svm import LinearSVC
from sklearn.tree import DecisionTreeClassifier

from dockyard.errors import InvalidArgument
from dockyard.validation import calibration as calibration_module
from dockyard.validation.calibration import calibration
from dockyard.validation.evaluation import Evaluation


def _evaluation(model: object, rows: int = 6000, **options: int) -> Evaluation:
    features, labels = make_classification(n_samples=rows, random_state=0, **options)
    columns = [f"f{i}" for i in range(features.shape[1])]
    half = rows // 2
    model.fit(pd.DataFrame(features[:half], columns=columns), labels[:half])  # type: ignore
    test = pd.DataFrame(features[half:], columns=columns).assign(y=labels[half:])
    return Evaluation(model, test, "y")


def _names(ev: Evaluation, **options: object) -> set[str]:
    return set(calibration_module.names(ev.task, ev.metric_names, **options))


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_logistic_regression_is_well_calibrated(strategy: str) -> None:
    ev = _evaluation(LogisticRegression())
    result = calibration(ev, strategy=strategy)
    assert result.error is None
    assert result.metrics["calibration.ece"] < 0.04
    assert "of class 1." in result.summary
    assert result.metrics["calibration.brier"] < 0.12
    table = result.tables["reliability"]
    assert len(table) == 10 and sum(row["rows"] for row in table) == len(ev.frame)
    if strategy == "quantile":
        assert all(280 <= row["rows"] <= 320 for row in table)
    assert set(result.metrics) <= _names(ev, strategy=strategy)
    assert result.figures["reliability"].lstrip().startswith("<?xml")
    assert "<svg" in result.figures["reliability"]


def test_naive_bayes_on_correlated_features_is_miscalibrated() -> None:
    # redundant features are linear combinations of the informative ones: naive Bayes counts
    # the same evidence many times and pushes its probabilities towards 0 and 1
    ev = _evaluation(GaussianNB(), n_features=20, n_informative=4, n_redundant=12)
    result = calibration(ev)
    assert result.metrics["calibration.ece"] > 0.12
    assert result.metrics["calibration.mce"] >= result.metrics["calibration.ece"]
    well = calibration(_evaluation(LogisticRegression()))
    assert result.metrics["calibration.ece"] > 3 * well.metrics["calibration.ece"]


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_scores_of_only_zero_and_one_are_as_wrong_as_the_errors(strategy: str) -> None:
    ev = _evaluation(DecisionTreeClassifier(random_state=0))  # a full tree: 0/1 probabilities
    result = calibration(ev, strategy=strategy)
    error_rate = 1 - ev.score_rows()["accuracy"]
    assert error_rate > 0.05
    assert result.metrics["calibration.ece"] == pytest.approx(error_rate)
    assert result.metrics["calibration.brier"] == pytest.approx(error_rate)
    filled = [row for row in result.tables["reliability"] if row["rows"]]
    assert [row["mean_predicted"] for row in filled] == [0.0, 1.0]


def test_an_empty_uniform_bin_is_listed_without_means() -> None:
    result = calibration(_evaluation(LogisticRegression()), bins=1000)
    empty = [row for row in result.tables["reliability"] if row["rows"] == 0]
    assert empty and empty[0]["mean_predicted"] is None and empty[0]["observed"] is None


def test_models_without_probabilities_get_an_error() -> None:
    regression = make_regression(n_samples=200, n_features=3, random_state=0)
    frame = pd.DataFrame(regression[0], columns=["a", "b", "c"]).assign(y=regression[1])
    model = LinearRegression().fit(frame[["a", "b", "c"]], frame["y"])
    result = calibration(Evaluation(model, frame, "y"))
    assert result.metrics == {} and "regression" in (result.error or "")
    assert calibration_module.names("regression", ("mae",)) == []

    svc = _evaluation(LinearSVC(), rows=400)
    result = calibration(svc)
    assert result.metrics == {} and "predict_proba" in (result.error or "")

    three = _evaluation(LogisticRegression(), rows=600, n_classes=3, n_informative=3)
    result = calibration(three)
    assert result.metrics == {} and "3 classes" in (result.error or "")


@pytest.mark.parametrize("options, message", [
    ({"bins": 1}, "bins must be an integer from 2"),
    ({"bins": 2.5}, "bins must be an integer"),
    ({"bins": True}, "bins must be an integer"),
    ({"strategy": "kmeans"}, "strategy must be one of uniform, quantile"),
])
def test_bad_options_are_refused(options: dict[str, object], message: str) -> None:
    ev = _evaluation(LogisticRegression(), rows=400)
    with pytest.raises(InvalidArgument, match=message):
        calibration(ev, **options)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match=message):
        calibration_module.names("classification", ev.metric_names, **options)  # type: ignore
    assert "scores" not in ev.__dict__


def test_names_lists_the_three_metrics() -> None:
    assert calibration_module.names("classification", ("accuracy",)) == [
        "calibration.ece", "calibration.mce", "calibration.brier"]
