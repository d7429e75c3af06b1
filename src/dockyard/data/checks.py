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
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import (BaseModel, ConfigDict, Field, ValidationError, field_serializer,
                      field_validator, model_validator)

from dockyard.errors import InvalidArgument

__all__ = ["DTYPES", "EXPECTATION_TYPES", "AllowedValues", "CheckReport", "CheckResult", "Column",
           "Expectation", "ForeignKey", "Freshness", "NotNull", "Range", "Regex", "RowCount",
           "Suite", "Unique", "expect", "load_suite", "run_checks"]

DTYPES = ("integer", "float", "number", "string", "boolean", "timestamp", "date")
"""The type families a ``column`` expectation can ask for."""

_INTEGER = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
            "UINTEGER", "UBIGINT", "UHUGEINT"}
_FLOAT = {"FLOAT", "DOUBLE"}
_TIMESTAMP = {"TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP_S", "TIMESTAMP_MS",
              "TIMESTAMP_NS"}
_DATA = "dockyard_data"
_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*(w|d|h|m|s)", re.IGNORECASE)
_UNIT_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_SUITE_SUFFIXES = (".yaml", ".yml", ".json")
_regex_lock = threading.Lock()
_regex_con: Any = None

Bound = int | float | str
Value = bool | int | float | str
_E = TypeVar("_E", bound="_Expectation")


def _family(sql_type: str) -> str:
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


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, (dt.date, dt.datetime)) else value


def _seconds(value: Any) -> float:
    """Seconds in a duration: a number of seconds or text such as ``36h``, ``2d``, ``1d12h``."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and re.fullmatch(r"\s*(?:" + _DURATION.pattern + r"\s*)+",
                                                  value, re.IGNORECASE):
        seconds = sum(float(n) * _UNIT_SECONDS[u.lower()] for n, u in _DURATION.findall(value))
    elif isinstance(value, str) and re.fullmatch(r"\s*\d+(?:\.\d*)?\s*", value):
        seconds = float(value)
    else:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"give a positive duration such as '36h', '2d', '15m', '1d12h' or a "
                         f"number of seconds, got {value!r}")
    return seconds


def _check_regex(pattern: str) -> None:
    """Compile ``pattern`` with DuckDB's RE2, the engine that will run it."""
    global _regex_con
    import duckdb

    with _regex_lock:
        if _regex_con is None:
            _regex_con = duckdb.connect()
        try:
            _regex_con.execute("SELECT regexp_matches('', ?)", [pattern]).fetchall()
        except duckdb.Error as exc:
            message = str(exc).removeprefix("Invalid Input Error: ")
            raise ValueError(f"{pattern!r} is not a valid regular expression (RE2 syntax): "
                             f"{message}") from None


class _CheckError(Exception):
    """A check could not run (a missing column, an unreadable reference)."""


# ---------------------------------------------------------------- expectations
class _Expectation(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def to_dict(self) -> dict[str, Any]:
        """The expectation as in YAML: its ``type`` first, fields left at defaults left out."""
        fields = self.model_dump(mode="json", exclude_defaults=True, exclude={"type"})
        if "mostly" in fields:
            fields["mostly"] = fields.pop("mostly")
        return {"type": getattr(self, "type"), **fields}

    def describe(self) -> str:
        """A short description for people."""
        raise NotImplementedError

    def _plan(self, data: _Data) -> _Plan:
        raise NotImplementedError


class _ColumnCheck(_Expectation):
    mostly: float = 1.0
    """The fraction of checked rows that must pass."""

    @field_validator("mostly")
    @classmethod
    def _fraction(cls, value: float) -> float:
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"the fraction of rows that must pass is from 0 to 1, got {value}")
        return value

    def _mostly(self) -> str:
        return "" if self.mostly == 1.0 else f" (mostly {self.mostly:.4g})"

    def _rows(self, data: _Data) -> tuple[str, list[Any], str, list[Any], list[str]]:
        """(checked predicate, its params, failing predicate, its params, columns to show)."""
        raise NotImplementedError

    def _extra(self, data: _Data, checked: str) -> list[tuple[str, list[Any]]]:
        return []

    def _observe(self, data: _Data, values: list[Any], bad: str, params: list[Any],
                 failing: int) -> dict[str, Any]:
        return {}

    def _plan(self, data: _Data) -> _Plan:
        checked, pc, failing, pf, columns = self._rows(data)
        bad, params = f"({checked}) AND ({failing})", pc + pf
        aggregates = [(f"count(*) FILTER (WHERE {checked})", pc),
                      (f"count(*) FILTER (WHERE {bad})", params), *self._extra(data, checked)]

        def finish(values: list[Any]) -> _Outcome:
            sample = data.sample(bad, params, columns) if values[1] else []
            observed = self._observe(data, values[2:], bad, params, values[1])
            return _Outcome(failing=values[1], checked=values[0], observed=observed,
                            sample=sample)

        return _Plan(aggregates, finish)


def _columns_shorthand(values: Any) -> Any:
    """Let ``column: x`` stand for ``columns: [x]``."""
    if isinstance(values, dict) and "column" in values and "columns" not in values:
        values = dict(values)
        values["columns"] = [values.pop("column")]
    elif isinstance(values, dict) and isinstance(values.get("columns"), str):
        values = {**values, "columns": [values["columns"]]}
    return values


def _distinct_columns(columns: tuple[str, ...]) -> tuple[str, ...]:
    if not columns:
        raise ValueError("name at least one column")
    if len(set(columns)) != len(columns):
        raise ValueError(f"columns {list(columns)!r} name a column twice")
    return columns


class Column(_Expectation):
    """The column is present and, when ``dtype`` is given, of that type family."""

    type: Literal["column"] = "column"
    column: str
    dtype: Literal["integer", "float", "number", "string", "boolean", "timestamp",
                   "date"] | None = None

    def describe(self) -> str:
        return f"column {self.column!r} is {self.dtype}" if self.dtype else \
            f"column {self.column!r} is present"

    def _plan(self, data: _Data) -> _Plan:
        def finish(values: list[Any]) -> _Outcome:
            sql_type = data.schema.get(self.column)
            if sql_type is None:
                return _Outcome(1, 1, {"present": False}, passed=False)
            family = _family(sql_type)
            ok = (self.dtype is None or family == self.dtype
                  or (self.dtype == "number" and family in ("integer", "float", "decimal")))
            return _Outcome(int(not ok), 1, {"present": True, "dtype": sql_type,
                                             "family": family}, passed=ok)

        return _Plan([], finish)


class NotNull(_ColumnCheck):
    """Every row has a value in each of ``columns`` (NaN counts as null)."""

    type: Literal["not_null"] = "not_null"
    columns: tuple[str, ...]

    _shorthand = model_validator(mode="before")(_columns_shorthand)
    _distinct = field_validator("columns")(_distinct_columns)

    def describe(self) -> str:
        names = ", ".join(map(repr, self.columns))
        return f"{names} {'is' if len(self.columns) == 1 else 'are'} not null{self._mostly()}"

    def _rows(self, data: _Data) -> tuple[str, list[Any], str, list[Any], list[str]]:
        nulls = " OR ".join(data.is_null(c) for c in self.columns)
        return "TRUE", [], nulls, [], list(self.columns)

    def _extra(self, data: _Data, checked: str) -> list[tuple[str, list[Any]]]:
        return [(f"count(*) FILTER (WHERE {data.is_null(c)})", []) for c in self.columns]

    def _observe(self, data: _Data, values: list[Any], bad: str, params: list[Any],
                 failing: int) -> dict[str, Any]:
        return {"nulls": dict(zip(self.columns, values))}


class Range(_ColumnCheck):
    """Values lie between ``min`` and ``max`` (inclusive unless ``inclusive`` is false).

    Either bound may be left out. Bounds are numbers for numeric columns and
    ISO dates or timestamps for date and timestamp columns (naive ones are UTC);
    text columns compare as text.
    """

    type: Literal["range"] = "range"
    column: str
    min: Bound | None = None
    max: Bound | None = None
    inclusive: bool = True

    @field_validator("min", "max", mode="before")
    @classmethod
    def _bound(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("a bound must be a number, a date or text, not true/false")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"a bound must be finite, got {value}")
        return _iso(value)

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        low, high = _comparable(self.min), _comparable(self.max)
        try:
            empty = low > high or (low == high and not self.inclusive)  # type: ignore[operator]
        except TypeError:
            empty = False
        if empty and low == high:
            raise ValueError(f"min and max are both {self.min!r} and inclusive is false: no "
                             "value can pass")
        if empty:
            raise ValueError(f"min {self.min!r} is greater than max {self.max!r}; swap them")
        return self

    def describe(self) -> str:
        low, high = ("[", "]") if self.inclusive else ("(", ")")
        if self.max is None:
            text = f"{self.column!r} {'>=' if self.inclusive else '>'} {self.min}"
        elif self.min is None:
            text = f"{self.column!r} {'<=' if self.inclusive else '<'} {self.max}"
        else:
            text = f"{self.column!r} in {low}{self.min}, {self.max}{high}"
        return text + self._mostly()

    def _rows(self, data: _Data) -> tuple[str, list[Any], str, list[Any], list[str]]:
        column = data.column(self.column)
        family = _family(data.schema[self.column])
        bounds = [b for b in (self.min, self.max) if b is not None]
        if family in ("integer", "float", "decimal"):
            if any(isinstance(b, str) for b in bounds):
                raise _CheckError(f"column {self.column!r} is numeric "
                                  f"({data.schema[self.column]}); give numbers as min and max")
            cast = "?"
        elif family in ("timestamp", "date"):
            if not all(isinstance(b, str) for b in bounds):
                raise _CheckError(f"column {self.column!r} is a {family} column; give min and "
                                  "max as ISO dates or timestamps such as '2024-01-31'")
            cast = f"CAST(? AS {_temporal_type(data.schema[self.column])})"
        elif family == "string":
            cast = "?"
        else:
            raise _CheckError(f"a range needs a numeric, date, timestamp or text column; "
                              f"{self.column!r} is {data.schema[self.column]}")
        tests, params = [], []
        for bound, op in ((self.min, ">=" if self.inclusive else ">"),
                          (self.max, "<=" if self.inclusive else "<")):
            if bound is not None:
                tests.append(f"{column} {op} {cast}")
                params.append(str(bound) if family == "string" else bound)
        failing = f"NOT ({' AND '.join(tests)})"
        return f"NOT {data.is_null(self.column)}", [], failing, params, [self.column]

    def _extra(self, data: _Data, checked: str) -> list[tuple[str, list[Any]]]:
        column = data.column(self.column)
        return [(f"min({column}) FILTER (WHERE {checked})", []),
                (f"max({column}) FILTER (WHERE {checked})", [])]

    def _observe(self, data: _Data, values: list[Any], bad: str, params: list[Any],
                 failing: int) -> dict[str, Any]:
        return {"min": _jsonable(values[0]), "max": _jsonable(values[1])}


class AllowedValues(_ColumnCheck):
    """Every value is one of ``values`` (for a text column, compared as text)."""

    type: Literal["allowed_values"] = "allowed_values"
    column: str
    values: tuple[Value, ...]

    @field_validator("values", mode="before")
    @classmethod
    def _dates_as_text(cls, values: Any) -> Any:
        if isinstance(values, (list, tuple)):
            if not values:
                raise ValueError("give at least one allowed value")
            return tuple(_iso(v) for v in values)
        return values

    def describe(self) -> str:
        shown = ", ".join(str(v) for v in self.values[:6])
        more = f", ... ({len(self.values)} values)" if len(self.values) > 6 else ""
        return f"{self.column!r} in {{{shown}{more}}}{self._mostly()}"

    def _rows(self, data: _Data) -> tuple[str, list[Any], str, list[Any], list[str]]:
        column = data.column(self.column)
        text = _family(data.schema[self.column]) == "string"
        values = [str(v) if text else v for v in self.values]
        failing = f"{column} NOT IN ({', '.join('?' for _ in values)})"
        return f"NOT {data.is_null(self.column)}", [], failing, values, [self.column]

    def _observe(self, data: _Data, values: list[Any], bad: str, params: list[Any],
                 failing: int) -> dict[str, Any]:
        return {"unexpected": data.top_values(self.column, bad, params) if failing else []}


class Unique(_ColumnCheck):
    """No two rows share a value of ``columns`` (one column or a combination).

    Rows with a null in any of the columns are not checked. ``failing`` counts
    every row whose key occurs more than once.
    """

    type: Literal["unique"] = "unique"
    columns: tuple[str, ...]

    _shorthand = model_validator(mode="before")(_columns_shorthand)
    _distinct = field_validator("columns")(_distinct_columns)

    def describe(self) -> str:
        if len(self.columns) == 1:
            return f"{self.columns[0]!r} is unique{self._mostly()}"
        return f"({', '.join(map(repr, self.columns))}) unique together{self._mostly()}"

    def _plan(self, data: _Data) -> _Plan:
        keys = ", ".join(data.column(c) for c in self.columns)
        present = " AND ".join(f"NOT {data.is_null(c)}" for c in self.columns)
        groups = f"SELECT {keys}, count(*) AS n FROM {_DATA} WHERE {present} GROUP BY {keys}"

        def finish(values: list[Any]) -> _Outcome:
            failing, duplicated, checked = data.one(
                "SELECT coalesce(sum(n) FILTER (WHERE n > 1), 0), count(*) FILTER (WHERE n > 1), "
                f"coalesce(sum(n), 0) FROM ({groups})", [])
            sample: list[dict[str, Any]] = []
            if failing:
                on = " AND ".join(f"d.{data.column(c)} = g.{data.column(c)}"
                                  for c in self.columns)
                order = ", ".join(f"d.{data.column(c)}" for c in self.columns)
                sample = data.rows_of(
                    f"SELECT {data.select_list(self.columns, 'd.')} FROM {_DATA} d "
                    f"SEMI JOIN ({groups} HAVING count(*) > 1) g ON {on} "
                    f"ORDER BY {order}", [])
            return _Outcome(int(failing), int(checked), {"duplicated_keys": int(duplicated)},
                            sample)

        return _Plan([], finish)


class Regex(_ColumnCheck):
    """Every value matches ``pattern`` (RE2 syntax, searched anywhere: anchor it with ``^``
    and ``$`` to match whole values). Non-text values are matched as text."""

    type: Literal["regex"] = "regex"
    column: str
    pattern: str = Field(min_length=1)

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        _check_regex(pattern)
        return pattern

    def describe(self) -> str:
        return f"{self.column!r} matches {self.pattern!r}{self._mostly()}"

    def _rows(self, data: _Data) -> tuple[str, list[Any], str, list[Any], list[str]]:
        column = data.column(self.column)
        failing = f"NOT regexp_matches(CAST({column} AS VARCHAR), ?)"
        return f"NOT {data.is_null(self.column)}", [], failing, [self.pattern], [self.column]


class RowCount(_Expectation):
    """The table has between ``min`` and ``max`` rows (either may be left out)."""

    type: Literal["row_count"] = "row_count"
    min: int | None = Field(None, ge=0)
    max: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> RowCount:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is greater than max {self.max}; swap them")
        return self

    def describe(self) -> str:
        if self.max is None:
            return f"at least {self.min:,} row{'' if self.min == 1 else 's'}"
        if self.min is None:
            return f"at most {self.max:,} row{'' if self.max == 1 else 's'}"
        return f"{self.min:,} to {self.max:,} rows"

    def _plan(self, data: _Data) -> _Plan:
        def finish(values: list[Any]) -> _Outcome:
            rows = data.rows
            ok = (self.min is None or rows >= self.min) and (self.max is None or rows <= self.max)
            return _Outcome(int(not ok), 1, {"rows": rows}, passed=ok)

        return _Plan([], finish)


class Freshness(_Expectation):
    """The newest value of a timestamp or date column is at most ``max_age`` old.

    ``max_age`` is a number of seconds or text such as ``36h``, ``2d``, ``15m``
    or ``1d12h``; timestamps without a time zone are taken as UTC.
    """

    type: Literal["freshness"] = "freshness"
    column: str
    max_age: int | float | str

    @field_validator("max_age")
    @classmethod
    def _duration(cls, value: int | float | str) -> int | float | str:
        _seconds(value)
        return value

    @property
    def max_age_seconds(self) -> float:
        """``max_age`` in seconds."""
        return _seconds(self.max_age)

    def describe(self) -> str:
        age = self.max_age if isinstance(self.max_age, str) else f"{self.max_age}s"
        return f"newest {self.column!r} at most {age} old"

    def _plan(self, data: _Data) -> _Plan:
        column = data.column(self.column)
        family = _family(data.schema[self.column])
        if family not in ("timestamp", "date"):
            raise _CheckError(f"freshness needs a timestamp or date column; {self.column!r} "
                              f"is {data.schema[self.column]}")
        newest_sql = f"epoch_us(max({column})::TIMESTAMP)" if family == "date" else \
            f"epoch_us(max({column}))"

        def finish(values: list[Any]) -> _Outcome:
            limit = self.max_age_seconds
            if values[0] is None:
                return _Outcome(1, 1, {"newest": None, "max_age_seconds": limit}, passed=False)
            newest = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + \
                dt.timedelta(microseconds=values[0])
            age = (data.now - newest).total_seconds()
            observed = {"newest": newest.isoformat(), "age_seconds": age,
                        "max_age_seconds": limit}
            return _Outcome(int(age > limit), 1, observed, passed=age <= limit)

        return _Plan([(newest_sql, [])], finish)


class ForeignKey(_ColumnCheck):
    """Every non-null value of ``column`` occurs in ``reference_column`` of ``reference``.

    ``reference`` is a path (Parquet file, folder or glob, or CSV file) or a
    pandas DataFrame or pyarrow Table; ``reference_column`` defaults to
    ``column``. Relative paths in a suite file are relative to the file's folder.
    """

    type: Literal["foreign_key"] = "foreign_key"
    column: str
    reference: Any
    reference_column: str | None = None

    @field_validator("reference")
    @classmethod
    def _reference(cls, value: Any) -> Any:
        if isinstance(value, os.PathLike):
            return os.fspath(value)
        if isinstance(value, str):
            if not value.strip():
                raise ValueError("reference must name a file")
            return value
        if _is_frame(value):
            return value
        raise ValueError("reference must be a path (Parquet or CSV), a pandas DataFrame or a "
                         f"pyarrow Table, got {type(value).__name__}")

    @field_serializer("reference")
    def _reference_text(self, value: Any) -> str:
        return value if isinstance(value, str) else f"<{type(value).__name__}>"

    def describe(self) -> str:
        where = self.reference if isinstance(self.reference, str) else \
            f"a {type(self.reference).__name__}"
        target = self.reference_column or self.column
        return f"{self.column!r} values exist in {where}, column {target!r}{self._mostly()}"

    def _plan(self, data: _Data) -> _Plan:
        column = data.column(self.column)
        target = self.reference_column or self.column
        view, schema = data.attach_reference(self.reference)
        if target not in schema:
            raise _CheckError(f"reference {self._where()} has no column {target!r}; it has "
                              f"{', '.join(map(repr, schema))}")
        present = f"NOT {data.is_null(self.column, 'd.')}"
        missing = (f"FROM {_DATA} d ANTI JOIN {view} r ON d.{column} = r.{_quote(target)} "
                   f"WHERE {present}")

        def finish(values: list[Any]) -> _Outcome:
            checked = values[0]
            failing = data.one(f"SELECT count(*) {missing}", [])[0] if checked else 0
            sample: list[dict[str, Any]] = []
            observed: dict[str, Any] = {}
            if failing:
                sample = data.rows_of(
                    f"SELECT {data.select_list([self.column], 'd.')} {missing}", [])
                observed["missing"] = [
                    {"value": _jsonable(v), "count": n} for v, n in data.con.execute(
                        f"SELECT d.{column}, count(*) AS n {missing} GROUP BY 1 "
                        "ORDER BY n DESC, 1 LIMIT 10").fetchall()]
            return _Outcome(int(failing), int(checked), observed, sample)

        return _Plan([(f"count(*) FILTER (WHERE NOT {data.is_null(self.column)})", [])], finish)

    def _where(self) -> str:
        return self.reference if isinstance(self.reference, str) else \
            f"({type(self.reference).__name__})"


Expectation = Annotated[Column | NotNull | Range | AllowedValues | Unique | Regex | RowCount
                        | Freshness | ForeignKey, Field(discriminator="type")]
"""Any one expectation; the ``type`` field picks which."""

_KINDS: dict[str, type[_Expectation]] = {
    cls.model_fields["type"].default: cls
    for cls in (Column, NotNull, Range, AllowedValues, Unique, Regex, RowCount, Freshness,
                ForeignKey)
}
EXPECTATION_TYPES = tuple(_KINDS)
"""The ``type`` of every expectation, as written in YAML."""


def _comparable(value: Any) -> Any:
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)
    return value


def _temporal_type(sql_type: str) -> str:
    if sql_type == "DATE":
        return "DATE"
    return "TIMESTAMPTZ" if sql_type == "TIMESTAMP WITH TIME ZONE" else "TIMESTAMP"


def _is_frame(value: Any) -> bool:
    import pandas as pd
    import pyarrow as pa
    import pyarrow.dataset as pads

    return isinstance(value, (pd.DataFrame, pa.Table, pa.RecordBatch, pads.Dataset))


# ---------------------------------------------------------------- suites
class Suite(BaseModel):
    """A named list of expectations: ``Suite("churn", [expect.not_null("age"), ...])``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    expectations: list[Expectation] = Field(default_factory=list)

    def __init__(self, name: str | None = None, expectations: Sequence[Any] | None = None,
                 /, **data: Any) -> None:
        if name is not None:
            data["name"] = name
        if expectations is not None:
            data["expectations"] = list(expectations)
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise InvalidArgument(_explain(exc, data.get("name"))) from exc

    def to_dict(self) -> dict[str, Any]:
        """The suite as plain data (what :func:`load_suite` reads)."""
        return {"name": self.name, "expectations": [e.to_dict() for e in self.expectations]}

    def to_yaml(self) -> str:
        """The suite in the compact YAML form, one expectation a line.

        Raises InvalidArgument when a foreign key refers to an in-memory table,
        which YAML cannot hold.
        """
        for index, item in enumerate(self.expectations):
            if isinstance(item, ForeignKey) and not isinstance(item.reference, str):
                raise InvalidArgument(f"expectations[{index}] refers to an in-memory "
                                      f"{type(item.reference).__name__}; write it to a Parquet "
                                      "file and refer to its path to save the suite as YAML")
        lines = [yaml.safe_dump({"name": self.name}, allow_unicode=True).strip()]
        if not self.expectations:
            return "\n".join([*lines, "expectations: []"]) + "\n"
        lines.append("expectations:")
        for item in self.expectations:
            text = yaml.safe_dump(item.to_dict(), default_flow_style=True, sort_keys=False,
                                  allow_unicode=True, width=1 << 20).strip()
            lines.append(f"  - {text}")
        return "\n".join(lines) + "\n"


def load_suite(source: Suite | Mapping[str, Any] | str | os.PathLike[str]) -> Suite:
    """A suite from a path (``.yaml``, ``.yml`` or ``.json``), YAML text, a dict or a Suite.

    Relative ``reference`` paths of foreign keys in a file resolve against the
    file's folder. Raises InvalidArgument, naming the line of a YAML error or
    the expectation (by index) and field of a bad value.
    """
    if isinstance(source, Suite):
        return source
    base: Path | None = None
    if isinstance(source, Mapping):
        raw: Any = dict(source)
    elif isinstance(source, (str, os.PathLike)):
        path = _suite_path(source)
        if path is None:
            raw = _parse(str(source), "the suite text", json_=False)
        else:
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise InvalidArgument(f"cannot read the suite file {path}: {exc}") from exc
            raw = _parse(text, str(path), json_=path.suffix.lower() == ".json")
            base = path.resolve().parent
    else:
        raise InvalidArgument("a suite is a path, YAML text, a dict or a Suite; got "
                              f"{type(source).__name__}")
    if not isinstance(raw, dict):
        hint = " (or the suite file does not exist)" if isinstance(raw, str) else ""
        raise InvalidArgument("a suite is a mapping with 'name' and 'expectations'; got "
                              f"{type(raw).__name__}{hint}")
    if base is not None and isinstance(raw.get("expectations"), list):
        raw["expectations"] = [_resolve(item, base) for item in raw["expectations"]]
    if not all(isinstance(key, str) for key in raw):
        raise InvalidArgument(f"a suite's keys are 'name' and 'expectations'; got {list(raw)!r}")
    return Suite(**raw)


def _suite_path(source: str | os.PathLike[str]) -> Path | None:
    if isinstance(source, os.PathLike):
        path = Path(source)
    elif "\n" in source or source.lstrip().startswith("{"):
        return None
    else:
        path = Path(source.strip())
        if path.suffix.lower() not in _SUITE_SUFFIXES and not path.is_file():
            return None
    if not path.is_file():
        raise InvalidArgument(f"suite file {path} does not exist")
    return path


def _parse(text: str, where: str, *, json_: bool) -> Any:
    if json_:
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidArgument(f"{where} is not valid JSON: line {exc.lineno}, column "
                                  f"{exc.colno}: {exc.msg}") from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise InvalidArgument(f"{where} is not valid YAML: {at}{problem}") from exc


def _resolve(item: Any, base: Path) -> Any:
    if isinstance(item, dict) and item.get("type") == "foreign_key":
        reference = item.get("reference")
        if isinstance(reference, str) and reference.strip() and \
                not os.path.isabs(os.path.expanduser(reference)):
            return {**item, "reference": str(base / reference)}
    return item


def _explain(exc: ValidationError, suite: Any = None) -> str:
    """A readable account of a pydantic ValidationError: where, and what is wrong."""
    problems = []
    model = next((k for k, cls in _KINDS.items() if cls.__name__ == exc.title), None)
    for error in exc.errors(include_url=False):
        loc = list(error["loc"])
        where = ""
        if len(loc) >= 2 and loc[0] == "expectations" and isinstance(loc[1], int):
            where, loc = f"expectations[{loc[1]}]", loc[2:]
        kind = loc.pop(0) if loc and loc[0] in _KINDS else None
        if kind:
            where = f"{where} ({kind})"
        kind = kind or model
        name = ".".join(str(part) for part in loc)
        ctx = error.get("ctx") or {}
        if error["type"] == "union_tag_invalid":
            text = (f"unknown type {ctx.get('tag')!r}; the known types are "
                    f"{', '.join(EXPECTATION_TYPES)}")
        elif error["type"] == "union_tag_not_found":
            text = f"give a 'type', one of {', '.join(EXPECTATION_TYPES)}"
        elif error["type"] == "extra_forbidden":
            known = sorted((f for f in _KINDS[kind].model_fields if f != "type"),
                           key=lambda f: f == "mostly") if kind else list(Suite.model_fields)
            text = f"unknown field {name!r}; the fields are {', '.join(known)}"
        elif error["type"] == "missing":
            text = f"{name!r} is required"
        else:
            message = error["msg"].removeprefix("Value error, ")
            text = f"{name}: {message}" if name else message
        problems.append(f"{where}: {text}" if where else text)
    if model:
        title = f"invalid {model} expectation"
    else:
        title = f"invalid suite {suite!r}" if isinstance(suite, str) else "invalid suite"
    return f"{title}: " + "; ".join(problems)


class _Expect:
    """Expectations in Python: ``expect.range("age", 0, 120)``. Each returns the model, and
    raises InvalidArgument (not a pydantic error) for a bad value."""

    def column(self, column: str, dtype: str | None = None) -> Column:
        return _build(Column, column=column, dtype=dtype)

    def not_null(self, *columns: str, mostly: float = 1.0) -> NotNull:
        return _build(NotNull, columns=columns, mostly=mostly)

    def range(self, column: str, min: Bound | None = None, max: Bound | None = None, *,
              inclusive: bool = True, mostly: float = 1.0) -> Range:
        return _build(Range, column=column, min=min, max=max, inclusive=inclusive, mostly=mostly)

    def allowed_values(self, column: str, values: Sequence[Value], *,
                       mostly: float = 1.0) -> AllowedValues:
        values = values if isinstance(values, str) else list(values)
        return _build(AllowedValues, column=column, values=values, mostly=mostly)

    def unique(self, *columns: str, mostly: float = 1.0) -> Unique:
        return _build(Unique, columns=columns, mostly=mostly)

    def regex(self, column: str, pattern: str, *, mostly: float = 1.0) -> Regex:
        return _build(Regex, column=column, pattern=pattern, mostly=mostly)

    def row_count(self, min: int | None = None, max: int | None = None) -> RowCount:
        return _build(RowCount, min=min, max=max)

    def freshness(self, column: str, max_age: int | float | str) -> Freshness:
        return _build(Freshness, column=column, max_age=max_age)

    def foreign_key(self, column: str, reference: Any, reference_column: str | None = None, *,
                    mostly: float = 1.0) -> ForeignKey:
        return _build(ForeignKey, column=column, reference=reference,
                      reference_column=reference_column, mostly=mostly)


def _build(cls: type[_E], **fields: Any) -> _E:
    try:
        return cls(**fields)
    except ValidationError as exc:
        raise InvalidArgument(_explain(exc)) from exc


expect = _Expect()
"""Build expectations in Python: ``expect.not_null("age")``, ``expect.unique("id")`` ..."""


# ---------------------------------------------------------------- reports
class CheckResult(BaseModel):
    """The outcome of one expectation."""

    expectation: dict[str, Any]
    """The expectation as in YAML (see :meth:`Suite.to_dict`)."""
    description: str
    passed: bool
    failing: int = 0
    """Failing rows; 0 or 1 for the table-level checks (column, row_count, freshness)."""
    checked: int = 0
    """Rows looked at: non-null values for most column checks, every row for not_null, 1
    for the table-level checks."""
    failing_fraction: float = 0.0
    sample: list[dict[str, Any]] = Field(default_factory=list)
    """Up to ``sample_rows`` failing rows, the checked columns first, as JSON-safe values."""
    observed: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    """Why the check could not run (it then fails); None when it ran."""


class CheckReport(BaseModel):
    """What :func:`run_checks` found; ``model_dump(mode="json")`` is what is stored."""

    suite: str
    passed: bool
    rows: int
    source: str
    """What was checked: a path, or the kind of in-memory table."""
    results: list[CheckResult]
    started_at: int
    """When the run started, in milliseconds since the epoch (UTC)."""
    duration_ms: float

    @property
    def failures(self) -> list[CheckResult]:
        """The results that did not pass (errors included)."""
        return [r for r in self.results if not r.passed]

    def summary(self, samples: int = 3) -> str:
        """A plain-text table of the results, for a terminal, with up to ``samples`` failing
        rows under each failed check."""
        failed = len(self.failures)
        head = (f"suite {self.suite!r}: {'passed' if self.passed else 'FAILED'}, "
                f"{failed} of {len(self.results)} checks failed, {self.rows:,} rows, "
                f"{self.duration_ms:,.0f} ms")
        width = min(60, max((len(r.description) for r in self.results), default=0))
        lines = [head]
        for r in self.results:
            status = "ok" if r.passed else "ERROR" if r.error else "FAIL"
            detail = _detail(r)
            text = r.description if len(r.description) <= width else \
                r.description[:width - 3] + "..."
            lines.append(f"  {status:<5}  {text:<{width}}  {detail}")
            for row in r.sample[:samples] if not r.passed else ():
                lines.append(f"         e.g. {json.dumps(row, default=str)[:200]}")
        return "\n".join(lines)


def _detail(result: CheckResult) -> str:
    if result.error:
        return result.error
    kind, seen = result.expectation.get("type"), result.observed
    if kind == "column":
        return seen.get("dtype", "missing")
    if kind == "row_count":
        return f"{seen['rows']:,} rows"
    if kind == "freshness":
        if seen.get("newest") is None:
            return "no values"
        return f"newest {seen['newest']}, {_age(seen['age_seconds'])} old"
    detail = f"{result.failing:,} of {result.checked:,} failing"
    if result.failing:
        detail += f" ({result.failing_fraction:.2%})"
    return detail


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if abs(seconds) >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


@dataclass
class _Outcome:
    failing: int
    checked: int
    observed: dict[str, Any]
    sample: list[dict[str, Any]] = field(default_factory=list)
    passed: bool | None = None
    """Set by table-level checks; column checks pass by ``mostly``."""


@dataclass
class _Plan:
    aggregates: list[tuple[str, list[Any]]]
    """Scalar aggregates over the data, computed in the one shared scan."""
    finish: Callable[[list[Any]], _Outcome]


class _Data:
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
            raise _CheckError(f"column {name!r} is not in the data; it has {have}{more}")
        return _quote(name)

    def is_null(self, name: str, prefix: str = "") -> str:
        column = prefix + self.column(name)
        if _family(self.schema[name]) == "float":
            return f"({column} IS NULL OR isnan({column}))"
        return f"({column} IS NULL)"

    def select_list(self, first: Sequence[str], prefix: str = "") -> str:
        """Every column, those of ``first`` leading, so a sample shows the checked values first."""
        order = [*first, *(c for c in self.schema if c not in first)]
        return ", ".join(prefix + _quote(c) for c in order)

    def one(self, sql: str, params: list[Any]) -> tuple[Any, ...]:
        return tuple(self.con.execute(sql, params).fetchall()[0])

    def rows_of(self, sql: str, params: list[Any]) -> list[dict[str, Any]]:
        if not self.sample_rows:
            return []
        table = self.con.sql(f"{sql} LIMIT {int(self.sample_rows)}",
                             params=params or None).to_arrow_table()
        return [{k: _jsonable(v) for k, v in row.items()} for row in table.to_pylist()]

    def sample(self, where: str, params: list[Any], first: Sequence[str]) -> list[dict[str, Any]]:
        return self.rows_of(f"SELECT {self.select_list(first)} FROM {_DATA} WHERE {where}",
                            params)

    def top_values(self, name: str, where: str, params: list[Any]) -> list[dict[str, Any]]:
        """The most frequent values of ``name`` among rows matching ``where``, with counts."""
        column = self.column(name)
        rows = self.con.execute(f"SELECT {column}, count(*) AS n FROM {_DATA} WHERE {where} "
                                "GROUP BY 1 ORDER BY n DESC, 1 LIMIT 10", params).fetchall()
        return [{"value": _jsonable(v), "count": n} for v, n in rows]

    def attach_reference(self, reference: Any) -> tuple[str, dict[str, str]]:
        """Register a foreign key's reference as a view; its name and schema."""
        self._references += 1
        view = f"dockyard_reference_{self._references}"
        try:
            _, schema = _open(self.con, reference, view, what="reference")
        except InvalidArgument as exc:
            raise _CheckError(exc.message) from exc
        return view, schema


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
            source, schema = _open(con, data, _DATA, what="data")
            table = _Data(con, schema, sample_rows, now)
            results = _run(table, suite)
        finally:
            con.close()
    return CheckReport(suite=suite.name, passed=all(r.passed for r in results), rows=table.rows,
                       source=source, results=results, started_at=started_at,
                       duration_ms=(time.perf_counter() - start) * 1000)


def _run(table: _Data, suite: Suite) -> list[CheckResult]:
    import duckdb

    plans: list[_Plan | str] = []
    for item in suite.expectations:
        try:
            plans.append(item._plan(table))
        except _CheckError as exc:
            plans.append(str(exc))
    values = _scan(table, plans)
    results = []
    for item, plan, got in zip(suite.expectations, plans, values):
        if isinstance(plan, str) or isinstance(got, str):
            results.append(_failed(item, plan if isinstance(plan, str) else str(got)))
            continue
        try:
            outcome = plan.finish(got)
        except _CheckError as exc:
            results.append(_failed(item, str(exc)))
            continue
        except duckdb.Error as exc:
            results.append(_failed(item, f"the check could not run: {_first_line(exc)}"))
            continue
        results.append(_result(item, outcome))
    return results


def _scan(table: _Data, plans: Sequence[_Plan | str]) -> list[list[Any] | str]:
    """Every plan's aggregates, in one scan; one scan per plan when that fails, so that
    one check's error (a type mismatch, say) does not stop the others."""
    import duckdb

    expressions, params = ["count(*)"], []
    for plan in plans:
        if isinstance(plan, _Plan):
            expressions += [sql for sql, _ in plan.aggregates]
            params += [p for _, ps in plan.aggregates for p in ps]
    try:
        row = list(table.one(f"SELECT {', '.join(expressions)} FROM {_DATA}", params))
    except duckdb.Error:
        row = None
    if row is not None:
        table.rows = row.pop(0)
        out: list[list[Any] | str] = []
        for plan in plans:
            size = len(plan.aggregates) if isinstance(plan, _Plan) else 0
            out.append(row[:size])
            row = row[size:]
        return out
    try:
        table.rows = table.one(f"SELECT count(*) FROM {_DATA}", [])[0]
    except duckdb.Error as exc:
        raise InvalidArgument(f"cannot read the data: {_first_line(exc)}") from exc
    out = []
    for plan in plans:
        if not isinstance(plan, _Plan) or not plan.aggregates:
            out.append([])
            continue
        sql = f"SELECT {', '.join(s for s, _ in plan.aggregates)} FROM {_DATA}"
        try:
            out.append(list(table.one(sql, [p for _, ps in plan.aggregates for p in ps])))
        except duckdb.Error as exc:
            out.append(f"the check could not run: {_first_line(exc)}")
    return out


def _result(item: _Expectation, outcome: _Outcome) -> CheckResult:
    failing, checked = int(outcome.failing), int(outcome.checked)
    fraction = failing / checked if checked else 0.0
    passed = outcome.passed
    if passed is None:
        passed = failing <= (1.0 - getattr(item, "mostly", 1.0)) * checked + 1e-9
    return CheckResult(expectation=item.to_dict(), description=item.describe(), passed=passed,
                       failing=failing, checked=checked, failing_fraction=fraction,
                       sample=outcome.sample, observed=outcome.observed)


def _failed(item: _Expectation, error: str) -> CheckResult:
    return CheckResult(expectation=item.to_dict(), description=item.describe(), passed=False,
                       error=error)


def _open(con: Any, data: Any, view: str, *, what: str) -> tuple[str, dict[str, str]]:
    """Register ``data`` with ``con`` as ``view``; a description of it and its schema."""
    import duckdb

    if isinstance(data, (str, os.PathLike)):
        source = os.fspath(data)
        try:
            _read_path(con, source, what).create_view(view)
        except duckdb.Error as exc:
            raise InvalidArgument(f"cannot read the {what} {source}: {_first_line(exc)}") from exc
    elif _is_frame(data):
        source = type(data).__name__
        con.register(view, data)
    else:
        raise InvalidArgument(f"the {what} must be a pandas DataFrame, a pyarrow Table or "
                              "Dataset, or a path to Parquet or CSV data; got "
                              f"{type(data).__name__}")
    try:
        schema = {row[0]: row[1] for row in con.execute(f"DESCRIBE {view}").fetchall()}
    except duckdb.Error as exc:
        raise InvalidArgument(f"cannot read the {what} {source}: {_first_line(exc)}") from exc
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


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _jsonable(value: Any) -> Any:
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
        return _jsonable(float(value))
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return str(value)
