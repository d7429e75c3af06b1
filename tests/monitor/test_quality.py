"""Model quality metrics agree with scikit-learn, and say why when they cannot be computed."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics

from dockyard.errors import InvalidArgument
from dockyard.monitor.quality import classification, regression

rng = np.random.default_rng(7)


def test_binary_scores_match_sklearn() -> None:
    y = rng.integers(0, 2, 400)
    scores = np.clip(0.35 * y + 0.65 * rng.random(400), 0, 1)
    values, reasons = classification(scores, y)
    hard = (scores >= 0.5).astype(int)
    assert values["accuracy"] == pytest.approx(metrics.accuracy_score(y, hard))
    assert values["precision"] == pytest.approx(metrics.precision_score(y, hard))
    assert values["recall"] == pytest.approx(metrics.recall_score(y, hard))
    assert values["f1"] == pytest.approx(metrics.f1_score(y, hard))
    assert values["roc_auc"] == pytest.approx(metrics.roc_auc_score(y, scores))
    assert values["log_loss"] == pytest.approx(metrics.log_loss(y, scores))
    assert values["confusion_matrix"]["counts"] == metrics.confusion_matrix(y, hard).tolist()
    assert values["confusion_matrix"]["classes"] == [0, 1]
    assert reasons == {}


def test_multiclass_labels_are_macro_averaged() -> None:
    y = rng.choice(["cat", "dog", "fox"], 300)
    pred = np.where(rng.random(300) < 0.6, y, rng.choice(["cat", "dog", "fox"], 300))
    values, reasons = classification(pred, y)
    assert values["accuracy"] == pytest.approx(metrics.accuracy_score(y, pred))
    assert values["f1"] == pytest.approx(metrics.f1_score(y, pred, average="macro"))
    assert values["roc_auc"] is None and "not scores" in reasons["roc_auc"]


def test_a_named_positive_class() -> None:
    y = np.array(["spam", "ham", "spam", "ham", "spam"])
    pred = np.array(["spam", "spam", "ham", "ham", "spam"])
    values, _ = classification(pred, y, positive_class="spam")
    assert values["precision"] == pytest.approx(2 / 3) and values["recall"] == pytest.approx(2 / 3)


def test_one_class_only_has_no_auc() -> None:
    values, reasons = classification(np.array([0.2, 0.9, 0.7]), np.array([1, 1, 1]))
    assert values["roc_auc"] is None and "one class" in reasons["roc_auc"]


def test_regression_matches_sklearn() -> None:
    y = rng.normal(10, 3, 250)
    pred = y + rng.normal(0, 1, 250)
    values, reasons = regression(pred, y)
    assert values["mae"] == pytest.approx(metrics.mean_absolute_error(y, pred))
    assert values["rmse"] == pytest.approx(metrics.root_mean_squared_error(y, pred))
    assert values["mape"] == pytest.approx(metrics.mean_absolute_percentage_error(y, pred))
    assert values["r2"] == pytest.approx(metrics.r2_score(y, pred))
    assert reasons == {}


def test_regression_says_why_a_metric_is_missing() -> None:
    values, reasons = regression(np.array([1.0, 2.0]), np.array([0.0, 0.0]))
    assert values["mape"] is None and "are 0" in reasons["mape"]
    assert values["r2"] is None and "the same" in reasons["r2"]


@pytest.mark.parametrize(("call", "message"), [
    (lambda: regression(np.array([1.0]), np.array(["high"])), "labels are text"),
    (lambda: classification(np.array([1, 0]), np.array(["a", "b"])), "labels are text"),
])
def test_labels_of_the_wrong_type_are_a_clear_error(call, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        call()
