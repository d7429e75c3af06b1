"""Cohorts: the model's metrics on slices of the data, and how far the worst slice falls behind.

A model that is good on average can be poor on one group. This check scores
the model on each cohort, from the predictions already made on the whole data
set (no extra model call), and reports the worst. ``cohorts`` is a list of specs:

- ``"region"``: one cohort per distinct value of a column (missing values are a
  cohort of their own); a numeric column with more than 10 distinct values is
  cut into 4 quantile bins instead;
- ``{"column": "age", "bins": 4}``: quantile bins of a numeric column;
  ``{"column": "age", "bins": [0, 30, 60, 120]}``: bins between these edges
  (left-closed, the last one closed on both sides; values outside them are in
  no cohort);
- ``{"name": "young_rich", "where": "age < 30 and income > 50000"}``: the rows
  a predicate selects (:meth:`pandas.DataFrame.eval` on the data, target
  included; quote column names with spaces in backticks).

A value or bin cohort with fewer than ``min_size`` rows is skipped (its
metrics would be noise) and listed in the summary and the ``skipped`` table;
a named predicate cohort that small is a mistake in the spec and is refused.

Metrics, for each metric ``m`` of the task that the whole data set produces:

- ``cohort_worst.<m>``: the value of ``m`` on the worst cohort for ``m`` (the
  lowest for a higher-is-better metric such as accuracy, the highest for an
  error such as rmse);
- ``cohort_gap.<m>``: how much worse that cohort is than the whole data set:
  overall − worst for a higher-is-better metric, worst − overall otherwise
  (positive when the cohort is worse, 0 or less when no cohort is).

Tables: ``cohorts`` (one row per scored cohort: ``cohort``, ``kind`` (value,
bins, where), ``rows`` and each metric, worst first by the task's primary
metric) and ``skipped`` (``cohort``, ``kind``, ``rows``, ``reason``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from dockyard.errors import InvalidArgument
from dockyard.validation.evaluation import Evaluation, higher_is_better
from dockyard.validation.results import CheckResult

AUTO_BINS = 4
MAX_DISTINCT_FOR_VALUES = 10
MAX_VALUE_COHORTS = 100

# a cohort to score: label, kind, row mask
_Cohort = tuple[str, str, np.ndarray]


def names(task: str, metric_names: tuple[str, ...], cohorts: Any, *,
          min_size: int = 30) -> list[str]:
    """The metric names :func:`cohorts` produces (those the data allows, at most)."""
    _check_static(cohorts, min_size)
    return [f"{kind}.{m}" for kind in ("cohort_worst", "cohort_gap") for m in metric_names]


def cohorts(ev: Evaluation, cohorts: Any, *, min_size: int = 30) -> CheckResult:
    """Score the model on each cohort; see the module docstring."""
    return _score(ev, find(ev.frame, cohorts, min_size=min_size), min_size)


def find(frame: pd.DataFrame, cohorts: Any, *, min_size: int = 30) -> list[_Cohort]:
    """The cohorts' rows in ``frame``, as (label, kind, mask). Raises InvalidArgument for a
    bad spec, a column the data does not have and a named cohort under ``min_size`` rows:
    cheap, so a caller can check them before any prediction."""
    specs = _check_static(cohorts, min_size)
    lookup = {str(c): c for c in frame.columns}
    for spec in specs:
        if "column" not in spec:
            continue
        if spec["column"] not in lookup:
            raise InvalidArgument(f"cohort column {spec['column']!r} is not in the data; its "
                                  f"columns are: {', '.join(lookup)}")
        if "bins" in spec and not _numeric(frame[lookup[spec["column"]]]):
            raise InvalidArgument(f"cohort column {spec['column']!r} is not numeric, so it "
                                  "cannot be binned: drop 'bins' to get one cohort per value")
    named = [_predicate(frame, spec, min_size) for spec in specs if "where" in spec]
    found: list[_Cohort] = []
    for spec in specs:
        if "column" in spec:
            found.extend(_column_cohorts(frame[lookup[spec["column"]]], spec))
    found.extend(named)
    return found


def _score(ev: Evaluation, found: list[_Cohort], min_size: int) -> CheckResult:
    scored, skipped = [], []
    for label, kind, mask in found:
        rows = int(mask.sum())
        if rows < min_size:
            skipped.append({"cohort": label, "kind": kind, "rows": rows,
                            "reason": f"fewer than min_size={min_size} rows"})
            continue
        scored.append({"cohort": label, "kind": kind, "rows": rows, **ev.score_rows(mask)})

    overall = ev.score_rows()
    metric_list = [m for m in ev.metric_names if m in overall]
    metrics: dict[str, float] = {}
    for m in metric_list:
        having = [row for row in scored if m in row]
        if not having:
            continue
        pick = min if higher_is_better(m) else max
        worst = float(pick(row[m] for row in having))
        metrics[f"cohort_worst.{m}"] = worst
        metrics[f"cohort_gap.{m}"] = (overall[m] - worst if higher_is_better(m)
                                      else worst - overall[m])
    primary = ev.primary_metric
    sign = 1.0 if higher_is_better(primary) else -1.0
    scored.sort(key=lambda row: (primary not in row, sign * row.get(primary, 0.0)))
    return CheckResult(name="cohorts", metrics=metrics,
                       tables={"cohorts": scored, "skipped": skipped},
                       summary=_summary(scored, skipped, overall, primary, min_size))


def _check_static(specs: Any, min_size: Any) -> list[dict[str, Any]]:
    """The specs in one shape (dicts), after the checks that need no data."""
    if isinstance(min_size, bool) or not isinstance(min_size, int) or min_size < 1:
        raise InvalidArgument(f"min_size must be a positive integer, got {min_size!r}")
    if isinstance(specs, (str, dict)) or not isinstance(specs, (list, tuple)) or not specs:
        raise InvalidArgument("cohorts must be a non-empty list of specs: column names, "
                              "{'column': ..., 'bins': ...} or {'name': ..., 'where': ...}")
    out, seen = [], set()
    for spec in specs:
        if isinstance(spec, str):
            spec = {"column": spec}
        if not isinstance(spec, dict):
            raise InvalidArgument(f"a cohort spec must be a column name or a mapping, "
                                  f"got {spec!r}")
        keys = set(spec)
        if "where" in spec:
            name, where = spec.get("name"), spec["where"]
            if keys != {"name", "where"} or not isinstance(name, str) or not name.strip() \
                    or not isinstance(where, str) or not where.strip():
                raise InvalidArgument(f"a predicate cohort needs exactly a non-empty 'name' "
                                      f"and 'where' (a pandas expression), got {spec!r}")
            if name in seen:
                raise InvalidArgument(f"two cohorts are named {name!r}: give each its own")
            seen.add(name)
        elif "column" in spec:
            bins = spec.get("bins")
            if not keys <= {"column", "bins"} or not isinstance(spec["column"], str):
                raise InvalidArgument(f"a column cohort has a 'column' (a name) and optional "
                                      f"'bins', got {spec!r}")
            if "bins" in spec and not _good_bins(bins):
                raise InvalidArgument(
                    f"bins of cohort column {spec['column']!r} must be a number of quantile "
                    f"bins (>= 2) or a list of at least 2 increasing edges, got {bins!r}")
        else:
            raise InvalidArgument(f"a cohort spec needs a 'column' or a 'where', got {spec!r}")
        out.append(dict(spec))
    return out


def _good_bins(bins: Any) -> bool:
    if isinstance(bins, bool):
        return False
    if isinstance(bins, int):
        return bins >= 2
    if isinstance(bins, (list, tuple)) and len(bins) >= 2 and all(
            isinstance(b, (int, float)) and not isinstance(b, bool) and np.isfinite(b)
            for b in bins):
        return bool(np.all(np.diff(np.asarray(bins, dtype=np.float64)) > 0))
    return False


def _numeric(column: pd.Series) -> bool:
    return column.dtype.kind in "iuf"


def _predicate(frame: pd.DataFrame, spec: dict[str, Any], min_size: int) -> _Cohort:
    name, where = spec["name"], spec["where"]
    try:
        result = frame.eval(where, local_dict={}, global_dict={})
    except Exception as exc:  # any parse or evaluation failure is the spec's
        raise InvalidArgument(f"cohort {name!r}: the predicate {where!r} does not evaluate on "
                              f"the data ({type(exc).__name__}: {exc}); write it as a pandas "
                              "expression over the columns, e.g. 'age < 30 and region == "
                              "\"north\"'") from exc
    if not isinstance(result, pd.Series) or result.dtype.kind != "b":
        raise InvalidArgument(f"cohort {name!r}: the predicate {where!r} must give True or "
                              "False per row (a comparison), not a value")
    mask = result.to_numpy(dtype=bool)
    rows = int(mask.sum())
    if rows < min_size:
        raise InvalidArgument(f"cohort {name!r} has {rows} rows, fewer than "
                              f"min_size={min_size}: widen it or lower min_size")
    return name, "where", mask


def _column_cohorts(column: pd.Series, spec: dict[str, Any]) -> list[_Cohort]:
    name, bins = str(spec["column"]), spec.get("bins")
    if bins is None and _numeric(column) and column.nunique() > MAX_DISTINCT_FOR_VALUES:
        bins = AUTO_BINS
    if bins is None:
        return _value_cohorts(column, name)
    values = column.to_numpy(dtype=np.float64)
    present = ~np.isnan(values)
    if isinstance(bins, int):
        edges = np.unique(np.quantile(values[present], np.linspace(0, 1, bins + 1))) \
            if present.any() else np.asarray([])
    else:
        edges = np.asarray(bins, dtype=np.float64)
    out: list[_Cohort] = []
    if len(edges) == 1:  # a constant column: one cohort
        out.append((f"{name} = {edges[0]:g}", "bins", present))
    elif len(edges) >= 2:
        index = np.searchsorted(edges, values, side="right") - 1
        index[values == edges[-1]] = len(edges) - 2  # the last bin is closed on the right
        for i in range(len(edges) - 1):
            close = "]" if i == len(edges) - 2 else ")"
            label = f"{name} in [{edges[i]:g}, {edges[i + 1]:g}{close}"
            out.append((label, "bins", present & (index == i)))
    if not present.all():
        out.append((f"{name} is missing", "bins", ~present))
    return out


def _value_cohorts(column: pd.Series, name: str) -> list[_Cohort]:
    try:
        codes, uniques = pd.factorize(column, sort=True)
    except TypeError:  # values that do not sort together (mixed types): first-seen order
        codes, uniques = pd.factorize(column)
    if len(uniques) > MAX_VALUE_COHORTS:
        raise InvalidArgument(
            f"cohort column {name!r} has {len(uniques)} distinct values, more than "
            f"{MAX_VALUE_COHORTS}: group them into a coarser column or use predicates")
    out: list[_Cohort] = [(f"{name} = {_plain(value)}", "value", codes == i)
                          for i, value in enumerate(uniques)]
    if (codes == -1).any():
        out.append((f"{name} is missing", "value", codes == -1))
    return out


def _plain(value: Any) -> str:
    return str(value.item() if isinstance(value, np.generic) else value)


def _summary(scored: list[dict[str, Any]], skipped: list[dict[str, Any]],
             overall: dict[str, float], primary: str, min_size: int) -> str:
    if not scored:
        text = f"No cohort has {min_size} rows or more; none was scored."
    elif primary not in scored[0] or primary not in overall:
        text = f"{len(scored)} cohorts scored; {primary} is not available on them."
    else:
        worst = scored[0]
        text = (f"Worst of {len(scored)} cohorts on {primary}: {worst['cohort']!r} with "
                f"{worst[primary]:.4g} against {overall[primary]:.4g} overall "
                f"({worst['rows']} rows).")
    if skipped:
        listed = ", ".join(repr(row["cohort"]) for row in skipped[:10])
        more = f" and {len(skipped) - 10} more" if len(skipped) > 10 else ""
        text += (f" Skipped {len(skipped)} with fewer than {min_size} rows: "
                 f"{listed}{more}.")
    return text
