"""Profiles made per Spark partition and merged equal the profile made in one process, on a
real local Spark (Java 17, ``local[2]``, bound to loopback)."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions

from dockyard.errors import InvalidArgument, MissingExtra
from dockyard.monitor import profile as profiles
from dockyard.monitor.profile import Profile
from dockyard.monitor.report import compare, data_quality, drift_report
from dockyard.monitor.spark import compare_spark, profile_spark, sample_profile

# PySpark warns on every pandas >= 3 check, even for mapInArrow, which hands the function Arrow
# batches and never builds a pandas object; and its toPandas passes a keyword pandas 3
# deprecates. Both come from pyspark's own modules and say nothing about Dockyard's code.
pytestmark = [
    pytest.mark.filterwarnings(
        "ignore:PySpark does not yet fully support pandas:FutureWarning:pyspark"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated:DeprecationWarning:pyspark"),
]

ROWS = 50_000
HLL_ERROR = 3 * 1.04 / np.sqrt(2 ** 12)  # three standard errors at the default size


def table(n: int, shift: float = 0.0, seed: int = 0) -> pd.DataFrame:
    """Numbers with nulls (floats, integers, a heavy tail), text with nulls, booleans."""
    rng = np.random.default_rng(seed)
    x = rng.normal(loc=shift, size=n)
    x[rng.random(n) < 0.05] = np.nan
    count = pd.array(rng.poisson(4, size=n), dtype="Int64")  # integers: many ties
    count[rng.random(n) < 0.03] = pd.NA
    plans = [0.6 - shift / 2, 0.3, 0.1 + shift / 2]
    plan = rng.choice(["basic", "pro", "team"], size=n, p=plans).astype(object)
    plan[rng.random(n) < 0.02] = None
    paid = (rng.random(n) < 0.3).astype(object)
    paid[rng.random(n) < 0.01] = None
    return pd.DataFrame({
        "x": x,
        "count": count,
        "amount": rng.lognormal(3, 1, size=n),
        "plan": plan,
        "city": np.char.add("city-", rng.integers(0, 200, size=n).astype(str)).astype(object),
        "paid": paid,
    })


@pytest.fixture(scope="session")
def data() -> pd.DataFrame:
    return table(ROWS, seed=1)


@pytest.fixture(scope="session")
def frame(spark, data: pd.DataFrame):
    df = spark.createDataFrame(data).repartition(4).cache()
    assert df.count() == ROWS and df.rdd.getNumPartitions() == 4
    yield df
    df.unpersist()


def exact_fields(column: profiles.ColumnProfile) -> dict:
    fields = {k: getattr(column, k) for k in ("kind", "count", "nulls", "type_errors", "below",
                                              "above", "categories")}
    if column.kind == profiles.NUMERIC:
        fields.update(min=column.min, max=column.max, histogram=column.histogram.tolist(),
                      edges=column.edges.tolist(), bounds=column.bounds, n=column.quantiles.n)
    return fields


def assert_same_profile(merged: Profile, single: Profile, data: pd.DataFrame) -> None:
    """Exact statistics equal, moments up to rounding, sketches within their error bounds."""
    assert merged.rows == single.rows
    assert list(merged.columns) == list(single.columns)
    for name, column in single.columns.items():
        other = merged[name]
        assert exact_fields(other) == exact_fields(column), name
        values = data[name].dropna()
        assert other.distinct_count == pytest.approx(values.nunique(), rel=HLL_ERROR), name
        assert other.distinct_count == pytest.approx(column.distinct_count, rel=HLL_ERROR)
        if column.kind != profiles.NUMERIC:
            continue
        assert other.mean == pytest.approx(column.mean, rel=1e-12)
        assert other.variance == pytest.approx(column.variance, rel=1e-12)
        numbers = np.sort(values.to_numpy(dtype=float))
        for point in np.quantile(numbers, [0.01, 0.1, 0.5, 0.9, 0.99]):
            exact = np.searchsorted(numbers, point, side="right") / numbers.size
            assert abs(other.quantiles.get_rank(point, True) - exact) <= other.rank_error, name


def test_partitions_merge_into_the_profile_made_in_one_process(frame, data) -> None:
    reference = Profile.from_data(table(20_000, seed=2))
    merged = profile_spark(frame, reference=reference)
    single = Profile.from_data(frame.toPandas(), reference=reference)
    assert merged.rows == ROWS
    assert_same_profile(merged, single, data)
    assert merged["x"].below + merged["x"].above > 0  # outside the reference's range, counted
    assert sorted(merged["paid"].categories) == ["False", "True"]
    assert compare(reference, merged)["drifted"].eq(False).all()


def test_without_a_reference_the_bins_come_from_a_sample(frame, data) -> None:
    whole = profile_spark(frame, categorical=["count"])  # the sample holds every row
    single = Profile.from_data(data, categorical=["count"])
    assert whole["count"].kind == "categorical" and whole["x"].bounds is None
    assert_same_profile(whole, single, data)

    sampled = profile_spark(frame, sample_rows=2000)
    x = data["x"].dropna().to_numpy()
    assert sampled["x"].count == x.size and sampled["x"].histogram.sum() == x.size
    assert not np.array_equal(sampled["x"].edges, single["x"].edges)
    low, high = sampled["x"].bounds
    assert (sampled["x"].below, sampled["x"].above) == ((x < low).sum(), (x > high).sum())
    again = Profile.from_data(data, reference=sampled)  # the same edges, in one process
    assert again["x"].histogram.tolist() == sampled["x"].histogram.tolist()
    assert again["x"].mean == pytest.approx(sampled["x"].mean, rel=1e-12)

    sample = sample_profile(frame, rows=2000, columns=["x", "plan"])
    assert sample.rows == 2000 and list(sample.columns) == ["x", "plan"]
    exact = Profile.from_data(data, reference=sample)
    assert_same_profile(profile_spark(frame, reference=sample), exact, data)


def test_drift_flags_the_columns_drift_report_flags(spark, data) -> None:
    current = table(ROWS, shift=0.3, seed=3)  # x and plan shift; the rest keep their law
    exact = drift_report(data, current)
    assert exact.drifted == ["x", "plan"]
    reference_df = spark.createDataFrame(data).repartition(4)
    current_df = spark.createDataFrame(current).repartition(4)
    report = compare_spark(reference_df, current_df)
    assert report.loc[report["drifted"].eq(True), "column"].tolist() == exact.drifted
    expected = exact.table.set_index("column")
    for row in report.to_dict("records"):  # the same bins: the deciles of every reference row
        assert row["psi"] == pytest.approx(expected.loc[row["column"], "psi"], rel=1e-9)
        if row["kind"] == "numeric":  # from the merged sketches, within their bounds
            assert abs(row["ks"] - expected.loc[row["column"], "ks"]) <= row["ks_error"]
            # heavy tails: a sketch may keep one of the most extreme values (docs/monitoring.md)
            tolerance = 0.08 if row["column"] == "amount" else 0.02
            assert row["wasserstein"] == pytest.approx(
                expected.loc[row["column"], "wasserstein"], abs=tolerance)
    reference = profile_spark(reference_df, columns=["x", "count"])
    again = compare_spark(reference, current_df)
    assert again["column"].tolist() == ["x", "count"]
    assert again.loc[again["drifted"].eq(True), "column"].tolist() == ["x"]


def test_an_empty_dataframe_gives_a_profile_of_no_rows(spark, frame) -> None:
    empty = spark.createDataFrame([], frame.schema)
    reference = Profile.from_data(table(1000, seed=4))
    window = profile_spark(empty, reference=reference)
    assert window.rows == 0 and list(window.columns) == list(reference.columns)
    assert set(compare(reference, window)["method"]) == {"no data"}
    assert set(data_quality(reference, window)["status"]) == {"no data"}
    assert set(compare_spark(reference, empty)["method"]) == {"no data"}
    alone = profile_spark(empty)
    assert alone.rows == 0
    assert {n: c.kind for n, c in alone.columns.items()} == {
        n: c.kind for n, c in reference.columns.items()}
    assert set(compare(reference, alone)["method"]) == {"no data"}


def test_bad_input_gets_clear_errors(spark, frame, data, monkeypatch) -> None:
    reference = Profile.from_data(data.iloc[:1000])
    with pytest.raises(InvalidArgument, match="'nope' is not in the DataFrame; it has 'x', "
                                              "'count', 'amount', 'plan', 'city', 'paid'"):
        profile_spark(frame, columns=["x", "nope"])
    with pytest.raises(InvalidArgument, match="'x' is not in the DataFrame; it has 'plan'"):
        profile_spark(frame.select("plan"), reference=reference, columns=["x"])
    with pytest.raises(InvalidArgument, match="'nope' is not in the profile"):
        profile_spark(frame, reference=reference, columns=["nope"])
    with pytest.raises(InvalidArgument, match="none of the reference's columns"):
        profile_spark(spark.range(3), reference=reference)
    with pytest.raises(InvalidArgument, match="not profiled"):
        profile_spark(frame, columns=["x"], categorical=["plan"])
    with pytest.raises(InvalidArgument, match="numeric in the reference"):
        profile_spark(frame, reference=reference, categorical=["x"])
    with pytest.raises(InvalidArgument, match="leave out bins"):
        profile_spark(frame, reference=reference, bins=5)
    with pytest.raises(InvalidArgument, match="bins must be"):
        profile_spark(frame, bins=1)
    with pytest.raises(InvalidArgument, match="unknown options bin"):
        profile_spark(frame, bin=5)
    with pytest.raises(InvalidArgument, match="sample_rows must be"):
        profile_spark(frame, sample_rows=0)
    with pytest.raises(InvalidArgument, match="this reference is a profile already"):
        compare_spark(reference, frame, bins=5)
    with pytest.raises(InvalidArgument, match="expected a pyspark DataFrame, got pandas"):
        profile_spark(data)
    # A numeric column without values in the sample has no edges for the partitions to share.
    late = spark.range(0, 1000, numPartitions=2).select(
        functions.when(functions.col("id") % 500 >= 10, functions.col("id").cast("double"))
        .alias("late"))
    with pytest.raises(InvalidArgument, match="'late' has no values in the first 5 rows"):
        profile_spark(late, sample_rows=5)
    assert profile_spark(late)["late"].count == 980
    monkeypatch.setitem(sys.modules, "pyspark", None)  # as if the extra were not installed
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)
    with pytest.raises(MissingExtra, match=r"pip install 'dockyard\[spark\]'"):
        profile_spark(frame)
