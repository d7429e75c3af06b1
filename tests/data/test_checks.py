"""Declarative data checks: every expectation on a DataFrame and on Parquet files, suites in
YAML and Python, and the report."""

from __future__ import annotations

import datetime as dt
import inspect
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from dockyard.data.checks import (EXPECTATION_TYPES, CheckReport, ForeignKey, Range, Suite,
                                  expect, load_suite, run_checks)
from dockyard.errors import InvalidArgument

NOW = dt.datetime(2024, 6, 10, 12, 0, tzinfo=dt.timezone.utc)


@pytest.fixture(params=["frame", "parquet"])
def given(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[pd.DataFrame], Any]:
    """Turn a DataFrame into the input under test: itself, or a Parquet file of it."""

    def convert(frame: pd.DataFrame) -> Any:
        if request.param == "frame":
            return frame
        path = tmp_path / "data.parquet"
        frame.to_parquet(path, index=False)
        return str(path)

    return convert


def check(data: Any, *expectations: Any, **options: Any) -> CheckReport:
    options.setdefault("now", NOW)
    return run_checks(data, Suite("test", list(expectations)), **options)


def only(report: CheckReport) -> Any:
    assert len(report.results) == 1
    return report.results[0]


def customers() -> pd.DataFrame:
    return pd.DataFrame({
        "id": [1, 2, 3, 4, 5, 6],
        "age": [34, 51, 19, 70, 28, 45],
        "plan": ["basic", "pro", "basic", "pro", "pro", "basic"],
        "email": ["a@x.io", "b@x.io", "c@y.org", "d@y.org", "e@z.net", "f@z.net"],
        "seen": pd.to_datetime(["2024-06-01", "2024-06-05", "2024-06-09", "2024-06-09",
                                "2024-06-10", "2024-06-10 06:00"], format="ISO8601"),
    })


# ------------------------------------------------------------------ column
def test_column_present_with_its_type(given: Callable[[pd.DataFrame], Any]) -> None:
    report = check(given(customers()), expect.column("id", "integer"),
                   expect.column("age", "number"), expect.column("plan", "string"),
                   expect.column("seen", "timestamp"), expect.column("email"))
    assert report.passed, report.summary()
    assert report.results[0].observed == {"present": True, "dtype": "BIGINT", "family": "integer"}


def test_column_missing_or_of_another_type_fails(given: Callable[[pd.DataFrame], Any]) -> None:
    report = check(given(customers()), expect.column("score"), expect.column("age", "float"),
                   expect.column("plan", "date"))
    assert not report.passed
    missing, wrong, text = report.results
    assert (missing.passed, missing.failing, missing.error) == (False, 1, None)
    assert missing.observed == {"present": False}
    assert (wrong.passed, wrong.failing, wrong.observed["dtype"]) == (False, 1, "BIGINT")
    assert text.observed["family"] == "string" and not text.passed


def test_column_types_of_floats_booleans_and_dates(tmp_path: Path) -> None:
    table = pa.table({"f": [1.5], "b": [True], "d": [dt.date(2024, 1, 1)],
                      "tz": pa.array([NOW], pa.timestamp("us", tz="UTC"))})
    report = check(table, expect.column("f", "float"), expect.column("f", "number"),
                   expect.column("b", "boolean"), expect.column("d", "date"),
                   expect.column("tz", "timestamp"))
    assert report.passed, report.summary()
    assert not only(check(table, expect.column("b", "integer"))).passed


# ------------------------------------------------------------------ not_null
def test_not_null_passes_on_complete_data(given: Callable[[pd.DataFrame], Any]) -> None:
    assert check(given(customers()), expect.not_null("id", "age", "plan")).passed


def test_not_null_counts_rows_with_a_null(given: Callable[[pd.DataFrame], Any]) -> None:
    frame = customers()
    frame["age"] = frame["age"].astype("float64")
    frame.loc[1, "age"] = np.nan
    frame.loc[4, "plan"] = None
    frame.loc[4, "age"] = np.nan
    result = only(check(given(frame), expect.not_null("age", "plan")))
    assert not result.passed
    assert (result.failing, result.checked) == (2, 6)
    assert result.failing_fraction == pytest.approx(2 / 6)
    assert result.observed == {"nulls": {"age": 2, "plan": 1}}
    assert [row["id"] for row in result.sample] == [2, 5]
    assert list(result.sample[0])[:2] == ["age", "plan"]  # the checked columns come first
    assert result.sample[1]["age"] is None and result.sample[1]["plan"] is None


def test_nan_in_a_parquet_float_column_counts_as_null(tmp_path: Path) -> None:
    path = tmp_path / "nan.parquet"
    pq.write_table(pa.table({"x": pa.array([1.0, float("nan"), None, 4.0], from_pandas=False)}),
                   path)
    assert only(check(path, expect.not_null("x"))).failing == 2
    ranged = only(check(path, expect.range("x", 0, 10)))
    assert (ranged.passed, ranged.checked) == (True, 2)


# ------------------------------------------------------------------ range
def test_range_passes_within_bounds(given: Callable[[pd.DataFrame], Any]) -> None:
    result = only(check(given(customers()), expect.range("age", 18, 70)))
    assert result.passed
    assert result.observed == {"min": 19, "max": 70}


def test_range_counts_values_outside(given: Callable[[pd.DataFrame], Any]) -> None:
    frame = customers()
    frame["age"] = [34, -1, 19, 130, 28, 45]
    result = only(check(given(frame), expect.range("age", 0, 120)))
    assert (result.passed, result.failing, result.checked) == (False, 2, 6)
    assert [row["age"] for row in result.sample] == [-1, 130]
    assert [row["id"] for row in result.sample] == [2, 4]
    assert result.observed == {"min": -1, "max": 130}


def test_range_bounds_exclusive_and_one_sided(given: Callable[[pd.DataFrame], Any]) -> None:
    data = given(customers())
    assert only(check(data, expect.range("age", 19, 70))).passed
    exclusive = only(check(data, expect.range("age", 19, 70, inclusive=False)))
    assert exclusive.failing == 2
    assert only(check(data, expect.range("age", min=20))).failing == 1
    assert only(check(data, expect.range("age", max=50))).failing == 2


def test_range_skips_nulls(given: Callable[[pd.DataFrame], Any]) -> None:
    frame = pd.DataFrame({"x": [1.0, None, 500.0, np.nan, 3.0]})
    result = only(check(given(frame), expect.range("x", 0, 10)))
    assert (result.failing, result.checked) == (1, 3)


def test_range_on_timestamps_and_dates(given: Callable[[pd.DataFrame], Any]) -> None:
    frame = customers()
    frame["day"] = frame["seen"].dt.date
    data = given(frame)
    assert only(check(data, expect.range("seen", "2024-06-01", "2024-06-30"))).passed
    late = only(check(data, expect.range("seen", max="2024-06-09T23:59:59")))
    assert late.failing == 2
    assert late.sample[0]["seen"] == "2024-06-10T00:00:00"
    assert only(check(data, expect.range("day", min=dt.date(2024, 6, 5)))).failing == 1


def test_range_bound_of_the_wrong_kind_is_an_error(given: Callable[[pd.DataFrame], Any]) -> None:
    report = check(given(customers()), expect.range("age", "a", "z"), expect.range("seen", 0, 1),
                   expect.row_count(min=1))
    numeric, temporal, rows = report.results
    assert not numeric.passed and "is numeric" in numeric.error
    assert not temporal.passed and "ISO dates" in temporal.error
    assert rows.passed  # the other checks still run


# ------------------------------------------------------------------ allowed_values
def test_allowed_values_pass(given: Callable[[pd.DataFrame], Any]) -> None:
    assert only(check(given(customers()), expect.allowed_values("plan", ["basic", "pro"]))).passed


def test_allowed_values_count_others_and_skip_nulls(given: Callable[[pd.DataFrame], Any]) -> None:
    frame = customers()
    frame["plan"] = ["basic", "gold", None, "pro", "gold", "Pro"]
    result = only(check(given(frame), expect.allowed_values("plan", ["basic", "pro"])))
    assert (result.passed, result.failing, result.checked) == (False, 3, 5)
    assert [row["plan"] for row in result.sample] == ["gold", "gold", "Pro"]
    assert result.observed["unexpected"] == [{"value": "gold", "count": 2},
                                             {"value": "Pro", "count": 1}]


def test_allowed_values_of_numbers_and_quotes_are_parameters() -> None:
    frame = pd.DataFrame({"n": [1, 2, 3], "name": ["O'Brien", "x') OR 1=1 --", "Ann"]})
    assert only(check(frame, expect.allowed_values("n", [1, 2]))).failing == 1
    result = only(check(frame, expect.allowed_values("name", ["O'Brien", "Ann"])))
    assert result.failing == 1
    assert result.sample[0]["name"] == "x') OR 1=1 --"


# ------------------------------------------------------------------ unique
def test_unique_passes(given: Callable[[pd.DataFrame], Any]) -> None:
    result = only(check(given(customers()), expect.unique("id")))
    assert (result.passed, result.checked) == (True, 6)


def test_unique_counts_every_duplicated_row(given: Callable[[pd.DataFrame], Any]) -> None:
    frame = customers()
    frame["id"] = [1, 2, 2, 3, 3, 3]
    result = only(check(given(frame), expect.unique("id")))
    assert (result.passed, result.failing, result.checked) == (False, 5, 6)
    assert result.observed == {"duplicated_keys": 2}
    assert sorted(row["id"] for row in result.sample) == [2, 2, 3, 3, 3]
    assert [row["id"] for row in result.sample] == sorted(row["id"] for row in result.sample)


def test_unique_combination_and_nulls(given: Callable[[pd.DataFrame], Any]) -> None:
    frame = pd.DataFrame({"a": [1, 1, 2, 2, None, None], "b": ["x", "y", "x", "x", "z", "z"]})
    data = given(frame)
    together = only(check(data, expect.unique("a", "b")))
    assert (together.failing, together.checked) == (2, 4)  # rows with a null key are skipped
    assert {(row["a"], row["b"]) for row in together.sample} == {(2.0, "x")}
    assert only(check(data, expect.unique("b"))).failing == 5


# ------------------------------------------------------------------ regex
def test_regex_passes(given: Callable[[pd.DataFrame], Any]) -> None:
    assert only(check(given(customers()), expect.regex("email", r"^[^@]+@[^@]+\.\w+$"))).passed


def test_regex_counts_non_matching_values(given: Callable[[pd.DataFrame], Any]) -> None:
    frame = customers()
    frame["email"] = ["a@x.io", "nobody", None, "d@y.org", "two@@x", "f@z.net"]
    result = only(check(given(frame), expect.regex("email", "^[^@]+@[^@]+$")))
    assert (result.passed, result.failing, result.checked) == (False, 2, 5)
    assert [row["email"] for row in result.sample] == ["nobody", "two@@x"]


def test_regex_searches_unless_anchored_and_matches_numbers_as_text() -> None:
    frame = pd.DataFrame({"code": ["ab12", "12ab", "abab"], "n": [100, 205, 3]})
    assert only(check(frame, expect.regex("code", r"\d"))).failing == 1
    assert only(check(frame, expect.regex("code", r"^\d"))).failing == 2
    assert only(check(frame, expect.regex("n", r"^\d{3}$"))).failing == 1


# ------------------------------------------------------------------ row_count
def test_row_count(given: Callable[[pd.DataFrame], Any]) -> None:
    data = given(customers())
    assert only(check(data, expect.row_count(min=6, max=6))).passed
    short = only(check(data, expect.row_count(min=10)))
    assert (short.passed, short.failing, short.checked) == (False, 1, 1)
    assert short.observed == {"rows": 6}
    assert not only(check(data, expect.row_count(max=5))).passed


# ------------------------------------------------------------------ freshness
def test_freshness_passes_when_recent(given: Callable[[pd.DataFrame], Any]) -> None:
    result = only(check(given(customers()), expect.freshness("seen", "36h")))
    assert result.passed
    assert result.observed["newest"] == "2024-06-10T06:00:00+00:00"
    assert result.observed["age_seconds"] == 6 * 3600


def test_freshness_fails_when_stale(given: Callable[[pd.DataFrame], Any]) -> None:
    later = NOW + dt.timedelta(days=3)
    result = only(check(given(customers()), expect.freshness("seen", "2d"), now=later))
    assert (result.passed, result.failing) == (False, 1)
    assert result.observed["max_age_seconds"] == 2 * 86400
    assert result.observed["age_seconds"] == 3 * 86400 + 6 * 3600


def test_freshness_durations_time_zones_and_dates() -> None:
    aware = pd.DataFrame({"t": pd.to_datetime(["2024-06-10 10:00"]).tz_localize("Europe/Paris"),
                          "d": [dt.date(2024, 6, 9)]})
    # 10:00 in Paris is 08:00 UTC: four hours before NOW.
    assert only(check(aware, expect.freshness("t", 4 * 3600))).passed
    assert not only(check(aware, expect.freshness("t", "3h59m"))).passed
    assert only(check(aware, expect.freshness("d", "1d12h"))).passed
    assert not only(check(aware, expect.freshness("d", "1d"))).passed


def test_freshness_of_an_empty_or_text_column_fails() -> None:
    frame = pd.DataFrame({"t": pd.Series([None, None], dtype="datetime64[us]"), "s": ["a", "b"]})
    empty, text = check(frame, expect.freshness("t", "1d"), expect.freshness("s", "1d")).results
    assert not empty.passed and empty.observed["newest"] is None
    assert not text.passed and "timestamp or date column" in text.error


# ------------------------------------------------------------------ foreign_key
def test_foreign_key_to_a_parquet_file(given: Callable[[pd.DataFrame], Any],
                                       tmp_path: Path) -> None:
    plans = tmp_path / "plans.parquet"
    pd.DataFrame({"code": ["basic", "pro", "team"]}).to_parquet(plans)
    result = only(check(given(customers()), expect.foreign_key("plan", plans, "code")))
    assert (result.passed, result.checked) == (True, 6)


def test_foreign_key_counts_missing_values(given: Callable[[pd.DataFrame], Any]) -> None:
    frame = customers()
    frame["plan"] = ["basic", "gold", None, "pro", "gold", "free"]
    reference = pd.DataFrame({"plan": ["basic", "pro", None]})
    result = only(check(given(frame), expect.foreign_key("plan", reference)))
    assert (result.passed, result.failing, result.checked) == (False, 3, 5)
    assert sorted(row["id"] for row in result.sample) == [2, 5, 6]
    assert result.observed["missing"] == [{"value": "gold", "count": 2},
                                          {"value": "free", "count": 1}]


def test_foreign_key_reference_problems_are_errors(tmp_path: Path) -> None:
    plans = tmp_path / "plans.parquet"
    pd.DataFrame({"code": ["basic"]}).to_parquet(plans)
    report = check(customers(), expect.foreign_key("plan", plans, "id"),
                   expect.foreign_key("plan", tmp_path / "nope.parquet"), expect.unique("id"))
    no_column, no_file, other = report.results
    assert "has no column 'id'" in no_column.error and "'code'" in no_column.error
    assert "does not exist" in no_file.error
    assert other.passed


def test_relative_reference_resolves_against_the_suite_folder(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    folder = tmp_path / "suites"
    (folder / "ref").mkdir(parents=True)
    pd.DataFrame({"id": ["basic", "pro"]}).to_parquet(folder / "ref" / "plans.parquet")
    (folder / "churn.yaml").write_text(
        "name: churn\nexpectations:\n"
        "  - {type: foreign_key, column: plan, reference: ref/plans.parquet, "
        "reference_column: id}\n")
    monkeypatch.chdir(tmp_path)
    suite = load_suite(folder / "churn.yaml")
    reference = suite.expectations[0].reference
    assert Path(reference) == (folder / "ref" / "plans.parquet").resolve()
    report = run_checks(customers(), folder / "churn.yaml")
    assert report.passed, report.summary()


# ------------------------------------------------------------------ mostly
def test_mostly_tolerates_a_fraction_of_failures(given: Callable[[pd.DataFrame], Any]) -> None:
    frame = pd.DataFrame({"x": [float(i) for i in range(20)]})
    frame.loc[[3, 7], "x"] = None
    data = given(frame)
    assert not only(check(data, expect.not_null("x"))).passed
    assert only(check(data, expect.not_null("x", mostly=0.9))).passed
    strict = only(check(data, expect.not_null("x", mostly=0.95)))
    assert (strict.passed, strict.failing, strict.failing_fraction) == (False, 2, 0.1)
    # The fraction is of checked (non-null) rows: 2 of 18 values are above 17.
    assert only(check(data, expect.range("x", max=17, mostly=0.88))).passed
    assert not only(check(data, expect.range("x", max=17, mostly=0.9))).passed


# ------------------------------------------------------------------ inputs
def test_hive_partitioned_folder(tmp_path: Path) -> None:
    frame = customers()
    pq.write_to_dataset(pa.Table.from_pandas(frame, preserve_index=False), tmp_path / "hive",
                        partition_cols=["plan"])
    report = check(tmp_path / "hive", expect.row_count(min=6, max=6),
                   expect.allowed_values("plan", ["basic", "pro"]), expect.unique("id"),
                   expect.column("plan"))
    assert report.passed, report.summary()
    assert report.rows == 6
    bad = only(check(tmp_path / "hive", expect.allowed_values("plan", ["basic"])))
    assert bad.failing == 3 and {row["plan"] for row in bad.sample} == {"pro"}


def test_glob_and_csv(tmp_path: Path) -> None:
    frame = customers()
    frame.iloc[:3].to_parquet(tmp_path / "part-1.parquet", index=False)
    frame.iloc[3:].to_parquet(tmp_path / "part-2.parquet", index=False)
    report = check(str(tmp_path / "part-*.parquet"), expect.row_count(min=6, max=6),
                   expect.unique("id"))
    assert report.passed, report.summary()
    frame.to_csv(tmp_path / "data.csv", index=False)
    report = check(tmp_path / "data.csv", expect.column("id", "integer"),
                   expect.range("age", 18, 70), expect.freshness("seen", "1d"))
    assert report.passed, report.summary()


def test_missing_or_unreadable_data_is_invalid(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="does not exist"):
        check(tmp_path / "missing.parquet", expect.row_count(min=1))
    (tmp_path / "notes.parquet").write_text("not parquet")
    with pytest.raises(InvalidArgument, match="cannot read the data"):
        check(tmp_path / "notes.parquet", expect.row_count(min=1))
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidArgument, match="no .parquet files"):
        check(tmp_path / "empty", expect.row_count(min=1))
    with pytest.raises(InvalidArgument, match="pandas DataFrame"):
        check([1, 2, 3], expect.row_count(min=1))


def test_column_names_with_spaces_and_quotes(given: Callable[[pd.DataFrame], Any]) -> None:
    frame = pd.DataFrame({"first name": ["Ann", None, "Bo"], 'say "hi"': [1, 2, 2],
                          "it's": ["a-1", "b-2", "oops"]})
    report = check(given(frame), expect.not_null("first name"), expect.unique('say "hi"'),
                   expect.range('say "hi"', 1, 1), expect.regex("it's", r"^\w-\d$"),
                   expect.allowed_values("first name", ["Ann", "Bo"]),
                   expect.foreign_key("it's", frame, "it's"), expect.column('say "hi"', "integer"))
    failing = [(r.failing, r.checked) for r in report.results]
    assert failing == [(1, 3), (2, 3), (2, 3), (1, 3), (0, 2), (0, 3), (0, 1)]
    assert report.results[1].sample[0]['say "hi"'] == 2
    assert all(r.error is None for r in report.results)


def test_a_check_that_cannot_run_does_not_stop_the_others() -> None:
    report = check(customers(), expect.allowed_values("age", ["young", "old"]),
                   expect.not_null("nope"), expect.range("age", 0, 120), expect.row_count(min=1))
    mismatch, missing, ranged, rows = report.results
    assert not mismatch.passed and mismatch.error.startswith("the check could not run")
    assert "column 'nope' is not in the data" in missing.error and "'age'" in missing.error
    assert ranged.passed and rows.passed
    assert report.rows == 6 and not report.passed


# ------------------------------------------------------------------ the report
def test_report_is_json_with_iso_times_and_no_nan() -> None:
    frame = pd.DataFrame({"x": [1.0, np.nan, 99.0, float("inf")],
                          "t": pd.to_datetime(["2024-01-01", None, "2024-01-02", "2024-01-03"]),
                          "d": [dt.date(2024, 1, 1)] * 4})
    report = check(frame, expect.range("x", 0, 10), expect.not_null("x"), sample_rows=5)
    body = json.loads(json.dumps(report.model_dump(mode="json"), allow_nan=False))
    ranged, nulls = body["results"]
    assert ranged["sample"] == [{"x": 99.0, "t": "2024-01-02T00:00:00", "d": "2024-01-01"},
                                {"x": "inf", "t": "2024-01-03T00:00:00", "d": "2024-01-01"}]
    assert nulls["sample"] == [{"x": None, "t": None, "d": "2024-01-01"}]
    assert body["suite"] == "test" and body["rows"] == 4 and body["passed"] is False
    assert ranged["expectation"] == {"type": "range", "column": "x", "min": 0, "max": 10}
    assert CheckReport.model_validate(body) == report
    started = dt.datetime.fromtimestamp(body["started_at"] / 1000, dt.timezone.utc)
    assert abs(dt.datetime.now(dt.timezone.utc) - started) < dt.timedelta(hours=1)


def test_sample_rows_limit_summary_and_failures() -> None:
    frame = pd.DataFrame({"x": list(range(10))})
    report = check(frame, expect.range("x", max=-1), expect.not_null("x"), expect.not_null("y"),
                   sample_rows=3)
    ranged, _, missing = report.results
    assert ranged.failing == 10 and [row["x"] for row in ranged.sample] == [0, 1, 2]
    assert report.failures == [ranged, missing]
    lines = report.summary().splitlines()
    assert lines[0].startswith("suite 'test': FAILED, 2 of 3 checks failed, 10 rows")
    assert "FAIL" in lines[1] and "10 of 10 failing (100.00%)" in lines[1]
    assert [line.split()[:2] for line in lines[2:5]] == [["e.g.", '{"x":']] * 3  # failing rows
    assert lines[5].split()[0] == "ok"
    assert "ERROR" in lines[6] and "column 'y'" in lines[6]
    assert len(report.summary(samples=1).splitlines()) == 5
    assert check(frame, expect.range("x", max=-1), sample_rows=0).results[0].sample == []


def test_expectation_in_report_for_an_in_memory_reference() -> None:
    reference = pd.DataFrame({"id": [1]})
    result = only(check(pd.DataFrame({"id": [1]}), expect.foreign_key("id", reference)))
    assert result.expectation == {"type": "foreign_key", "column": "id",
                                  "reference": "<DataFrame>"}
    with pytest.raises(InvalidArgument, match="Parquet file"):
        Suite("x", [expect.foreign_key("id", reference)]).to_yaml()


# ------------------------------------------------------------------ suites
CHURN = """\
name: churn
expectations:
  - {type: column, column: age, dtype: integer}
  - {type: not_null, columns: [age, plan]}
  - {type: range, column: age, min: 0, max: 120}
  - {type: allowed_values, column: plan, values: [basic, pro]}
  - {type: unique, columns: [id]}
  - {type: regex, column: email, pattern: '^[^@]+@[^@]+$'}
  - {type: row_count, min: 5}
  - {type: freshness, column: seen, max_age: 2d}
  - {type: foreign_key, column: plan, reference: plans.parquet, reference_column: code}
"""


def test_yaml_suite_runs_and_round_trips(tmp_path: Path) -> None:
    (tmp_path / "checks.yaml").write_text(CHURN)
    pd.DataFrame({"code": ["basic", "pro"]}).to_parquet(tmp_path / "plans.parquet")
    suite = load_suite(tmp_path / "checks.yaml")
    assert [e.type for e in suite.expectations] == list(EXPECTATION_TYPES)
    assert load_suite(suite.to_yaml()) == suite
    report = run_checks(customers(), str(tmp_path / "checks.yaml"), now=NOW)
    assert report.passed, report.summary()
    assert report.suite == "churn" and len(report.results) == 9
    text = suite.to_yaml()
    assert "  - {type: range, column: age, min: 0, max: 120}\n" in text
    assert "  - {type: regex, column: email, pattern: '^[^@]+@[^@]+$'}\n" in text


def test_suite_sources_and_shorthands(tmp_path: Path) -> None:
    python = Suite("s", [expect.not_null("a"), expect.unique("a", "b"),
                         expect.range("t", min=dt.date(2024, 1, 1), mostly=0.5)])
    text = python.to_yaml()
    assert "{type: range, column: t, min: '2024-01-01', mostly: 0.5}" in text
    data = {"name": "s", "expectations": [
        {"type": "not_null", "column": "a"}, {"type": "unique", "columns": ["a", "b"]},
        {"type": "range", "column": "t", "min": dt.date(2024, 1, 1), "mostly": 0.5}]}
    assert load_suite(data) == python
    assert load_suite(text) == python
    assert load_suite(python) is python
    (tmp_path / "s.json").write_text(json.dumps(python.to_dict()))
    assert load_suite(tmp_path / "s.json") == python
    assert Suite(name="s", expectations=python.expectations) == python
    assert Suite("empty").to_yaml() == "name: empty\nexpectations: []\n"
    assert load_suite(Suite("empty").to_yaml()) == Suite("empty")


@pytest.mark.parametrize(("text", "message"), [
    ("  - {type: rnage, column: a}",
     "expectations[0]: unknown type 'rnage'; the known types are column, not_null, range"),
    ("  - {column: a}", "expectations[0]: give a 'type', one of column, not_null"),
    ("  - {type: row_count, min: 1}\n  - {type: range, column: a, min: 5, max: 1}",
     "expectations[1] (range): min 5 is greater than max 1; swap them"),
    ("  - {type: range, column: a, maximum: 1}",
     "expectations[0] (range): unknown field 'maximum'; the fields are column, min, max"),
    ("  - {type: regex, column: a, pattern: 'a('}",
     "expectations[0] (regex): pattern: 'a(' is not a valid regular expression"),
    ("  - {type: freshness, column: a, max_age: soon}",
     "expectations[0] (freshness): max_age: give a positive duration such as '36h'"),
    ("  - {type: freshness, column: a, max_age: -5}", "max_age: give a positive duration"),
    ("  - {type: not_null, column: a, mostly: 1.5}",
     "expectations[0] (not_null): mostly: the fraction of rows that must pass is from 0 to 1"),
    ("  - {type: not_null}", "expectations[0] (not_null): 'columns' is required"),
    ("  - {type: unique, columns: [a, a]}", "name a column twice"),
    ("  - {type: row_count}", "expectations[0] (row_count): give min, max or both"),
    ("  - {type: row_count, min: 9, max: 2}", "min 9 is greater than max 2"),
    ("  - {type: allowed_values, column: a, values: []}", "give at least one allowed value"),
    ("  - {type: column, column: a, dtype: text}", "expectations[0] (column): dtype: Input"),
    ("  - {type: range, column: a, min: 1, max: 1, inclusive: false}", "no value can pass"),
])
def test_bad_suites_are_invalid_arguments(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        load_suite(f"name: bad\nexpectations:\n{text}\n")
    assert not isinstance(raised.value, ValidationError)
    assert str(raised.value).startswith("invalid suite 'bad': ")
    assert message in str(raised.value)


def test_unreadable_suites(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="line 3, column 3"):
        load_suite("name: x\nexpectations: [\n  - {type: row_count}\n")
    with pytest.raises(InvalidArgument, match="suite file .*missing.yaml does not exist"):
        load_suite(str(tmp_path / "missing.yaml"))
    (tmp_path / "bad.json").write_text('{"name": "x",\n "expectations": [}')
    with pytest.raises(InvalidArgument, match="not valid JSON: line 2"):
        load_suite(tmp_path / "bad.json")
    with pytest.raises(InvalidArgument, match="'name' is required"):
        load_suite({"expectations": []})
    with pytest.raises(InvalidArgument, match="a mapping with 'name' and 'expectations'"):
        load_suite("- just\n- a list\n")


def test_python_form_raises_invalid_argument() -> None:
    with pytest.raises(InvalidArgument, match="invalid range expectation: min 3 is greater"):
        expect.range("age", 3, 1)
    with pytest.raises(InvalidArgument, match="RE2"):
        expect.regex("a", "(?=lookahead)")
    with pytest.raises(InvalidArgument, match="expectations\\[1\\]: unknown type 'nope'"):
        Suite("x", [expect.not_null("a"), {"type": "nope"}])
    with pytest.raises(InvalidArgument, match="reference must be a path"):
        expect.foreign_key("a", 42)
    assert isinstance(Range(column="a", min=1), Range)  # the models are public too
    assert ForeignKey(column="a", reference=Path("x.parquet")).reference == "x.parquet"


def test_run_options_are_checked() -> None:
    suite = Suite("x", [expect.row_count(min=1)])
    with pytest.raises(InvalidArgument, match="sample_rows"):
        run_checks(customers(), suite, sample_rows=-1)
    with pytest.raises(InvalidArgument, match="threads"):
        run_checks(customers(), suite, threads=0)
    with pytest.raises(InvalidArgument, match="now must be a datetime"):
        run_checks(customers(), suite, now="today")
    assert run_checks(customers(), suite, threads=1).passed


def test_public_names_are_documented() -> None:
    from dockyard.data import checks

    for name in checks.__all__:
        value = getattr(checks, name)
        if inspect.isfunction(value) or inspect.isclass(value):
            assert inspect.getdoc(value), name
    assert set(EXPECTATION_TYPES) == {"column", "not_null", "range", "allowed_values", "unique",
                                      "regex", "row_count", "freshness", "foreign_key"}
