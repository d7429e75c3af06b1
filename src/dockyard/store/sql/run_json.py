"""Runs rendered as JSON by the database itself.

A page of search results goes to the client as JSON. Built in SQL, it needs
no Python object per run, param or metric: the server joins the rows into
the page. The document has exactly the form of :class:`~dockyard.entities.Run`
(its contract test compares the two).
"""

from __future__ import annotations

from dockyard.store.sql.search import RUN_COLUMNS

_SCALARS = [c for c in RUN_COLUMNS if c != "git_dirty"]


def _sqlite() -> str:
    # json() marks text as JSON, so it nests instead of being quoted.
    # SQLite prints a REAL with 15 digits in JSON; its printf is exact for a
    # double at 18 (17 fall short on this engine for a few values).
    metric = ("json_object('key', key, 'value', json(printf('%!.18g', value)), "
              "'step', step, 'timestamp', timestamp)")
    pairs = [f"'{c}', r.\"{c}\"" for c in _SCALARS] + [
        "'git_dirty', CASE WHEN r.git_dirty IS NULL THEN NULL "
        "WHEN r.git_dirty THEN json('true') ELSE json('false') END",
        "'params', json((SELECT json_group_object(key, value) FROM params x WHERE x.run_id = r.id))",
        "'tags', json((SELECT json_group_object(key, value) FROM tags x WHERE x.run_id = r.id))",
        f"'metrics', json((SELECT json_group_object(key, {metric}) FROM latest_metrics x "
        "WHERE x.run_id = r.id))",
    ]
    return "json_object(" + ", ".join(pairs) + ")"


def _postgresql() -> str:
    # float8 prints the shortest text that reads back as the same double.
    def agg(table: str, value: str) -> str:
        return (f"COALESCE((SELECT json_object_agg(key, {value}) FROM {table} x "
                "WHERE x.run_id = r.id), '{}'::json)")
    metric = "json_build_object('key', key, 'value', value, 'step', step, 'timestamp', timestamp)"
    pairs = [f"'{c}', r.\"{c}\"" for c in RUN_COLUMNS] + [
        f"'params', {agg('params', 'value')}",
        f"'tags', {agg('tags', 'value')}",
        f"'metrics', {agg('latest_metrics', metric)}",
    ]
    return "json_build_object(" + ", ".join(pairs) + ")::text"


_EXPRESSIONS = {"sqlite": _sqlite(), "postgresql": _postgresql()}


def runs_json_sql(dialect: str, count: int) -> str:
    """``SELECT id, json`` of ``count`` runs given as ``?`` parameters, in no order."""
    marks = ", ".join("?" * count)
    return f"SELECT r.id, {_EXPRESSIONS[dialect]} FROM runs r WHERE r.id IN ({marks})"
