"""The cohorts check: a model that fails one group, one that does not, and bad specs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline

from dockyard.errors import InvalidArgument
from dockyard.validation import cohorts as cohorts_module
from dockyard.validation.cohorts import cohorts
from dockyard.validation.evaluation import Evaluation


def _data(noisy_group: str | None, rows: int = 1200, seed: int = 0) -> pd.DataFrame:
    """y = (x1 + x2 > 0), except in ``noisy_group`` where the label is a coin flip."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "x1": rng.normal(size=rows),
        "x2": rng.normal(size=rows),
        "group": rng.choice(["a", "b", "c"], size=rows),
        "age": rng.integers(18, 90, size=rows),
    })
    label = (frame["x1"] + frame["x2"] > 0).astype(int)
    if noisy_group is not None:
        noisy = frame["group"] == noisy_group
        label[noisy] = rng.integers(0, 2, size=int(noisy.sum()))
    frame["y"] = label
    frame["tiny"] = np.where(np.arange(rows) < 5, "rare", "common")
    return frame


def _only(columns: list[str], model: object) -> Pipeline:
    """``model`` fed only ``columns`` of the data; the other columns define cohorts."""
    return make_pipeline(ColumnTransformer([("keep", "passthrough", columns)]), model)


def _evaluation(noisy_group: str | None) -> Evaluation:
    train, test = _data(noisy_group, seed=1), _data(noisy_group, seed=2)
    model = _only(["x1", "x2"], LogisticRegression()).fit(train.drop(columns="y"), train["y"])
    return Evaluation(model, test, "y")


SPECS = ["group", "tiny", {"column": "age", "bins": [18, 40, 65, 90]},
         {"name": "young", "where": "age < 40 and x1 > -10"}]


def test_a_group_the_model_fails_is_the_worst_cohort() -> None:
    ev = _evaluation(noisy_group="c")
    result = cohorts(ev, SPECS)
    assert result.error is None
    assert result.metrics["cohort_gap.accuracy"] > 0.25
    assert result.metrics["cohort_worst.accuracy"] < 0.65
    assert result.metrics["cohort_gap.log_loss"] > 0.2
    table = result.tables["cohorts"]
    assert table[0]["cohort"] == "group = c" and table[0]["kind"] == "value"
    accuracies = [row["accuracy"] for row in table]
    assert accuracies == sorted(accuracies)
    assert {row["kind"] for row in table} == {"value", "bins", "where"}
    assert set(result.metrics) <= set(cohorts_module.names(ev.task, ev.metric_names, SPECS))
    assert "group = c" in result.summary


def test_a_model_good_on_every_group_has_a_small_gap() -> None:
    ev = _evaluation(noisy_group=None)
    result = cohorts(ev, SPECS)
    assert 0 <= result.metrics["cohort_worst.accuracy"] <= 1
    assert result.metrics["cohort_gap.accuracy"] < 0.06
    assert result.metrics["cohort_worst.accuracy"] > 0.9
    # every metric the data produces has both a worst and a gap
    for m in ev.score_rows():
        assert f"cohort_worst.{m}" in result.metrics and f"cohort_gap.{m}" in result.metrics
    assert set(result.metrics) <= set(cohorts_module.names(ev.task, ev.metric_names, SPECS))


def test_small_value_cohorts_are_skipped_and_listed() -> None:
    result = cohorts(_evaluation(None), ["tiny"], min_size=30)
    assert result.tables["skipped"] == [{"cohort": "tiny = rare", "kind": "value", "rows": 5,
                                         "reason": "fewer than min_size=30 rows"}]
    assert [row["cohort"] for row in result.tables["cohorts"]] == ["tiny = common"]
    assert "tiny = rare" in result.summary


def test_a_numeric_column_with_many_values_gets_quantile_bins() -> None:
    ev = _evaluation(None)
    for spec in ("age", {"column": "age", "bins": 4}):
        table = cohorts(ev, [spec]).tables["cohorts"]
        assert len(table) == 4 and all(row["kind"] == "bins" for row in table)
        assert sum(row["rows"] for row in table) == len(ev.frame)
        assert all(250 <= row["rows"] <= 350 for row in table)


def test_few_numbers_are_values_and_missing_values_are_a_cohort() -> None:
    ev = _evaluation(None)
    level = (ev.frame["age"] % 3).astype(float)
    level[ev.frame["age"] > 80] = np.nan
    ev.frame["level"] = level
    table = cohorts(ev, ["level"]).tables["cohorts"]
    assert sorted(row["cohort"] for row in table) == [
        "level = 0.0", "level = 1.0", "level = 2.0", "level is missing"]
    assert sum(row["rows"] for row in table) == len(ev.frame)


def test_regression_worst_is_the_highest_error() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=600)
    group = np.where(np.arange(600) % 3 == 0, "noisy", "clean")
    y = 2 * x + np.where(group == "noisy", rng.normal(scale=3, size=600), 0.01)
    frame = pd.DataFrame({"x": x, "group": group, "y": y})
    model = _only(["x"], LinearRegression()).fit(frame[["x", "group"]], y)
    ev = Evaluation(model, frame, "y", task="regression")
    result = cohorts(ev, ["group"])
    assert result.tables["cohorts"][0]["cohort"] == "group = noisy"
    assert result.metrics["cohort_worst.rmse"] == result.tables["cohorts"][0]["rmse"]
    assert result.metrics["cohort_gap.rmse"] > 0.5
    assert result.metrics["cohort_gap.r2"] > 0
    assert set(result.metrics) <= set(cohorts_module.names(ev.task, ev.metric_names, ["group"]))


@pytest.mark.parametrize("specs, message", [
    ([], "non-empty list"),
    ("group", "non-empty list"),
    (["nope"], "'nope' is not in the data"),
    ([{"column": "group", "bins": 4}], "not numeric"),
    ([{"column": "age", "bins": 1}], "bins of cohort column 'age'"),
    ([{"column": "age", "bins": [10, 5]}], "increasing edges"),
    ([{"column": "age", "edges": [1, 2]}], "optional 'bins'"),
    ([{"where": "age < 30"}], "'name' and 'where'"),
    ([{"name": "x", "where": "age <"}], "does not evaluate"),
    ([{"name": "x", "where": "nope < 3"}], "does not evaluate"),
    ([{"name": "x", "where": "age + 1"}], "True or False"),
    ([{"name": "x", "where": "age < 30"}, {"name": "x", "where": "age > 30"}], "two cohorts"),
    ([42], "column name or a mapping"),
    ([{"bins": 3}], "needs a 'column' or a 'where'"),
])
def test_bad_specs_are_refused(specs: object, message: str) -> None:
    ev = _evaluation(None)
    with pytest.raises(InvalidArgument, match=message):
        cohorts(ev, specs)
    assert "predictions" not in ev.__dict__  # refused before the model ran


def test_a_small_named_cohort_is_refused() -> None:
    ev = _evaluation(None)
    spec = {"name": "young_rich", "where": "age < 30 and x1 > 2.2"}
    rows = int(ev.frame.eval("age < 30 and x1 > 2.2").sum())
    assert 0 < rows < 30
    with pytest.raises(InvalidArgument, match=rf"cohort 'young_rich' has {rows} rows, fewer "
                                               r"than min_size=30: widen it or lower min_size"):
        cohorts(ev, [spec])


def test_bad_min_size_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="min_size"):
        cohorts(_evaluation(None), ["group"], min_size=0)
    with pytest.raises(InvalidArgument, match="min_size"):
        cohorts_module.names("classification", ("accuracy",), ["group"], min_size="5")
