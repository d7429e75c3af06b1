"""The expectation models: what each check asks of the data, and the SQL it compiles to.

Every model is a frozen pydantic model whose ``type`` is its name in YAML.
Column checks (:class:`ColumnCheck`) give a failing-row predicate and pass
by ``mostly``; table-level checks (column, row_count, freshness) pass or fail
as a whole. The key constraints, which need a query of their own, are in
:mod:`dockyard.data.checks.keys`.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import threading
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from dockyard.data.checks.table import (
    CheckError,
    Outcome,
    Plan,
    Table,
    jsonable,
    temporal_type,
    type_family,
)

DTYPES = ("integer", "float", "number", "string", "boolean", "timestamp", "date")
"""The type families a ``column`` expectation can ask for."""

_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*(w|d|h|m|s)", re.IGNORECASE)
_UNIT_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_regex_lock = threading.Lock()
_regex_con: Any = None

Bound = int | float | str
Value = bool | int | float | str


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


class BaseExpectation(BaseModel):
    """The base of every expectation: a frozen model that plans its SQL on a :class:`Table`."""

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

    def _plan(self, data: Table) -> Plan:
        raise NotImplementedError


class ColumnCheck(BaseExpectation):
    """A check of a column's values: a failing-row predicate, passed by ``mostly``."""

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

    def _rows(self, data: Table) -> tuple[str, list[Any], str, list[Any], list[str]]:
        """(checked predicate, its params, failing predicate, its params, columns to show)."""
        raise NotImplementedError

    def _extra(self, data: Table, checked: str) -> list[tuple[str, list[Any]]]:
        return []

    def _observe(self, data: Table, values: list[Any], bad: str, params: list[Any],
                 failing: int) -> dict[str, Any]:
        return {}

    def _plan(self, data: Table) -> Plan:
        checked, pc, failing, pf, columns = self._rows(data)
        bad, params = f"({checked}) AND ({failing})", pc + pf
        aggregates = [(f"count(*) FILTER (WHERE {checked})", pc),
                      (f"count(*) FILTER (WHERE {bad})", params), *self._extra(data, checked)]

        def finish(values: list[Any]) -> Outcome:
            sample = data.sample(bad, params, columns) if values[1] else []
            observed = self._observe(data, values[2:], bad, params, values[1])
            return Outcome(failing=values[1], checked=values[0], observed=observed,
                           sample=sample)

        return Plan(aggregates, finish)


def columns_shorthand(values: Any) -> Any:
    """Let ``column: x`` stand for ``columns: [x]``."""
    if isinstance(values, dict) and "column" in values and "columns" not in values:
        values = dict(values)
        values["columns"] = [values.pop("column")]
    elif isinstance(values, dict) and isinstance(values.get("columns"), str):
        values = {**values, "columns": [values["columns"]]}
    return values


def distinct_columns(columns: tuple[str, ...]) -> tuple[str, ...]:
    if not columns:
        raise ValueError("name at least one column")
    if len(set(columns)) != len(columns):
        raise ValueError(f"columns {list(columns)!r} name a column twice")
    return columns


class Column(BaseExpectation):
    """The column is present and, when ``dtype`` is given, of that type family."""

    type: Literal["column"] = "column"
    column: str
    dtype: Literal["integer", "float", "number", "string", "boolean", "timestamp",
                   "date"] | None = None

    def describe(self) -> str:
        return f"column {self.column!r} is {self.dtype}" if self.dtype else \
            f"column {self.column!r} is present"

    def _plan(self, data: Table) -> Plan:
        def finish(values: list[Any]) -> Outcome:
            sql_type = data.schema.get(self.column)
            if sql_type is None:
                return Outcome(1, 1, {"present": False}, passed=False)
            family = type_family(sql_type)
            ok = (self.dtype is None or family == self.dtype
                  or (self.dtype == "number" and family in ("integer", "float", "decimal")))
            return Outcome(int(not ok), 1, {"present": True, "dtype": sql_type,
                                            "family": family}, passed=ok)

        return Plan([], finish)


class NotNull(ColumnCheck):
    """Every row has a value in each of ``columns`` (NaN counts as null)."""

    type: Literal["not_null"] = "not_null"
    columns: tuple[str, ...]

    _shorthand = model_validator(mode="before")(columns_shorthand)
    _distinct = field_validator("columns")(distinct_columns)

    def describe(self) -> str:
        names = ", ".join(map(repr, self.columns))
        return f"{names} {'is' if len(self.columns) == 1 else 'are'} not null{self._mostly()}"

    def _rows(self, data: Table) -> tuple[str, list[Any], str, list[Any], list[str]]:
        nulls = " OR ".join(data.is_null(c) for c in self.columns)
        return "TRUE", [], nulls, [], list(self.columns)

    def _extra(self, data: Table, checked: str) -> list[tuple[str, list[Any]]]:
        return [(f"count(*) FILTER (WHERE {data.is_null(c)})", []) for c in self.columns]

    def _observe(self, data: Table, values: list[Any], bad: str, params: list[Any],
                 failing: int) -> dict[str, Any]:
        return {"nulls": dict(zip(self.columns, values))}


class Range(ColumnCheck):
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

    def _rows(self, data: Table) -> tuple[str, list[Any], str, list[Any], list[str]]:
        column = data.column(self.column)
        family = type_family(data.schema[self.column])
        bounds = [b for b in (self.min, self.max) if b is not None]
        if family in ("integer", "float", "decimal"):
            if any(isinstance(b, str) for b in bounds):
                raise CheckError(f"column {self.column!r} is numeric "
                                 f"({data.schema[self.column]}); give numbers as min and max")
            cast = "?"
        elif family in ("timestamp", "date"):
            if not all(isinstance(b, str) for b in bounds):
                raise CheckError(f"column {self.column!r} is a {family} column; give min and "
                                 "max as ISO dates or timestamps such as '2024-01-31'")
            cast = f"CAST(? AS {temporal_type(data.schema[self.column])})"
        elif family == "string":
            cast = "?"
        else:
            raise CheckError(f"a range needs a numeric, date, timestamp or text column; "
                             f"{self.column!r} is {data.schema[self.column]}")
        tests, params = [], []
        for bound, op in ((self.min, ">=" if self.inclusive else ">"),
                          (self.max, "<=" if self.inclusive else "<")):
            if bound is not None:
                tests.append(f"{column} {op} {cast}")
                params.append(str(bound) if family == "string" else bound)
        failing = f"NOT ({' AND '.join(tests)})"
        return f"NOT {data.is_null(self.column)}", [], failing, params, [self.column]

    def _extra(self, data: Table, checked: str) -> list[tuple[str, list[Any]]]:
        column = data.column(self.column)
        return [(f"min({column}) FILTER (WHERE {checked})", []),
                (f"max({column}) FILTER (WHERE {checked})", [])]

    def _observe(self, data: Table, values: list[Any], bad: str, params: list[Any],
                 failing: int) -> dict[str, Any]:
        return {"min": jsonable(values[0]), "max": jsonable(values[1])}


class AllowedValues(ColumnCheck):
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

    def _rows(self, data: Table) -> tuple[str, list[Any], str, list[Any], list[str]]:
        column = data.column(self.column)
        text = type_family(data.schema[self.column]) == "string"
        values = [str(v) if text else v for v in self.values]
        failing = f"{column} NOT IN ({', '.join('?' for _ in values)})"
        return f"NOT {data.is_null(self.column)}", [], failing, values, [self.column]

    def _observe(self, data: Table, values: list[Any], bad: str, params: list[Any],
                 failing: int) -> dict[str, Any]:
        return {"unexpected": data.top_values(self.column, bad, params) if failing else []}


class Regex(ColumnCheck):
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

    def _rows(self, data: Table) -> tuple[str, list[Any], str, list[Any], list[str]]:
        column = data.column(self.column)
        failing = f"NOT regexp_matches(CAST({column} AS VARCHAR), ?)"
        return f"NOT {data.is_null(self.column)}", [], failing, [self.pattern], [self.column]


class RowCount(BaseExpectation):
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

    def _plan(self, data: Table) -> Plan:
        def finish(values: list[Any]) -> Outcome:
            rows = data.rows
            ok = (self.min is None or rows >= self.min) and (self.max is None or rows <= self.max)
            return Outcome(int(not ok), 1, {"rows": rows}, passed=ok)

        return Plan([], finish)


class Freshness(BaseExpectation):
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

    def _plan(self, data: Table) -> Plan:
        column = data.column(self.column)
        family = type_family(data.schema[self.column])
        if family not in ("timestamp", "date"):
            raise CheckError(f"freshness needs a timestamp or date column; {self.column!r} "
                             f"is {data.schema[self.column]}")
        newest_sql = f"epoch_us(max({column})::TIMESTAMP)" if family == "date" else \
            f"epoch_us(max({column}))"

        def finish(values: list[Any]) -> Outcome:
            limit = self.max_age_seconds
            if values[0] is None:
                return Outcome(1, 1, {"newest": None, "max_age_seconds": limit}, passed=False)
            newest = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + \
                dt.timedelta(microseconds=values[0])
            age = (data.now - newest).total_seconds()
            observed = {"newest": newest.isoformat(), "age_seconds": age,
                        "max_age_seconds": limit}
            return Outcome(int(age > limit), 1, observed, passed=age <= limit)

        return Plan([(newest_sql, [])], finish)


def _comparable(value: Any) -> Any:
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)
    return value
