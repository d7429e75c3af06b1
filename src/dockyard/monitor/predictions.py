"""The prediction store: the prediction log that model servers write, queried with DuckDB.

The log is Parquet under ``<artifact root>/predictions/model=<name>/version=<v>/date=<day>/``
(see :mod:`dockyard.serve.predlog`), in a local folder or on S3. A
:class:`PredictionStore` opens it as one Arrow dataset (Hive partitions
decoded, the files' schemas unified by column name, since a new input column
starts a new file) and hands it to DuckDB, which prunes folders by model,
version and date and pushes the other filters into the scan. S3 is read
through Arrow's own S3 client, so DuckDB needs no extension (and no network
access to fetch one).
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs

from dockyard.config import get_settings
from dockyard.errors import InvalidArgument, MissingExtra, StoreError
from dockyard.serve.predlog import DEFAULT_PREFIX, FIXED_COLUMNS, TIME_TYPE

if TYPE_CHECKING:
    import duckdb

__all__ = ["PredictionStore", "VIEW"]

VIEW = "predictions"
"""The name SQL given to :meth:`PredictionStore.sql` reads the log under."""

_PARTITIONS = pa.schema([("model", pa.string()), ("version", pa.string()), ("date", pa.string())])
_EMPTY = pa.schema(
    [(name, TIME_TYPE if name == "time" else pa.float64() if name == "latency_ms" else pa.string())
     for name in FIXED_COLUMNS]
)
_WRITE = re.compile(
    r"^\s*(insert|update|delete|create|drop|alter|attach|detach|copy|install|load|pragma|set|"
    r"call|export|import|checkpoint|vacuum)\b",
    re.IGNORECASE,
)


class PredictionStore:
    """Read the prediction log under ``uri`` (an artifact root: a folder or ``s3://bucket/prefix``).

    ``uri`` defaults to the artifact root of the settings (``DOCKYARD_ARTIFACTS``,
    else ``$DOCKYARD_HOME/artifacts``), where ``dockyard serve`` writes by
    default; ``prefix`` is the log's folder in it.
    """

    def __init__(self, uri: str | None = None, *, prefix: str = DEFAULT_PREFIX) -> None:
        self.uri = uri or get_settings().artifacts
        self.prefix = prefix.strip("/")
        self.filesystem, self.root = _filesystem(self.uri, self.prefix)

    def __repr__(self) -> str:
        return f"PredictionStore({self.uri!r}, prefix={self.prefix!r})"

    def dataset(self) -> ds.Dataset | None:
        """The log as one Arrow dataset (None when it holds no file yet)."""
        try:
            infos = self.filesystem.get_file_info(
                pafs.FileSelector(self.root, recursive=True, allow_not_found=True)
            )
        except OSError as exc:
            raise StoreError(f"cannot list the prediction log at {self._where()}: {exc}") from exc
        paths = sorted(i.path for i in infos if i.is_file and i.path.endswith(".parquet"))
        if not paths:
            return None
        partitioning = ds.partitioning(_PARTITIONS, flavor="hive")
        options = {"filesystem": self.filesystem, "format": "parquet",
                   "partitioning": partitioning, "partition_base_dir": self.root}
        try:
            first = ds.dataset(paths, **options)
            schemas = [fragment.physical_schema for fragment in first.get_fragments()]
            schema = pa.unify_schemas([*schemas, _PARTITIONS], promote_options="permissive")
            return ds.dataset(paths, schema=schema, **options)
        except (OSError, pa.ArrowInvalid) as exc:
            raise StoreError(f"cannot read the prediction log at {self._where()}: {exc}") from exc

    def query(
        self,
        *,
        model: str | None = None,
        version: str | int | None = None,
        deployment: str | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        columns: Sequence[str] | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> pa.Table:
        """Predictions matching every filter given, ordered by time.

        ``since`` (inclusive) and ``until`` (exclusive) are datetimes; naive
        ones are taken as UTC. ``columns`` picks columns (default: all);
        ``limit`` keeps the first rows in the order asked for.
        """
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)
                                  or limit < 0):
            raise InvalidArgument(f"limit must be a whole number of 0 or more, got {limit!r}")
        clauses, params = [], []
        for column, value in (("model", model), ("version", version),
                              ("deployment", deployment)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(str(value))
        for op, when, day_op in ((">=", since, ">="), ("<", until, "<=")):
            if when is not None:
                stamp = _utc(when)
                clauses.append(f"date {day_op} ?")  # prunes whole folders
                params.append(stamp.date().isoformat())
                clauses.append(f"time {op} ?")
                params.append(stamp)
        statement = f"SELECT {{columns}} FROM {VIEW}"
        if clauses:
            statement += " WHERE " + " AND ".join(clauses)
        order = "DESC" if newest_first else "ASC"
        statement += f" ORDER BY time {order}, prediction_id {order}"
        if limit is not None:
            statement += f" LIMIT {int(limit)}"
        with self._connect() as con:
            if con is None:
                return _empty(columns)
            names = self._columns(con, columns)
            return _run(con, statement.format(columns=names), params)

    def lookup(self, prediction_ids: Sequence[str],
               columns: Sequence[str] | None = None) -> pa.Table:
        """The logged predictions with these ids (in no particular order); missing ids are left out.

        The ids are joined inside DuckDB, so asking for many at once is one scan of the
        ``prediction_id`` column, not one per id.
        """
        if isinstance(prediction_ids, str):
            prediction_ids = [prediction_ids]
        wanted = pa.table({"id": pa.array(list(dict.fromkeys(prediction_ids)), pa.string())})
        with self._connect() as con:
            if con is None:
                return _empty(columns)
            con.register("wanted", wanted)
            names = self._columns(con, columns)
            return _run(con, f"SELECT {names} FROM {VIEW} "
                             "WHERE prediction_id IN (SELECT id FROM wanted)", [])

    def tail(self, n: int = 10, **filters: Any) -> pa.Table:
        """The newest ``n`` predictions (oldest first), with the filters of :meth:`query`."""
        newest = self.query(limit=n, newest_first=True, **filters)
        return newest.take(pa.array(range(newest.num_rows - 1, -1, -1), pa.int64()))

    def sql(self, statement: str) -> pa.Table:
        """Run a read-only SQL statement over the log, which it reads as ``predictions``.

        Columns: ``prediction_id``, ``request_id``, ``time``, ``deployment``,
        ``model_name``, ``model_version``, ``latency_ms``, ``input.<name>``,
        ``output.<name>`` (quote them: ``"input.age"``), and the partition
        columns ``model``, ``version`` and ``date``.
        """
        if not isinstance(statement, str) or not statement.strip():
            raise InvalidArgument("give a SQL statement, e.g. SELECT count(*) FROM predictions")
        if _WRITE.match(statement):
            raise InvalidArgument(
                "the prediction store is read-only: give a SELECT (or WITH ... SELECT) statement"
            )
        with self._connect() as con:
            if con is not None:
                return _run(con, statement, [])
        with _Connection(_EMPTY.empty_table()) as con:  # no log yet: the columns every file has
            return _run(con, statement, [])

    def list_files(self, folder: str) -> list[str]:
        """Paths of the files under ``folder`` of the log (relative to the log), sorted."""
        base = f"{self.root}/{folder.strip('/')}"
        try:
            infos = self.filesystem.get_file_info(
                pafs.FileSelector(base, recursive=True, allow_not_found=True))
        except OSError as exc:
            raise StoreError(f"cannot list {folder} in {self._where()}: {exc}") from exc
        return sorted(i.path[len(self.root) + 1:] for i in infos if i.is_file)

    def delete_folder(self, folder: str) -> None:
        """Delete a folder of the log with everything below it (missing is fine)."""
        base = f"{self.root}/{folder.strip('/')}"
        try:
            if self.filesystem.get_file_info(base).type != pafs.FileType.NotFound:
                self.filesystem.delete_dir(base)
        except OSError as exc:
            raise StoreError(f"cannot delete {folder} in {self._where()}: {exc}") from exc

    def read_file(self, path: str) -> bytes:
        """The bytes of one file of the log (a path from :meth:`list_files`)."""
        try:
            with self.filesystem.open_input_stream(f"{self.root}/{path}") as stream:
                return stream.read()
        except OSError as exc:
            raise StoreError(f"cannot read {path} in {self._where()}: {exc}") from exc

    # -- helpers ------------------------------------------------------------------------

    def _connect(self) -> _Connection:
        return _Connection(self.dataset())

    def _columns(self, con: duckdb.DuckDBPyConnection, columns: Sequence[str] | None) -> str:
        if columns is None:
            return "*"
        have = [row[0] for row in con.execute(f"DESCRIBE {VIEW}").fetchall()]
        unknown = [name for name in columns if name not in have]
        if unknown:
            raise InvalidArgument(
                f"the prediction log has no column {unknown[0]!r}; it has {', '.join(have)}"
            )
        return ", ".join(_quote(name) for name in columns)

    def _where(self) -> str:
        return f"{self.uri.rstrip('/')}/{self.prefix}"


class _Connection:
    """A DuckDB connection with the log registered as ``predictions`` (None: no log yet)."""

    def __init__(self, dataset: ds.Dataset | pa.Table | None) -> None:
        self.dataset = dataset
        self.con: duckdb.DuckDBPyConnection | None = None

    def __enter__(self) -> duckdb.DuckDBPyConnection | None:
        if self.dataset is None:
            return None
        self.con = _connect()
        self.con.register(VIEW, self.dataset)
        return self.con

    def __exit__(self, *exc: object) -> None:
        if self.con is not None:
            self.con.close()


def _run(con: duckdb.DuckDBPyConnection, statement: str, params: list[Any]) -> pa.Table:
    import duckdb

    try:
        return con.sql(statement, params=params or None).to_arrow_table()
    except (duckdb.ParserException, duckdb.BinderException, duckdb.CatalogException,
            duckdb.ConversionException, duckdb.InvalidInputException,
            duckdb.PermissionException) as exc:
        raise InvalidArgument(f"the query failed: {exc}") from exc


def _connect() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB that reads only what is registered with it (no files, no network)."""
    try:
        import duckdb
    except ImportError:
        raise MissingExtra("querying the prediction log needs duckdb: pip install duckdb") from None
    return duckdb.connect(config={"enable_external_access": False})


def _filesystem(uri: str, prefix: str) -> tuple[pafs.FileSystem, str]:
    if uri.startswith("s3://"):
        parsed = urlparse(uri)
        endpoint = get_settings().s3_endpoint_url or os.environ.get("AWS_ENDPOINT_URL")
        options: dict[str, Any] = {}
        if endpoint:
            url = urlparse(endpoint)
            options = {"endpoint_override": url.netloc or url.path, "scheme": url.scheme or "https"}
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        if region:
            options["region"] = region
        root = "/".join(part for part in (parsed.netloc, parsed.path.strip("/"), prefix) if part)
        return pafs.S3FileSystem(**options), root
    if "://" in uri and not uri.startswith("file://"):
        raise InvalidArgument(
            f"the prediction log is read from a folder or s3://bucket/prefix, not {uri!r}"
        )
    folder = urlparse(uri).path if uri.startswith("file://") else uri
    return pafs.LocalFileSystem(), os.path.join(os.path.abspath(folder), prefix)


def _utc(when: dt.datetime) -> dt.datetime:
    if not isinstance(when, dt.datetime):
        raise InvalidArgument(f"since and until take datetimes, got {when!r}")
    return when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when.astimezone(dt.UTC)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _empty(columns: Sequence[str] | None) -> pa.Table:
    schema = _EMPTY if columns is None else pa.schema(
        [_EMPTY.field(name) if name in _EMPTY.names else pa.field(name, pa.null())
         for name in columns])
    return schema.empty_table()
