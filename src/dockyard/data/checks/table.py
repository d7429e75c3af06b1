"""The data under check, in DuckDB, and the SQL vocabulary expectations compile to.

:func:`open_data` registers a path or an in-memory table as a view; a
:class:`Table` wraps that view with the helpers that expectations build their
SQL with (quoted columns, null tests, sample rows). An expectation turns
into a :class:`Plan`: aggregates for the shared scan, and a function that
makes an :class:`Outcome` of their values.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from dockyard.errors import InvalidArgument

DATA_VIEW = "dockyard_data"
"""The view that the data under check is registered as."""

_INTEGER = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
            "UINTEGER", "UBIGINT", "UHUGEINT"}
_FLOAT = {"FLOAT", "DOUBLE"}
_TIMESTAMP = {"TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP_S", "TIMESTAMP_MS",
              "TIMESTAMP_NS"}


def type_family(sql_type: str) -> str:
    """The type family of a DuckDB column type (``other`` for lists, structs, blobs ...)."""
    base = sql_type.split("(")[0].strip()
    if base in _INTEGER:
        return "integer"
    if base in _FLOAT:
        return "float"
    if base == "DECIMAL":
        return "decimal"
    if base == "VARCHAR" or base == "ENUM":
        return "string"
    if base == "BOOLEAN":
        return "boolean"
    if base in _TIMESTAMP:
        return "timestamp"
    return "date" if base == "DATE" else "other"


def temporal_type(sql_type: str) -> str:
    """The type to cast an ISO bound to, for comparing it with a date or timestamp column."""
    if sql_type == "DATE":
        return "DATE"
    return "TIMESTAMPTZ" if sql_type == "TIMESTAMP WITH TIME ZONE" else "TIMESTAMP"


def quote(name: str) -> str:
    """``name`` as a quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def jsonable(value: Any) -> Any:
    """``value`` as JSON can hold it: times as ISO text, NaN as None, infinities as text."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return value if math.isfinite(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return jsonable(float(value))
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return str(value)


def first_line(exc: BaseException) -> str:
    """The first line of an error's message, for a one-line report."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def is_frame(value: Any) -> bool:
    """Whether ``value`` is an in-memory table DuckDB can scan in place."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.dataset as pads

    return isinstance(value, (pd.DataFrame, pa.Table, pa.RecordBatch, pads.Dataset))


def open_data(con: Any, data: Any, view: str, *, what: str) -> tuple[str, dict[str, str]]:
    """Register ``data`` with ``con`` as ``view``; a description of it and its schema."""
    import duckdb

    if isinstance(data, (str, os.PathLike)):
        source = os.fspath(data)
        try:
            _read_path(con, source, what).create_view(view)
        except duckdb.Error as exc:
            raise InvalidArgument(f"cannot read the {what} {source}: {first_line(exc)}") from exc
    elif is_frame(data):
        source = type(data).__name__
        con.register(view, data)
    else:
        raise InvalidArgument(f"the {what} must be a pandas DataFrame, a pyarrow Table or "
                              "Dataset, or a path to Parquet or CSV data; got "
                              f"{type(data).__name__}")
    try:
        schema = {row[0]: row[1] for row in con.execute(f"DESCRIBE {view}").fetchall()}
    except duckdb.Error as exc:
        raise InvalidArgument(f"cannot read the {what} {source}: {first_line(exc)}") from exc
    return source, schema


def _read_path(con: Any, source: str, what: str) -> Any:
    path = os.path.expanduser(source)
    csv = path.lower().endswith((".csv", ".csv.gz", ".tsv", ".tsv.gz"))
    if any(char in path for char in "*?["):
        return con.read_csv(path) if csv else \
            con.read_parquet(path, hive_partitioning=True, union_by_name=True)
    if os.path.isdir(path):
        if next(Path(path).rglob("*.parquet"), None) is None:
            raise InvalidArgument(f"the {what} folder {source} holds no .parquet files")
        return con.read_parquet(os.path.join(path, "**", "*.parquet"), hive_partitioning=True,
                                union_by_name=True)
    if not os.path.isfile(path):
        raise InvalidArgument(f"the {what} file {source} does not exist; give a Parquet file, "
                              "a folder of Parquet files, a glob or a CSV file")
    return con.read_csv(path) if csv else con.read_parquet(path)


class CheckError(Exception):
    """A check could not run (a missing column, an unreadable reference)."""


@dataclass
class Outcome:
    """What one check found."""

    failing: int
    checked: int
    observed: dict[str, Any]
    sample: list[dict[str, Any]] = field(default_factory=list)
    passed: bool | None = None
    """Set by table-level checks; column checks pass by ``mostly``."""


@dataclass
class Plan:
    """How one check runs: its aggregates, then ``finish`` on their values."""

    aggregates: list[tuple[str, list[Any]]]
    """Scalar aggregates over the data, computed in the one shared scan."""
    finish: Callable[[list[Any]], Outcome]


class Table:
    """The table under check, registered as a DuckDB view, and SQL helpers over it."""

    def __init__(self, con: Any, schema: dict[str, str], sample_rows: int,
                 now: dt.datetime) -> None:
        self.con = con
        self.schema = schema
        self.sample_rows = sample_rows
        self.now = now
        self.rows = 0
        self._references = 0

    def column(self, name: str) -> str:
        if name not in self.schema:
            have = ", ".join(map(repr, list(self.schema)[:30]))
            more = ", ..." if len(self.schema) > 30 else ""
            raise CheckError(f"column {name!r} is not in the data; it has {have}{more}")
        return quote(name)

    def is_null(self, name: str, prefix: str = "") -> str:
        column = prefix + self.column(name)
        if type_family(self.schema[name]) == "float":
            return f"({column} IS NULL OR isnan({column}))"
        return f"({column} IS NULL)"

    def select_list(self, first: Sequence[str], prefix: str = "") -> str:
        """Every column, those of ``first`` leading, so a sample shows the checked values first."""
        order = [*first, *(c for c in self.schema if c not in first)]
        return ", ".join(prefix + quote(c) for c in order)

    def one(self, sql: str, params: list[Any]) -> tuple[Any, ...]:
        return tuple(self.con.execute(sql, params).fetchall()[0])

    def rows_of(self, sql: str, params: list[Any]) -> list[dict[str, Any]]:
        if not self.sample_rows:
            return []
        table = self.con.sql(f"{sql} LIMIT {int(self.sample_rows)}",
                             params=params or None).to_arrow_table()
        return [{k: jsonable(v) for k, v in row.items()} for row in table.to_pylist()]

    def sample(self, where: str, params: list[Any], first: Sequence[str]) -> list[dict[str, Any]]:
        return self.rows_of(f"SELECT {self.select_list(first)} FROM {DATA_VIEW} WHERE {where}",
                            params)

    def top_values(self, name: str, where: str, params: list[Any]) -> list[dict[str, Any]]:
        """The most frequent values of ``name`` among rows matching ``where``, with counts."""
        column = self.column(name)
        rows = self.con.execute(f"SELECT {column}, count(*) AS n FROM {DATA_VIEW} WHERE {where} "
                                "GROUP BY 1 ORDER BY n DESC, 1 LIMIT 10", params).fetchall()
        return [{"value": jsonable(v), "count": n} for v, n in rows]

    def attach_reference(self, reference: Any) -> tuple[str, dict[str, str]]:
        """Register a foreign key's reference as a view; its name and schema."""
        self._references += 1
        view = f"dockyard_reference_{self._references}"
        try:
            _, schema = open_data(self.con, reference, view, what="reference")
        except InvalidArgument as exc:
            raise CheckError(exc.message) from exc
        return view, schema
