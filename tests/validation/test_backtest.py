"""The backtest check: a model's metrics over time windows, with and without refitting."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline

from dockyard.errors import InvalidArgument
from dockyard.validation import backtest as backtest_module
from dockyard.validation.backtest import backtest
from dockyard.validation.evaluation import Evaluation

FEATURES = ["x1", "x2"]


def _data(n: int = 1200, *, drift: float, seed: int = 0) -> pd.DataFrame:
    """Labels from a boundary that turns by ``drift`` radians from the first row to the
    last; the time is a daily date, several rows a day."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    angle = np.linspace(0.0, drift, n)
    y = (np.cos(angle) * x[:, 0] + np.sin(angle) * x[:, 1] > 0).astype(int)
    days = pd.Timestamp("2024-01-01") + pd.to_timedelta(np.arange(n) // 4, unit="D")
    frame = pd.DataFrame({"x1": x[:, 0], "x2": x[:, 1], "day": days, "y": y})
    return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)  # unordered


def _fit(features: pd.DataFrame, labels: np.ndarray):
    select = ColumnTransformer([("keep", "passthrough", FEATURES)])
    return make_pipeline(select, LogisticRegression()).fit(features, labels)


def _early_model(frame: pd.DataFrame, rows: int = 200):
    early = frame.sort_values("day").head(rows)
    return _fit(early.drop(columns=["y"]), early["y"].to_numpy())


def _names(ev: Evaluation, **options) -> list[str]:
    return backtest_module.names(ev.task, ev.metric_names, **options)


def test_a_decaying_model_shows_a_negative_trend_and_a_worse_last_window() -> None:
    frame = _data(drift=np.pi / 2)
    ev = Evaluation(_early_model(frame), frame, "y")
    result = backtest(ev, time_column="day", windows=5)
    assert result.error is None
    assert set(result.metrics) <= set(_names(ev, time_column="day", windows=5))
    rows = result.tables["windows"]
    assert [r["window"] for r in rows] == [1, 2, 3, 4, 5]
    assert all(r["train_rows"] == 0 for r in rows)
    assert sum(r["test_rows"] for r in rows) == 1000  # chunk 0 is never tested
    accuracy = [r["accuracy"] for r in rows]
    assert accuracy[-1] < accuracy[0] - 0.2
    assert result.metrics["backtest.accuracy_trend"] < -0.05
    assert result.metrics["backtest.accuracy_worst"] == pytest.approx(min(accuracy))
    assert result.metrics["backtest.accuracy_worst"] == pytest.approx(accuracy[-1])
    assert result.metrics["backtest.accuracy_mean"] == pytest.approx(np.mean(accuracy))
    assert result.metrics["backtest.accuracy_std"] == pytest.approx(np.std(accuracy))
    assert result.metrics["backtest.log_loss_worst"] == pytest.approx(
        max(r["log_loss"] for r in rows))
    # windows follow each other in time, as ISO dates, and a day is never split
    assert rows[0]["start"].startswith("2024-")
    for before, after in zip(rows, rows[1:]):
        assert before["start"] <= before["end"] < after["start"]
    assert "trend" in result.summary


def test_a_stable_relationship_keeps_its_accuracy() -> None:
    frame = _data(drift=0.0)
    ev = Evaluation(_early_model(frame), frame, "y")
    result = backtest(ev, time_column="day", windows=5)
    assert result.metrics["backtest.accuracy_worst"] > 0.9
    assert abs(result.metrics["backtest.accuracy_trend"]) < 0.01


def test_refitting_on_expanding_windows_recovers_accuracy() -> None:
    frame = _data(drift=np.pi / 2)
    ev = Evaluation(_early_model(frame), frame, "y")
    fixed = backtest(ev, time_column="day", windows=5)
    refit = backtest(ev, time_column="day", windows=5, refit=_fit, mode="expanding")
    assert refit.error is None
    assert set(refit.metrics) <= set(_names(ev, time_column="day", windows=5, refit=_fit))
    last_fixed = fixed.tables["windows"][-1]["accuracy"]
    last_refit = refit.tables["windows"][-1]["accuracy"]
    assert last_refit > last_fixed + 0.1
    assert refit.metrics["backtest.accuracy_worst"] > fixed.metrics["backtest.accuracy_worst"]
    assert "refit on expanding windows" in refit.summary


def test_sliding_trains_on_the_previous_chunk_only() -> None:
    frame = _data(drift=np.pi / 2)
    ev = Evaluation(_early_model(frame), frame, "y")
    expanding = backtest(ev, time_column="day", windows=5, refit=_fit)
    sliding = backtest(ev, time_column="day", windows=5, refit=_fit, mode="sliding")
    grown = [r["train_rows"] for r in expanding.tables["windows"]]
    fixed = [r["train_rows"] for r in sliding.tables["windows"]]
    assert grown == [200, 400, 600, 800, 1000]
    assert fixed == [200] * 5
    # on drifting data, a model trained on recent data only follows the drift better
    assert sliding.metrics["backtest.accuracy_mean"] > expanding.metrics["backtest.accuracy_mean"]


def test_a_regressor_worst_window_is_its_largest_error() -> None:
    rng = np.random.default_rng(1)
    n = 300
    x = rng.normal(size=n)
    t = np.arange(n)
    y = 2 * x + rng.normal(scale=0.1 + t / n, size=n)  # noise grows over time
    frame = pd.DataFrame({"x": x, "t": t, "y": y})
    select = ColumnTransformer([("keep", "passthrough", ["x"])])
    model = make_pipeline(select, LinearRegression()).fit(frame.drop(columns=["y"]), y)
    ev = Evaluation(model, frame, "y", task="regression")
    result = backtest(ev, time_column="t", windows=2)
    assert set(result.metrics) <= set(_names(ev, time_column="t", windows=2))
    rmse = [r["rmse"] for r in result.tables["windows"]]
    assert result.metrics["backtest.rmse_worst"] == pytest.approx(max(rmse))
    assert result.metrics["backtest.rmse_trend"] > 0
    assert result.tables["windows"][0]["start"] == "100"


def test_one_window_has_no_trend() -> None:
    frame = _data(n=200, drift=0.0)
    ev = Evaluation(_early_model(frame, 50), frame, "y")
    result = backtest(ev, time_column="day", windows=1)
    assert "backtest.accuracy_trend" not in result.metrics
    assert result.metrics["backtest.accuracy_std"] == 0.0
    assert set(result.metrics) <= set(_names(ev, time_column="day", windows=1))
    assert not any(n.endswith("_trend") for n in _names(ev, time_column="day", windows=1))


def test_a_failing_refit_is_reported_as_the_check_error() -> None:
    frame = _data(n=300, drift=0.0)
    ev = Evaluation(_early_model(frame), frame, "y")

    def broken(features: pd.DataFrame, labels: np.ndarray):
        raise RuntimeError("no solver")

    result = backtest(ev, time_column="day", windows=2, refit=broken)
    assert result.error is not None and "no solver" in result.error
    assert "window 1" in result.error


@pytest.mark.parametrize(("options", "message"), [
    ({"windows": 0}, "windows must be a whole number of at least 1"),
    ({"windows": 2.5}, "windows must be a whole number"),
    ({"mode": "rolling"}, "mode must be one of expanding, sliding"),
    ({"refit": 42}, "refit must be a callable"),
    ({"min_size": 0}, "min_size must be"),
    ({"time_column": "when"}, "its columns are: x1, x2, day, y"),
    ({"windows": 5, "min_size": 60}, "the data has 300 rows: 6 chunks of at least 60 rows "
                                     "need 360; use fewer windows"),
])
def test_bad_options_are_refused_before_any_prediction(options: dict, message: str) -> None:
    frame = _data(n=300, drift=0.0)
    ev = Evaluation(_early_model(frame), frame, "y")
    with pytest.raises(InvalidArgument, match=message):
        backtest(ev, **{"time_column": "day", **options})
    assert "predictions" not in ev.__dict__  # nothing was predicted


def test_a_time_column_that_cannot_be_ordered_is_refused() -> None:
    frame = _data(n=300, drift=0.0)
    frame["when"] = pd.Series([1, "a", 2.5] * 100, dtype=object)
    ev = Evaluation(_early_model(frame), frame, "y")
    with pytest.raises(InvalidArgument, match="'when' cannot be ordered"):
        backtest(ev, time_column="when", windows=2)


def test_rows_with_one_time_stay_together_even_when_that_leaves_a_small_chunk() -> None:
    frame = _data(n=300, drift=0.0)
    frame["batch"] = np.where(frame["day"] < frame["day"].quantile(0.9), 0, 1)
    ev = Evaluation(_early_model(frame), frame, "y")
    with pytest.raises(InvalidArgument, match="rows with the same 'batch' stay in one chunk"):
        backtest(ev, time_column="batch", windows=2)


def test_names_refuses_bad_options() -> None:
    with pytest.raises(InvalidArgument, match="mode"):
        backtest_module.names("classification", ("accuracy",), mode="weekly")
    assert backtest_module.names("regression", ("rmse",), windows=3) == [
        "backtest.rmse_mean", "backtest.rmse_worst", "backtest.rmse_std", "backtest.rmse_trend"]
