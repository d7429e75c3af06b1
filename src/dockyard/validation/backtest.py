"""Backtest: how the model does over time, window by window.

The rows are sorted by ``time_column`` and cut into ``windows + 1``
consecutive chunks of about equal size (rows with the same time stay in one
chunk). Window ``i`` (1 to ``windows``) tests on chunk ``i``; chunk 0 is
never tested, as it is the earliest training data.

- Without ``refit``, the given model is scored on each window from the
  predictions already made on the whole data set: the metric over time, which
  shows whether a model trained once decays.
- With ``refit`` (a callable ``refit(features, labels)`` returning a fitted
  model with ``predict``, and ``predict_proba`` for probabilities), a model is
  trained for each window on chunks ``0 .. i-1`` (``mode="expanding"``) or on
  chunk ``i-1`` alone (``mode="sliding"``) and scored on chunk ``i``: what
  retraining on a schedule would have given. ``refit`` receives the columns
  the model is given (every column but the target, the time column included)
  and the labels as a numpy array.

For each metric ``<m>`` of the task (``accuracy``, ``rmse`` ...; see
:mod:`dockyard.validation.evaluation`) measured on the windows:

- ``backtest.<m>_mean``: the mean over the windows;
- ``backtest.<m>_worst``: the worst window (the minimum of a metric where
  higher is better, the maximum of an error such as ``rmse``);
- ``backtest.<m>_std``: the standard deviation over the windows (population,
  so 0 for one window);
- ``backtest.<m>_trend``: the least-squares slope of the metric against the
  window number (two windows or more), in metric units per window: a negative
  trend of ``accuracy`` or a positive trend of ``rmse`` means the model decays.

A metric that cannot be computed on a window (ROC AUC on a window holding one
class) is summarised over the windows where it can. The table ``windows``
holds one row per window: ``window``, ``start`` and ``end`` (the first and
last time tested, ISO text for dates), ``train_rows`` (0 without refit),
``test_rows`` and the metrics.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from dockyard.errors import InvalidArgument
from dockyard.validation.evaluation import Evaluation, higher_is_better
from dockyard.validation.results import CheckResult

MODES = ("expanding", "sliding")
STATISTICS = ("mean", "worst", "std", "trend")


def names(task: str, metric_names: tuple[str, ...], *, time_column: str | None = None,
          windows: int = 5, mode: str = "expanding", refit: Callable[..., Any] | None = None,
          min_size: int = 30) -> list[str]:
    """The metric names :func:`backtest` produces for these options."""
    _check_options(windows, mode, refit, min_size)
    stats = STATISTICS if windows >= 2 else tuple(s for s in STATISTICS if s != "trend")
    return [f"backtest.{m}_{s}" for m in metric_names for s in stats]


def backtest(ev: Evaluation, *, time_column: str, windows: int = 5, mode: str = "expanding",
             refit: Callable[..., Any] | None = None, min_size: int = 30) -> CheckResult:
    """Score the model on ``windows`` consecutive time windows (see the module docstring)."""
    _check_options(windows, mode, refit, min_size)
    order, bounds, times = chunks(ev.frame, time_column, windows, min_size)
    rows: list[dict[str, Any]] = []
    per_window: list[dict[str, float]] = []
    for i in range(1, windows + 1):
        test = order[bounds[i]:bounds[i + 1]]
        train = order[bounds[0 if mode == "expanding" else i - 1]:bounds[i]]
        if refit is None:
            mask = np.zeros(len(ev.frame), dtype=bool)
            mask[test] = True
            values, train_rows = ev.score_rows(mask), 0
        else:
            try:
                values = _refit_scores(ev, refit, train, test)
            except InvalidArgument:
                raise
            except Exception as exc:  # the caller's refit or its model failed on this data
                return CheckResult(name="backtest", error=(
                    f"window {i}: refit failed on {len(train)} training rows: "
                    f"{type(exc).__name__}: {exc}"))
            train_rows = len(train)
        per_window.append(values)
        rows.append({"window": i, "start": _text(times[bounds[i]]),
                     "end": _text(times[bounds[i + 1] - 1]), "train_rows": train_rows,
                     "test_rows": len(test), **values})
    metrics = _summarise(per_window, ev.metric_names)
    return CheckResult(name="backtest", metrics=metrics, tables={"windows": rows},
                       summary=_summary(ev.primary_metric, per_window, metrics, refit, mode))


def _check_options(windows: Any, mode: Any, refit: Any, min_size: Any) -> None:
    if isinstance(windows, bool) or not isinstance(windows, (int, np.integer)) or windows < 1:
        raise InvalidArgument(f"windows must be a whole number of at least 1, got {windows!r}")
    if mode not in MODES:
        raise InvalidArgument(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
    if refit is not None and not callable(refit):
        raise InvalidArgument(
            f"refit must be a callable refit(features, labels) returning a fitted model, "
            f"got {type(refit).__name__}")
    if isinstance(min_size, bool) or not isinstance(min_size, (int, np.integer)) \
            or min_size < 1:
        raise InvalidArgument(f"min_size must be a whole number of at least 1, got {min_size!r}")


def chunks(frame: pd.DataFrame, time_column: str, windows: int,
            min_size: int) -> tuple[np.ndarray, list[int], np.ndarray]:
    """The row order by time, the chunk boundaries in that order and the sorted times.

    Raises InvalidArgument for a time column that is missing, has gaps or cannot be
    ordered, and for chunks under ``min_size`` rows: cheap, so a caller can check the
    data before any prediction."""
    if time_column not in frame.columns:
        raise InvalidArgument(f"the time column {time_column!r} is not in the data; its "
                              f"columns are: {', '.join(map(str, frame.columns))}")
    column = frame[time_column]
    missing = int(column.isna().sum())
    if missing:
        raise InvalidArgument(f"the time column {time_column!r} has {missing} missing values; "
                              "drop those rows or fill them first")
    n, chunks = len(frame), windows + 1
    if n < chunks * min_size:
        raise InvalidArgument(f"the data has {n} rows: {chunks} chunks of at least {min_size} "
                              f"rows need {chunks * min_size}; use fewer windows")
    try:
        ordered = column.sort_values(kind="mergesort")
    except TypeError as exc:
        raise InvalidArgument(f"the time column {time_column!r} cannot be ordered ({exc}); "
                              "give times, dates or numbers of one type") from None
    order = ordered.index.to_numpy()
    values = ordered.reset_index(drop=True)
    starts = np.flatnonzero(values.ne(values.shift()).to_numpy())  # where a new time begins
    bounds = [0]
    for k in range(1, chunks):
        target = round(k * n / chunks)
        j = int(np.searchsorted(starts, target))
        below = starts[j - 1] if j > 0 else 0
        above = starts[j] if j < len(starts) else n
        bounds.append(int(above if above - target <= target - below else below))
    bounds.append(n)
    sizes = np.diff(bounds)
    if sizes.min() < min_size:
        small = int(np.argmin(sizes))
        raise InvalidArgument(
            f"chunk {small} of {chunks} has {int(sizes[small])} rows, under min_size "
            f"{min_size}, because rows with the same {time_column!r} stay in one chunk; use "
            "fewer windows or a finer time column")
    return order, bounds, ordered.to_numpy()


def _refit_scores(ev: Evaluation, refit: Callable[..., Any], train: np.ndarray,
                  test: np.ndarray) -> dict[str, float]:
    model = refit(ev.features.iloc[train].reset_index(drop=True), ev.labels[train])
    if not callable(getattr(model, "predict", None)):
        raise InvalidArgument(f"refit must return a fitted model with predict; it returned "
                              f"{type(model).__name__}")
    test_frame = ev.frame.iloc[test].reset_index(drop=True)
    window = Evaluation(model, test_frame, ev.target, task=ev.task,
                        positive_class=_positive(ev, test_frame))
    return window.score_rows()


def _positive(ev: Evaluation, test_frame: pd.DataFrame) -> Any:
    # A window whose labels lack the positive class still scores (one class, no ROC AUC).
    if ev.positive_class is None or ev.positive_class in set(test_frame[ev.target].tolist()):
        return ev.positive_class
    return None


def _summarise(per_window: list[dict[str, float]], metric_names: tuple[str, ...],
               ) -> dict[str, float]:
    metrics: dict[str, float] = {}
    for m in metric_names:
        points = [(i, w[m]) for i, w in enumerate(per_window, start=1) if m in w]
        if not points:
            continue
        x = np.array([p[0] for p in points], dtype=np.float64)
        y = np.array([p[1] for p in points], dtype=np.float64)
        metrics[f"backtest.{m}_mean"] = float(y.mean())
        metrics[f"backtest.{m}_worst"] = float(y.min() if higher_is_better(m) else y.max())
        metrics[f"backtest.{m}_std"] = float(y.std())
        if len(per_window) >= 2 and len(points) >= 2:
            dx = x - x.mean()
            metrics[f"backtest.{m}_trend"] = float(np.sum(dx * (y - y.mean())) / np.sum(dx * dx))
    return metrics


def _summary(metric: str, per_window: list[dict[str, float]], metrics: dict[str, float],
             refit: Any, mode: str) -> str:
    how = f"refit on {mode} windows" if refit is not None else "the given model"
    if f"backtest.{metric}_mean" not in metrics:
        return f"{len(per_window)} windows ({how}); {metric} could not be measured"
    text = (f"{metric} over {len(per_window)} windows ({how}): mean "
            f"{metrics[f'backtest.{metric}_mean']:.4g}, worst "
            f"{metrics[f'backtest.{metric}_worst']:.4g}")
    if f"backtest.{metric}_trend" in metrics:
        text += f", trend {metrics[f'backtest.{metric}_trend']:+.4g} per window"
    return text


def _text(value: Any) -> str:
    if isinstance(value, np.datetime64):
        value = pd.Timestamp(value)
    if isinstance(value, (_dt.date, _dt.time)):  # pd.Timestamp is a datetime
        return value.isoformat()
    return str(value)
