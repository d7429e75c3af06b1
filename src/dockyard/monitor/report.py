"""Per-column drift between a reference and a current sample, from raw data or from profiles.

- :func:`drift_report` (``dockyard.drift_report``) compares two DataFrames
  with exact statistics; no server needed.
- :func:`compare` gives the same table (a DataFrame) from two
  :class:`~dockyard.monitor.profile.Profile` objects (a reference profiled
  once, a window profiled in the serving process or per Spark partition),
  with the sketches' error bounds;
  :func:`data_quality` reads null rates, type errors, out-of-range values,
  unseen categories and the change in distinct values from the same profiles;
  :func:`reference_thresholds` derives thresholds from the reference itself;
  :func:`side_by_side` lays two profiles' histograms of a column on shared bins,
  for drawing.

Defaults (the same rule every column meets, so that large samples do not
flag trivial shifts):

======================  =======================================  ==========================
column                  up to 1,000 rows in either sample          more rows
======================  =======================================  ==========================
numeric                 Kolmogorov-Smirnov test, p < 0.05          normalised Wasserstein > 0.1
categorical             chi-square test, p < 0.05                  Jensen-Shannon distance > 0.1
======================  =======================================  ==========================

``methods`` picks another metric per column and ``thresholds`` other thresholds
(see :func:`drift_report`).
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from numbers import Real
from typing import Any

import numpy as np
import pandas as pd

from dockyard.errors import InvalidArgument
from dockyard.monitor import stats
from dockyard.monitor.profile import CATEGORICAL, NUMERIC, ColumnProfile, Profile, column_kind

__all__ = ["METRICS", "DriftReport", "compare", "data_quality", "drift_report",
           "reference_thresholds", "side_by_side"]

SMALL = 1000
"""Samples up to this many rows are judged by a statistical test, larger ones by a distance."""
P_VALUE = 0.05
WASSERSTEIN = 0.1
JENSEN_SHANNON = 0.1

METRICS: dict[str, tuple[str, frozenset[str], float, bool]] = {
    "ks_p": ("ks p-value", frozenset({NUMERIC}), P_VALUE, True),
    "ks": ("ks", frozenset({NUMERIC}), 0.1, False),
    "wasserstein": ("wasserstein (normalised)", frozenset({NUMERIC}), WASSERSTEIN, False),
    "chi_square_p": ("chi-square p-value", frozenset({CATEGORICAL}), P_VALUE, True),
    "jensen_shannon": ("jensen-shannon", frozenset({NUMERIC, CATEGORICAL}), JENSEN_SHANNON,
                       False),
    "psi": ("psi", frozenset({NUMERIC, CATEGORICAL}), 0.2, False),
    "linf": ("l-infinity", frozenset({NUMERIC, CATEGORICAL}), 0.1, False),
}
"""Each metric: its label in the table, the column kinds it applies to, its default threshold,
and whether a value *below* the threshold means drift (p-values) rather than above."""

TABLE = ["column", "kind", "method", "statistic", "threshold", "drifted", "psi",
         "reference_rows", "current_rows", "ks", "ks_error", "ks_p", "wasserstein",
         "jensen_shannon", "linf", "chi_square_p"]


@dataclass(frozen=True)
class DriftReport:
    """The per-column result of :func:`drift_report` and :func:`compare`."""

    table: pd.DataFrame
    """One row per column: ``column``, ``kind``, ``method``, ``statistic``, ``threshold``,
    ``drifted``, ``psi``, ``reference_rows``, ``current_rows`` (non-null values), then every
    metric: ``ks`` (with ``ks_error``, its error bound: 0 when exact), ``ks_p`` (its
    p-value), ``wasserstein`` (normalised), ``jensen_shannon``, ``linf``, ``chi_square_p``
    (NaN where a metric does not apply to the column's kind)."""

    @property
    def drifted(self) -> list[str]:
        """The columns flagged as drifted."""
        return self.table.loc[self.table["drifted"].eq(True), "column"].tolist()

    @property
    def share_drifted(self) -> float:
        """The share of the judged columns that drifted."""
        judged = self.table["drifted"].notna()
        return float(self.table.loc[judged, "drifted"].astype(bool).mean()) if judged.any() else 0.0

    def _repr_html_(self) -> str:
        return (f"<p>{len(self.drifted)} of {len(self.table)} columns drifted</p>"
                + self.table.to_html(index=False, na_rep="", float_format=lambda v: f"{v:.4g}"))


# ---------------------------------------------------------------------- judging
@dataclass(frozen=True)
class _Rules:
    methods: Mapping[str, str]
    thresholds: Mapping[Any, float]

    def judge(self, row: dict[str, Any], small: bool) -> None:
        name, kind = row["column"], row["kind"]
        metric = self.methods.get(name) or (
            ("ks_p" if small else "wasserstein") if kind == NUMERIC
            else ("chi_square_p" if small else "jensen_shannon"))
        label, _, default, below = METRICS[metric]
        given = next((self.thresholds[key] for key in ((metric, name), name, metric)
                      if key in self.thresholds), default)
        threshold = float(given)
        value = row[metric]
        row.update(method=label, statistic=value, threshold=threshold,
                   drifted=None if value is None or math.isnan(value)
                   else bool(value < threshold if below else value > threshold))


def _rules(kinds: Mapping[str, str], methods: Mapping[str, str] | None,
           thresholds: Mapping[Any, float] | None) -> _Rules:
    methods, thresholds = dict(methods or {}), dict(thresholds or {})
    for name, metric in methods.items():
        if name not in kinds:
            raise InvalidArgument(f"methods names {name!r}, which is not compared")
        if metric not in METRICS or kinds[name] not in METRICS[metric][1]:
            fits = [m for m, spec in METRICS.items() if kinds[name] in spec[1]]
            raise InvalidArgument(f"method {metric!r} does not apply to the {kinds[name]} "
                                  f"column {name!r}; use one of {', '.join(fits)}")
    for key, value in thresholds.items():
        if isinstance(key, tuple):
            if len(key) != 2 or key[0] not in METRICS:
                raise InvalidArgument(f"thresholds key {key!r} is not (metric, column) with a "
                                      f"metric of {', '.join(METRICS)}")
        elif key not in kinds and key not in METRICS:
            raise InvalidArgument(f"thresholds names {key!r}, which is neither a compared column "
                                  f"nor a metric ({', '.join(METRICS)})")
        if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
            raise InvalidArgument(f"the threshold for {key!r} must be a finite number, "
                                  f"got {value!r}")
    return _Rules(methods, thresholds)


def _row(name: str, kind: str, ref_rows: int, cur_rows: int) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(TABLE)
    row.update(column=name, kind=kind, method="no data", reference_rows=ref_rows,
               current_rows=cur_rows)
    for metric in ("ks", "ks_error", *METRICS):
        row[metric] = math.nan
    return row


def _binned(row: dict[str, Any], ref: np.ndarray, cur: np.ndarray) -> None:
    row.update(psi=stats.psi(ref, cur), jensen_shannon=stats.jensen_shannon(ref, cur),
               linf=stats.linf(ref, cur))


def _ks_p_value(ks: float, n: int, m: int) -> float:
    """The p-value of a two-sample KS statistic from the distribution scipy's ks_2samp uses
    for large samples (``kstwo``) up to an effective size of 1,000, and from its limit
    (``kstwobign``, within 0.01 of it there and closer above, and much faster) beyond."""
    from scipy.stats import kstwo, kstwobign

    size = n * m / (n + m)
    if size <= SMALL:
        return float(kstwo.sf(ks, max(1, round(size))))
    return float(kstwobign.sf(ks * math.sqrt(size)))


def _report(rows: list[dict[str, Any]]) -> DriftReport:
    return DriftReport(pd.DataFrame(rows, columns=TABLE))


# ---------------------------------------------------------------------- raw data
def drift_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    columns: Sequence[str] | None = None,
    categorical: Sequence[str] | None = None,
    bins: int = 10,
    methods: Mapping[str, str] | None = None,
    thresholds: Mapping[str | tuple[str, str], float] | None = None,
) -> DriftReport:
    """Compare each column of ``current`` with the same column of ``reference``.

    ``columns`` defaults to the reference's columns. A column is categorical
    when listed in ``categorical`` or when its dtype is not numeric (strings,
    categories, booleans). ``bins`` is the number of reference-quantile bins
    for a numeric column's PSI, Jensen-Shannon and L-infinity. A column with
    no values in either frame gets the method ``no data`` and no flag.

    ``methods`` maps a column to the metric that judges it (a key of
    :data:`METRICS`, e.g. ``{"age": "psi"}``). ``thresholds`` maps a metric
    to its threshold for every column (``{"psi": 0.25}``), a column to the
    threshold of its method (``{"age": 0.3}``), or a ``(metric, column)``
    pair to one threshold (``{("psi", "age"): 0.3}``, as
    :func:`reference_thresholds` returns); the pair wins over the column,
    the column over the metric. Every statistic is exact (KS and
    Wasserstein from one merge of the sorted samples).
    """
    for name, frame in (("reference", reference), ("current", current)):
        if not isinstance(frame, pd.DataFrame):
            raise InvalidArgument(f"{name} must be a pandas DataFrame, got {type(frame).__name__}")
        if len(frame) == 0:
            raise InvalidArgument(f"the {name} data has no rows")
    chosen = list(reference.columns if columns is None else columns)
    for name in chosen:
        for side, frame in (("reference", reference), ("current", current)):
            if name not in frame.columns:
                raise InvalidArgument(
                    f"column {name!r} is not in the {side} data; it has "
                    f"{', '.join(map(repr, frame.columns))}"
                )
    forced = set(categorical or ())
    unknown = forced - set(chosen)
    if unknown:
        raise InvalidArgument(f"categorical names {sorted(unknown)!r}, which are not compared")
    kinds = {name: CATEGORICAL if name in forced else column_kind(reference[name])
             for name in chosen}
    rules = _rules(kinds, methods, thresholds)
    stats._check_bins(bins)
    jobs = [(name, kinds[name], reference[name], current[name]) for name in chosen]

    def run(job: tuple[str, str, pd.Series, pd.Series]) -> dict[str, Any]:
        return _raw_column(*job, bins, rules)

    workers = min(len(jobs), os.cpu_count() or 1)
    if workers > 1 and min(len(reference), len(current)) > 50_000:
        with ThreadPoolExecutor(max_workers=workers) as pool:  # numpy sorts without the GIL
            return _report(list(pool.map(run, jobs)))
    return _report([run(job) for job in jobs])


def _floats(name: str, series: pd.Series) -> np.ndarray:
    if series.dtype == np.float64:
        return series.to_numpy()  # no copy
    try:
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError):
        raise InvalidArgument(
            f"column {name!r} is numeric in the reference but not in the current data; "
            "pass it in categorical= or fix its type"
        ) from None


def _raw_column(name: str, kind: str, ref: pd.Series, cur: pd.Series, bins: int,
                rules: _Rules) -> dict[str, Any]:
    if kind == NUMERIC:
        a = stats.sort_sample(_floats(name, ref))[0]
        b = stats.sort_sample(_floats(name, cur))[0]
        row = _row(name, kind, a.size, b.size)
        if not a.size or not b.size:
            return row
        small = min(a.size, b.size) <= SMALL
        edges = stats.reference_edges(a, bins, is_sorted=True)
        _binned(row, stats.sorted_bin_counts(a, edges), stats.sorted_bin_counts(b, edges))
        ks, distance = stats.sorted_distances(a, b)
        deviations = a - a.mean()
        spread = float(np.sqrt(np.einsum("i,i->", deviations, deviations) / a.size))  # np.std
        del deviations
        if small:
            from scipy.stats import ks_2samp

            p_value = float(ks_2samp(a, b).pvalue)
        else:
            p_value = _ks_p_value(ks, a.size, b.size)
        row.update(ks=ks, ks_error=0.0, ks_p=p_value,
                   wasserstein=distance / spread if spread > 0 else distance)
    else:
        ref_counts, cur_counts = stats.label_counts(ref)[0], stats.label_counts(cur)[0]
        row = _row(name, kind, sum(ref_counts.values()), sum(cur_counts.values()))
        if not ref_counts or not cur_counts:
            return row
        small = min(row["reference_rows"], row["current_rows"]) <= SMALL
        labels = sorted(ref_counts.keys() | cur_counts.keys())
        p = np.array([ref_counts.get(k, 0) for k in labels], dtype=np.int64)
        q = np.array([cur_counts.get(k, 0) for k in labels], dtype=np.int64)
        _binned(row, p, q)
        row["chi_square_p"] = stats.chi_square(p, q)[1]
    rules.judge(row, small)
    return row


# ---------------------------------------------------------------------- profiles
def _pair(reference: Profile, current: Profile,
          columns: Sequence[str] | None) -> list[tuple[ColumnProfile, ColumnProfile]]:
    """The columns to compare: those named (in both profiles), else all the two share."""
    for side, made in (("reference", reference), ("current", current)):
        if not isinstance(made, Profile):
            raise InvalidArgument(f"the {side} must be a Profile, got {type(made).__name__}")
    if columns is None:
        names = [name for name in reference.columns if name in current.columns]
        if not names:
            raise InvalidArgument(
                "the profiles have no column in common: the reference has "
                f"{', '.join(map(repr, reference.columns)) or 'none'}, the current "
                f"{', '.join(map(repr, current.columns)) or 'none'}")
    else:
        names = reference.select(columns)
        current.select(names)
    pairs = []
    for name in names:
        ref, cur = reference.columns[name], current.columns[name]
        if ref.kind != cur.kind:
            raise InvalidArgument(f"column {name!r} is {ref.kind} in the reference profile and "
                                  f"{cur.kind} in the current one")
        pairs.append((ref, cur))
    return pairs


def _same_bins(ref: ColumnProfile, cur: ColumnProfile) -> bool:
    return cur.count == 0 or (ref.edges is not None and cur.edges is not None
                              and np.array_equal(ref.edges, cur.edges))


def compare(reference: Profile, current: Profile, *, columns: Sequence[str] | None = None,
            methods: Mapping[str, str] | None = None,
            thresholds: Mapping[str | tuple[str, str], float] | None = None) -> pd.DataFrame:
    """The table of :func:`drift_report` (a DataFrame, one row per column), from two profiles.

    ``columns`` defaults to the columns both profiles have; a name missing
    from either is an InvalidArgument. ``current`` must have been profiled
    against ``reference`` (``profile(data, reference=reference)``), so that
    both histograms share the reference's bins. PSI, Jensen-Shannon,
    L-infinity and chi-square come from exact counts (histograms,
    categories); KS and the normalised Wasserstein distance come from the
    KLL sketches: the KS statistic is within ``ks_error`` (the two sketches'
    rank errors added, 99% confidence each; 0 while a sketch holds every
    value) of the exact one. Beyond ``max_categories`` categories the counts
    are the frequent-items sketches' estimates, with an ``other`` bin for
    what they no longer tell apart. A column without values on either side
    gets the method ``no data``. ``methods`` and ``thresholds`` are those of
    :func:`drift_report`.
    """
    pairs = _pair(reference, current, columns)
    rules = _rules({ref.name: ref.kind for ref, _ in pairs}, methods, thresholds)
    rows = []
    for ref, cur in pairs:
        row = _row(ref.name, ref.kind, ref.count, cur.count)
        rows.append(row)
        if not ref.count or not cur.count:
            continue
        if ref.kind == NUMERIC:
            if not _same_bins(ref, cur):
                raise InvalidArgument(
                    f"column {ref.name!r} of the current profile is binned on other edges than "
                    "the reference's; make it with profile(data, reference=reference)")
            _binned(row, ref.histogram, cur.histogram)
            ks, distance = stats.weighted_distances(_items(ref), _items(cur))
            spread = ref.std
            row.update(ks=ks, ks_error=ref.rank_error + cur.rank_error,
                       ks_p=_ks_p_value(ks, ref.count, cur.count),
                       wasserstein=distance / spread if spread > 0 else distance)
        else:
            p, q = _category_bins(ref, cur)
            _binned(row, p, q)
            row["chi_square_p"] = stats.chi_square(p, q)[1]
        rules.judge(row, min(ref.count, cur.count) <= SMALL)
    return pd.DataFrame(rows, columns=TABLE)


def _items(column: ColumnProfile) -> tuple[np.ndarray, np.ndarray]:
    """The quantile sketch's retained values and their weights.

    The weights come from the sketch's CDF: its iterator reports weight 1 for
    every item of a merged sketch whose first level is empty.
    """
    sketch = column.quantiles
    values = np.unique(np.fromiter((item for item, _ in sketch), dtype=np.float64))
    ranks = np.asarray(sketch.get_cdf(values.tolist(), True), dtype=np.float64)[:-1]
    return values, np.diff(np.round(ranks * sketch.n), prepend=0.0)


def _category_bins(ref: ColumnProfile, cur: ColumnProfile) -> tuple[np.ndarray, np.ndarray]:
    """Both columns' counts on shared bins: every category either side knows.

    Exact counts bin on every category. A frequent-items sketch knows every
    category exactly up to its capacity (three times ``max_categories`` or
    more); beyond, its most frequent ones with estimated counts, and one more
    bin holds all the values it no longer tells apart.
    """
    ref_counts, cur_counts = ref.category_counts(), cur.category_counts()
    labels = sorted(ref_counts.keys() | cur_counts.keys())
    p = [ref_counts.get(k, 0) for k in labels]
    q = [cur_counts.get(k, 0) for k in labels]
    other = ref.count - sum(p), cur.count - sum(q)
    if other[0] > 0 or other[1] > 0:
        p.append(max(0, other[0]))
        q.append(max(0, other[1]))
    return np.array(p, dtype=np.int64), np.array(q, dtype=np.int64)


OTHER = "(other)"


def side_by_side(reference: ColumnProfile, current: ColumnProfile | None = None, *,
                 max_categories: int = 20) -> dict[str, Any]:
    """The histograms of one column in two profiles, on the reference's bins, for drawing.

    Numbers: ``edges`` are the reference's inner edges (the first and last
    bins are open), ``reference`` and ``current`` the counts per bin; the
    current column must be binned on the same edges (profiled with
    ``profile(data, reference=reference)``). Categories: the reference's most
    frequent ``max_categories`` and then the current side's ``unseen`` ones
    (most frequent first, at most ``max_categories``), the rest counted as
    ``(other)``. Without ``current`` its counts are zeros: the reference alone.
    Both sides give their ``rows`` (values, nulls and type errors) and ``nulls``.
    """
    cur = current
    if cur is not None and cur.kind != reference.kind:
        raise InvalidArgument(f"column {reference.name!r} is {reference.kind} in the reference "
                              f"and {cur.kind} in the current profile")
    out: dict[str, Any] = {
        "kind": reference.kind, "reference_rows": reference.rows,
        "current_rows": cur.rows if cur else 0,
        "reference_nulls": reference.nulls, "current_nulls": cur.nulls if cur else 0}
    if reference.kind == NUMERIC:
        if cur is not None and not _same_bins(reference, cur):
            raise InvalidArgument(
                f"column {reference.name!r} of the current profile is binned on other edges "
                "than the reference's; make it with profile(data, reference=reference)")
        edges = [] if reference.edges is None else reference.edges.tolist()
        out.update(edges=edges, reference=_bin_counts(reference.histogram, len(edges) + 1),
                   current=_bin_counts(cur.histogram if cur else None, len(edges) + 1),
                   reference_range=[reference.min, reference.max])
        return out
    ref_counts = reference.category_counts()
    cur_counts = cur.category_counts() if cur else {}
    top = sorted(ref_counts, key=lambda c: -ref_counts[c])[:max_categories]
    unseen = sorted((c for c in cur_counts if c not in ref_counts),
                    key=lambda c: -cur_counts[c])[:max_categories]
    names = top + unseen
    # estimated counts (a frequent-items sketch) may add up to more than the values
    out.update(categories=[*names, OTHER],
               reference=[ref_counts.get(c, 0) for c in names]
               + [max(0, reference.count - sum(ref_counts.get(c, 0) for c in names))],
               current=[cur_counts.get(c, 0) for c in names]
               + [max(0, (cur.count if cur else 0) - sum(cur_counts.get(c, 0) for c in names))],
               unseen=unseen)
    return out


def _bin_counts(histogram: np.ndarray | None, size: int) -> list[int]:
    return [0] * size if histogram is None else [int(c) for c in histogram]


QUALITY = ["column", "kind", "rows", "null_rate", "type_error_rate", "out_of_range",
           "unseen_categories", "distinct_reference", "distinct_current", "distinct_change",
           "status", "reason"]


def data_quality(reference: Profile, current: Profile, *,
                 columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Data quality of a current profile against its reference: one row per column.

    ``null_rate`` and ``type_error_rate`` (values that are not numbers in a
    numeric column) are shares of the current rows; ``out_of_range`` is the
    share of current values below the reference's min or above its max
    (numeric columns profiled against this reference; exact);
    ``unseen_categories`` the share of current values in categories the
    reference never had (exact while both sides count categories exactly,
    else from the frequent-items sketches); ``distinct_change`` is the HLL
    estimate of distinct current values over the reference's (about 1.6%
    error each at the default size; a small window of a continuous column
    naturally has a small ratio). ``columns`` as in :func:`compare`.

    ``status`` is ``ok`` or ``no data``; ``reason`` says why a value is NaN
    (a window without rows, a column without values, a current profile not
    made against this reference). Never a silent 0.
    """
    rows = []
    for ref, cur in _pair(reference, current, columns):
        row: dict[str, Any] = dict.fromkeys(QUALITY, math.nan)
        row.update(column=ref.name, kind=ref.kind, rows=current.rows, status="ok", reason="")
        rows.append(row)
        if current.rows == 0 or cur.rows == 0:
            row.update(status="no data", reason="the current window has no rows")
            continue
        row.update(null_rate=cur.nulls / cur.rows, type_error_rate=cur.type_errors / cur.rows)
        if cur.count == 0:
            what = "null" if not cur.type_errors else "null or not a number"
            row.update(status="no data", reason=f"every current value is {what}")
            continue
        row["distinct_current"] = cur.distinct_count
        if ref.count == 0:
            row.update(status="no data", reason="the reference has no values in this column")
            continue
        row["distinct_reference"] = ref.distinct_count
        row["distinct_change"] = row["distinct_current"] / row["distinct_reference"]
        if ref.kind == NUMERIC:
            if cur.bounds == (ref.min, ref.max):
                row["out_of_range"] = (cur.below + cur.above) / cur.count
            else:
                row["reason"] = ("out_of_range needs the current data profiled against this "
                                 "reference: profile(data, reference=reference)")
        else:
            known = ref.category_counts()
            seen = cur.category_counts()
            row["unseen_categories"] = sum(n for k, n in seen.items() if k not in known
                                           ) / cur.count
            if ref.categories is None or cur.categories is None:
                row["reason"] = "unseen_categories is estimated from the frequent-items sketch"
    return pd.DataFrame(rows, columns=QUALITY)


def reference_thresholds(data: Any, reference: Profile | None = None, *, chunks: int = 10,
                         sigmas: float = 3.0, **options: Any) -> dict[tuple[str, str], float]:
    """Thresholds derived from the reference: per metric and column, mean + ``sigmas`` x sd.

    ``data`` (the reference data: a DataFrame or a pyarrow Table) is split
    into ``chunks`` consecutive chunks; each chunk is profiled against the
    reference profile (``reference``, or the profile of ``data`` made with
    ``options``) and compared with it, and every distance metric (``ks``,
    ``wasserstein``, ``psi``, ``jensen_shannon``, ``linf``) gets the mean
    plus ``sigmas`` standard deviations of its values over the chunks, keyed
    ``(metric, column)``. Pass the result as ``thresholds=`` to
    :func:`compare` or :func:`drift_report`. Chunks about the size of the
    windows you monitor give the most fitting thresholds.
    """
    import pyarrow as pa

    if not isinstance(data, (pd.DataFrame, pa.Table)):
        raise InvalidArgument("the reference data must be a pandas DataFrame or a pyarrow Table, "
                              f"got {type(data).__name__}")
    if not isinstance(chunks, int) or isinstance(chunks, bool) or chunks < 2:
        raise InvalidArgument(f"chunks must be a whole number of at least 2, got {chunks!r}")
    if not isinstance(sigmas, Real) or not math.isfinite(sigmas) or sigmas < 0:
        raise InvalidArgument(f"sigmas must be a finite number of 0 or more, got {sigmas!r}")
    rows = len(data)
    if rows < chunks:
        raise InvalidArgument(f"the reference has {rows} rows, fewer than chunks={chunks}")
    whole = Profile.from_data(data, **options) if reference is None else reference
    kept = {k: v for k, v in options.items() if k in ("columns", "categorical", "threads")}
    bounds = np.linspace(0, rows, chunks + 1).astype(int)
    seen: dict[tuple[str, str], list[float]] = {}
    for start, stop in itertools.pairwise(bounds):
        part = (data.iloc[start:stop] if isinstance(data, pd.DataFrame)
                else data.slice(start, stop - start))
        table = compare(whole, Profile.from_data(part, reference=whole, **kept))
        for record in table.to_dict("records"):
            for metric, (_, kinds, _, below) in METRICS.items():
                value = record[metric]
                if not below and record["kind"] in kinds and not math.isnan(value):
                    seen.setdefault((metric, record["column"]), []).append(value)
    return {key: float(np.mean(values) + sigmas * np.std(values, ddof=1))
            for key, values in seen.items() if len(values) > 1}
