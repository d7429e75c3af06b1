"""Key constraints: unique keys and foreign keys.

Unlike the other column checks, these are not a predicate on one row: a
unique key needs a grouped query, and a foreign key an anti-join with its
reference, each run after the shared scan.
"""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import field_serializer, field_validator, model_validator

from dockyard.data.checks.expectations import ColumnCheck, columns_shorthand, distinct_columns
from dockyard.data.checks.table import (
    DATA_VIEW,
    CheckError,
    Outcome,
    Plan,
    Table,
    is_frame,
    jsonable,
    quote,
)


class Unique(ColumnCheck):
    """No two rows share a value of ``columns`` (one column or a combination).

    Rows with a null in any of the columns are not checked. ``failing`` counts
    every row whose key occurs more than once.
    """

    type: Literal["unique"] = "unique"
    columns: tuple[str, ...]

    _shorthand = model_validator(mode="before")(columns_shorthand)
    _distinct = field_validator("columns")(distinct_columns)

    def describe(self) -> str:
        if len(self.columns) == 1:
            return f"{self.columns[0]!r} is unique{self._mostly()}"
        return f"({', '.join(map(repr, self.columns))}) unique together{self._mostly()}"

    def _plan(self, data: Table) -> Plan:
        keys = ", ".join(data.column(c) for c in self.columns)
        present = " AND ".join(f"NOT {data.is_null(c)}" for c in self.columns)
        groups = f"SELECT {keys}, count(*) AS n FROM {DATA_VIEW} WHERE {present} GROUP BY {keys}"

        def finish(values: list[Any]) -> Outcome:
            failing, duplicated, checked = data.one(
                "SELECT coalesce(sum(n) FILTER (WHERE n > 1), 0), count(*) FILTER (WHERE n > 1), "
                f"coalesce(sum(n), 0) FROM ({groups})", [])
            sample: list[dict[str, Any]] = []
            if failing:
                on = " AND ".join(f"d.{data.column(c)} = g.{data.column(c)}"
                                  for c in self.columns)
                order = ", ".join(f"d.{data.column(c)}" for c in self.columns)
                sample = data.rows_of(
                    f"SELECT {data.select_list(self.columns, 'd.')} FROM {DATA_VIEW} d "
                    f"SEMI JOIN ({groups} HAVING count(*) > 1) g ON {on} "
                    f"ORDER BY {order}", [])
            return Outcome(int(failing), int(checked), {"duplicated_keys": int(duplicated)},
                           sample)

        return Plan([], finish)


class ForeignKey(ColumnCheck):
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
        if is_frame(value):
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

    def _plan(self, data: Table) -> Plan:
        column = data.column(self.column)
        target = self.reference_column or self.column
        view, schema = data.attach_reference(self.reference)
        if target not in schema:
            raise CheckError(f"reference {self._where()} has no column {target!r}; it has "
                             f"{', '.join(map(repr, schema))}")
        present = f"NOT {data.is_null(self.column, 'd.')}"
        missing = (f"FROM {DATA_VIEW} d ANTI JOIN {view} r ON d.{column} = r.{quote(target)} "
                   f"WHERE {present}")

        def finish(values: list[Any]) -> Outcome:
            checked = values[0]
            failing = data.one(f"SELECT count(*) {missing}", [])[0] if checked else 0
            sample: list[dict[str, Any]] = []
            observed: dict[str, Any] = {}
            if failing:
                sample = data.rows_of(
                    f"SELECT {data.select_list([self.column], 'd.')} {missing}", [])
                observed["missing"] = [
                    {"value": jsonable(v), "count": n} for v, n in data.con.execute(
                        f"SELECT d.{column}, count(*) AS n {missing} GROUP BY 1 "
                        "ORDER BY n DESC, 1 LIMIT 10").fetchall()]
            return Outcome(int(failing), int(checked), observed, sample)

        return Plan([(f"count(*) FILTER (WHERE NOT {data.is_null(self.column)})", [])], finish)

    def _where(self) -> str:
        return self.reference if isinstance(self.reference, str) else \
            f"({type(self.reference).__name__})"
