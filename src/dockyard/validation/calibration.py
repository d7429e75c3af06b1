"""Calibration: whether a binary classifier's probabilities mean what they say.

Of the rows a calibrated model scores 0.8, about 80 % are positive. The check
bins the rows by the model's probability of the positive class (the cached
scores; no extra model call) and compares, in each bin, the mean predicted
probability with the observed frequency of the positive class. It needs a
binary classifier with ``predict_proba``; on anything else the result has
``error`` set.

Options: ``bins`` (number of bins, 2 to 1000) and ``strategy``: ``uniform``
(equal-width bins over [0, 1]) or ``quantile`` (bins of about equal row
counts by rank; rows with equal scores share a bin, so there may be fewer).

Metrics:

- ``calibration.ece``: expected calibration error, the row-weighted mean over
  the bins of ``|observed frequency − mean predicted probability|``;
- ``calibration.mce``: maximum calibration error, the largest of those gaps
  over the non-empty bins;
- ``calibration.brier``: Brier score, the mean of ``(probability − outcome)²``
  over all rows (outcome 1 for the positive class, else 0).

Table ``reliability`` (one row per bin: ``lower``, ``upper`` (the bin's edges;
for quantile bins its lowest and highest score), ``mean_predicted``,
``observed``, ``rows``; the two means are null for an empty bin) and figure
``reliability`` (the reliability diagram, SVG).
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from dockyard.errors import InvalidArgument
from dockyard.validation.evaluation import Evaluation
from dockyard.validation.results import CheckResult

STRATEGIES = ("uniform", "quantile")
MAX_BINS = 1000


def names(task: str, metric_names: tuple[str, ...], *, bins: int = 10,
          strategy: str = "uniform") -> list[str]:
    """The metric names :func:`calibration` produces (none unless a classification)."""
    _check_options(bins, strategy)
    if task != "classification":
        return []
    return ["calibration.ece", "calibration.mce", "calibration.brier"]


def calibration(ev: Evaluation, *, bins: int = 10, strategy: str = "uniform") -> CheckResult:
    """The reliability curve and calibration errors; see the module docstring."""
    _check_options(bins, strategy)
    reason = _not_applicable(ev)
    if reason:
        return CheckResult(name="calibration", error=reason)
    scores = ev.scores
    assert scores is not None
    outcome = (ev.labels == ev.positive_class).astype(np.float64)
    index, lower, upper = (_uniform if strategy == "uniform" else _quantile)(scores, bins)
    count = np.bincount(index, minlength=len(lower)).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        predicted = np.bincount(index, weights=scores, minlength=len(lower)) / count
        observed = np.bincount(index, weights=outcome, minlength=len(lower)) / count
    filled = count > 0
    gaps = np.abs(observed[filled] - predicted[filled])
    metrics = {
        "calibration.ece": float(np.sum(gaps * count[filled]) / len(scores)),
        "calibration.mce": float(gaps.max()),
        "calibration.brier": float(np.mean((scores - outcome) ** 2)),
    }
    table = [{"lower": float(lower[i]), "upper": float(upper[i]),
              "mean_predicted": float(predicted[i]) if filled[i] else None,
              "observed": float(observed[i]) if filled[i] else None,
              "rows": int(count[i])} for i in range(len(count))]
    summary = (f"Expected calibration error {metrics['calibration.ece']:.4f} (largest bin gap "
               f"{metrics['calibration.mce']:.4f}, Brier score "
               f"{metrics['calibration.brier']:.4f}) over {int(filled.sum())} {strategy} bins "
               f"of the probability of class {_plain(ev.positive_class)!r}.")
    return CheckResult(name="calibration", metrics=metrics, tables={"reliability": table},
                       figures={"reliability": _figure(predicted[filled], observed[filled])},
                       summary=summary)


def _check_options(bins: Any, strategy: Any) -> None:
    if isinstance(bins, bool) or not isinstance(bins, int) or not 2 <= bins <= MAX_BINS:
        raise InvalidArgument(f"bins must be an integer from 2 to {MAX_BINS}, got {bins!r}")
    if strategy not in STRATEGIES:
        raise InvalidArgument(f"strategy must be one of {', '.join(STRATEGIES)}, "
                              f"got {strategy!r}")


def _uniform(scores: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each row's bin of equal width over [0, 1], and the bins' edges."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.searchsorted(edges, scores, side="right") - 1, 0, bins - 1)
    return index, edges[:-1], edges[1:]


def _quantile(scores: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each row's bin of about ``len(scores) / bins`` rows by rank (equal scores share a bin),
    and each bin's lowest and highest score."""
    ordered = np.sort(scores)
    first_rank = np.searchsorted(ordered, scores, side="left")
    groups, index = np.unique(first_rank * bins // len(scores), return_inverse=True)
    lower = np.full(len(groups), np.inf)
    upper = np.full(len(groups), -np.inf)
    np.minimum.at(lower, index, scores)
    np.maximum.at(upper, index, scores)
    return index, lower, upper


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _not_applicable(ev: Evaluation) -> str | None:
    if ev.task != "classification":
        return f"calibration needs a classifier's probabilities; this is a {ev.task} model"
    if ev.classes is None or len(ev.classes) != 2:
        count = 0 if ev.classes is None else len(ev.classes)
        return (f"calibration needs a binary classification; the labels have {count} "
                "classes")
    if ev.scores is None:
        return ("calibration needs the model's probabilities, but it has no predict_proba: "
                "validate a model that outputs probabilities")
    return None


def _figure(predicted: np.ndarray, observed: np.ndarray) -> str:
    from matplotlib.figure import Figure  # no pyplot: no global figure state to clean up

    fig = Figure(figsize=(4.5, 4.5))
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="calibrated")
    ax.plot(predicted, observed, marker="o", color="tab:blue", label="model")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("mean predicted probability")
    ax.set_ylabel("observed frequency")
    ax.set_title("Reliability")
    ax.legend(loc="upper left")
    fig.tight_layout()
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()
