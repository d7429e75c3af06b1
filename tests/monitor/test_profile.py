"""Profiles merge exactly, travel as bytes, and give drift and quality that agree with the
exact computations (scipy, numpy) within the sketches' documented bounds."""

from __future__ import annotations

import datasketches as ds
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from scipy import stats as sp

from dockyard.errors import InvalidArgument
from dockyard.monitor import profile as profiles
from dockyard.monitor import stats
from dockyard.monitor.profile import Profile, compare, profile, quality, reference_thresholds
from dockyard.monitor.report import drift_report

RNG = np.random.default_rng(11)
HLL_ERROR = 3 * 1.04 / np.sqrt(2 ** 12)  # three standard errors at the default size


def table(n: int, shift: float = 0.0, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(loc=shift, size=n)
    x[rng.random(n) < 0.05] = np.nan
    return pd.DataFrame({
        "x": x,
        "count": rng.poisson(4 + shift, size=n),  # integers: many ties
        "plan": rng.choice(["basic", "pro", "team"], size=n, p=[0.6, 0.3, 0.1]),
        "paid": rng.random(n) < 0.3,
    })


def flagged(report: pd.DataFrame) -> list[str]:
    return report.loc[report["drifted"].eq(True), "column"].tolist()


def exact_fields(column: profiles.ColumnProfile) -> dict:
    fields = {k: getattr(column, k) for k in ("count", "nulls", "type_errors", "below", "above",
                                              "categories")}
    if column.kind == profiles.NUMERIC:
        fields.update(min=column.min, max=column.max, histogram=column.histogram.tolist(),
                      edges=column.edges.tolist(), bounds=column.bounds, n=column.quantiles.n)
    return fields


def test_kinds_follow_the_drift_report_rule() -> None:
    reference = Profile.from_data(table(1000), categorical=["count"])
    assert {n: c.kind for n, c in reference.columns.items()} == {
        "x": "numeric", "count": "categorical", "plan": "categorical", "paid": "categorical"}
    arrow = Profile.from_data(pa.Table.from_pandas(table(1000)))
    assert [c.kind for c in arrow.columns.values()] == [
        "numeric", "numeric", "categorical", "categorical"]


def test_merge_of_two_halves_is_the_profile_of_the_whole() -> None:
    data = table(40_000, seed=1)
    reference = Profile.from_data(table(30_000, seed=2))
    whole = Profile.from_data(data, reference=reference)
    halves = [Profile.from_data(part, reference=reference)
              for part in (data.iloc[:17_000], data.iloc[17_000:])]
    merged = halves[0].merge(halves[1])
    assert merged.rows == whole.rows == 40_000
    for name, column in whole.columns.items():
        other = merged[name]
        assert exact_fields(other) == exact_fields(column), name
        if column.kind == profiles.NUMERIC:
            assert other.mean == pytest.approx(column.mean, rel=1e-12, abs=1e-15)
            assert other.variance == pytest.approx(column.variance, rel=1e-12)
            values = np.sort(data[name].dropna().to_numpy(dtype=float))
            assert column.mean == pytest.approx(values.mean(), rel=1e-12)
            assert column.variance == pytest.approx(values.var(), rel=1e-12)
            for point in np.quantile(values, [0.1, 0.5, 0.9]):
                exact = np.searchsorted(values, point, side="right") / values.size
                assert abs(other.quantiles.get_rank(point, True) - exact) <= other.rank_error
        assert other.distinct_count == pytest.approx(column.distinct_count, rel=HLL_ERROR)
    # the histogram counts every value once, on the reference's edges
    assert whole["x"].histogram.sum() == whole["x"].count
    assert np.array_equal(whole["x"].edges, reference["x"].edges)


def test_columns_profiled_in_threads_give_the_same_profile() -> None:
    data = table(70_000, seed=13)  # large enough to profile its columns in parallel
    threaded, serial = Profile.from_data(data), Profile.from_data(data, threads=1)
    for name in data.columns:
        assert exact_fields(threaded[name]) == exact_fields(serial[name])
        if threaded[name].kind == "numeric":
            assert threaded[name].mean == serial[name].mean


def test_batches_one_row_at_a_time_give_the_same_profile() -> None:
    data = table(300, seed=3)
    reference = Profile.from_data(table(2000, seed=4))
    whole = Profile.from_data(data, reference=reference)
    batches = pa.Table.from_pandas(data).to_batches(max_chunksize=1)
    assert len(batches) == 300
    streamed = Profile(reference=reference)
    for batch in batches:
        streamed.update(batch)
    for name in whole.columns:
        assert exact_fields(streamed[name]) == exact_fields(whole[name])
        assert streamed[name].distinct_count == pytest.approx(whole[name].distinct_count,
                                                              rel=1e-9)


def test_distinct_counts_hash_as_datasketches_does() -> None:
    values = np.concatenate([RNG.normal(size=50_000), [0.0, -0.0, 1e300, -2.5]])
    one_by_one = ds.hll_sketch(12, ds.HLL_8)
    for value in values.tolist():
        one_by_one.update(value)
    vectorised = profiles._hll_of_numbers(values, 12)
    registers = slice(40, 40 + 4096)
    assert (vectorised.serialize_updatable()[registers]
            == one_by_one.serialize_updatable()[registers])
    assert vectorised.get_estimate() == pytest.approx(np.unique(values).size, rel=HLL_ERROR)


def test_bytes_round_trip_exactly() -> None:
    reference = Profile.from_data(table(5000), max_categories=2)  # 'plan' overflows to a sketch
    assert reference["plan"].categories is None and reference["plan"].frequent is not None
    current = Profile.from_data(table(3000, shift=0.2, seed=5), reference=reference)
    for made in (reference, current, Profile(reference=reference)):
        blob = made.to_bytes()
        again = Profile.from_bytes(blob)
        assert again.to_bytes() == blob
        assert again.rows == made.rows and again.settings == made.settings
        for name in made.columns:
            assert exact_fields(again[name]) == exact_fields(made[name])
    pd.testing.assert_frame_equal(
        compare(Profile.from_bytes(reference.to_bytes()), Profile.from_bytes(current.to_bytes())),
        compare(reference, current))


@pytest.mark.parametrize(("blob", "message"), [
    (b"", "not a Dockyard profile"),
    (b"PK\x03\x04 a zip file, not a profile", "not a Dockyard profile"),
    ("DKYP", "is bytes"),
])
def test_foreign_bytes_are_refused(blob, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        Profile.from_bytes(blob)


def test_corrupt_or_newer_bytes_are_refused() -> None:
    blob = bytearray(Profile.from_data(table(500)).to_bytes())
    for position in (20, len(blob) // 2, len(blob) - 3):
        broken = bytearray(blob)
        broken[position] ^= 0xFF
        with pytest.raises(InvalidArgument, match="corrupt"):
            Profile.from_bytes(bytes(broken))
    with pytest.raises(InvalidArgument, match="corrupt"):
        Profile.from_bytes(bytes(blob[:-10]))
    newer = bytearray(blob)
    newer[4] = 99
    with pytest.raises(InvalidArgument, match="format version 99"):
        Profile.from_bytes(bytes(newer))


@pytest.mark.parametrize(("n", "m", "shift"), [(300, 200, 0.0), (5_000, 20_000, 0.1),
                                               (200_000, 150_000, 0.02)])
def test_ks_from_profiles_is_within_the_documented_bound(n: int, m: int, shift: float) -> None:
    ref = pd.DataFrame({"x": RNG.normal(size=n)})
    cur = pd.DataFrame({"x": RNG.normal(loc=shift, size=m)})
    reference = Profile.from_data(ref)
    row = compare(reference, Profile.from_data(cur, reference=reference)).iloc[0]
    exact = sp.ks_2samp(ref["x"], cur["x"]).statistic
    bound = reference["x"].rank_error + Profile.from_data(cur)["x"].rank_error
    assert row["ks_error"] == pytest.approx(bound)
    assert abs(row["ks"] - exact) <= row["ks_error"] + 1e-12
    if max(n, m) <= 400:  # the sketches still hold every value: exact
        assert row["ks_error"] == 0 and row["ks"] == pytest.approx(exact, abs=1e-12)
    raw = drift_report(ref, cur).table.iloc[0]
    assert abs(raw["ks"] - exact) < 1e-6 and raw["ks_error"] == 0
    assert row["wasserstein"] == pytest.approx(raw["wasserstein"], abs=0.02)


def test_psi_from_profiles_matches_numpy() -> None:
    ref = RNG.lognormal(size=100_000)
    cur = RNG.lognormal(mean=0.3, size=80_000)
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, 11)[1:-1]))
    p = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=edges.size + 1)
    q = np.bincount(np.searchsorted(edges, cur, side="right"), minlength=edges.size + 1)
    ps, qs = np.maximum(p / p.sum(), 1e-4), np.maximum(q / q.sum(), 1e-4)
    expected = np.sum((qs - ps) * np.log(qs / ps))
    reference = Profile.from_data(pd.DataFrame({"v": ref}))
    current = Profile.from_data(pa.table({"v": cur}), reference=reference)
    assert np.array_equal(reference["v"].edges, edges)
    assert np.array_equal(current["v"].histogram, q)
    assert abs(compare(reference, current).loc[0, "psi"] - expected) < 1e-3


def test_drift_from_profiles_flags_what_the_raw_report_flags() -> None:
    ref, cur = table(20_000, seed=6), table(20_000, shift=0.6, seed=7)
    cur["plan"] = RNG.choice(["basic", "pro", "team"], size=20_000, p=[0.2, 0.3, 0.5])
    raw = drift_report(ref, cur)
    reference = Profile.from_data(ref)
    report = compare(reference, Profile.from_data(cur, reference=reference))
    assert list(report.columns) == list(raw.table.columns)
    assert sorted(flagged(report)) == sorted(raw.drifted) == ["count", "plan", "x"]
    merged = report.merge(raw.table, on="column", suffixes=("", "_raw"))
    for metric in ("psi", "jensen_shannon", "linf", "chi_square_p"):  # exact counts
        assert np.allclose(merged[metric], merged[f"{metric}_raw"], equal_nan=True), metric
    assert (merged["method"] == merged["method_raw"]).all()


def test_methods_and_thresholds_per_column_or_metric() -> None:
    ref, cur = table(5_000, seed=8), table(5_000, shift=0.04, seed=9)
    reference = Profile.from_data(ref)
    current = Profile.from_data(cur, reference=reference)
    assert "x" not in flagged(compare(reference, current))
    loose = compare(reference, current, methods={"x": "psi"}, thresholds={"psi": 0.001})
    row = loose.set_index("column").loc["x"]
    assert row["method"] == "psi" and row["threshold"] == 0.001 and row["drifted"]
    strict = compare(reference, current, methods={"x": "psi"},
                     thresholds={"psi": 0.001, ("psi", "x"): 5.0})
    assert not strict.set_index("column").loc["x", "drifted"]
    assert "x" in drift_report(ref, cur, methods={"x": "psi"}, thresholds={"x": 0.001}).drifted
    for methods, thresholds, message in [({"nope": "psi"}, None, "not compared"),
                                         ({"plan": "wasserstein"}, None, "does not apply"),
                                         (None, {"psy": 0.1}, "neither a compared column"),
                                         (None, {"psi": "high"}, "finite number"),
                                         (None, {("psy", "x"): 0.1}, "not \\(metric, column\\)")]:
        with pytest.raises(InvalidArgument, match=message):
            compare(reference, current, methods=methods, thresholds=thresholds)


def test_thresholds_derived_from_the_reference() -> None:
    ref = table(40_000, seed=10)
    thresholds = reference_thresholds(ref, chunks=8)
    assert {m for m, c in thresholds if c == "x"} == {"ks", "wasserstein", "psi",
                                                      "jensen_shannon", "linf"}
    assert {m for m, c in thresholds if c == "plan"} == {"psi", "jensen_shannon", "linf"}
    assert all(0 < value < 0.2 for value in thresholds.values())
    reference = Profile.from_data(ref)
    same = Profile.from_data(table(40_000, seed=11), reference=reference)
    shifted = Profile.from_data(table(40_000, shift=0.3, seed=12), reference=reference)
    assert "x" not in flagged(compare(reference, same, thresholds=thresholds))
    assert "x" in flagged(compare(reference, shifted, thresholds=thresholds))
    again = reference_thresholds(ref, reference, chunks=8)  # the stored profile, reused
    assert again.keys() == thresholds.keys()
    with pytest.raises(InvalidArgument, match="chunks"):
        reference_thresholds(ref, chunks=1)
    with pytest.raises(InvalidArgument, match="fewer than chunks"):
        reference_thresholds(ref.iloc[:3], chunks=5)


def test_quality_on_data_with_known_answers() -> None:
    n = 10_000
    ref = pd.DataFrame({"age": np.arange(n) % 100 + 18.0,
                        "plan": np.array(["basic", "pro", "team", "free"])[np.arange(n) % 4],
                        "empty": np.full(n, np.nan)})
    age = (np.arange(n) % 100 + 18.0).astype(object)
    age[:1000] = None  # exactly 10% null
    age[1000:1300] = "n/a"  # 3% text in a numeric column
    age[1300:1500] = 500.0  # 2% above the reference's max
    age[1500:1600] = -1.0  # 1% below its min
    plan = np.array(["basic", "pro", "team"], dtype=object)[np.arange(n) % 3]
    plan[:500] = "enterprise"  # 5% a category the reference never had
    cur = pd.DataFrame({"age": age, "plan": plan, "empty": np.full(n, np.nan)})
    reference = Profile.from_data(ref)
    current = Profile.from_data(cur, reference=reference)
    checks = quality(reference, current).set_index("column")
    assert checks.loc["age", "null_rate"] == pytest.approx(0.10)
    assert checks.loc["age", "type_error_rate"] == pytest.approx(0.03)
    assert checks.loc["age", "out_of_range"] == pytest.approx(300 / 8700)
    assert checks.loc["plan", "unseen_categories"] == pytest.approx(0.05)
    assert checks.loc["plan", "distinct_change"] == pytest.approx(1.0, rel=HLL_ERROR)
    assert checks.loc["age", "status"] == "ok" and checks.loc["plan", "reason"] == ""
    empty = checks.loc["empty"]
    assert empty["status"] == "no data" and "every current value is null" in empty["reason"]
    assert empty["null_rate"] == 1.0 and np.isnan(empty["out_of_range"])
    assert np.isnan(empty["distinct_change"])


def test_windows_without_rows_or_values_are_no_data() -> None:
    reference = Profile.from_data(table(2000))
    nothing = Profile(reference=reference)
    checks = quality(reference, nothing)
    assert (checks["status"] == "no data").all()
    assert checks["null_rate"].isna().all() and checks["reason"].str.contains("no rows").all()
    report = compare(reference, nothing)
    assert (report["method"] == "no data").all() and flagged(report) == []
    empty_batch = Profile.from_data(table(2000).iloc[:0], reference=reference)
    assert empty_batch.rows == 0 and (quality(reference, empty_batch)["status"]
                                      == "no data").all()
    nulls = table(100)
    nulls["x"] = np.nan
    row = compare(reference, Profile.from_data(nulls, reference=reference)).iloc[0]
    assert row["method"] == "no data" and row["current_rows"] == 0 and row["drifted"] is None


def test_many_categories_move_to_a_frequent_items_sketch() -> None:
    labels = np.array([f"sku-{i}" for i in range(40)], dtype=object)
    weights = np.linspace(2, 1, 40) / np.linspace(2, 1, 40).sum()
    ref = pd.DataFrame({"sku": RNG.choice(labels, size=20_000, p=weights)})
    cur = pd.DataFrame({"sku": RNG.choice(labels[:30], size=20_000)})
    reference = Profile.from_data(ref, max_categories=20)
    current = Profile.from_data(cur, reference=reference)
    assert reference["sku"].categories is None and current["sku"].categories is None
    assert current["sku"].count == 20_000
    report = compare(reference, current).iloc[0]
    exact = drift_report(ref, cur).table.iloc[0]
    assert report["jensen_shannon"] == pytest.approx(exact["jensen_shannon"], abs=0.05)
    checks = quality(reference, current).iloc[0]
    assert checks["unseen_categories"] == 0 and "estimated" in checks["reason"]
    ids = pd.DataFrame({"sku": [f"id-{i}" for i in range(3000)]})  # beyond the sketch's map
    many = Profile.from_data(ids, max_categories=5)
    counts = compare(many, Profile.from_data(ids.iloc[:1000], reference=many)).iloc[0]
    assert counts["current_rows"] == 1000 and counts["jensen_shannon"] > 0.3
    small = [Profile.from_data(pd.DataFrame({"sku": labels[i::2]}), max_categories=30)
             for i in (0, 1)]
    merged = small[0].merge(small[1])  # 40 categories in all: beyond 30
    assert merged["sku"].categories is None
    assert merged["sku"].category_counts() == dict.fromkeys(labels.tolist(), 1)


def test_a_window_with_some_of_the_reference_columns() -> None:
    reference = profile(table(5000), categorical=["count"])
    window = table(800, seed=14)[["plan", "count"]]
    current = profile(window, categorical=["count", "plan", "gone"], reference=reference)
    assert list(current.columns) == ["count", "plan"]  # the reference's columns the data has
    assert list(compare(reference, current)["column"]) == ["count", "plan"]
    assert list(quality(reference, current)["column"]) == ["count", "plan"]
    with pytest.raises(InvalidArgument, match="'x' is not in the profile; it has 'count'"):
        compare(reference, current, columns=["x"])
    with pytest.raises(InvalidArgument, match="numeric in the reference"):
        profile(table(100), categorical=["x"], reference=reference)
    with pytest.raises(InvalidArgument, match="none of the reference's columns"):
        profile(pd.DataFrame({"other": [1.0]}), reference=reference)


def test_text_and_infinities_in_numeric_columns_are_type_errors() -> None:
    reference = Profile.from_data(pd.DataFrame({"v": [1.0, 2.0, 3.0]}))
    text = pd.DataFrame({"v": pd.Series(["1.5", "abc", None, "2"], dtype="str")})
    current = Profile.from_data(text, reference=reference)
    assert (current["v"].count, current["v"].nulls, current["v"].type_errors) == (2, 1, 1)
    arrow = Profile.from_data(pa.table({"v": pa.array([1.0, float("inf"), None, -np.inf])}),
                              reference=reference)
    assert (arrow["v"].count, arrow["v"].nulls, arrow["v"].type_errors) == (1, 1, 2)
    strings = Profile.from_data(pa.table({"v": pa.array(["x", "4"])}), reference=reference)
    assert (strings["v"].count, strings["v"].type_errors, strings["v"].above) == (1, 1, 1)


def test_bad_input_gets_clear_errors() -> None:
    data = table(500)
    reference = Profile.from_data(data)
    with pytest.raises(InvalidArgument, match=r"'nope' is not in the profile; it has 'x'"):
        quality(reference, reference, columns=["nope"])
    with pytest.raises(InvalidArgument, match="'nope' is not in the profile"):
        compare(reference, reference, columns=["nope"])
    with pytest.raises(InvalidArgument, match="'x' is not in the data; it has 'plan'"):
        Profile(reference=reference).update(data[["plan"]])
    with pytest.raises(InvalidArgument, match="'y' is not in the data"):
        Profile.from_data(data, columns=["x", "y"])
    with pytest.raises(InvalidArgument, match="not profiled"):
        Profile(columns=["x"], categorical=["plan"])
    with pytest.raises(InvalidArgument, match="leave out bins"):
        Profile(reference=reference, bins=5)
    with pytest.raises(InvalidArgument, match="bins must be"):
        Profile(bins=1)
    with pytest.raises(InvalidArgument, match="a pandas DataFrame"):
        Profile.from_data([[1, 2], [3, 4]])
    with pytest.raises(InvalidArgument, match="no batches"):
        Profile.from_data(iter([]))
    other = Profile.from_data(table(500, seed=3))  # its own edges
    with pytest.raises(InvalidArgument, match="different edges"):
        reference.merge(other)
    with pytest.raises(InvalidArgument, match="binned on other edges"):
        compare(reference, other)
    with pytest.raises(InvalidArgument, match="different settings"):
        reference.merge(Profile.from_data(data, quantile_k=200))
    with pytest.raises(InvalidArgument, match="different columns"):
        reference.merge(Profile.from_data(data[["x"]]))
    with pytest.raises(InvalidArgument, match="must be a Profile"):
        compare(reference, data)


def test_distances_of_merged_profiles_keep_every_values_weight() -> None:
    """A merged quantile sketch whose first level is empty still weighs its items right."""
    from dockyard.monitor.report import _items

    rng = np.random.default_rng(11)
    # Normal values: the sketches' own error stays far below the tolerance (at most 0.004 in 300
    # runs), while weighing every item 1 would move the distance by far more.
    data = pd.DataFrame({"x": rng.normal(0, 1, 96_000)})
    ref = profile(data.iloc[:48_000])
    parts = [profile(data.iloc[i:i + 12_000], reference=ref)
             for i in range(48_000, 96_000, 12_000)]
    merged = parts[0].merge(*parts[1:])
    assert _items(merged["x"])[1].sum() == 48_000
    whole = profile(data.iloc[48_000:], reference=ref)
    a, b = compare(ref, merged).iloc[0], compare(ref, whole).iloc[0]
    exact = stats.wasserstein(data["x"].iloc[:48_000], data["x"].iloc[48_000:])
    assert a["wasserstein"] == pytest.approx(exact, abs=0.02)
    assert a["wasserstein"] == pytest.approx(b["wasserstein"], abs=0.02)
    assert a["ks"] == pytest.approx(b["ks"], abs=a["ks_error"] + b["ks_error"])
    assert not a["drifted"]


def test_large_batches_enter_the_quantile_sketch_compacted_and_stay_accurate() -> None:
    rng = np.random.default_rng(3)
    parts = [rng.normal(i, 1 + i, n) for i, n in enumerate((300_000, 150_001, 70_003))]
    made = Profile()
    for part in parts:
        made.update(pd.DataFrame({"x": part}))
    column = made["x"]
    everything = np.sort(np.concatenate(parts))
    sketch = column.quantiles
    assert sketch.n == column.count == everything.size  # every value's weight is kept
    assert (sketch.get_min_value(), sketch.get_max_value()) == (everything[0], everything[-1])
    assert column.rank_error > 0
    for q in (0.001, 0.05, 0.25, 0.5, 0.75, 0.95, 0.999):
        assert abs(sketch.get_rank(float(np.quantile(everything, q))) - q) < column.rank_error
    # It merges with a sketch made value by value, and travels as bytes.
    reference = profile(pd.DataFrame({"x": parts[2][:500]}))
    large, small = Profile(reference=reference), Profile(reference=reference)
    large.update(pd.DataFrame({"x": parts[0]}))
    small.update(pd.DataFrame({"x": parts[1][:500]}))
    assert small["x"].rank_error == 0  # a small batch is kept value by value
    merged = large.merge(small)
    assert merged["x"].quantiles.n == parts[0].size + 500
    assert Profile.from_bytes(made.to_bytes())["x"].quantiles.n == everything.size
