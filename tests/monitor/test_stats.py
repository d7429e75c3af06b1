"""Drift statistics agree with scipy and with a direct numpy computation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sp
from scipy.spatial.distance import jensenshannon

import dockyard
from dockyard.errors import InvalidArgument
from dockyard.monitor import stats
from dockyard.monitor.report import drift_report

RNG = np.random.default_rng(7)


@pytest.mark.parametrize(("n", "m", "shift"), [(50, 80, 0.0), (2_000, 3_000, 0.3),
                                               (20_000, 5_000, 0.05)])
def test_ks_and_wasserstein_match_scipy(n: int, m: int, shift: float) -> None:
    ref = RNG.normal(size=n)
    cur = np.round(RNG.normal(loc=shift, size=m), 2)  # ties too
    assert abs(stats.ks_statistic(ref, cur) - sp.ks_2samp(ref, cur).statistic) < 1e-6
    raw = stats.wasserstein(ref, cur, normalize=False)
    assert raw == pytest.approx(sp.wasserstein_distance(ref, cur), rel=1e-9, abs=1e-12)
    assert stats.wasserstein(ref, cur) == pytest.approx(raw / np.std(ref))


@pytest.mark.parametrize(("n", "m"), [(1, 1), (7, 3), (1_000, 40_000), (65_537, 70_001)])
def test_distances_of_sorted_samples_match_scipy(n: int, m: int) -> None:
    ref = np.sort(np.round(RNG.normal(size=n), 1))  # ties within and across the samples
    cur = np.sort(np.round(RNG.normal(loc=0.2, size=m), 1))
    ks, distance = stats.sorted_distances(ref, cur)
    assert abs(ks - sp.ks_2samp(ref, cur).statistic) < 1e-12
    assert distance == pytest.approx(sp.wasserstein_distance(ref, cur), rel=1e-9, abs=1e-12)
    weighted = stats.weighted_distances((ref, np.ones(n)), (cur, np.full(m, 2.0)))
    assert weighted == pytest.approx((ks, distance), rel=1e-9, abs=1e-12)


def test_sorted_helpers_agree_with_numpy() -> None:
    values, nan, infinite = stats.sort_sample([3.0, np.nan, -np.inf, 1.0, np.inf, 2.0, np.nan])
    assert values.tolist() == [1.0, 2.0, 3.0] and (nan, infinite) == (2, 2)
    for n in (1, 2, 10, 1001):
        sample = np.sort(RNG.normal(size=n))
        q = np.linspace(0, 1, 11)
        assert np.array_equal(stats.sorted_quantiles(sample, q), np.quantile(sample, q))
        edges = stats.reference_edges(sample, 10, is_sorted=True)
        assert np.array_equal(stats.sorted_bin_counts(sample, edges),
                              stats.bin_counts(sample, edges))


def test_label_counts_of_every_column_type() -> None:
    import pyarrow as pa

    expected = ({"a": 2, "b": 1}, 1)
    for values in (pd.Series(["a", None, "b", "a"], dtype="str"),
                   pd.Series(["a", np.nan, "b", "a"], dtype=object),
                   pd.Series(["a", None, "b", "a"], dtype="category"),
                   pa.chunked_array([["a", None], ["b", "a"]]),
                   pa.array(["a", None, "b", "a"]).dictionary_encode()):
        assert stats.label_counts(values) == expected
    assert stats.label_counts(pa.array([1.5, None, float("nan"), 1.5])) == ({"1.5": 2}, 2)
    assert stats.label_counts(pd.Series([True, False, True])) == ({"True": 2, "False": 1}, 0)


def test_binned_statistics_match_direct_computations() -> None:
    ref = RNG.normal(size=10_000)
    cur = RNG.normal(loc=0.5, scale=1.2, size=8_000)
    edges = stats.reference_edges(ref, 10)
    p, q = stats.bin_counts(ref, edges), stats.bin_counts(cur, edges)
    assert p.sum() == 10_000 and q.sum() == 8_000 and len(p) == 10
    ps, qs = p / p.sum(), q / q.sum()
    assert abs(stats.psi(p, q) - np.sum((qs - ps) * np.log(qs / ps))) < 1e-3
    assert stats.jensen_shannon(p, q) == pytest.approx(jensenshannon(ps, qs, base=2))
    assert stats.linf(p, q) == pytest.approx(np.max(np.abs(ps - qs)))
    statistic, p_value = stats.chi_square(p, q)
    expected = sp.chisquare(q, ps * q.sum())
    assert statistic == pytest.approx(expected.statistic) and p_value == pytest.approx(
        expected.pvalue, abs=1e-12)


def test_categories_and_unseen_values() -> None:
    labels, ref, cur = stats.category_counts(["a", "b", "b", None, np.nan], ["b", "c", "c"])
    assert labels == ["a", "b", "c"] and ref.tolist() == [1, 2, 0] and cur.tolist() == [0, 1, 2]
    assert stats.psi(ref, cur) > 1  # a category the reference never saw weighs heavily
    assert stats.chi_square(ref, cur)[1] < 0.05


@pytest.mark.parametrize(("call", "message"), [
    (lambda: stats.ks_statistic([], [1.0]), "reference sample has no values"),
    (lambda: stats.wasserstein([1.0], [np.nan]), "current sample has no values"),
    (lambda: stats.psi([0, 0], [1, 1]), "all zero"),
    (lambda: stats.jensen_shannon([1, 2], [1, 2, 3]), "same bins"),
    (lambda: stats.reference_edges([1.0, 2.0], 1), "at least 2"),
])
def test_no_data_is_an_error_not_a_zero(call, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        call()


def frames(n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    ref = pd.DataFrame({f"x{i}": RNG.normal(size=n) for i in range(6)})
    ref["plan"] = RNG.choice(["basic", "pro", "team"], size=n, p=[0.6, 0.3, 0.1])
    cur = pd.DataFrame({f"x{i}": RNG.normal(size=n) for i in range(6)})
    cur["x1"] += 0.5
    cur["x4"] *= 2.0
    cur["plan"] = RNG.choice(["basic", "pro", "team"], size=n, p=[0.2, 0.3, 0.5])
    return ref, cur


@pytest.mark.parametrize("n", [500, 20_000])  # a test below 1,000 rows, a distance above
def test_drift_report_flags_the_shifted_columns(n: int) -> None:
    ref, cur = frames(n)
    report = dockyard.drift_report(ref, cur)
    assert sorted(report.drifted) == ["plan", "x1", "x4"]
    table = report.table.set_index("column")
    small = n <= 1000
    assert table.loc["x0", "method"] == ("ks p-value" if small else "wasserstein (normalised)")
    assert table.loc["plan", "method"] == ("chi-square p-value" if small else "jensen-shannon")
    assert table.loc["plan", "kind"] == "categorical" and table.loc["x1", "psi"] > 0.1
    assert report.share_drifted == pytest.approx(3 / 7)
    assert "3 of 7 columns drifted" in report._repr_html_()


def test_drift_report_inputs() -> None:
    ref, cur = frames(200)
    ref["empty"] = np.nan
    cur["empty"] = np.nan
    report = drift_report(ref, cur, columns=["x0", "empty", "x3"], categorical=["x3"])
    table = report.table.set_index("column")
    assert table.loc["empty", "method"] == "no data" and pd.isna(table.loc["empty", "drifted"])
    assert table.loc["x3", "kind"] == "categorical"
    with pytest.raises(InvalidArgument, match="'nope' is not in the reference"):
        drift_report(ref, cur, columns=["nope"])
    with pytest.raises(InvalidArgument, match="current data has no rows"):
        drift_report(ref, cur.iloc[:0])
    with pytest.raises(InvalidArgument, match="not compared"):
        drift_report(ref, cur, columns=["x0"], categorical=["x1"])
    cur["x0"] = "text"
    with pytest.raises(InvalidArgument, match="x0"):
        drift_report(ref, cur, columns=["x0"])
