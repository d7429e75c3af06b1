"""The fairness check: a biased and a fair classifier, fairlearn's numbers, bad options."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import demographic_parity_difference, equalized_odds_difference
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from dockyard.errors import InvalidArgument
from dockyard.validation import fairness as fairness_module
from dockyard.validation.evaluation import Evaluation
from dockyard.validation.fairness import fairness


def _people(n: int, seed: int, *, flip: float = 0.0) -> pd.DataFrame:
    """Two features, a group and an age band independent of them; the label follows x1.
    ``flip``: the share of group b's positive labels turned negative (biased history)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n),
                          "group": rng.choice(["a", "b"], n),
                          "age": rng.choice(["young", "middle", "old"], n)})
    label = (frame.x1 + 0.5 * rng.normal(size=n) > 0).to_numpy()
    flipped = (frame.group == "b").to_numpy() & label & (rng.random(n) < flip)
    return frame.assign(y=(label & ~flipped).astype(int))


def _model(train: pd.DataFrame, *, use_group: bool) -> object:
    """A logistic regression on x1 and x2, and on the group too when ``use_group``."""
    steps = [("passthrough", ["x1", "x2"])]
    if use_group:
        steps.append((OneHotEncoder(), ["group"]))
    model = make_pipeline(make_column_transformer(*steps), LogisticRegression())
    return model.fit(train.drop(columns="y"), train["y"])


def _names(ev: Evaluation, sensitive: str | list[str]) -> set[str]:
    return set(fairness_module.names(ev.task, ev.metric_names, sensitive=sensitive))


def test_a_model_trained_on_biased_labels_fails_parity() -> None:
    biased = _model(_people(3000, 0, flip=0.7), use_group=True)
    ev = Evaluation(biased, _people(2000, 1), "y")
    result = fairness(ev, "group")
    assert result.error is None
    metrics = result.metrics
    assert metrics["fairness.group.demographic_parity_difference"] > 0.2
    assert metrics["fairness.group.equalized_odds_difference"] > 0.3
    assert metrics["fairness.demographic_parity_difference"] == \
        metrics["fairness.group.demographic_parity_difference"]
    assert set(metrics) <= _names(ev, "group")
    rows = {row["group"]: row for row in result.tables["groups"]}
    assert rows["b"]["selection_rate"] < rows["a"]["selection_rate"] - 0.2
    assert rows["a"]["rows"] + rows["b"]["rows"] == 2000
    assert "Demographic parity difference" in result.summary


def test_a_fair_model_passes() -> None:
    fair = _model(_people(3000, 0), use_group=False)
    ev = Evaluation(fair, _people(4000, 1), "y")
    result = fairness(ev, ["group", "age"])
    metrics = result.metrics
    assert metrics["fairness.group.demographic_parity_difference"] < 0.05
    assert metrics["fairness.group.equalized_odds_difference"] < 0.06
    assert metrics["fairness.demographic_parity_difference"] == max(
        metrics["fairness.group.demographic_parity_difference"],
        metrics["fairness.age.demographic_parity_difference"])
    assert set(metrics) == _names(ev, ["group", "age"])
    assert {row["column"] for row in result.tables["groups"]} == {"group", "age"}
    assert len(result.tables["groups"]) == 5


@pytest.mark.parametrize("flip", [0.0, 0.5])
def test_the_numbers_are_fairlearns(flip: float) -> None:
    model = _model(_people(2000, 2, flip=flip), use_group=True)
    test = _people(1500, 3)
    ev = Evaluation(model, test, "y")
    metrics = fairness(ev, ["group", "age"]).metrics
    for column in ("group", "age"):
        expected_dp = demographic_parity_difference(
            test["y"], ev.predictions, sensitive_features=test[column], method="between_groups")
        expected_eo = equalized_odds_difference(
            test["y"], ev.predictions, sensitive_features=test[column], method="between_groups")
        assert metrics[f"fairness.{column}.demographic_parity_difference"] == \
            pytest.approx(expected_dp, abs=1e-12)
        assert metrics[f"fairness.{column}.equalized_odds_difference"] == \
            pytest.approx(expected_eo, abs=1e-12)


def test_text_labels_and_a_missing_group() -> None:
    train, test = _people(1500, 4, flip=0.5), _people(600, 5)
    train["y"] = np.where(train["y"] == 1, "approve", "deny")
    test["y"] = np.where(test["y"] == 1, "approve", "deny")
    test.loc[:49, "age"] = None
    ev = Evaluation(_model(train, use_group=True), test, "y", positive_class="approve")
    result = fairness(ev, "age")
    groups = {row["group"]: row for row in result.tables["groups"]}
    assert set(groups) == {"young", "middle", "old", None}
    assert groups[None]["rows"] == 50
    approve = ev.predictions == "approve"
    assert groups["old"]["selection_rate"] == pytest.approx(
        approve[(test["age"] == "old").to_numpy()].mean())


def test_not_a_binary_classification_is_an_error_result() -> None:
    frame = _people(300, 6)
    regression = Evaluation(LinearRegression().fit(frame[["x1", "x2"]], frame["x1"] * 2),
                            frame[["x1", "x2"]].assign(t=frame["x1"] * 2.5), "t")
    result = fairness(regression, "x2")
    assert result.error is not None and "binary classification" in result.error
    assert not result.metrics
    assert fairness_module.names("regression", regression.metric_names, sensitive="x2") == []

    labels = np.digitize(frame["x1"], [-0.5, 0.5])
    three = frame.drop(columns="y").assign(y=labels)
    model = make_pipeline(make_column_transformer(("passthrough", ["x1", "x2"])),
                          LogisticRegression()).fit(three.drop(columns="y"), labels)
    result = fairness(Evaluation(model, three, "y"), "group")
    assert result.error is not None and "3 classes" in result.error


def test_bad_options() -> None:
    ev = Evaluation(_model(_people(300, 7), use_group=False), _people(200, 8), "y")
    with pytest.raises(InvalidArgument, match="'gender' are not in the data"):
        fairness(ev, ["group", "gender"])
    with pytest.raises(InvalidArgument, match="non-empty list"):
        fairness(ev, [])
    with pytest.raises(InvalidArgument, match="column name"):
        fairness(ev, 3)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="is the target"):
        fairness(ev, "y")
    with pytest.raises(InvalidArgument, match="non-empty list"):
        fairness_module.names("classification", ev.metric_names, sensitive=[])
