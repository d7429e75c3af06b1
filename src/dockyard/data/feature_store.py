"""Feature tables, point-in-time training frames and materialization to an online store.

A ``FeatureTable`` is a table of feature values stamped with the entity they
describe and the time they became known. ``FeatureStore.get_training_frame``
joins them to labelled entity rows *as of* each row's timestamp (DuckDB's
ASOF JOIN), so a model never trains on a value from the future of its
label. ``materialize`` copies the latest value per entity into an online
store (``dockyard.data.online``) that ``get_online_features`` and the
``FeatureLookup`` feature step read at serving time.

Time rules, the same everywhere:

- naive timestamps are UTC; aware ones are converted to UTC, so naive and
  aware columns mix freely;
- a feature value stamped at exactly the entity row's time counts as known
  (``strict=True`` uses only values stamped strictly before);
- with a ``ttl``, a value older than ``ttl`` at the entity row's time (at
  lookup time, online) is null.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dockyard.data.online import (
    OnlineRow,
    OnlineStore,
    OnlineTable,
    TablePlan,
    encode_key,
    lookup_columns,
    open_online_store,
    parse_refs,
    plan_lookup,
)
from dockyard.entities.dataset import SCHEME, DatasetVersion
from dockyard.errors import InvalidArgument

Source = str | Path | pd.DataFrame | pa.Table | DatasetVersion
Progress = Callable[[str, int, int], None]
"""``progress(table, rows_written, rows_total)``, called after each batch of ``materialize``."""

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TIMESTAMP_TYPES = ("TIMESTAMP", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S",
                    "TIMESTAMP WITH TIME ZONE")
_NUMERIC = re.compile(r"^(U?(TINY|SMALL|BIG|HUGE)?INT(EGER)?|FLOAT|DOUBLE|DECIMAL.*)$")
_TTL = re.compile(r"^\s*(\d+(?:\.\d*)?)\s*(s|m|h|d|w)\s*$")
_TTL_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_ROW = "__dockyard_row"
_RID = "__dockyard_rid"
_TS = "__dockyard_ts"
_ENTITIES = "__dockyard_entities"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _connect() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    return con


def _strip_tz(table: pa.Table, column: str) -> pa.Table:
    """``column`` as naive UTC when it is time-zone aware (same instants, ns kept)."""
    index = table.schema.get_field_index(column)
    kind = table.schema.field(index).type
    if pa.types.is_timestamp(kind) and kind.tz is not None:
        naive = pc.cast(table.column(index), pa.timestamp(kind.unit))
        return table.set_column(index, column, naive)
    return table


def _ts_expr(column: str, kind: str, unit: str) -> str:
    """SQL for ``column`` as naive UTC of type ``unit`` (TIMESTAMP or TIMESTAMP_NS)."""
    if kind == "TIMESTAMP WITH TIME ZONE":
        return f"CAST(timezone('UTC', {_quote(column)}) AS {unit})"
    return f"CAST({_quote(column)} AS {unit})"


def _unit(*kinds: str) -> str:
    return "TIMESTAMP_NS" if "TIMESTAMP_NS" in kinds else "TIMESTAMP"


def _kind_class(kind: str) -> str:
    if _NUMERIC.match(kind):
        return "number"
    if kind == "VARCHAR" or kind.startswith("ENUM"):
        return "text"
    return kind


def parse_ttl(ttl: timedelta | float | str | None) -> timedelta | None:
    """A ttl as a timedelta: a timedelta, seconds, or text like ``"90s"``, ``"15m"``, ``"2h"``,
    ``"7d"``, ``"1w"``; None for no limit. Raises ``InvalidArgument``."""
    if ttl is None:
        return None
    if isinstance(ttl, timedelta):
        value = ttl
    elif isinstance(ttl, (int, float)) and not isinstance(ttl, bool):
        value = timedelta(seconds=ttl)
    elif isinstance(ttl, str) and (match := _TTL.match(ttl)):
        value = timedelta(seconds=float(match[1]) * _TTL_UNITS[match[2]])
    else:
        raise InvalidArgument(f"ttl {ttl!r} is not a duration: give a timedelta, seconds, "
                              "or text such as '90s', '15m', '2h', '7d'")
    if value <= timedelta(0):
        raise InvalidArgument(f"ttl must be positive, got {ttl!r}")
    return value


class FeatureTable:
    """Feature values keyed by entity and event time.

    ``source`` is a Parquet file, a folder of Parquet files (read
    recursively, Hive partitions recognised) or a glob, which DuckDB scans
    where it lies; an in-memory pandas DataFrame or pyarrow Table; or a
    dataset version (``datasets:/driver_stats/3`` or the
    :class:`~dockyard.entities.dataset.DatasetVersion`), whose Parquet files
    are scanned from the local dataset cache.
    ``entity`` names the key column(s), ``timestamp`` the event-time column
    (a timestamp type, naive meaning UTC), ``features`` the value columns
    (default: all the others). With a ``ttl`` (timedelta, seconds, or text
    like ``"2h"``), a value older than the ttl at the time it is asked for
    is null.

    The source's schema is checked on construction: ``InvalidArgument``
    says which column is missing or of the wrong type and how to fix it.
    Rows should be unique per (entity, timestamp); where they are not, the
    join uses one of the tied rows.
    """

    def __init__(self, name: str, source: Source, *, entity: str | Sequence[str],
                 timestamp: str, features: Sequence[str] | None = None,
                 ttl: timedelta | float | str | None = None, description: str = "") -> None:
        if not isinstance(name, str) or not _NAME.match(name):
            raise InvalidArgument(f"feature table name {name!r} must be letters, digits and "
                                  "underscores, not starting with a digit")
        self.name = name
        self.description = description
        self.entity = (entity,) if isinstance(entity, str) else tuple(entity)
        if not self.entity:
            raise InvalidArgument(f"feature table {name!r}: name at least one entity column")
        self.timestamp = timestamp
        self.ttl = parse_ttl(ttl)
        self.source = source
        self._single_file = False
        self._from, self._arrow = self._prepare(source)
        self.schema = self._describe()
        self._check(features)
        self.row_ids = self._row_ids()

    # -- source
    def _prepare(self, source: Source) -> tuple[str, pa.Table | None]:
        if isinstance(source, DatasetVersion) or (
                isinstance(source, str) and source.startswith(SCHEME)):
            source = _dataset_source(source)
        if isinstance(source, pd.DataFrame):
            try:
                arrow = pa.Table.from_pandas(source, preserve_index=False)
            except (pa.ArrowException, TypeError, ValueError) as exc:
                raise InvalidArgument(f"feature table {self.name!r}: the DataFrame cannot be "
                                      f"converted to Arrow: {exc}") from exc
            return "", self._strip(arrow)
        if isinstance(source, pa.Table):
            return "", self._strip(source)
        if isinstance(source, (str, Path)):
            self._single_file = False
            text = str(source)
            remote = "://" in text
            if not remote and not any(ch in text for ch in "*?["):
                path = Path(text).expanduser()
                if path.is_dir():
                    text = str(path / "**" / "*.parquet")
                elif path.is_file():
                    text = str(path)
                    self._single_file = True
                else:
                    raise InvalidArgument(f"feature table {self.name!r}: no Parquet file or "
                                          f"folder at {text}")
            return f"read_parquet({_literal(text)})", None
        raise InvalidArgument(f"feature table {self.name!r}: source must be a Parquet path, a "
                              f"pandas DataFrame or a pyarrow Table, not {type(source).__name__}")

    def _strip(self, arrow: pa.Table) -> pa.Table:
        if self.timestamp in arrow.column_names:
            return _strip_tz(arrow, self.timestamp)
        return arrow

    @property
    def in_memory(self) -> bool:
        """Whether the source is a DataFrame or Arrow table rather than Parquet files."""
        return self._arrow is not None

    def arrow(self) -> pa.Table:
        """The in-memory source as Arrow (its timestamp column naive UTC)."""
        if self._arrow is None:
            raise InvalidArgument(f"feature table {self.name!r} reads Parquet files")
        return self._arrow

    def _row_ids(self) -> list[str]:
        """SQL columns that identify a source row, for gathering features after a join.

        In-memory sources get a row number; Parquet files have DuckDB's
        ``filename`` and ``file_row_number``, unless real columns shadow them
        (then joins carry the features instead: slower, same answers).
        """
        if self.in_memory:
            return [_RID]
        if {"filename", "file_row_number"} & set(self.schema):
            return []
        return ["file_row_number"] if self._single_file else ["filename", "file_row_number"]

    def relation(self, con: duckdb.DuckDBPyConnection, *, row_ids: bool = True) -> str:
        """The SQL to read this table from on ``con`` (registering in-memory data on it)."""
        if self._arrow is None:
            return self._from
        view = f"__dockyard_table_{self.name}"
        data = self._arrow
        if row_ids:
            data = data.append_column(_RID, pa.array(np.arange(data.num_rows, dtype=np.int64)))
        con.register(view, data)
        return _quote(view)

    def _describe(self) -> dict[str, str]:
        con = _connect()
        try:
            relation = self.relation(con, row_ids=False)
            rows = con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()
        except duckdb.Error as exc:
            raise InvalidArgument(f"feature table {self.name!r}: cannot read {self.source}: "
                                  f"{exc}") from exc
        finally:
            con.close()
        return {row[0]: row[1] for row in rows}

    def _check(self, features: Sequence[str] | None) -> None:
        columns = ", ".join(self.schema)
        for role, names in (("entity", self.entity), ("timestamp", (self.timestamp,))):
            for column in names:
                if column not in self.schema:
                    raise InvalidArgument(
                        f"feature table {self.name!r}: the {role} column {column!r} is not in "
                        f"the source (its columns: {columns})", column=column)
        kind = self.schema[self.timestamp]
        if kind not in _TIMESTAMP_TYPES:
            raise InvalidArgument(
                f"feature table {self.name!r}: the timestamp column {self.timestamp!r} is "
                f"{kind}, not a timestamp; convert it (pandas: pd.to_datetime(df[...]), "
                "naive values meaning UTC)", column=self.timestamp, got=kind)
        keys = {*self.entity, self.timestamp}
        if features is None:
            chosen = tuple(c for c in self.schema if c not in keys)
        else:
            chosen = (features,) if isinstance(features, str) else tuple(features)
            for column in chosen:
                if column not in self.schema:
                    raise InvalidArgument(f"feature table {self.name!r}: feature {column!r} is "
                                          f"not in the source (its columns: {columns})",
                                          column=column)
                if column in keys:
                    raise InvalidArgument(f"feature table {self.name!r}: {column!r} is the "
                                          "entity or timestamp column, not a feature")
        if not chosen:
            raise InvalidArgument(f"feature table {self.name!r} has no feature columns")
        if len(set(chosen)) != len(chosen):
            raise InvalidArgument(f"feature table {self.name!r}: features listed twice")
        self.features = chosen

    def definition(self) -> OnlineTable:
        """What the online store records of this table."""
        ttl = None if self.ttl is None else self.ttl.total_seconds()
        return OnlineTable(self.name, self.entity, self.features, ttl)

    def __repr__(self) -> str:
        return (f"FeatureTable({self.name!r}, entity={list(self.entity)!r}, "
                f"timestamp={self.timestamp!r}, features={list(self.features)!r})")


class FeatureStore:
    """Feature tables, their training frames, and their online store.

    ``online`` is a URI (``sqlite:///path/online.db``, ``redis://host:port/db``)
    or an ``OnlineStore``; by default ``online-features.db`` in
    ``DOCKYARD_HOME``. The online store opens at first use.
    """

    def __init__(self, tables: Iterable[FeatureTable] = (),
                 online: str | Path | OnlineStore | None = None) -> None:
        self.tables: dict[str, FeatureTable] = {}
        for table in tables:
            if not isinstance(table, FeatureTable):
                raise InvalidArgument(f"expected FeatureTable objects, got {type(table).__name__}")
            if table.name in self.tables:
                raise InvalidArgument(f"two feature tables are named {table.name!r}")
            self.tables[table.name] = table
        if online is None:
            from dockyard.config import get_settings

            online = f"sqlite:///{get_settings().home / 'online-features.db'}"
        self._online_spec = online
        self._online: OnlineStore | None = online if isinstance(online, OnlineStore) else None

    @property
    def online(self) -> OnlineStore:
        """The online store (opened at first use)."""
        if self._online is None:
            self._online = open_online_store(self._online_spec)
        return self._online

    def close(self) -> None:
        """Close the online store, if open."""
        if self._online is not None:
            self._online.close()
            self._online = None

    def __enter__(self) -> FeatureStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _plans(self, features: str | Sequence[str], full_names: bool) -> list[TablePlan]:
        definitions = {name: t.definition() for name, t in self.tables.items()}
        return plan_lookup(parse_refs(features), definitions, full_names=full_names)

    # -- training
    def get_training_frame(self, entities: pd.DataFrame, features: str | Sequence[str], *,
                           timestamp: str = "event_timestamp", strict: bool = False,
                           full_names: bool = False) -> pd.DataFrame:
        """``entities`` with the features as they were known at each row's timestamp.

        ``entities`` holds the key column(s) of the tables named in
        ``features`` (``"table:feature"`` or ``"table:*"``) and an event-time
        column ``timestamp``. Each row gets, per table, the values of the
        latest feature row of its entity stamped at or before its time
        (strictly before with ``strict``), or nulls: none exists, or it is
        older than the table's ttl. Rows keep their order, index and count,
        duplicates included. Feature columns are named after the feature
        (``table__feature`` with ``full_names``).

        Raises ``InvalidArgument`` for unknown tables or features, missing
        or mistyped columns, and name clashes.
        """
        if not isinstance(entities, pd.DataFrame):
            raise InvalidArgument(f"entities must be a pandas DataFrame, "
                                  f"not {type(entities).__name__}")
        plans = self._plans(features, full_names)
        clash = [c for p in plans for c in p.columns if c in entities.columns]
        if clash:
            raise InvalidArgument(f"the entity frame already has column(s) {clash}; pass "
                                  "full_names=True to name features 'table__feature'")
        keys = list(dict.fromkeys(k for p in plans for k in p.table.entity))
        missing = [c for c in [*keys, timestamp] if c not in entities.columns]
        if missing:
            raise InvalidArgument(
                f"the entity frame lacks column(s) {missing}: it needs the entity key(s) of "
                f"the feature tables and an event-time column (timestamp={timestamp!r}); its "
                f"columns: {list(entities.columns)}")
        arrow = pa.Table.from_pandas(entities[[*keys, timestamp]], preserve_index=False)
        arrow = _strip_tz(arrow, timestamp).append_column(
            _ROW, pa.array(range(len(entities)), pa.int64()))
        con = _connect()
        try:
            con.register(_ENTITIES, arrow)
            kinds = {r[0]: r[1] for r in con.execute(f"DESCRIBE {_ENTITIES}").fetchall()}
            if kinds[timestamp] not in _TIMESTAMP_TYPES:
                raise InvalidArgument(
                    f"the entity frame's {timestamp!r} column is {entities[timestamp].dtype}, "
                    "not a timestamp; convert it with pd.to_datetime (naive values mean UTC)",
                    column=timestamp, got=str(entities[timestamp].dtype))
            pieces = [self._asof_one(con, plan, kinds, timestamp, strict) for plan in plans]
        finally:
            con.close()
        added = pa.Table.from_arrays([c for p in pieces for c in p.columns],
                                     names=[n for p in pieces for n in p.column_names])
        frame = added.to_pandas()
        frame.index = entities.index
        return pd.concat([entities, frame], axis=1)

    def _asof_one(self, con: duckdb.DuckDBPyConnection, plan: TablePlan,
                  kinds: Mapping[str, str], timestamp: str, strict: bool) -> pa.Table:
        """One table's feature columns for every entity row, in the rows' order.

        The ASOF JOIN matches on (key, time) and carries only a row id of the
        matched feature row; the feature columns are gathered by that id
        afterwards, which spares the join sorting them.
        """
        table = self.tables[plan.table.name]
        for key in table.entity:
            if _kind_class(kinds[key]) != _kind_class(table.schema[key]):
                raise InvalidArgument(
                    f"entity column {key!r} is {kinds[key]} in the entity frame but "
                    f"{table.schema[key]} in feature table {table.name!r}; convert one so "
                    "both are numbers or both strings", column=key)
        unit = _unit(kinds[timestamp], table.schema[table.timestamp])
        keys = [_quote(k) for k in table.entity]
        left = (f"(SELECT {_ROW}, {', '.join(keys)}, "
                f"{_ts_expr(timestamp, kinds[timestamp], unit)} AS {_TS} FROM {_ENTITIES}) AS e")
        on = " AND ".join([*(f"e.{k} = f.{k}" for k in keys),
                           f"e.{_TS} {'>' if strict else '>='} f.{_TS}"])
        fresh = "TRUE"
        if table.ttl is not None:
            micros = int(table.ttl / timedelta(microseconds=1))
            fresh = f"f.{_TS} >= e.{_TS} - INTERVAL ({micros}) MICROSECONDS"
        relation = table.relation(con)
        right_ts = _ts_expr(table.timestamp, table.schema[table.timestamp], unit)
        ids = table.row_ids
        carried = ids or [_quote(n) for n in plan.features]
        aliases = [f"__dockyard_c{i}" for i in range(len(carried))]
        right = (f"(SELECT {', '.join(keys)}, {right_ts} AS {_TS}, "
                 f"{', '.join(f'{c} AS {a}' for c, a in zip(carried, aliases))} "
                 f"FROM {relation}) AS f")
        matched = ", ".join(f"CASE WHEN {fresh} THEN f.{a} END AS {a}" for a in aliases)
        asof = f"SELECT e.{_ROW}, {matched} FROM {left} ASOF LEFT JOIN {right} ON {on}"
        try:
            if not ids:  # the join carried the features themselves
                result = con.sql(f"{asof} ORDER BY e.{_ROW}").to_arrow_table()
                return pa.Table.from_arrays(result.columns[1:], names=list(plan.columns))
            if table.in_memory:
                rid = con.sql(f"SELECT {aliases[0]} FROM ({asof}) ORDER BY {_ROW}")
                rows = rid.to_arrow_table().column(0)
                return table.arrow().select(list(plan.features)).take(rows).rename_columns(
                    list(plan.columns))
            features = ", ".join(f"g.{_quote(n)} AS {_quote(c)}"
                                 for n, c in zip(plan.features, plan.columns))
            source = ", ".join([*(f"{c} AS {a}" for c, a in zip(carried, aliases)),
                                *(_quote(n) for n in plan.features)])
            same = " AND ".join(f"m.{a} = g.{a}" for a in aliases)
            sql = (f"WITH m AS ({asof}) SELECT {features} FROM m LEFT JOIN "
                   f"(SELECT {source} FROM {relation}) AS g ON {same} ORDER BY m.{_ROW}")
            return con.sql(sql).to_arrow_table()
        except duckdb.Error as exc:
            raise InvalidArgument(f"the point-in-time join with {table.name!r} failed: "
                                  f"{exc}") from exc

    # -- online
    def materialize(self, tables: str | Sequence[str] | None = None, *,
                    until: datetime | None = None, batch_size: int = 10_000,
                    progress: Progress | None = None) -> dict[str, int]:
        """Write the latest value per entity as of ``until`` (default: now) to the online store.

        For each table (default: all), the newest row per entity stamped at
        or before ``until`` is written with its event time, replacing what
        the store held for that entity; entities absent from the source are
        left as they were. SQLite writes a table in one transaction, Redis
        each batch of ``batch_size`` entities in one MULTI/EXEC. Returns the
        rows written per table.
        """
        names = list(self.tables) if tables is None else (
            [tables] if isinstance(tables, str) else list(tables))
        for name in names:
            if name not in self.tables:
                raise InvalidArgument(f"unknown feature table {name!r} "
                                      f"(known: {', '.join(sorted(self.tables)) or 'none'})")
        if batch_size < 1:
            raise InvalidArgument("batch_size must be at least 1")
        cutoff = _utc_naive(until or datetime.now(UTC))
        written = {}
        for name in names:
            written[name] = self._materialize_one(self.tables[name], cutoff, batch_size, progress)
        return written

    def _materialize_one(self, table: FeatureTable, cutoff: datetime, batch_size: int,
                         progress: Progress | None) -> int:
        keys = ", ".join(_quote(k) for k in table.entity)
        ts = _ts_expr(table.timestamp, table.schema[table.timestamp], "TIMESTAMP_NS")
        not_null = " AND ".join(f"{_quote(k)} IS NOT NULL" for k in table.entity)
        features = ", ".join(_quote(f) for f in table.features)
        con = _connect()
        try:
            # The newest row per entity, computed before the online store's write starts.
            con.execute(
                f"CREATE TEMP TABLE latest AS SELECT {keys}, "
                f"epoch_us(CAST({_TS} AS TIMESTAMP)) AS {_TS}, {features} FROM "
                f"(SELECT *, {ts} AS {_TS} FROM {table.relation(con, row_ids=False)}) "
                f"WHERE {not_null} AND {_TS} <= CAST(? AS TIMESTAMP_NS) "
                f"QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY {_TS} DESC) = 1 "
                # Writing in key order makes the online store's B-tree inserts mostly appends.
                f"ORDER BY {keys}",
                [cutoff])
            total = con.execute("SELECT count(*) FROM latest").fetchall()[0][0]
            reader = con.sql("SELECT * FROM latest").to_arrow_reader(batch_size)
            batches = _rows(reader, len(table.entity), table.features, table.name, total,
                            progress)
            return self.online.write_batches(table.definition(), batches)
        finally:
            con.close()

    def get_online_features(self, entities: pd.DataFrame | Mapping[str, Sequence[Any]]
                            | Sequence[Any], features: str | Sequence[str], *,
                            full_names: bool = False, as_frame: bool = True,
                            ) -> pd.DataFrame | dict[str, list[Any]]:
        """The latest materialized values for ``entities``, in their order.

        ``entities`` is a DataFrame or a mapping of key column to values, or,
        when every table asked for has the same single key column, a plain
        list of ids (tuples for multi-column keys). The answer has the key
        columns and then the feature columns, null for unknown entities and
        for values older than the table's ttl now. ``as_frame=False`` answers
        a dict of lists (no pandas on the way).
        """
        plans = self._plans(features, full_names)
        key_names = list(dict.fromkeys(k for p in plans for k in p.table.entity))
        if isinstance(entities, pd.DataFrame):
            columns = {k: entities[k].tolist() for k in key_names if k in entities.columns}
            rows = len(entities)
        elif isinstance(entities, Mapping):
            columns = {k: list(entities[k]) for k in key_names if k in entities}
            rows = len(next(iter(columns.values()))) if columns else 0
            if any(len(v) != rows for v in columns.values()):
                raise InvalidArgument("the entity key columns differ in length")
        else:
            if len({p.table.entity for p in plans}) != 1:
                raise InvalidArgument("the features come from tables keyed by different columns; "
                                      "pass a DataFrame or a dict of key columns")
            ids = list(entities)
            rows = len(ids)
            if len(key_names) == 1:
                columns = {key_names[0]: ids}
            else:
                bad = [i for i in ids if not isinstance(i, (tuple, list)) or
                       len(i) != len(key_names)]
                if bad:
                    raise InvalidArgument(f"entity ids must be tuples of {key_names} "
                                          f"(got {bad[0]!r})")
                columns = {k: [i[n] for i in ids] for n, k in enumerate(key_names)}
        values = lookup_columns(self.online, plans, columns, rows)
        out = {k: columns[k] for k in key_names if k in columns} | values
        return pd.DataFrame(out) if as_frame else out

    # -- configuration
    @classmethod
    def from_yaml(cls, path: str | Path, *, online: str | OnlineStore | None = None,
                  ) -> FeatureStore:
        """Feature tables defined in a YAML file.

        ::

            online: sqlite:///online.db        # optional; relative to this file
            tables:
              - name: driver_stats
                source: data/driver_stats/     # Parquet file, folder or glob, or
                                               # a dataset version: datasets:/stats/3
                entity: driver_id              # or a list
                timestamp: event_timestamp
                features: [trips, rating]      # optional: default all other columns
                ttl: 2h                        # optional

        Relative paths are relative to the file's folder. ``online`` given
        here overrides the file's.
        """
        import yaml

        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise InvalidArgument(f"cannot read feature tables from {path}: {exc}") from exc
        if not isinstance(data, dict) or not isinstance(data.get("tables"), list):
            raise InvalidArgument(f"{path} must be a mapping with a 'tables' list")
        base = path.parent
        tables = []
        allowed = {"name", "source", "entity", "timestamp", "features", "ttl", "description"}
        for i, spec in enumerate(data["tables"]):
            if not isinstance(spec, dict) or {"name", "source", "entity", "timestamp"} - set(spec):
                raise InvalidArgument(f"{path}: table {i} needs name, source, entity "
                                      "and timestamp")
            unknown = set(spec) - allowed
            if unknown:
                raise InvalidArgument(f"{path}: table {spec['name']!r} has unknown keys "
                                      f"{sorted(unknown)}")
            source = str(spec["source"])
            if ("://" not in source and not source.startswith(SCHEME)
                    and not Path(source).expanduser().is_absolute()):
                source = str(base / source)
            tables.append(FeatureTable(
                spec["name"], source, entity=spec["entity"], timestamp=spec["timestamp"],
                features=spec.get("features"), ttl=spec.get("ttl"),
                description=spec.get("description", "")))
        if online is None and data.get("online"):
            online = str(data["online"])
            relative = online.startswith("sqlite:///") and not online.startswith("sqlite:////")
            if relative and online != "sqlite:///:memory:":
                online = f"sqlite:///{(base / online[len('sqlite:///'):]).absolute()}"
        return cls(tables, online=online)


def _dataset_source(spec: DatasetVersion | str) -> Path | pd.DataFrame:
    """A dataset version as a table's source: its Parquet files where they are (fetched into
    the local cache when stored), or its data as a frame (a CSV file, a SQL query)."""
    from dockyard.data.datasets import dataset_path, load_dataset, resolve_version

    version = resolve_version(spec)
    if version.storage == "stored" or version.format == "parquet":
        return dataset_path(version)
    return load_dataset(version)


def _utc_naive(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def _rows(reader: pa.RecordBatchReader, n_keys: int, features: Sequence[str], name: str,
          total: int, progress: Progress | None) -> Iterator[list[OnlineRow]]:
    done = 0
    for batch in reader:
        columns = [column.to_pylist() for column in batch.columns]
        keys = columns[:n_keys]
        times = columns[n_keys]
        values = columns[n_keys + 1:]
        if n_keys == 1:
            encoded = [encode_key((k,)) for k in keys[0]]
        else:
            encoded = [encode_key(parts) for parts in zip(*keys)]
        rows: list[OnlineRow] = [
            (key, ts, dict(zip(features, vals)))  # type: ignore[misc]
            for key, ts, *vals in zip(encoded, times, *values)
        ]
        yield rows
        done += len(rows)
        if progress is not None:
            progress(name, done, total)
