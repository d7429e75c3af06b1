"""Robustness: how the model's metrics degrade when its input is perturbed.

Only the model's feature columns are perturbed (those its signature or its
``feature_names_in_`` name; all of ``ev.features`` when the model names
none); ``columns`` restricts them further. Four perturbations, each at each
of its scales, on a copy of (at most ``max_rows``, default 20,000, randomly
drawn) rows:

- ``noise``: Gaussian noise of std ``scale × the column's std`` added to every
  numeric column (integer columns are rounded back to integers);
- ``missing``: that share of each column's values set missing (NaN, or None
  in a text column);
- ``outliers``: that share of each numeric column's values set to
  ``mean ± 5 std`` (random sign; std 1 for a constant column);
- ``swap``: that share of each categorical, boolean or text column's values
  replaced by another value of the same column.

Metrics, for each ``<kind>_<scale>`` (scale as ``format(scale, "g")``: ``noise_0.1``)
and each of the task's metrics ``<m>`` the model's predictions allow:

- ``robustness.<kind>_<scale>.<m>``: the metric on the perturbed copy;
- ``robustness.<kind>_<scale>.<m>_drop``: how much worse than on the same rows
  unperturbed (``baseline − perturbed`` for a higher-is-better metric,
  ``perturbed − baseline`` otherwise: positive when worse);
- ``robustness.worst_feature_drop``: the largest drop of the primary metric
  (accuracy; RMSE for a regression) when one column alone is perturbed: a
  numeric column by noise at the middle noise scale, any other column by a
  swap at the middle swap rate, on at most ``max(1000, max_rows / columns)``
  rows per column.

A kind with no column it applies to (no text column to swap) gives no
metrics. A perturbation the model refuses (it rejects NaN) is a row of table
``failures`` (kind, scale, error; empty when none) instead of metrics. Tables: ``curves``
(kind, scale, metric, value, drop: the degradation curves) and ``features``
(column, perturbation, metric, drop; worst first). Perturbed copies are
stacked and predicted in as few model calls as possible.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from dockyard.errors import InvalidArgument
from dockyard.validation.evaluation import Evaluation, higher_is_better
from dockyard.validation.results import CheckResult

KINDS = ("noise", "missing", "outliers", "swap")
CHUNK_ROWS = 100_000
"""The most rows one model call gets."""

Prediction = tuple[np.ndarray, np.ndarray | None]


def names(task: str, metric_names: tuple[str, ...], *, noise: Sequence[float] = (0.05, 0.1, 0.2),
          missing: Sequence[float] = (0.1,), outliers: Sequence[float] = (0.05,),
          swap: Sequence[float] = (0.1,), columns: str | Sequence[str] | None = None,
          seed: int = 0, max_rows: int = 20_000) -> list[str]:
    """The metric names :func:`robustness` can produce for these options."""
    plan = _check_options(noise, missing, outliers, swap, columns, seed, max_rows)
    out = [f"robustness.{kind}_{format(scale, 'g')}.{m}{suffix}"
           for kind, scales in plan.items() for scale in scales
           for m in metric_names for suffix in ("", "_drop")]
    return out + (["robustness.worst_feature_drop"] if noise or swap else [])


def robustness(ev: Evaluation, *, noise: Sequence[float] = (0.05, 0.1, 0.2),
               missing: Sequence[float] = (0.1,), outliers: Sequence[float] = (0.05,),
               swap: Sequence[float] = (0.1,), columns: str | Sequence[str] | None = None,
               seed: int = 0, max_rows: int = 20_000) -> CheckResult:
    """The metrics under each perturbation and each column's sensitivity; see the module."""
    plan = _check_options(noise, missing, outliers, swap, columns, seed, max_rows)
    chosen = chosen_columns(ev, columns)
    rng = np.random.default_rng(seed)
    rows = _sample(len(ev.features), max_rows, rng)
    x = ev.features.iloc[rows][ev.model_columns].reset_index(drop=True)
    labels = ev.labels[rows]
    base = ev.score(labels, ev.predictions[rows],
                    ev.scores[rows] if ev.scores is not None else None)
    numeric = [c for c in chosen if _is_numeric(x[c])]
    other = [c for c in chosen if not _is_numeric(x[c]) and x[c].dtype.kind not in "Mm"]
    targets = {"noise": numeric, "missing": numeric + other, "outliers": numeric, "swap": other}

    jobs: list[tuple[tuple[str, float], pd.DataFrame]] = []
    for k, (kind, scales) in enumerate(plan.items()):
        for i, scale in enumerate(scales):
            if targets[kind]:
                r = np.random.default_rng((seed, k, i))
                jobs.append(((kind, scale), _perturbed(x, targets[kind], kind, scale, r)))
    answers = predict_frames(ev, [frame for _, frame in jobs], scores=True)
    metrics: dict[str, float] = {}
    curves: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    for ((kind, scale), _), answer in zip(jobs, answers):
        if isinstance(answer, Exception):
            failures.append({"kind": kind, "scale": float(scale), "error": _message(answer)})
            continue
        values = ev.score(labels, *answer)
        for m, value in values.items():
            if m not in base:
                continue
            drop = _drop(m, base[m], value)
            key = f"robustness.{kind}_{format(scale, 'g')}.{m}"
            metrics[key], metrics[f"{key}_drop"] = value, drop
            curves.append({"kind": kind, "scale": float(scale), "metric": m, "value": value,
                           "drop": drop})

    features = _sensitivity(ev, x, labels, rows, plan, numeric, other, seed, max_rows, failures)
    if features:
        metrics["robustness.worst_feature_drop"] = features[0]["drop"]
    tables = {"curves": curves, "features": features, "failures": failures}
    return CheckResult(name="robustness", metrics=metrics, tables=tables,
                       summary=_summary(ev.primary_metric, curves, features, failures, targets,
                                        plan, len(x)))


def predict_frames(ev: Evaluation, frames: list[pd.DataFrame], *,
                   scores: bool) -> list[Prediction | Exception]:
    """Predictions (and positive-class scores when ``scores`` and the model has them) for each
    frame, stacking frames of the same dtypes into calls of at most :data:`CHUNK_ROWS` rows.

    When a stacked call fails, its frames are retried one by one; a frame that fails alone
    gets the exception in place of its answer.
    """
    want = scores and ev.scores is not None
    out: list[Prediction | Exception | None] = [None] * len(frames)
    groups: dict[tuple[str, ...], list[int]] = {}
    for i, frame in enumerate(frames):
        groups.setdefault(tuple(map(str, frame.dtypes)), []).append(i)
    for members in groups.values():
        chunk: list[int] = []
        for i in members + [-1]:
            rows = sum(len(frames[j]) for j in chunk)
            if chunk and (i < 0 or rows + len(frames[i]) > CHUNK_ROWS):
                _predict_chunk(ev, frames, chunk, want, out)
                chunk = []
            if i >= 0:
                chunk.append(i)
    return [answer if answer is not None else RuntimeError("not predicted") for answer in out]


def _predict_chunk(ev: Evaluation, frames: list[pd.DataFrame], chunk: list[int], want: bool,
                   out: list[Prediction | Exception | None]) -> None:
    try:
        stacked = pd.concat([frames[j] for j in chunk], ignore_index=True) \
            if len(chunk) > 1 else frames[chunk[0]]
        pred = ev.predict(stacked)
        score = ev.scores_for(stacked) if want else None
    except Exception as error:  # noqa: BLE001 - the model refused this input: record it
        if len(chunk) == 1:
            out[chunk[0]] = error
        else:
            for j in chunk:
                _predict_chunk(ev, frames, [j], want, out)
        return
    start = 0
    for j in chunk:
        stop = start + len(frames[j])
        out[j] = (pred[start:stop], score[start:stop] if score is not None else None)
        start = stop


def _sensitivity(ev: Evaluation, x: pd.DataFrame, labels: np.ndarray, rows: np.ndarray,
                 plan: dict[str, tuple[float, ...]], numeric: list[str], other: list[str],
                 seed: int, max_rows: int, failures: list[dict[str, Any]]
                 ) -> list[dict[str, Any]]:
    """The primary metric's drop with one column perturbed, worst first."""
    middle = {kind: sorted(plan[kind])[len(plan[kind]) // 2]
              for kind in ("noise", "swap") if plan[kind]}
    todo = [(c, "noise") for c in numeric if "noise" in middle] + \
        [(c, "swap") for c in other if "swap" in middle]
    if not todo:
        return []
    n = min(len(x), max(1000, max_rows // len(todo)))
    part = x.iloc[:n]  # x is already a random sample
    primary = ev.primary_metric
    base = ev.score(labels[:n], ev.predictions[rows[:n]])[primary]
    frames = [_perturbed(part, [c], kind, middle[kind], np.random.default_rng((seed, 9, j)))
              for j, (c, kind) in enumerate(todo)]
    table = []
    for (c, kind), answer in zip(todo, predict_frames(ev, frames, scores=False)):
        if isinstance(answer, Exception):
            failures.append({"kind": f"{kind} of {c}", "scale": float(middle[kind]),
                             "error": _message(answer)})
            continue
        value = ev.score(labels[:n], answer[0])[primary]
        table.append({"column": c, "perturbation": f"{kind} {format(middle[kind], 'g')}",
                      "metric": primary, "drop": _drop(primary, base, value)})
    return sorted(table, key=lambda row: -row["drop"])


# perturbations --------------------------------------------------------------------------
def _perturbed(x: pd.DataFrame, columns: list[str], kind: str, scale: float,
               rng: np.random.Generator) -> pd.DataFrame:
    out = x.copy()
    for c in columns:
        out[c] = _PERTURB[kind](x[c], scale, rng)
    return out


def _noise(s: pd.Series, scale: float, rng: np.random.Generator) -> pd.Series:
    values = s.to_numpy(dtype=np.float64, na_value=np.nan, copy=True)
    std = _std(values)
    return _numeric_like(s, values + rng.normal(0.0, scale * std, len(values)))


def _outliers(s: pd.Series, rate: float, rng: np.random.Generator) -> pd.Series:
    values = s.to_numpy(dtype=np.float64, na_value=np.nan, copy=True)
    at = _positions(len(values), rate, rng)
    sign = rng.choice(np.array([-1.0, 1.0]), len(at))
    values[at] = np.nanmean(values) + sign * 5.0 * (_std(values) or 1.0) \
        if np.isfinite(values).any() else sign * 5.0
    return _numeric_like(s, values)


def _missing(s: pd.Series, rate: float, rng: np.random.Generator) -> pd.Series:
    hole = np.zeros(len(s), dtype=bool)
    hole[_positions(len(s), rate, rng)] = True
    if s.dtype == object:
        return s.where(~hole, None)
    return s.mask(hole)


def _swap(s: pd.Series, rate: float, rng: np.random.Generator) -> pd.Series:
    codes, uniques = pd.factorize(s)
    k = len(uniques)
    if k < 2:
        return s.copy()
    at = _positions(len(s), rate, rng)
    old = codes[at]
    new = np.where(old >= 0, (old + rng.integers(1, k, len(at))) % k, rng.integers(0, k, len(at)))
    out = s.astype(object)
    out.iloc[at] = np.asarray(uniques, dtype=object)[new]
    return out.astype(s.dtype)


_PERTURB: dict[str, Callable[[pd.Series, float, np.random.Generator], pd.Series]] = {
    "noise": _noise, "missing": _missing, "outliers": _outliers, "swap": _swap}


def _numeric_like(s: pd.Series, values: np.ndarray) -> pd.Series:
    """``values`` in the dtype of ``s`` (rounded for an integer column)."""
    if s.dtype.kind in "iu":
        values = np.round(values)
        if not pd.api.types.is_extension_array_dtype(s.dtype):
            info = np.iinfo(s.dtype)
            values = np.clip(values, info.min, info.max)
    return pd.Series(values, index=s.index, name=s.name).astype(s.dtype)


def _std(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.std()) if len(finite) > 1 else 0.0


def _positions(n: int, rate: float, rng: np.random.Generator) -> np.ndarray:
    return rng.choice(n, size=min(n, round(rate * n)), replace=False)


def _is_numeric(s: pd.Series) -> bool:
    return s.dtype.kind in "iuf"


# options and reporting --------------------------------------------------------------------
def _check_options(noise: Any, missing: Any, outliers: Any, swap: Any, columns: Any, seed: Any,
                   max_rows: Any) -> dict[str, tuple[float, ...]]:
    plan: dict[str, tuple[float, ...]] = {}
    for kind, scales in zip(KINDS, (noise, missing, outliers, swap)):
        if isinstance(scales, (int, float)) and not isinstance(scales, bool):
            scales = (scales,)
        if isinstance(scales, (str, bytes)) or not isinstance(scales, Sequence) or any(
                isinstance(s, bool) or not isinstance(s, (int, float)) for s in scales):
            raise InvalidArgument(f"{kind} must be a list of numbers, got {scales!r}")
        upper = np.inf if kind == "noise" else 1.0
        if any(not 0 < s <= upper for s in scales):
            what = "positive numbers (multiples of a column's std)" if kind == "noise" \
                else "shares of the rows, above 0 and at most 1"
            raise InvalidArgument(f"{kind} scales must be {what}; got {list(scales)!r}")
        plan[kind] = tuple(float(s) for s in dict.fromkeys(scales))
    if columns is not None and not isinstance(columns, str) and (
            not isinstance(columns, Sequence) or not columns
            or not all(isinstance(c, str) for c in columns)):
        raise InvalidArgument(f"columns must be a column name or a non-empty list of names, "
                              f"got {columns!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InvalidArgument(f"seed must be a non-negative integer, got {seed!r}")
    if isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 1:
        raise InvalidArgument(f"max_rows must be a positive integer, got {max_rows!r}")
    return plan


def chosen_columns(ev: Evaluation, columns: str | Sequence[str] | None) -> list[str]:
    """The model's feature columns to perturb (InvalidArgument for one the model does not
    read): cheap, so a caller can check ``columns`` before any prediction."""
    features = ev.model_columns
    if columns is None:
        return features
    wanted = [columns] if isinstance(columns, str) else list(columns)
    unknown = [c for c in wanted if c not in features]
    if unknown:
        raise InvalidArgument(f"columns {', '.join(map(repr, unknown))} are not among the "
                              f"model's features: {', '.join(map(str, features))}")
    return [c for c in features if c in set(wanted)]


def _sample(n: int, max_rows: int, rng: np.random.Generator) -> np.ndarray:
    """At most ``max_rows`` row numbers in random order (so any prefix is a random sample)."""
    return rng.permutation(n)[:max_rows]


def _drop(metric: str, base: float, value: float) -> float:
    return float(base - value) if higher_is_better(metric) else float(value - base)


def _message(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"[:500]


def _summary(primary: str, curves: list[dict[str, Any]], features: list[dict[str, Any]],
             failures: list[dict[str, Any]], targets: dict[str, list[str]],
             plan: dict[str, tuple[float, ...]], rows: int) -> str:
    parts = []
    mine = [row for row in curves if row["metric"] == primary]
    if mine:
        worst = max(mine, key=lambda row: row["drop"])
        parts.append(f"On {rows} rows, {primary} drops by at most {worst['drop']:.4f} "
                     f"(under {worst['kind']} at {format(worst['scale'], 'g')})")
    if features:
        parts.append(f"the most sensitive column is {features[0]['column']!r} "
                     f"(drop {features[0]['drop']:.4f})")
    if failures:
        parts.append("the model failed under " + ", ".join(
            sorted({f"{row['kind']} at {format(row['scale'], 'g')}" for row in failures})))
    skipped = [kind for kind in KINDS if plan[kind] and not targets[kind]]
    if skipped:
        parts.append(f"no column to apply {', '.join(skipped)} to")
    return ("; ".join(parts) or "No perturbation was applied") + "."
