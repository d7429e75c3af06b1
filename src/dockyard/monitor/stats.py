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
    "linf",
    "psi",
    "reference_edges",
    "wasserstein",
]

PSI_FLOOR = 1e-4
"""Share given to an empty bin in :func:`psi`, which is infinite otherwise."""


def _sample(values: Any, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64).ravel()
    array = array[~np.isnan(array)]
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


def _merged(reference: Any, current: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Both samples' values merged in order, and each sample's empirical CDF after each value.

    Each sample is sorted on its own; a stable sort of the two sorted runs
    is then a single merge.
    """
    ref = np.sort(_sample(reference, "reference"))
    cur = np.sort(_sample(current, "current"))
    values = np.concatenate([ref, cur])
    order = np.argsort(values, kind="stable")
    values = values[order]
    from_ref = order < ref.size
    ref_cdf = np.cumsum(from_ref) / ref.size
    cur_cdf = np.cumsum(~from_ref) / cur.size
    return values, ref_cdf, cur_cdf


def ks_statistic(reference: Any, current: Any) -> float:
    """The two-sample Kolmogorov-Smirnov statistic: the largest gap between the two CDFs."""
    values, ref_cdf, cur_cdf = _merged(reference, current)
    last = np.append(values[1:] != values[:-1], True)  # where each run of equal values ends
    return float(np.max(np.abs(ref_cdf[last] - cur_cdf[last])))


def wasserstein(reference: Any, current: Any, *, normalize: bool = True) -> float:
    """The earth mover's (Wasserstein-1) distance between the two samples.

    With ``normalize`` (the default) it is divided by the reference's
    standard deviation, so that one threshold fits columns of any scale; a
    constant reference leaves the raw distance.
    """
    values, ref_cdf, cur_cdf = _merged(reference, current)
    distance = float(np.sum(np.abs(ref_cdf - cur_cdf)[:-1] * np.diff(values)))
    if not normalize:
        return distance
    spread = float(np.std(_sample(reference, "reference")))
    return distance / spread if spread > 0 else distance


def reference_edges(reference: Any, bins: int = 10) -> np.ndarray:
    """Inner bin edges at the reference's quantiles (``bins`` bins, fewer when values repeat).

    The first and last bins are open, so current values outside the
    reference's range are counted too. Use :func:`bin_counts` with these edges
    for both samples.
    """
    if not isinstance(bins, int) or bins < 2:
        raise InvalidArgument(f"bins must be a whole number of at least 2, got {bins!r}")
    values = _sample(reference, "reference")
    quantiles = np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1])
    return np.unique(quantiles)


def bin_counts(values: Any, edges: np.ndarray) -> np.ndarray:
    """Counts of ``values`` (NaN dropped) in the bins that ``edges`` bound: ``len(edges) + 1``."""
    array = np.asarray(values, dtype=np.float64).ravel()
    array = array[~np.isnan(array)]
    index = np.searchsorted(edges, array, side="right")
    return np.bincount(index, minlength=len(edges) + 1)


def category_counts(
    reference: Sequence[Any] | np.ndarray, current: Sequence[Any] | np.ndarray
) -> tuple[list[Any], np.ndarray, np.ndarray]:
    """The categories of both samples, as text and sorted (None and NaN dropped), and each
    sample's counts of them."""
    ref, cur = _categories(reference), _categories(current)
    labels = sorted(ref.keys() | cur.keys())
    return (labels, np.array([ref.get(k, 0) for k in labels], dtype=np.int64),
            np.array([cur.get(k, 0) for k in labels], dtype=np.int64))


def _categories(values: Any) -> dict[str, int]:
    import pandas as pd

    counts: dict[str, int] = {}
    series = pd.Series(np.asarray(values, dtype=object).ravel(), dtype=object)
    for label, n in series.value_counts(dropna=True).items():  # counted in C, a few labels
        counts[str(label)] = counts.get(str(label), 0) + int(n)
    return counts


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
