"""Declarative data checks (expectations) on tables, run with DuckDB.

A :class:`Suite` is a named list of expectations, written in YAML (see
:func:`load_suite`) or in Python (``expect.range("age", 0, 120)``), and
:func:`run_checks` runs it on a pandas DataFrame, a pyarrow Table or Dataset,
or a path (a Parquet file, a folder of Parquet files with or without Hive
partitions, a glob, or a CSV file). The :class:`CheckReport` holds, per
check, the failing and checked counts, a few failing rows and what was
observed; it is plain JSON, stored with the dataset version it describes.

Every expectation compiles to SQL: a failing-row predicate whose count
is one aggregate, and the same predicate with ``LIMIT`` for sample rows.
The aggregates of all checks are computed in one scan; uniqueness and foreign
keys add a grouped query or an anti-join each. DuckDB scans DataFrames and
Arrow tables in place and streams Parquet files (spilling to disk when a
grouping does not fit in memory), so one implementation serves both kinds of
input and files larger than memory are never loaded into pandas. Column
names are quoted and user values are always query parameters.

We chose this over pandera and Great Expectations. Great Expectations brings
a large dependency tree and its own context, stores and configuration, for
what is here one function over a table. pandera validates pandas (or polars)
objects in memory; its SQL route goes through ibis, another dependency, and
it has no row-count, freshness or foreign-key checks of its own, nor sample
rows per check. DuckDB is already the engine of the prediction log.

Nulls: only ``not_null`` counts them. The other column checks look at
non-null values (``checked``) and skip nulls, as peers do; NaN in a float
column counts as null.

The modules, each importing only those listed before it:

- :mod:`~dockyard.data.checks.table`: the data as a DuckDB view, and the SQL
  helpers, plans and outcomes that expectations compile to;
- :mod:`~dockyard.data.checks.expectations`: the expectation models and
  their SQL; :mod:`~dockyard.data.checks.keys`: unique and foreign keys;
- :mod:`~dockyard.data.checks.suite`: :class:`Suite`, :func:`load_suite`
  and ``expect``;
- :mod:`~dockyard.data.checks.report`: :class:`CheckReport` and
  :class:`CheckResult`;
- :mod:`~dockyard.data.checks.engine`: :func:`run_checks`.
"""

from dockyard.data.checks.engine import run_checks
from dockyard.data.checks.expectations import (
    DTYPES,
    AllowedValues,
    Column,
    Freshness,
    NotNull,
    Range,
    Regex,
    RowCount,
)
from dockyard.data.checks.keys import ForeignKey, Unique
from dockyard.data.checks.report import CheckReport, CheckResult
from dockyard.data.checks.suite import EXPECTATION_TYPES, Expectation, Suite, expect, load_suite

__all__ = ["DTYPES", "EXPECTATION_TYPES", "AllowedValues", "CheckReport", "CheckResult", "Column",
           "Expectation", "ForeignKey", "Freshness", "NotNull", "Range", "Regex", "RowCount",
           "Suite", "Unique", "expect", "load_suite", "run_checks"]
