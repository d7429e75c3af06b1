"""Drift statistics: how far a current sample of a column is from its reference.

Two kinds of input:

- **raw samples** (1-D numpy arrays, NaN dropped): :func:`ks_statistic` and
  :func:`wasserstein`, exact, computed from the sorted values in
  ``O((n + m) log(n + m))`` without a Python loop;
- **counts on shared bins** (numeric columns binned on edges taken from the
  reference with :func:`reference_edges`, categories counted with
  :func:`category_counts`): :func:`psi`, :func:`jensen_shannon`,
  :func:`linf` and :func:`chi_square`. Counts are what per-window profiles
  keep, so these work unchanged on merged profiles.

Every function raises InvalidArgument for an empty sample or counts that
sum to zero, rather than returning a silent zero.

The helpers that work on an already sorted sample (:func:`sort_sample`,
:func:`sorted_quantiles`, :func:`sorted_bin_counts`,
:func:`sorted_distances`) are shared by :func:`~dockyard.monitor.report.drift_report`
and the profiles of :mod:`dockyard.monitor.profile`: a column is sorted once
and everything else is read from the sorted values.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from dockyard.errors import InvalidArgument

__all__ = [
    "PSI_FLOOR",
    "bin_counts",
    "category_counts",
    "chi_square",
    "jensen_shannon",
    "ks_statistic",
    "label_counts",
    "linf",
    "psi",
    "reference_edges",
    "sort_sample",
    "sorted_bin_counts",
    "sorted_distances",
    "sorted_quantiles",
    "wasserstein",
    "weighted_distances",
]

PSI_FLOOR = 1e-4
"""Share given to an empty bin in :func:`psi`, which is infinite otherwise."""


def sort_sample(values: Any) -> tuple[np.ndarray, int, int]:
    """The finite values of a sample, sorted, and how many were NaN and how many infinite.

    One sort does it: NaN sorts last and the infinities next to it.
    """
    array = np.sort(np.asarray(values, dtype=np.float64).ravel())
    end = int(np.searchsorted(array, np.nan, side="left"))  # NaN sorts after everything
    start = int(np.searchsorted(array, -np.inf, side="right"))
    stop = int(np.searchsorted(array[:end], np.inf, side="left"))
    return array[start:stop], array.size - end, start + end - stop


def _sample(values: Any, name: str) -> np.ndarray:
    array = sort_sample(values)[0]
    if array.size == 0:
        raise InvalidArgument(f"the {name} sample has no values (empty or all null)")
    return array


def _shares(counts: Any, name: str) -> np.ndarray:
    array = np.asarray(counts, dtype=np.float64)
    if array.ndim != 1 or (array < 0).any():
        raise InvalidArgument(f"{name} counts must be a 1-D array of counts of 0 or more")
    total = array.sum()
    if total <= 0:
        raise InvalidArgument(f"the {name} counts are all zero: there is no data to compare")
    return array / total


def _pair(reference: Any, current: Any) -> tuple[np.ndarray, np.ndarray]:
    p, q = _shares(reference, "reference"), _shares(current, "current")
    if p.shape != q.shape:
        raise InvalidArgument(
            f"reference and current counts have {p.size} and {q.size} bins; "
            "count both on the same bins"
        )
    return p, q


def sorted_distances(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """The exact KS statistic and Wasserstein-1 distance of two sorted samples of finite values.

    The two samples are merged piece by piece, each piece a range of values
    cut at the same points in both (so that equal values share a piece): a
    stable argsort of two sorted runs is a single merge. The gap between the
    empirical CDFs is kept in whole numbers: ``n * m`` times the gap grows by
    ``m`` at each reference value and falls by ``n`` at each current one, so
    a cumulative sum gives it, ties and maximum exact.
    """
    n, m = reference.size, current.size
    cuts = np.unique(np.concatenate([reference[_MERGE::_MERGE], current[_MERGE::_MERGE]]))
    ends_a = np.append(np.searchsorted(reference, cuts, side="left"), n)
    ends_b = np.append(np.searchsorted(current, cuts, side="left"), m)
    ks, distance, a, b = 0, 0.0, 0, 0
    previous: tuple[int, float] | None = None  # the gap after the last value so far, and it
    for stop_a, stop_b in zip(ends_a.tolist(), ends_b.tolist()):
        if stop_a == a and stop_b == b:
            continue
        values = np.concatenate([reference[a:stop_a], current[b:stop_b]])
        order = np.argsort(values, kind="stable")
        gap = np.where(order < stop_a - a, np.int64(m), np.int64(-n))
        gap[0] += a * m - b * n  # the gap before this piece
        values = values[order]
        del order
        np.cumsum(gap, out=gap)
        np.abs(gap, out=gap)
        if previous is not None:
            distance += previous[0] * (values[0] - previous[1])
        step = np.diff(values)
        ks = max(ks, int(gap[:-1].max(initial=0, where=step > 0)), int(gap[-1]))
        distance += float(np.einsum("i,i->", gap[:-1], step))  # einsum: no BLAS threads
        previous, a, b = (int(gap[-1]), float(values[-1])), stop_a, stop_b
    scale = float(n) * float(m)
    return ks / scale, distance / scale


_MERGE = 1 << 16  # values per sample and piece


def weighted_distances(reference: tuple[np.ndarray, np.ndarray],
                       current: tuple[np.ndarray, np.ndarray]) -> tuple[float, float]:
    """The KS statistic and Wasserstein-1 distance of two weighted samples ``(values, weights)``.

    Used on the items a quantile sketch retains, each with the weight it stands for.
    """
    (xr, wr), (xc, wc) = reference, current
    values = np.concatenate([xr, xc])
    order = np.argsort(values, kind="stable")
    values = values[order]
    weights = np.concatenate([wr / wr.sum(), -wc / wc.sum()])[order]
    gap = np.abs(np.cumsum(weights))
    last = np.append(values[1:] != values[:-1], True)
    return float(gap[last].max()), float(np.einsum("i,i->", gap[:-1], np.diff(values)))


def ks_statistic(reference: Any, current: Any) -> float:
    """The two-sample Kolmogorov-Smirnov statistic: the largest gap between the two CDFs."""
    return sorted_distances(_sample(reference, "reference"), _sample(current, "current"))[0]


def wasserstein(reference: Any, current: Any, *, normalize: bool = True) -> float:
    """The earth mover's (Wasserstein-1) distance between the two samples.

    With ``normalize`` (the default) it is divided by the reference's
    standard deviation, so that one threshold fits columns of any scale; a
    constant reference leaves the raw distance.
    """
    ref = _sample(reference, "reference")
    distance = sorted_distances(ref, _sample(current, "current"))[1]
    if not normalize:
        return distance
    spread = float(np.std(ref))
    return distance / spread if spread > 0 else distance


def sorted_quantiles(values: np.ndarray, q: Any) -> np.ndarray:
    """``np.quantile(values, q)`` (linear interpolation) of an already sorted sample."""
    q = np.asarray(q, dtype=np.float64)
    virtual = (values.size - 1) * q
    previous = np.floor(virtual).astype(np.intp)
    following = np.minimum(previous + 1, values.size - 1)
    gamma = virtual - previous
    low, high = values[previous], values[following]
    diff = high - low
    return np.where(gamma >= 0.5, high - diff * (1 - gamma), low + diff * gamma)


def _check_bins(bins: Any) -> None:
    if not isinstance(bins, int) or isinstance(bins, bool) or bins < 2:
        raise InvalidArgument(f"bins must be a whole number of at least 2, got {bins!r}")


def reference_edges(reference: Any, bins: int = 10, *, is_sorted: bool = False) -> np.ndarray:
    """Inner bin edges at the reference's quantiles (``bins`` bins, fewer when values repeat).

    The first and last bins are open, so current values outside the
    reference's range are counted too. Use :func:`bin_counts` with these edges
    for both samples. ``is_sorted`` says that ``reference`` is already a
    sorted array of finite values (as :func:`sort_sample` returns).
    """
    _check_bins(bins)
    values = np.asarray(reference, dtype=np.float64) if is_sorted else _sample(reference,
                                                                                "reference")
    if values.size == 0:
        raise InvalidArgument("the reference sample has no values (empty or all null)")
    return np.unique(sorted_quantiles(values, np.linspace(0, 1, bins + 1)[1:-1]))


def bin_counts(values: Any, edges: np.ndarray) -> np.ndarray:
    """Counts of ``values`` (NaN dropped) in the bins that ``edges`` bound: ``len(edges) + 1``."""
    array = np.asarray(values, dtype=np.float64).ravel()
    array = array[~np.isnan(array)]
    index = np.searchsorted(edges, array, side="right")
    return np.bincount(index, minlength=len(edges) + 1)


def sorted_bin_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """:func:`bin_counts` of an already sorted sample without NaN, in ``O(len(edges) log n)``."""
    bounds = np.searchsorted(values, edges, side="left")
    return np.diff(np.concatenate([[0], bounds, [values.size]])).astype(np.int64)


def label_counts(values: Any) -> tuple[dict[str, int], int]:
    """Each label's count (as text, None and NaN left out) and the number of null values.

    Arrow-backed and categorical columns are counted in C without building
    Python strings per row; other columns go through pandas.
    """
    import pandas as pd
    import pyarrow as pa

    if isinstance(values, pd.Series) and isinstance(values.dtype, pd.CategoricalDtype):
        codes = values.cat.codes.to_numpy()
        tally = np.bincount(codes + 1, minlength=len(values.cat.categories) + 1)
        return _texts(values.cat.categories.tolist(), tally[1:]), int(tally[0])
    array = _arrow(values)
    if array is None:
        series = pd.Series(np.asarray(values, dtype=object).ravel(), dtype=object)
        counts = series.value_counts(dropna=True)
        return _texts(counts.index.tolist(), counts.to_numpy()), int(len(series) - counts.sum())
    import pyarrow.compute as pc

    if pa.types.is_dictionary(array.type):
        array = array.cast(array.type.value_type)
    result = pc.value_counts(array)
    labels, counts = result.field("values"), result.field("counts").to_numpy()
    valid = labels.is_valid().to_numpy(zero_copy_only=False)
    nulls = int(counts[~valid].sum())
    if pa.types.is_floating(labels.type):  # NaN is a null for us, as in pandas
        nan = pc.is_nan(labels).fill_null(False).to_numpy(zero_copy_only=False)
        nulls += int(counts[nan & valid].sum())
        valid &= ~nan
    return _texts(labels.filter(pa.array(valid)).to_pylist(), counts[valid]), nulls


def _arrow(values: Any) -> Any:
    """``values`` as an Arrow array when that costs no copy per row, else None."""
    import pandas as pd
    import pyarrow as pa

    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return values
    if isinstance(values, pd.Series) and (isinstance(values.dtype, pd.ArrowDtype) or (
            isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "pyarrow")):
        return pa.array(values)
    return None


def _texts(labels: list[Any], counts: np.ndarray) -> dict[str, int]:
    out: dict[str, int] = {}
    for label, n in zip(labels, counts.tolist()):  # one entry per label, not per row
        if n:
            key = str(label)
            out[key] = out.get(key, 0) + int(n)
    return out


def category_counts(
    reference: Sequence[Any] | np.ndarray, current: Sequence[Any] | np.ndarray
) -> tuple[list[Any], np.ndarray, np.ndarray]:
    """The categories of both samples, as text and sorted (None and NaN dropped), and each
    sample's counts of them."""
    ref, cur = label_counts(reference)[0], label_counts(current)[0]
    labels = sorted(ref.keys() | cur.keys())
    return (labels, np.array([ref.get(k, 0) for k in labels], dtype=np.int64),
            np.array([cur.get(k, 0) for k in labels], dtype=np.int64))


def psi(reference: Any, current: Any, *, floor: float = PSI_FLOOR) -> float:
    """The population stability index of two count vectors on the same bins.

    ``sum((q - p) * ln(q / p))`` over the shares, an empty bin's share
    raised to ``floor``. Rules of thumb: below 0.1 stable, 0.1 to 0.2 a
    moderate shift, above 0.2 a significant one.
    """
    p, q = _pair(reference, current)
    p, q = np.maximum(p, floor), np.maximum(q, floor)
    return float(np.sum((q - p) * np.log(q / p)))


def jensen_shannon(reference: Any, current: Any) -> float:
    """The Jensen-Shannon distance (base 2, from 0 to 1) of two count vectors."""
    p, q = _pair(reference, current)
    m = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_p = np.where(p > 0, p * np.log2(p / m), 0.0)
        kl_q = np.where(q > 0, q * np.log2(q / m), 0.0)
    return float(np.sqrt(max(0.0, (kl_p.sum() + kl_q.sum()) / 2)))


def linf(reference: Any, current: Any) -> float:
    """The largest difference in share of any one bin or category (L-infinity)."""
    p, q = _pair(reference, current)
    return float(np.max(np.abs(p - q)))


def chi_square(reference: Any, current: Any) -> tuple[float, float]:
    """Pearson's chi-square test of the current counts against the reference's shares.

    Returns the statistic and its p-value. Bins the reference never saw are
    given the :data:`PSI_FLOOR` share, so a new category weighs heavily
    instead of dividing by zero.
    """
    from scipy.stats import chi2

    p, _ = _pair(reference, current)
    observed = np.asarray(current, dtype=np.float64)
    expected_share = np.maximum(p, PSI_FLOOR)
    expected = expected_share / expected_share.sum() * observed.sum()
    statistic = float(np.sum((observed - expected) ** 2 / expected))
    return statistic, float(chi2.sf(statistic, max(1, p.size - 1)))
