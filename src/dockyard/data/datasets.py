"""Dataset versions: log data with its digest, schema and profile; read it back.

:func:`log_dataset` takes a DataFrame (or Arrow table), a local Parquet or
CSV file or folder, an ``s3://`` object, or a SQL query with its database,
and records a version of the named dataset:

- its **digest** (:mod:`dockyard.data.digest`): the same data finds the
  version it already has;
- its **schema** (Arrow types) and **profile** (the
  :class:`~dockyard.monitor.profile.Profile` monitoring uses, so a training
  dataset can be a monitor's reference), and row count;
- its **data**: stored as Parquet in the artifact store under
  ``datasets/<name>/<digest>/`` (the default for frames and local files), or
  referenced where it lives (the default for S3 objects and SQL queries), the
  digest serving as its checksum (:func:`load_dataset` with ``verify=True``
  checks it).

Files are uploaded and the profile written before the version is recorded:
a version in the record always has its data.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import pandas as pd
import pyarrow as pa

from dockyard.data import digest as dg
from dockyard.entities import validation as v
from dockyard.entities.dataset import (
    Column,
    DatasetVersion,
    NewDatasetVersion,
    parse_dataset_spec,
    validate_dataset_name,
)
from dockyard.errors import IntegrityError, InvalidArgument, NotFound
from dockyard.progress import ProgressCallback, reporter

if TYPE_CHECKING:
    from dockyard.client import Client
    from dockyard.monitor.profile import Profile

__all__ = ["dataset_path", "load_dataset", "load_profile", "log_dataset", "resolve_version"]

PROFILE_NAME = "profile.bin"
CACHE_DIR = "dataset-cache"
_PARQUET = (".parquet", ".pq")
_CSV = (".csv",)
_BATCH_ROWS = 1 << 20


@dataclass
class _Source:
    """What is being logged, read once for its digest, schema, rows and profile."""

    source_type: str
    source: str
    files: list[Path] = field(default_factory=list)
    root: Path | None = None
    frame: pd.DataFrame | None = None
    location: str = ""
    database: str | None = None
    size: int | None = None

    @property
    def format(self) -> str:
        if self.files and self.files[0].suffix.lower() in _CSV:
            return "csv"
        return "sql" if self.source_type == "sql" else "parquet"


def log_dataset(data: Any = None, name: str | None = None, *, query: str | None = None,
                database: str | None = None, store: bool | None = None,
                description: str = "", tags: Mapping[str, Any] | None = None,
                categorical: list[str] | None = None, client: Client | None = None,
                progress: bool | ProgressCallback = False) -> DatasetVersion:
    """Record a version of the dataset ``name`` (created with its first version).

    ``data`` is a pandas DataFrame, an Arrow table, a path to a Parquet or CSV
    file or to a folder of Parquet files, or an ``s3://bucket/key`` URI; or
    give ``query`` and ``database`` (a SQLAlchemy URI) instead. ``store``
    keeps a copy as Parquet in the artifact store (default for frames and
    local files) or, when False, references the data where it lives (default
    for S3 and SQL). ``categorical`` names numeric columns to profile as
    categories. Logging data the dataset already has returns that version.

    Raises InvalidArgument for data it cannot read, NotFound for a missing file.
    """
    from dockyard.client import Client

    if name is None:
        raise InvalidArgument("give the dataset a name: log_dataset(data, name='churn')")
    name = validate_dataset_name(name)
    description = v.validate_description(description)
    tags = {v.validate_key("tag", str(k)): v.tag_value(str(k), val)
            for k, val in (tags or {}).items()}  # checked before anything is read or written
    client = client or Client()
    with ExitStack() as stack:
        src = _open_source(data, query, database, stack)
        if store is None:
            store = src.source_type in ("dataframe", "file")
        if not store and src.source_type == "dataframe":
            raise InvalidArgument("a DataFrame lives only in memory, so it cannot be referenced: "
                                  "log it with store=True (the default)")
        digest, schema, rows, profile = _read(src, categorical, progress)
        found = client.store.find_dataset_version(name, digest)
        if found is not None:
            return found
        files = client.dataset_files(name)
        location = src.location
        if store:
            location = _upload(src, files, digest, stack, progress)
        files.put_stream(io.BytesIO(profile.to_bytes()), f"{digest}/{PROFILE_NAME}")
        new = NewDatasetVersion(
            name=name, digest=digest, storage="stored" if store else "reference",
            location=location, source_type=src.source_type, source=src.source,
            database=src.database, format="parquet" if store else src.format, rows=rows,
            size_bytes=src.size, columns=[Column(name=f.name, type=str(f.type),
                                                 nullable=f.nullable) for f in schema],
            profile=f"{digest}/{PROFILE_NAME}", description=description,
            tags=tags)
        return client.store.create_dataset_version(new, user=client.user)


def resolve_version(spec: str | DatasetVersion, client: Client | None = None) -> DatasetVersion:
    """A version from ``churn@2``, ``churn@latest``, ``churn``, ``datasets:/churn/2`` or itself."""
    if isinstance(spec, DatasetVersion):
        return spec
    from dockyard.client import Client

    name, version = parse_dataset_spec(spec)
    return (client or Client()).store.get_dataset_version(name, version)


def load_profile(spec: str | DatasetVersion, client: Client | None = None) -> Profile:
    """The profile stored with a dataset version."""
    from dockyard.client import Client
    from dockyard.monitor.profile import Profile

    client = client or Client()
    version = resolve_version(spec, client)
    if version.profile is None:
        raise NotFound(f"dataset version {version.spec} has no profile")
    blob = b"".join(client.dataset_files(version.name).iter_bytes(version.profile))
    return Profile.from_bytes(blob)


def dataset_path(spec: str | DatasetVersion, client: Client | None = None, *,
                 verify: bool = False) -> Path:
    """A local file or folder holding the version's data, for engines that read files.

    Stored data and S3 objects are fetched into a cache under ``DOCKYARD_HOME``
    once; a local reference is its own path. A SQL version has no file:
    read it with :func:`load_dataset`. ``verify`` recomputes the digest of
    referenced data where it lives (the file, the S3 object) and raises
    IntegrityError when it has changed.
    """
    from dockyard.client import Client
    from dockyard.config import get_settings

    client = client or Client()
    version = resolve_version(spec, client)
    if version.source_type == "sql" and version.storage == "reference":
        raise InvalidArgument(f"{version.spec} is a SQL query; read it with load_dataset")
    if version.storage == "reference" and version.source_type == "file":
        path = Path(version.location)
        if not path.exists():
            raise NotFound(f"{version.spec} refers to {path}, which no longer exists")
        if verify:
            _verify(version, dg.file_digest(path, dg.files_of(path, _PARQUET + _CSV)))
        return path
    target = get_settings().home / CACHE_DIR / version.name / version.digest
    if not target.exists():
        _fetch(client, version, target)  # checks an S3 object's digest as it arrives
    elif verify and version.storage == "reference":  # the cached copy was checked; the object?
        store, key = _s3_object(version.location)
        _verify(version, dg.stream_digest(store.iter_bytes(key)))
    if version.storage == "reference":  # an S3 object, fetched as it is
        return next(p for p in target.iterdir())
    return target / Path(version.location).relative_to(version.digest)


def load_dataset(spec: str | DatasetVersion, client: Client | None = None, *,
                 columns: list[str] | None = None, verify: bool = False) -> pd.DataFrame:
    """The version's data as a DataFrame (``columns``: only these).

    ``verify`` recomputes the digest of referenced data (a file, an S3
    object, a query's result) and raises IntegrityError when it changed.
    """
    from dockyard.client import Client

    client = client or Client()
    version = resolve_version(spec, client)
    if version.source_type == "sql" and version.storage == "reference":
        frame = dg.frame_of(_run_query(version.location, _full_database(version)))
        if verify:
            _verify(version, dg.frame_digest(frame))
        return frame[columns] if columns else frame
    path = dataset_path(version, client, verify=verify)
    if path.is_file() and path.suffix.lower() in _CSV:
        return pd.read_csv(path, usecols=columns)
    import pyarrow.dataset as ds

    files = dg.files_of(path, _PARQUET)
    table = ds.dataset([str(f) for f in files], format="parquet", partitioning="hive"
                       if path.is_dir() else None).to_table(columns=columns)
    return table.to_pandas()


# ---------------------------------------------------------------------- reading a source
def _open_source(data: Any, query: str | None, database: str | None,
                 stack: ExitStack) -> _Source:
    if query is not None or database is not None:
        if data is not None or not query or not database:
            raise InvalidArgument("for a SQL source give both query= and database= (and no data)")
        frame = dg.frame_of(_run_query(query, database))
        return _Source("sql", query, frame=frame, location=query,
                       database=_without_password(database))
    if isinstance(data, pd.DataFrame | pa.Table | pa.RecordBatch):
        return _Source("dataframe", f"{type(data).__module__.split('.')[0]}.{type(data).__name__}",
                       frame=dg.frame_of(data))
    if isinstance(data, str) and data.startswith("s3://"):
        local = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dockyard-s3-")))
        path = _download_s3(data, local)
        return _Source("s3", data, files=[path], root=path, location=data, size=dg.size_of([path]))
    if isinstance(data, str | os.PathLike):
        path = Path(data).expanduser().resolve()
        if not path.exists():
            raise NotFound(f"{path} does not exist")
        if path.is_file() and path.suffix.lower() not in _PARQUET + _CSV:
            raise InvalidArgument(f"{path.name}: give a .parquet or .csv file, or a folder of "
                                  ".parquet files")
        files = dg.files_of(path, _PARQUET if path.is_dir() else _PARQUET + _CSV)
        return _Source("file", str(path), files=files, root=path, location=str(path),
                       size=dg.size_of(files))
    if data is None:
        raise InvalidArgument("give the data to log: a DataFrame, a file path, an s3:// URI, or "
                              "query= and database=")
    raise InvalidArgument(f"cannot log a {type(data).__name__} as a dataset: give a DataFrame, "
                          "an Arrow table, a Parquet or CSV path, or an s3:// URI")


def _read(src: _Source, categorical: list[str] | None, progress: bool | ProgressCallback,
          ) -> tuple[str, pa.Schema, int, Profile]:
    """The source's digest, schema, rows and profile; a file is hashed while it is profiled."""
    if src.frame is not None:
        schema = dg.arrow_schema(src.frame)
        digest = dg.frame_digest(src.frame, schema)
        profile = _profile(_chunks(src.frame), schema, categorical)
        return digest, schema, len(src.frame), profile
    assert src.root is not None
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="dockyard-sha256") as pool, \
            reporter(progress, "hashing and profiling", in_bytes=True) as report:
        done = [0]

        def advance(n: int) -> None:
            done[0] += n
            report(done[0], src.size)

        hashing = pool.submit(dg.file_digest, src.root, src.files, advance)
        schema, batches = _batches(src)
        rows = [0]

        def counted() -> Iterator[pa.RecordBatch]:
            for batch in batches:
                rows[0] += batch.num_rows
                yield batch

        profile = _profile(counted(), schema, categorical)
        return hashing.result(), schema, rows[0], profile


def _batches(src: _Source) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    assert src.root is not None
    try:
        if src.format == "csv":
            from pyarrow import csv

            reader = csv.open_csv(src.files[0], read_options=csv.ReadOptions(
                block_size=64 << 20))
            return reader.schema, iter(reader)
        import pyarrow.dataset as ds

        dataset = ds.dataset([str(f) for f in src.files], format="parquet",
                             partitioning="hive" if src.root.is_dir() else None)
        return dataset.schema, dataset.to_batches(batch_size=_BATCH_ROWS)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InvalidArgument(f"{src.source} cannot be read: {exc}") from None


def _profilable(field_: pa.Field) -> bool:
    kind = field_.type
    return (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)
            or pa.types.is_string(kind) or pa.types.is_large_string(kind)
            or pa.types.is_decimal(kind)
            or (pa.types.is_dictionary(kind) and pa.types.is_string(kind.value_type)))


def _profile(batches: Iterator[Any], schema: pa.Schema,
             categorical: list[str] | None) -> Profile:
    """The profile of the columns of kinds a profile summarises (numbers, text, booleans);
    the other columns (timestamps, nested, binary) are in the schema only."""
    from dockyard.monitor.profile import Profile

    unknown = [c for c in categorical or () if c not in schema.names]
    if unknown:
        raise InvalidArgument(f"categorical names {unknown[0]!r}, which the data does not have; "
                              f"it has {', '.join(schema.names)}")
    names = [f.name for f in schema if _profilable(f)]
    profile = Profile(columns=names, categorical=[c for c in categorical or () if c in names])
    for batch in batches:
        if len(batch):
            profile.update(batch.select(names) if isinstance(batch, pa.RecordBatch)
                           else batch[names])
    return profile


def _chunks(frame: pd.DataFrame) -> Iterator[pd.DataFrame]:
    for start in range(0, len(frame), _BATCH_ROWS):
        yield frame.iloc[start:start + _BATCH_ROWS]


# ---------------------------------------------------------------------- storing, fetching
def _upload(src: _Source, files: Any, digest: str, stack: ExitStack,
            progress: bool | ProgressCallback) -> str:
    """Copy the data as Parquet below ``<digest>/``; returns its location there."""
    if src.frame is not None or src.format == "csv":
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dockyard-data-")))
        local = scratch / "data.parquet"
        import pyarrow.parquet as pq

        if src.frame is not None:
            pq.write_table(pa.Table.from_pandas(src.frame, preserve_index=False), local,
                           compression="zstd")
        else:
            from pyarrow import csv

            with csv.open_csv(src.files[0]) as reader, \
                    pq.ParquetWriter(local, reader.schema, compression="zstd") as writer:
                for batch in reader:
                    writer.write_batch(batch)
        files.put_file(local, f"{digest}/data.parquet")
        return f"{digest}/data.parquet"
    assert src.root is not None
    with reporter(progress, "uploading", in_bytes=True) as report:
        sent = [0]

        def advance(n: int) -> None:
            sent[0] += n
            report(sent[0], src.size)

        if src.root.is_file():
            files.put_file(src.root, f"{digest}/{src.root.name}", progress=advance)
            return f"{digest}/{src.root.name}"
        for file in src.files:
            files.put_file(file, f"{digest}/{file.relative_to(src.root).as_posix()}",
                           progress=advance)
    return digest


def _fetch(client: Client, version: DatasetVersion, target: Path) -> None:
    """Download a stored version (or an S3 reference) into ``target``, atomically."""
    staging = target.parent / f".{target.name}.{uuid.uuid4().hex[:8]}.tmp"
    staging.mkdir(parents=True)
    try:
        if version.storage == "reference":
            local = _download_s3(version.location, staging)
            _verify(version, dg.file_digest(local, [local]))
        else:
            files = client.dataset_files(version.name)
            for info in files.walk(version.digest):
                if info.path.endswith(PROFILE_NAME):
                    continue
                local = staging / Path(info.path).relative_to(version.digest)
                local.parent.mkdir(parents=True, exist_ok=True)
                files.get_file(info.path, local)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _s3_object(uri: str) -> tuple[Any, str]:
    """The store of an ``s3://bucket/key`` object's bucket, and its key."""
    from dockyard.store.artifacts.s3 import S3ArtifactStore

    parts = urlsplit(uri)
    key = parts.path.lstrip("/")
    if not parts.netloc or not key or key.endswith("/"):
        raise InvalidArgument(f"{uri}: give the S3 URI of one object, s3://bucket/key.parquet")
    if Path(key).suffix.lower() not in _PARQUET + _CSV:
        raise InvalidArgument(f"{uri}: give a .parquet or .csv object")
    return S3ArtifactStore(f"s3://{parts.netloc}"), key


def _download_s3(uri: str, folder: Path) -> Path:
    store, key = _s3_object(uri)
    return store.get_file(key, folder / Path(key).name)


def _verify(version: DatasetVersion, digest: str) -> None:
    if digest != version.digest:
        raise IntegrityError(
            f"the data of {version.spec} ({version.location}) has changed since it was logged: "
            f"its digest is {digest[:12]}..., the version's {version.digest[:12]}...; log it "
            "again as a new version")


# ---------------------------------------------------------------------- SQL sources
def _run_query(query: str, database: str) -> pd.DataFrame:
    import sqlalchemy as sa

    try:
        engine = sa.create_engine(database)
    except (sa.exc.ArgumentError, ImportError) as exc:
        raise InvalidArgument(f"database {_without_password(database)!r} is not a database "
                              f"URI SQLAlchemy can open: {exc}") from None
    try:
        with engine.connect() as conn:
            return pd.read_sql_query(sa.text(query), conn)
    except (sa.exc.SQLAlchemyError, pd.errors.DatabaseError) as exc:
        cause = exc.__cause__ or exc
        raise InvalidArgument(f"the query failed: {cause.__class__.__name__}: "
                              f"{str(cause).splitlines()[0]}") from None
    finally:
        engine.dispose()


def _without_password(uri: str) -> str:
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    netloc = f"{parts.username}@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _full_database(version: DatasetVersion) -> str:
    """The version's database URI; a password left out of the record comes from
    ``DOCKYARD_DATASET_DB_PASSWORD`` (or the URI's own driver settings, such as ``PGPASSWORD``)."""
    assert version.database is not None
    password = os.environ.get("DOCKYARD_DATASET_DB_PASSWORD")
    if not password:
        return version.database
    parts = urlsplit(version.database)
    netloc = f"{parts.username}:{password}@{parts.hostname}" + (
        f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))
