"""Fairness: whether a binary classifier treats the groups of a sensitive attribute alike.

``sensitive`` names one or more columns of the data (they need not be model
features: a sensitive attribute is often kept out of the model and still
checked). For each group (each distinct value; missing values form a group
of their own) of each column, from the cached predictions:

- ``selection_rate``: the share of the group's rows predicted positive;
- ``true_positive_rate``: of the group's positive rows, the share predicted
  positive (null when the group has no positive row);
- ``false_positive_rate``: of its negative rows, the share predicted positive
  (null when it has no negative row);
- ``accuracy``.

Table ``groups`` (column, group, rows and those four rates). Metrics, for each
sensitive column ``<c>``:

- ``fairness.<c>.demographic_parity_difference``: the largest minus the
  smallest selection rate over the groups;
- ``fairness.<c>.equalized_odds_difference``: the larger of the range (max −
  min over the groups) of the true positive rates and that of the false
  positive rates, groups where a rate is undefined left out of its range;

and ``fairness.demographic_parity_difference`` and
``fairness.equalized_odds_difference``: the largest of those over the columns.
0 is parity; 1 is the most unequal. These are the definitions of fairlearn's
``demographic_parity_difference`` and ``equalized_odds_difference`` (method
``between_groups``); they are a few counts per group (numpy ``bincount``), so
they are computed here, with no extra dependency. The check needs a binary
classification; on anything else the result has ``error`` set.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from dockyard.errors import InvalidArgument
from dockyard.validation.evaluation import Evaluation
from dockyard.validation.results import CheckResult

_DIFFERENCES = ("demographic_parity_difference", "equalized_odds_difference")


def names(task: str, metric_names: tuple[str, ...], *,
          sensitive: str | Sequence[str]) -> list[str]:
    """The metric names :func:`fairness` produces (none unless a classification)."""
    columns = _check_sensitive(sensitive)
    if task != "classification":
        return []
    return [f"fairness.{c}.{d}" for c in columns for d in _DIFFERENCES] + \
        [f"fairness.{d}" for d in _DIFFERENCES]


def fairness(ev: Evaluation, sensitive: str | Sequence[str]) -> CheckResult:
    """Each group's rates and the parity differences; see the module docstring."""
    columns = _check_sensitive(sensitive)
    unknown = [c for c in columns if c not in ev.frame.columns]
    if unknown:
        raise InvalidArgument(f"sensitive columns {', '.join(map(repr, unknown))} are not in "
                              f"the data; its columns are: {', '.join(map(str, ev.frame.columns))}")
    if ev.target in columns:
        raise InvalidArgument(f"{ev.target!r} is the target; name a sensitive attribute "
                              "(a column such as sex or age group) instead")
    if ev.task != "classification" or ev.classes is None or len(ev.classes) != 2:
        what = "a regression" if ev.task != "classification" else \
            f"a classification with {0 if ev.classes is None else len(ev.classes)} classes"
        return CheckResult(name="fairness", error=f"fairness needs a binary classification "
                           f"(both classes among the labels); this is {what}")
    actual = ev.labels == ev.positive_class
    chosen = np.asarray(ev.predictions) == ev.positive_class
    metrics: dict[str, float] = {}
    table: list[dict[str, Any]] = []
    for c in columns:
        rows = _group_rates(ev.frame[c], actual, chosen)
        for row in rows:
            table.append({"column": c, **row})
        selection = [row["selection_rate"] for row in rows]
        tpr = [row["true_positive_rate"] for row in rows]
        fpr = [row["false_positive_rate"] for row in rows]
        metrics[f"fairness.{c}.demographic_parity_difference"] = _spread(selection)
        metrics[f"fairness.{c}.equalized_odds_difference"] = max(_spread(tpr), _spread(fpr))
    for d in _DIFFERENCES:
        metrics[f"fairness.{d}"] = max(metrics[f"fairness.{c}.{d}"] for c in columns)
    worst = max(columns, key=lambda c: metrics[f"fairness.{c}.demographic_parity_difference"])
    parity = metrics["fairness.demographic_parity_difference"]
    odds = metrics["fairness.equalized_odds_difference"]
    summary = (f"Demographic parity difference {parity:.4f} (largest on {worst!r}), "
               f"equalized odds difference {odds:.4f}, over {len(table)} groups of "
               f"{len(columns)} sensitive column(s).")
    return CheckResult(name="fairness", metrics=metrics, tables={"groups": table},
                       summary=summary)


def _group_rates(values: pd.Series, actual: np.ndarray, chosen: np.ndarray
                 ) -> list[dict[str, Any]]:
    """Rows, selection rate, TPR, FPR and accuracy of each group of ``values``."""
    try:
        codes, groups = pd.factorize(values, use_na_sentinel=False, sort=True)
    except TypeError:  # values of mixed types do not sort
        codes, groups = pd.factorize(values, use_na_sentinel=False)
    k = len(groups)

    def count(mask: np.ndarray) -> np.ndarray:
        return np.bincount(codes[mask], minlength=k).astype(np.float64)

    rows = count(np.ones(len(codes), dtype=bool))
    positives, negatives = count(actual), count(~actual)
    selected = count(chosen)
    true_pos, false_pos = count(chosen & actual), count(chosen & ~actual)
    correct = count(chosen == actual)
    return [{"group": _plain(groups[g]), "rows": int(rows[g]),
             "selection_rate": float(selected[g] / rows[g]),
             "true_positive_rate": float(true_pos[g] / positives[g]) if positives[g] else None,
             "false_positive_rate": float(false_pos[g] / negatives[g]) if negatives[g] else None,
             "accuracy": float(correct[g] / rows[g])} for g in range(k)]


def _spread(rates: list[float | None]) -> float:
    known = [r for r in rates if r is not None]
    return float(max(known) - min(known)) if known else 0.0


def _plain(value: Any) -> Any:
    """A group's value as JSON takes it (None for missing, text for anything unusual)."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA \
            or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    return value if isinstance(value, (str, int, float, bool)) else str(value)


def _check_sensitive(sensitive: Any) -> list[str]:
    columns = [sensitive] if isinstance(sensitive, str) else sensitive
    if not isinstance(columns, Sequence) or isinstance(columns, bytes) or not columns \
            or not all(isinstance(c, str) and c for c in columns):
        raise InvalidArgument("sensitive must be a column name or a non-empty list of column "
                              f"names (such as 'sex' or ['sex', 'age_group']), got {sensitive!r}")
    return list(dict.fromkeys(columns))
