"""Compile the search AST to SQLAlchemy expressions (always bound parameters)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, exists, func, literal, or_, select, true
from sqlalchemy.sql import Select

from dockyard.store.search import BoolOp, Comparison, Node, OrderBy
from dockyard.store.sql.schema import latest_metrics, params, runs, tags

_ENTITY_TABLES = {"metric": latest_metrics, "param": params, "tag": tags}


def _apply(column: Any, op: str, value: Any) -> ColumnElement[bool]:
    if op == "=":
        return column == value
    if op == "!=":
        return column != value
    if op == "<":
        return column < value
    if op == "<=":
        return column <= value
    if op == ">":
        return column > value
    if op == ">=":
        return column >= value
    if op == "like":
        return column.like(value)
    if op == "ilike":
        return func.lower(column).like(func.lower(literal(value)))
    if op == "in":
        return column.in_(list(value))
    if op == "not in":
        return column.not_in(list(value))
    raise AssertionError(f"unknown operator {op}")


def compile_filter(node: Node | None) -> ColumnElement[bool]:
    """A WHERE clause over ``runs`` for a parsed filter.

    Metric, param and tag comparisons are correlated EXISTS over their
    (run_id, key) primary keys; a run without the key does not match, for
    ``!=`` and ``not in`` too.
    """
    if node is None:
        return true()
    if isinstance(node, BoolOp):
        parts = [compile_filter(item) for item in node.items]
        return and_(*parts) if node.op == "and" else or_(*parts)
    assert isinstance(node, Comparison)
    field = node.field
    if field.entity == "attribute":
        return _apply(runs.c[field.key], node.op, node.value)
    table = _ENTITY_TABLES[field.entity]
    return exists(
        select(literal(1)).where(
            table.c.run_id == runs.c.id,
            table.c.key == field.key,
            _apply(table.c.value, node.op, node.value),
        )
    )


def apply_order(query: Select[Any], order_by: list[OrderBy]) -> Select[Any]:
    """Add ORDER BY (missing values last), then newest first and id as tie-breakers."""
    clauses = []
    for i, ob in enumerate(order_by):
        if ob.field.entity == "attribute":
            column = runs.c[ob.field.key]
        else:
            table = _ENTITY_TABLES[ob.field.entity].alias(f"ob{i}")
            query = query.outerjoin(
                table, and_(table.c.run_id == runs.c.id, table.c.key == ob.field.key)
            )
            column = table.c.value
        clauses.append((column.asc() if ob.ascending else column.desc()).nulls_last())
    clauses += [runs.c.start_time.desc(), runs.c.id.asc()]
    return query.order_by(*clauses)
