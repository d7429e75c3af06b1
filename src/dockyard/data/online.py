"""Online feature stores: the latest value of each feature per entity, for serving.

``FeatureStore.materialize`` writes here; ``FeatureStore.get_online_features``
and the ``FeatureLookup`` feature step read. One interface, two backends:

- ``SqliteOnlineStore`` (``sqlite:///path/online.db``, the default): one row
  per entity per feature table in a ``WITHOUT ROWID`` table whose primary key
  is ``(table, entity key)``; the values of a row are one orjson object, so a
  lookup is one primary-key probe and one ``orjson.loads``. WAL mode lets a
  server read while ``materialize`` writes.
- ``RedisOnlineStore`` (``redis://host:port/db``): one hash per entity per
  feature table, ``<prefix>:<table>:<entity key>``, a field per feature
  (orjson-encoded) and the event time in ``__dockyard_ts``; a lookup of many
  ids is one pipelined round of ``HMGET``.

Entity keys are encoded as the orjson array of their column values (``[42]``,
``["eu", 7]``); integral floats count as integers, so a key read from a
float column with nulls still matches. Event times are microseconds since the
epoch, UTC.
"""

from __future__ import annotations

import math
import os
import sqlite3
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from dockyard.errors import InvalidArgument, MissingExtra, NotFound, StoreError

if TYPE_CHECKING:
    import pandas as pd

OnlineRow = tuple[bytes, int, Mapping[str, Any]]
"""One entity's row: (encoded key, event time in microseconds since the epoch UTC, values)."""

Hit = tuple[int, list[Any]] | None
"""What ``read_many`` answers per key: (event time in microseconds, values) or None."""

TS_FIELD = "__dockyard_ts"
_SQLITE_CHUNK = 500  # keys per IN (...) query, well below SQLite's variable limit


@dataclass(frozen=True)
class OnlineTable:
    """What an online store records of a materialized feature table."""

    name: str
    entity: tuple[str, ...]
    features: tuple[str, ...]
    ttl_s: float | None = None
    """Values older than this at lookup time are answered as null (None: no limit)."""

    def to_json(self) -> bytes:
        return orjson.dumps({"name": self.name, "entity": list(self.entity),
                             "features": list(self.features), "ttl_s": self.ttl_s})

    @classmethod
    def from_json(cls, raw: bytes | str) -> OnlineTable:
        data = orjson.loads(raw)
        return cls(name=data["name"], entity=tuple(data["entity"]),
                   features=tuple(data["features"]), ttl_s=data.get("ttl_s"))


# ----------------------------------------------------------------------------- encoding
def _key_part(value: Any) -> Any:
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()  # numpy scalars
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if value.is_integer():
            return int(value)
    return value


def encode_key(values: Sequence[Any]) -> bytes | None:
    """The stored form of one entity key (its column values in order); None if a part is null."""
    if len(values) == 1 and type(values[0]) in (int, str):
        return orjson.dumps([values[0]])  # the common case, without the general checks
    parts = [_key_part(v) for v in values]
    if any(p is None for p in parts):
        return None
    try:
        return orjson.dumps(parts)
    except TypeError as exc:
        raise InvalidArgument(f"entity key {tuple(values)!r} cannot be used as a key ({exc}); "
                              "use integer or string key columns") from None


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if hasattr(value, "total_seconds"):
        return value.total_seconds()
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"values of type {type(value).__name__} are not supported")


def encode_value(value: Any) -> bytes:
    """orjson bytes of one feature value (NaN becomes null)."""
    return orjson.dumps(value, default=_default, option=orjson.OPT_SERIALIZE_NUMPY)


def encode_values(values: Mapping[str, Any]) -> bytes:
    return orjson.dumps(values, default=_default, option=orjson.OPT_SERIALIZE_NUMPY)


# ----------------------------------------------------------------------------- interface
class OnlineStore(ABC):
    """Latest feature values per entity, keyed by (feature table, encoded entity key).

    Implementations are safe to share between threads. Driver failures are
    raised as ``StoreError``.
    """

    uri: str

    @abstractmethod
    def write_batches(self, table: OnlineTable, batches: Iterable[Sequence[OnlineRow]]) -> int:
        """Record ``table``'s definition and upsert every row of ``batches``; return the row count.

        An entity's row replaces the one stored before, whole (features it
        lacks read as null). SQLite writes everything in one transaction;
        Redis writes each batch in one MULTI/EXEC, so a reader may see some
        batches of a table written before others, never half an entity.
        Raises ``InvalidArgument`` for values that cannot be stored.
        """

    def write_batch(self, table: OnlineTable, rows: Sequence[OnlineRow]) -> int:
        """``write_batches`` of a single batch."""
        return self.write_batches(table, [rows])

    @abstractmethod
    def table(self, name: str) -> OnlineTable:
        """The definition recorded by the last write of ``name``; raises ``NotFound`` if none."""

    @abstractmethod
    def read_many(self, table: str, keys: Sequence[bytes], features: Sequence[str]) -> list[Hit]:
        """One answer per key, in order: ``(event time us, [value per feature])`` or None.

        Unknown keys answer None; a feature the stored row lacks is None.
        """

    @abstractmethod
    def close(self) -> None:
        """Release connections; the store is unusable afterwards."""

    def __enter__(self) -> OnlineStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.uri!r})"


# ----------------------------------------------------------------------------- SQLite
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS feature_tables (name TEXT PRIMARY KEY, definition BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS feature_values (tbl TEXT NOT NULL, k BLOB NOT NULL, "
    "ts INTEGER NOT NULL, v BLOB NOT NULL, PRIMARY KEY (tbl, k)) WITHOUT ROWID",
)


class SqliteOnlineStore(OnlineStore):
    """The embedded online store: one SQLite file (``:memory:`` for a private one)."""

    def __init__(self, path: str | Path, *, uri: str | None = None) -> None:
        self.path = str(path)
        self.uri = uri or f"sqlite:///{self.path}"
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        try:
            # Autocommit mode: transactions are explicit BEGIN IMMEDIATE ... COMMIT.
            conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA busy_timeout = 10000")
            conn.execute("PRAGMA cache_size = -65536")  # up to 64 MB: large writes spill less
            if self.path != ":memory:":
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
            for statement in _SCHEMA:
                conn.execute(statement)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the online store {self.uri}: {exc}") from exc
        self._conn: sqlite3.Connection | None = conn

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError(f"the online store {self.uri} is closed")
        return self._conn

    def write_batches(self, table: OnlineTable, batches: Iterable[Sequence[OnlineRow]]) -> int:
        written = 0
        with self._lock:
            conn = self._connection()
            try:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("INSERT OR REPLACE INTO feature_tables (name, definition) "
                             "VALUES (?, ?)", (table.name, table.to_json()))
                for batch in batches:
                    conn.executemany(
                        "INSERT OR REPLACE INTO feature_values (tbl, k, ts, v) VALUES (?, ?, ?, ?)",
                        [(table.name, key, ts, encode_values(values)) for key, ts, values in batch],
                    )
                    written += len(batch)
                conn.execute("COMMIT")
            except BaseException as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if isinstance(exc, orjson.JSONEncodeError):
                    raise InvalidArgument(f"feature table {table.name!r}: {exc}") from exc
                if isinstance(exc, sqlite3.Error):
                    raise StoreError(f"writing {table.name!r} to {self.uri} failed: {exc}") from exc
                raise
        return written

    def table(self, name: str) -> OnlineTable:
        with self._lock:
            try:
                row = self._connection().execute(
                    "SELECT definition FROM feature_tables WHERE name = ?", (name,)).fetchone()
            except sqlite3.Error as exc:
                raise StoreError(f"reading {self.uri} failed: {exc}") from exc
        if row is None:
            raise NotFound(f"feature table {name!r} was never materialized into {self.uri}; "
                           "run FeatureStore.materialize() first", table=name)
        return OnlineTable.from_json(row[0])

    def read_many(self, table: str, keys: Sequence[bytes], features: Sequence[str]) -> list[Hit]:
        found: dict[bytes, tuple[int, bytes]] = {}
        with self._lock:
            conn = self._connection()
            try:
                if len(keys) == 1:
                    row = conn.execute(
                        "SELECT k, ts, v FROM feature_values WHERE tbl = ? AND k = ?",
                        (table, keys[0])).fetchone()
                    rows = [] if row is None else [row]
                else:
                    rows = []
                    unique = list(dict.fromkeys(keys))
                    for start in range(0, len(unique), _SQLITE_CHUNK):
                        chunk = unique[start:start + _SQLITE_CHUNK]
                        marks = ",".join("?" * len(chunk))
                        rows += conn.execute(
                            f"SELECT k, ts, v FROM feature_values WHERE tbl = ? AND k IN ({marks})",
                            (table, *chunk)).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"reading {self.uri} failed: {exc}") from exc
        for key, ts, blob in rows:
            found[key] = (ts, blob)
        out: list[Hit] = []
        for key in keys:
            hit = found.get(key)
            if hit is None:
                out.append(None)
                continue
            values = orjson.loads(hit[1])
            out.append((hit[0], [values.get(f) for f in features]))
        return out

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


# ----------------------------------------------------------------------------- Redis
class RedisOnlineStore(OnlineStore):
    """The online store at scale: Redis (or a server speaking its protocol)."""

    def __init__(self, uri: str, *, prefix: str = "dockyard:features") -> None:
        try:
            import redis
        except ImportError as exc:
            raise MissingExtra("the Redis online store needs the redis package: "
                               "pip install 'dockyard[redis]'", module="redis",
                               extra="redis") from exc
        self.uri = uri
        self.prefix = prefix
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError,)
        try:
            self._client: Any = redis.Redis.from_url(uri)
        except ValueError as exc:
            raise InvalidArgument(f"bad Redis URI {uri!r}: {exc}") from exc
        self._meta = f"{prefix}:_tables"

    def _key(self, table: str, key: bytes) -> bytes:
        return f"{self.prefix}:{table}:".encode() + key

    def _fail(self, doing: str, exc: BaseException) -> StoreError:
        return StoreError(f"{doing} {self.uri} failed: {exc}")

    def write_batches(self, table: OnlineTable, batches: Iterable[Sequence[OnlineRow]]) -> int:
        written = 0
        try:
            for batch in batches:
                pipe = self._client.pipeline(transaction=True)
                for key, ts, values in batch:
                    name = self._key(table.name, key)
                    mapping: dict[str, Any] = {TS_FIELD: ts}
                    for feature, value in values.items():
                        mapping[feature] = encode_value(value)
                    pipe.delete(name)
                    pipe.hset(name, mapping=mapping)
                pipe.execute()
                written += len(batch)
            self._client.hset(self._meta, table.name, table.to_json())
        except orjson.JSONEncodeError as exc:
            raise InvalidArgument(f"feature table {table.name!r}: {exc}") from exc
        except self._errors as exc:
            raise self._fail(f"writing {table.name!r} to", exc) from exc
        return written

    def table(self, name: str) -> OnlineTable:
        try:
            raw = self._client.hget(self._meta, name)
        except self._errors as exc:
            raise self._fail("reading", exc) from exc
        if raw is None:
            raise NotFound(f"feature table {name!r} was never materialized into {self.uri}; "
                           "run FeatureStore.materialize() first", table=name)
        return OnlineTable.from_json(raw)

    def read_many(self, table: str, keys: Sequence[bytes], features: Sequence[str]) -> list[Hit]:
        fields = [TS_FIELD, *features]
        try:
            if len(keys) == 1:
                replies = [self._client.hmget(self._key(table, keys[0]), fields)]
            else:
                pipe = self._client.pipeline(transaction=False)
                for key in keys:
                    pipe.hmget(self._key(table, key), fields)
                replies = pipe.execute()
        except self._errors as exc:
            raise self._fail("reading", exc) from exc
        out: list[Hit] = []
        for reply in replies:
            if reply[0] is None:
                out.append(None)
            else:
                out.append((int(reply[0]), [None if v is None else orjson.loads(v)
                                            for v in reply[1:]]))
        return out

    def close(self) -> None:
        self._client.close()


# ----------------------------------------------------------------------------- URIs
def open_online_store(online: str | Path | OnlineStore) -> OnlineStore:
    """The online store a URI names.

    ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db`` (three
    slashes before a relative path, four before an absolute one, as for the
    metadata store), ``sqlite://`` (private, in memory), or
    ``redis://[user:password@]host:port/db`` (also ``rediss://``, ``unix://``).
    """
    if isinstance(online, OnlineStore):
        return online
    uri = str(online)
    if uri in ("sqlite://", "sqlite:///:memory:"):
        return SqliteOnlineStore(":memory:", uri=uri)
    if uri.startswith("sqlite:///"):
        return SqliteOnlineStore(uri[len("sqlite:///"):], uri=uri)
    if uri.startswith(("redis://", "rediss://", "unix://")):
        return RedisOnlineStore(uri)
    raise InvalidArgument(f"unknown online store {uri!r}: give sqlite:///path/online.db or "
                          "redis://host:port/db")


# ----------------------------------------------------------------------------- lookups
@dataclass(frozen=True)
class TablePlan:
    """The features read from one table, and the column names they get."""

    table: OnlineTable
    features: tuple[str, ...]
    columns: tuple[str, ...]


def parse_refs(features: str | Sequence[str]) -> list[tuple[str, str]]:
    """``["table:feature", "table:*"]`` as (table, feature) pairs; raises ``InvalidArgument``."""
    refs = [features] if isinstance(features, str) else list(features)
    if not refs:
        raise InvalidArgument("no features asked for: name them as 'table:feature' or 'table:*'")
    out = []
    for ref in refs:
        table, sep, feature = ref.partition(":") if isinstance(ref, str) else ("", "", "")
        if not sep or not table or not feature:
            raise InvalidArgument(f"feature {ref!r} is not of the form 'table:feature' "
                                  "(or 'table:*' for all of a table's features)")
        out.append((table, feature))
    return out


def plan_lookup(refs: Sequence[tuple[str, str]], tables: Mapping[str, OnlineTable],
                *, full_names: bool = False) -> list[TablePlan]:
    """Group feature references by table, expanding ``*``; raises ``InvalidArgument``.

    Columns are named after the feature (``table__feature`` with
    ``full_names``); two tables giving the same column name is an error.
    """
    wanted: dict[str, list[str]] = {}
    for table_name, feature in refs:
        table = tables.get(table_name)
        if table is None:
            known = ", ".join(sorted(tables)) or "none"
            raise InvalidArgument(f"unknown feature table {table_name!r} (known: {known})")
        names = table.features if feature == "*" else (feature,)
        for name in names:
            if name not in table.features:
                raise InvalidArgument(
                    f"feature table {table_name!r} has no feature {name!r} "
                    f"(its features: {', '.join(table.features)})")
            chosen = wanted.setdefault(table_name, [])
            if name not in chosen:
                chosen.append(name)
    plans, owner = [], {}
    for table_name, names in wanted.items():
        columns = tuple(f"{table_name}__{n}" if full_names else n for n in names)
        for column in columns:
            if column in owner:
                raise InvalidArgument(
                    f"feature {column!r} comes from both {owner[column]!r} and {table_name!r}; "
                    "pass full_names=True to name columns 'table__feature'")
            owner[column] = table_name
        plans.append(TablePlan(tables[table_name], tuple(names), columns))
    return plans


def lookup_columns(store: OnlineStore, plans: Sequence[TablePlan],
                   key_columns: Mapping[str, Sequence[Any]], rows: int,
                   entity: Sequence[str] | None = None) -> dict[str, list[Any]]:
    """Feature values per output column, one per row of ``key_columns``; None where unknown.

    ``entity`` names the key columns to use instead of each table's own
    entity columns (for requests that call the key differently). A value
    older than its table's ttl at the time of the call is None.
    """
    now_us = time.time_ns() // 1000
    out: dict[str, list[Any]] = {}
    for plan in plans:
        names = tuple(entity) if entity else plan.table.entity
        if len(names) != len(plan.table.entity):
            raise InvalidArgument(
                f"feature table {plan.table.name!r} is keyed by {len(plan.table.entity)} "
                f"column(s) {list(plan.table.entity)}, but {list(names)} were given")
        missing = [n for n in names if n not in key_columns]
        if missing:
            raise InvalidArgument(f"the entity column(s) {missing} of feature table "
                                  f"{plan.table.name!r} are missing from the request")
        if len(names) == 1:
            keys = [encode_key((v,)) for v in key_columns[names[0]]]
        else:
            keys = [encode_key(parts) for parts in zip(*(key_columns[n] for n in names))]
        present = [k for k in keys if k is not None]
        hits = iter(store.read_many(plan.table.name, present, plan.features) if present else [])
        columns: list[list[Any]] = [[None] * rows for _ in plan.features]
        ttl_us = None if plan.table.ttl_s is None else plan.table.ttl_s * 1e6
        for i, key in enumerate(keys):
            if key is None:
                continue
            hit = next(hits)
            if hit is None or (ttl_us is not None and now_us - hit[0] > ttl_us):
                continue
            for j, value in enumerate(hit[1]):
                columns[j][i] = value
        out.update(zip(plan.columns, columns))
    return out


def lookup_frame(store: OnlineStore, plans: Sequence[TablePlan], frame: pd.DataFrame,
                 entity: Sequence[str] | None = None) -> pd.DataFrame:
    """A copy of ``frame`` with the planned feature columns added (see ``lookup_columns``)."""
    import pandas as pd

    clash = [c for p in plans for c in p.columns if c in frame.columns]
    if clash:
        raise InvalidArgument(f"the request already has column(s) {clash}; "
                              "pass full_names=True to name features 'table__feature'")
    needed = {n for p in plans for n in (entity or p.table.entity)}
    keys = {n: frame[n].tolist() for n in needed if n in frame.columns}
    values = lookup_columns(store, plans, keys, len(frame), entity)
    added = pd.DataFrame(values, index=frame.index)
    return pd.concat([frame, added], axis=1)


class FeatureLookup:
    """A feature step that adds online feature values to each incoming frame.

    ``FeatureLookup("sqlite:////srv/online.db", ["driver_stats:*"])`` is a
    picklable callable ``DataFrame -> DataFrame``: placed among a model's
    feature steps, it makes the model server enrich every request from the
    online store before the model sees it. ``entity`` names the request's key
    column(s) when they are not called like the tables' entity columns.

    The store opens at the first call, once per process (again after a
    fork), and is shared by threads. Table definitions (features, ttl) are
    read from the store at that first call. Raises ``InvalidArgument`` when a
    request lacks a key column or already has a feature column, ``NotFound``
    when a table was never materialized into the store.
    """

    def __init__(self, online: str, features: str | Sequence[str],
                 entity: str | Sequence[str] | None = None, *, full_names: bool = False) -> None:
        if not isinstance(online, (str, Path)):
            raise InvalidArgument("FeatureLookup takes the online store's URI (a string), so that "
                                  "it can be pickled with the model")
        self.online = str(online)
        if not self.online.startswith(("sqlite://", "redis://", "rediss://", "unix://")):
            raise InvalidArgument(f"unknown online store {self.online!r}: give "
                                  "sqlite:///path/online.db or redis://host:port/db")
        self.refs = parse_refs(features)
        self.entity = (entity,) if isinstance(entity, str) else (tuple(entity) if entity else None)
        self.full_names = full_names
        self._lock = threading.Lock()
        self._opened: tuple[int, OnlineStore, list[TablePlan]] | None = None

    def _state(self) -> tuple[OnlineStore, list[TablePlan]]:
        opened = self._opened
        if opened is not None and opened[0] == os.getpid():
            return opened[1], opened[2]
        with self._lock:
            opened = self._opened
            if opened is None or opened[0] != os.getpid():
                store = open_online_store(self.online)
                try:
                    names = dict.fromkeys(t for t, _ in self.refs)
                    tables = {name: store.table(name) for name in names}
                    plans = plan_lookup(self.refs, tables, full_names=self.full_names)
                except BaseException:
                    store.close()
                    raise
                opened = (os.getpid(), store, plans)
                self._opened = opened
        return opened[1], opened[2]

    def __call__(self, frame: pd.DataFrame) -> pd.DataFrame:
        store, plans = self._state()
        return lookup_frame(store, plans, frame, self.entity)

    def close(self) -> None:
        """Close this process's connection (the next call opens a new one)."""
        with self._lock:
            if self._opened is not None and self._opened[0] == os.getpid():
                self._opened[1].close()
            self._opened = None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_lock"] = None
        state["_opened"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        refs = [f"{t}:{f}" for t, f in self.refs]
        return f"FeatureLookup({self.online!r}, {refs!r})"
