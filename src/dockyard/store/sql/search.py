"""Compile the search AST to one SQL statement with bound parameters.

The SQL text is assembled only from fixed fragments and whitelisted column
names; every key and value from the user travels as a ``?`` parameter. The
same text runs on SQLite and PostgreSQL (placeholders are rewritten for
psycopg), read straight through the driver: search is a hot path, and this
is several times faster than building and compiling the statement anew.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dockyard.store.search import BoolOp, Comparison, Node, OrderBy

# Each column is quoted: "user" is a reserved word on PostgreSQL.
RUN_COLUMNS = (
    "id", "experiment_id", "name", "status", "start_time", "end_time", "user", "parent_id",
    "entry_point", "git_commit", "git_dirty", "python_version", "artifact_location",
)
_TABLES = {"metric": "latest_metrics", "param": "params", "tag": "tags"}
_COMPARE = {"=": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">=", "like": "LIKE"}


def attribute_column(key: str) -> str:
    """The SQL of a run attribute; ``duration`` is computed (NULL while running)."""
    return '(r."end_time" - r."start_time")' if key == "duration" else f'r."{key}"'


def _predicate(column: str, op: str, value: Any, args: list[Any]) -> str:
    if op in ("in", "not in"):
        args.extend(value)
        marks = ", ".join("?" * len(value))
        return f"{column} {'NOT IN' if op == 'not in' else 'IN'} ({marks})"
    args.append(value)
    if op == "ilike":
        return f"lower({column}) LIKE lower(?)"
    return f"{column} {_COMPARE[op]} ?"


def _where(node: Node, args: list[Any]) -> str:
    if isinstance(node, BoolOp):
        joiner = " AND " if node.op == "and" else " OR "
        return "(" + joiner.join(_where(item, args) for item in node.items) + ")"
    assert isinstance(node, Comparison)
    field = node.field
    if field.entity == "attribute":
        return _predicate(attribute_column(field.key), node.op, node.value, args)
    # A run without the key does not match, for != and not in too.
    args.append(field.key)
    inner = _predicate("x.value", node.op, node.value, args)
    return (f"EXISTS (SELECT 1 FROM {_TABLES[field.entity]} x "
            f"WHERE x.run_id = r.id AND x.key = ? AND {inner})")


def compile_search(experiment_ids: Sequence[str], node: Node | None, order_by: Sequence[OrderBy],
                   limit: int, offset: int, columns: Sequence[str] = RUN_COLUMNS) -> tuple[str, list[Any]]:
    """SQL and arguments selecting ``columns`` of the runs of one page, in order.

    Without order-by, and to break ties, runs come newest first, then by id.
    Runs without an ordered value come last.
    """
    join_args: list[Any] = []
    joins, order = [], []
    for i, ob in enumerate(order_by):
        if ob.field.entity == "attribute":
            column = attribute_column(ob.field.key)
        else:
            joins.append(f"LEFT JOIN {_TABLES[ob.field.entity]} o{i} "
                         f"ON o{i}.run_id = r.id AND o{i}.key = ?")
            join_args.append(ob.field.key)
            column = f"o{i}.value"
        order.append(f"{column} {'ASC' if ob.ascending else 'DESC'} NULLS LAST")
    order += ["r.start_time DESC", "r.id ASC"]
    where_args: list[Any] = list(experiment_ids)
    where = f"r.experiment_id IN ({', '.join('?' * len(experiment_ids))})"
    if node is not None:
        where += " AND " + _where(node, where_args)
    select = ", ".join(f'r."{c}"' for c in columns)
    sql = (f"SELECT {select} FROM runs r {' '.join(joins)} WHERE {where} "
           f"ORDER BY {', '.join(order)} LIMIT ? OFFSET ?")
    return sql, join_args + where_args + [limit, offset]
