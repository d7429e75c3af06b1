"""Champion vs challenger: the model under validation against a baseline on the same rows.

``baseline`` is another model (anything with ``predict``, and ``predict_proba``
for the probability metrics), usually the one in production. It predicts once
on the same data; the challenger's predictions are the cached ones. ``name``
(default ``champion``; letters, digits and underscores) prefixes the metrics,
so that several baselines can be compared in one report.

Metrics, for each metric ``m`` of the task that both models produce:

- ``<name>.<m>``: the baseline's value;
- ``<name>.<m>_delta``: challenger − baseline (the raw difference: positive is
  better for accuracy, worse for rmse);

and:

- ``<name>.better``: 1.0 when the challenger is strictly better than the
  baseline on the task's primary metric (accuracy; rmse for regression), else 0.0;
- ``<name>.p_value``: how likely a difference at least this large is if the two
  models are equally good, from a paired test on the rows. Classification: the
  exact McNemar test, a two-sided binomial test on the rows exactly one model
  gets right (1.0 when there are none). Regression: the Wilcoxon signed-rank
  test on the row-by-row differences of the absolute errors (rows with equal
  errors are dropped; 1.0 when every row has equal errors).

Table ``side_by_side``: one row per metric with ``metric``, ``challenger``,
``baseline`` and ``delta`` (null where a model does not produce the metric).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from dockyard.errors import InvalidArgument
from dockyard.validation.evaluation import Evaluation, higher_is_better
from dockyard.validation.results import CheckResult

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def names(task: str, metric_names: tuple[str, ...], *, name: str = "champion") -> list[str]:
    """The metric names :func:`compare` produces (those both models allow, at most)."""
    _check_name(name)
    return [f"{name}.{m}{suffix}" for m in metric_names for suffix in ("", "_delta")] \
        + [f"{name}.better", f"{name}.p_value"]


def compare(ev: Evaluation, baseline: Any, *, name: str = "champion") -> CheckResult:
    """Compare the model with ``baseline`` on the same rows; see the module docstring."""
    _check_name(name)
    if not callable(getattr(baseline, "predict", None)):
        raise InvalidArgument(f"the baseline ({type(baseline).__name__}) has no predict "
                              "method: pass a model or an estimator")
    base = Evaluation(baseline, ev.frame, ev.target, task=ev.task,
                      positive_class=ev.positive_class)
    mine, theirs = ev.score_rows(), base.score_rows()
    metrics: dict[str, float] = {}
    table = []
    for m in ev.metric_names:
        if m not in mine and m not in theirs:
            continue
        delta = mine[m] - theirs[m] if m in mine and m in theirs else None
        table.append({"metric": m, "challenger": mine.get(m), "baseline": theirs.get(m),
                      "delta": delta})
        if delta is not None:
            metrics[f"{name}.{m}"] = theirs[m]
            metrics[f"{name}.{m}_delta"] = delta
    primary = ev.primary_metric
    better = False
    if primary in mine and primary in theirs:
        better = mine[primary] > theirs[primary] if higher_is_better(primary) \
            else mine[primary] < theirs[primary]
        metrics[f"{name}.better"] = 1.0 if better else 0.0
    if ev.task == "classification":
        p_value, test = _mcnemar(ev.labels, ev.predictions, base.predictions)
    else:
        p_value, test = _wilcoxon(ev.labels, ev.predictions, base.predictions)
    metrics[f"{name}.p_value"] = p_value
    if primary in mine and primary in theirs:
        verdict = "better than" if better else (
            "as good as" if mine[primary] == theirs[primary] else "worse than")
        summary = (f"The model is {verdict} {name} on {primary} ({mine[primary]:.4g} against "
                   f"{theirs[primary]:.4g}); p = {p_value:.3g} ({test}).")
    else:
        summary = f"{primary} is not available for both models; p = {p_value:.3g} ({test})."
    return CheckResult(name="compare", metrics=metrics, tables={"side_by_side": table},
                       summary=summary)


def _check_name(name: Any) -> None:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidArgument(f"name must start with a letter or underscore and hold only "
                              f"letters, digits and underscores (it prefixes the metric "
                              f"names), got {name!r}")


def _mcnemar(labels: np.ndarray, mine: np.ndarray, theirs: np.ndarray) -> tuple[float, str]:
    """Exact McNemar: among rows exactly one model gets right, is each as likely?"""
    from scipy.stats import binomtest

    right_mine, right_theirs = mine == labels, theirs == labels
    only_mine = int(np.sum(right_mine & ~right_theirs))
    only_theirs = int(np.sum(~right_mine & right_theirs))
    test = (f"exact McNemar test: {only_mine} rows only the model gets right, "
            f"{only_theirs} only the baseline")
    if only_mine + only_theirs == 0:
        return 1.0, test
    return float(binomtest(only_mine, only_mine + only_theirs, 0.5).pvalue), test


def _wilcoxon(labels: np.ndarray, mine: np.ndarray, theirs: np.ndarray) -> tuple[float, str]:
    """Wilcoxon signed-rank test on the paired differences of the absolute errors."""
    from scipy.stats import wilcoxon

    true = labels.astype(np.float64)
    diff = np.abs(mine.astype(np.float64) - true) - np.abs(theirs.astype(np.float64) - true)
    nonzero = int(np.count_nonzero(diff))
    test = f"Wilcoxon signed-rank test on the absolute errors of {nonzero} rows that differ"
    if nonzero == 0:
        return 1.0, test
    return float(wilcoxon(diff[diff != 0]).pvalue), test
