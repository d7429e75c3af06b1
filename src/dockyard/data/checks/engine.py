"""Running a suite: every check's aggregates in one scan of the data, then its own queries.

When the shared scan fails (one check's type mismatch, say), each check's
aggregates run on their own, so that one bad check does not stop the others.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import time
from collections.abc import Mapping, Sequence
from typing import Any

from dockyard.data.checks.expectations import BaseExpectation
from dockyard.data.checks.report import CheckReport, CheckResult
from dockyard.data.checks.suite import Suite, load_suite
from dockyard.data.checks.table import (
    DATA_VIEW,
    CheckError,
    Outcome,
    Plan,
    Table,
    first_line,
    open_data,
)
from dockyard.errors import InvalidArgument


def run_checks(data: Any, suite: Suite | Mapping[str, Any] | str | os.PathLike[str], *,
               sample_rows: int = 5, now: dt.datetime | None = None,
               threads: int | None = None) -> CheckReport:
    """Run ``suite`` on ``data`` and report every check's outcome.

    ``data`` is a pandas DataFrame, a pyarrow Table or Dataset, or a path: a
    Parquet file, a folder of Parquet files (Hive partitions become columns),
    a glob, or a CSV file. ``suite`` is anything :func:`load_suite` takes.
    ``sample_rows`` failing rows are kept per check; ``now`` is the time that
    freshness is measured from (default: the current time; naive means UTC);
    ``threads`` caps DuckDB's threads (default: the CPUs this process may use).

    A check that cannot run (a missing column, a bad reference) fails with an
    ``error`` and the others still run. Raises InvalidArgument for a bad suite
    or data that cannot be read.
    """
    import duckdb

    suite = load_suite(suite)
    if not isinstance(sample_rows, int) or isinstance(sample_rows, bool) or sample_rows < 0:
        raise InvalidArgument(f"sample_rows must be a whole number of at least 0, "
                              f"got {sample_rows!r}")
    if threads is not None and (not isinstance(threads, int) or isinstance(threads, bool)
                                or threads < 1):
        raise InvalidArgument(f"threads must be a whole number of at least 1, got {threads!r}")
    if now is None:
        now = dt.datetime.now(dt.timezone.utc)
    elif not isinstance(now, dt.datetime):
        raise InvalidArgument(f"now must be a datetime, got {type(now).__name__}")
    elif now.tzinfo is None:
        now = now.replace(tzinfo=dt.timezone.utc)
    started_at = time.time_ns() // 1_000_000
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="dockyard-checks-") as spill:
        # Groupings and joins larger than memory spill here, not into the working folder.
        con = duckdb.connect(config={"threads": threads or _cpus(), "temp_directory": spill})
        try:
            con.execute("SET TimeZone = 'UTC'").fetchall()
            source, schema = open_data(con, data, DATA_VIEW, what="data")
            table = Table(con, schema, sample_rows, now)
            results = _run(table, suite)
        finally:
            con.close()
    return CheckReport(suite=suite.name, passed=all(r.passed for r in results), rows=table.rows,
                       source=source, results=results, started_at=started_at,
                       duration_ms=(time.perf_counter() - start) * 1000)


def _run(table: Table, suite: Suite) -> list[CheckResult]:
    import duckdb

    plans: list[Plan | str] = []
    for item in suite.expectations:
        try:
            plans.append(item._plan(table))
        except CheckError as exc:
            plans.append(str(exc))
    values = _scan(table, plans)
    results = []
    for item, plan, got in zip(suite.expectations, plans, values):
        if isinstance(plan, str) or isinstance(got, str):
            results.append(_failed(item, plan if isinstance(plan, str) else str(got)))
            continue
        try:
            outcome = plan.finish(got)
        except CheckError as exc:
            results.append(_failed(item, str(exc)))
            continue
        except duckdb.Error as exc:
            results.append(_failed(item, f"the check could not run: {first_line(exc)}"))
            continue
        results.append(_result(item, outcome))
    return results


def _scan(table: Table, plans: Sequence[Plan | str]) -> list[list[Any] | str]:
    """Every plan's aggregates, in one scan; one scan per plan when that fails, so that
    one check's error (a type mismatch, say) does not stop the others."""
    import duckdb

    expressions, params = ["count(*)"], []
    for plan in plans:
        if isinstance(plan, Plan):
            expressions += [sql for sql, _ in plan.aggregates]
            params += [p for _, ps in plan.aggregates for p in ps]
    try:
        row = list(table.one(f"SELECT {', '.join(expressions)} FROM {DATA_VIEW}", params))
    except duckdb.Error:
        row = None
    if row is not None:
        table.rows = row.pop(0)
        out: list[list[Any] | str] = []
        for plan in plans:
            size = len(plan.aggregates) if isinstance(plan, Plan) else 0
            out.append(row[:size])
            row = row[size:]
        return out
    try:
        table.rows = table.one(f"SELECT count(*) FROM {DATA_VIEW}", [])[0]
    except duckdb.Error as exc:
        raise InvalidArgument(f"cannot read the data: {first_line(exc)}") from exc
    out = []
    for plan in plans:
        if not isinstance(plan, Plan) or not plan.aggregates:
            out.append([])
            continue
        sql = f"SELECT {', '.join(s for s, _ in plan.aggregates)} FROM {DATA_VIEW}"
        try:
            out.append(list(table.one(sql, [p for _, ps in plan.aggregates for p in ps])))
        except duckdb.Error as exc:
            out.append(f"the check could not run: {first_line(exc)}")
    return out


def _result(item: BaseExpectation, outcome: Outcome) -> CheckResult:
    failing, checked = int(outcome.failing), int(outcome.checked)
    fraction = failing / checked if checked else 0.0
    passed = outcome.passed
    if passed is None:
        passed = failing <= (1.0 - getattr(item, "mostly", 1.0)) * checked + 1e-9
    return CheckResult(expectation=item.to_dict(), description=item.describe(), passed=passed,
                       failing=failing, checked=checked, failing_fraction=fraction,
                       sample=outcome.sample, observed=outcome.observed)


def _failed(item: BaseExpectation, error: str) -> CheckResult:
    return CheckResult(expectation=item.to_dict(), description=item.describe(), passed=False,
                       error=error)


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
