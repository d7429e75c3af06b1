"""The prediction log: every prediction, appended off the hot path to Parquet.

A :class:`PredictionLog` takes :class:`PredictionBatch` objects from the
serving loop (:meth:`PredictionLog.append` only puts the batch on an
in-memory queue) and a background thread writes them, once per
``flush_interval``, to a local write-ahead segment per partition: an Arrow IPC
stream in ``spool_dir``, fsynced after every write. A segment is rotated when
it passes ``rotate_bytes`` or ``rotate_seconds``, and on :meth:`close`; a second
thread then converts it to one Parquet file and uploads it to the artifact
store (local folder or S3) under::

    <prefix>/model=<name>/version=<version>/date=<YYYY-MM-DD>/part-<start-ms>-<id>.parquet

The layout is Hive-style, so DuckDB (``hive_partitioning = true``) and
``pyarrow.dataset`` (``partitioning="hive"``) read ``model``, ``version`` and
``date`` as columns and prune files by them. Characters that cannot sit in a
path segment (``/ = % : ? # *`` and the like) are percent-encoded; both
readers decode them.

Durability
----------
- **Graceful shutdown** (:meth:`PredictionLog.close`, also run at interpreter
  exit): nothing is lost. Every queued record is written, every segment is
  converted and uploaded; if the store is unreachable until the timeout
  runs out, the segments stay in ``spool_dir`` and the next log started on
  that folder uploads them.
- **Crash** (``SIGKILL``, power loss): at most the records appended during
  the last flush interval (default 1 s, plus the time one write takes) are
  lost. Everything older was fsynced to a segment, and the next
  :class:`PredictionLog` started on the same ``spool_dir`` recovers it
  (a torn last write is cut off) and uploads it before its own files.
- **Exactly once**: a segment becomes exactly one object whose name is fixed
  when the segment is created, and the segment is deleted only after the
  upload succeeded. A crash between the two uploads the same records under
  the same name again, replacing the object rather than doubling it. An
  object appears only when complete (the local store renames a finished
  temporary file; an S3 put is atomic).
- **Back-pressure**: the queue holds at most ``max_pending_bytes`` (estimated
  from the arrays' sizes). When it is full, :meth:`~PredictionLog.append`
  does not block the caller: the batch is dropped and counted in
  :attr:`~PredictionLog.dropped`, which the server exports as a metric.

Several processes (server workers) may share one ``spool_dir``: each owns a
sub-folder held under a file lock while it runs, and only the folders of
dead processes are recovered.

A ``summarize`` callable (:data:`Summarizer`) gets each file's rows in the
upload thread and returns files uploaded beside it: ``dockyard serve`` uses
it to profile the rows for the monitors of its models
(:mod:`dockyard.monitor.summaries`). A summary that fails is skipped; the
rows are uploaded all the same.

Sampling is decided per prediction from a hash of its id
(:func:`is_sampled`), so every replica keeps the same predictions, and a
prediction kept at one rate is kept at any higher rate.
"""

from __future__ import annotations

import atexit
import datetime as _dt
import hashlib
import io
import json
import logging
import math
import os
import threading
import time
import uuid
import weakref
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Self
from urllib.parse import unquote

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow import ipc

from dockyard.config import get_settings
from dockyard.entities.validation import validate_artifact_path
from dockyard.errors import DockyardError, InvalidArgument, NotFound, StoreError
from dockyard.files import fsync_dir
from dockyard.store.artifacts.base import ArtifactStore

log = logging.getLogger("dockyard.serve.predlog")

__all__ = [
    "PredictionBatch",
    "PredictionLog",
    "escape_partition_value",
    "is_sampled",
    "partition_path",
    "unescape_partition_value",
]

DEFAULT_PREFIX = "predictions"
DEFAULT_FLUSH_INTERVAL = 1.0
DEFAULT_ROTATE_BYTES = 64 * 1024 * 1024
DEFAULT_ROTATE_SECONDS = 300.0
DEFAULT_MAX_PENDING_BYTES = 256 * 1024 * 1024
DEFAULT_CLOSE_TIMEOUT = 30.0

Summarizer = Callable[[dict[str, str], pa.Table, str], list[tuple[str, bytes]]]
"""Called in the upload thread with a Parquet file's partition (model, version, date), its
rows and its name (``part-...``); returns files (a path under the log's prefix, and bytes)
uploaded beside it, e.g. profiles of its columns. Named after the file, so that a retried
upload replaces them."""

UNNAMED = "0"
"""The name a bare (unnamed) input or output array is logged under: ``input.0``, ``output.0``."""

TIME_TYPE = pa.timestamp("ms", tz="UTC")
FIXED_COLUMNS = (
    "prediction_id",
    "request_id",
    "time",
    "deployment",
    "model_name",
    "model_version",
    "latency_ms",
)
"""The columns every file starts with; then ``input.<name>`` and ``output.<name>``."""

ROW_GROUP_ROWS = 128 * 1024
_MS_PER_DAY = 86_400_000
_FIRST_DAY = (_dt.date(1, 1, 1) - _dt.date(1970, 1, 1)).days
_LAST_DAY = (_dt.date(9999, 12, 31) - _dt.date(1970, 1, 1)).days
_ROW_OVERHEAD = 64  # estimated bytes per row for ids and the fixed columns
_SEGMENT_META = b"dockyard.predlog.partition"
_SEGMENT_PREFIX, _SEGMENT_SUFFIX = "seg-", ".arrows"
_OWNER_PREFIX = "owner-"
_LOCK_NAME = "lock"
_FAILED_DIR = "failed"
_MAX_SEGMENT_NAME_BYTES = 255
_RETRY_MIN, _RETRY_MAX = 0.5, 30.0
_DROP_WARNING_EVERY = 60.0
_RETRYABLE = (StoreError, NotFound, OSError)
"""Upload failures worth retrying: the store is away or its bucket is missing for now."""


# -- names and paths ---------------------------------------------------------------------

# Hive's escape set, plus the characters URL decoders treat specially.
_UNSAFE = frozenset('"#%\'*/:=?\\^{}[]<>|+ ') | {chr(c) for c in range(32)} | {"\x7f"}


def escape_partition_value(value: str) -> str:
    """``value`` made safe for a ``key=value`` path segment, by percent-encoding.

    ``/``, ``=``, ``%``, control characters and the other characters Hive
    escapes become ``%XX``, as does a trailing ``.``; other characters (any
    letter, including non-ASCII) stay. DuckDB and pyarrow decode it back.
    """
    out = "".join(f"%{ord(c):02X}" if c in _UNSAFE else c for c in value)
    if out.endswith("."):
        out = out[:-1] + "%2E"
    return out


def unescape_partition_value(segment_value: str) -> str:
    """The inverse of :func:`escape_partition_value`."""
    return unquote(segment_value)


def partition_path(prefix: str, model_name: str, model_version: str | int, date: str) -> str:
    """The folder of one partition: ``<prefix>/model=<m>/version=<v>/date=<YYYY-MM-DD>``."""
    parts = [
        f"model={escape_partition_value(model_name)}",
        f"version={escape_partition_value(str(model_version))}",
        f"date={date}",
    ]
    return "/".join([prefix, *parts] if prefix else parts)


def is_sampled(prediction_id: str, sample_rate: float) -> bool:
    """Whether the log keeps ``prediction_id`` at ``sample_rate``.

    Deterministic across processes and machines (a BLAKE2b hash of the id,
    not Python's salted ``hash``), and monotone: an id kept at one rate is
    kept at every higher rate.
    """
    if sample_rate >= 1.0:
        return True
    if sample_rate <= 0.0:
        return False
    return _id_hash(prediction_id) < _threshold(sample_rate)


def _id_hash(prediction_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(prediction_id.encode(), digest_size=8).digest(), "big")


def _threshold(sample_rate: float) -> int:
    return int(sample_rate * 2**64)


def _date_of_day(day: int) -> str:
    return (_dt.date(1970, 1, 1) + _dt.timedelta(days=day)).isoformat()


# -- the batch -----------------------------------------------------------------------------


@dataclass(slots=True)
class PredictionBatch:
    """The predictions of one model call, one row per prediction.

    - ``prediction_ids``: one id per row (strings); ground truth is joined on it.
    - ``model_name``, ``model_version``: the model that answered.
    - ``inputs``, ``outputs``: a dict of arrays (1-D for a column, N-D for a
      tensor with one row per prediction), a single array (logged under the
      name ``0``), a pandas DataFrame, a pyarrow Table or RecordBatch, or None.
      Each becomes the columns ``input.<name>`` / ``output.<name>``: scalars
      as typed columns, a tensor row as a (nested) fixed-size list.
    - ``latency_ms``: one number for the whole batch, or one per row.
    - ``time_ms``: milliseconds since the epoch (UTC), one for the batch or
      one per row; the time of :meth:`PredictionLog.append` when omitted.
    - ``request_id``: one for the batch or one per row (a batch made by
      adaptive batching spans requests); optional.
    - ``deployment``: overrides the log's deployment for this batch.

    The log keeps references to the arrays until they are written: do not
    change them after :meth:`PredictionLog.append`.
    """

    prediction_ids: Sequence[str]
    model_name: str
    model_version: str | int
    inputs: Any = None
    outputs: Any = None
    latency_ms: Any = None
    time_ms: Any = None
    request_id: Any = None
    deployment: str | None = None


@dataclass(slots=True)
class _Item:
    enqueued: float
    rows: int
    batch: PredictionBatch
    time_ms: Any
    deployment: str | None
    model: str
    version: str


class _Command:
    __slots__ = ("done", "ok", "upload")

    def __init__(self, upload: bool) -> None:
        self.upload = upload
        self.done = threading.Event()
        self.ok = True


# -- checks done by append (cheap: lengths and types, never the data) ----------------------


def _length(kind: str, value: Any) -> int:
    if isinstance(value, (str, bytes)):
        raise InvalidArgument(
            f"{kind} must be an array with one entry per prediction, got a string"
        )
    try:
        return len(value)
    except TypeError:
        raise InvalidArgument(
            f"{kind} must be an array with one entry per prediction, got {type(value).__name__}"
        ) from None


def _per_row_length(kind: str, value: Any, n: int) -> None:
    """A value given once for the batch, or once per row."""
    if value is None or isinstance(value, (str, int, float, np.generic, _dt.datetime)):
        return
    if (m := _length(kind, value)) != n:
        raise InvalidArgument(f"{kind} has {m} entries for {n} predictions")


def _check_columns(kind: str, value: Any, n: int) -> int:
    """Check one row per prediction in every array; return the estimated bytes."""
    if value is None:
        return 0
    if isinstance(value, np.ndarray):
        if value.ndim == 0 or value.shape[0] != n:
            raise InvalidArgument(
                f"{kind} has shape {value.shape}; expected {n} rows, one per prediction"
            )
        return value.nbytes
    if isinstance(value, (pa.RecordBatch, pa.Table)):
        if value.num_rows != n:
            raise InvalidArgument(f"{kind} has {value.num_rows} rows for {n} predictions")
        return value.nbytes
    if type(value) is dict or isinstance(value, Mapping):
        size = 0
        for name, column in value.items():
            if not isinstance(name, str) or not name:
                raise InvalidArgument(f"{kind} names must be non-empty strings, got {name!r}")
            if (m := _length(f"{kind}[{name!r}]", column)) != n:
                raise InvalidArgument(f"{kind}[{name!r}] has {m} rows for {n} predictions")
            size += getattr(column, "nbytes", 16 * n)
        return size
    if hasattr(value, "columns") and hasattr(value, "__getitem__"):  # a data frame
        if (m := _length(kind, value)) != n:
            raise InvalidArgument(f"{kind} has {m} rows for {n} predictions")
        return 16 * n * len(value.columns)
    if (m := _length(kind, value)) != n:
        raise InvalidArgument(f"{kind} has {m} rows for {n} predictions")
    return getattr(value, "nbytes", 16 * n)


def _partition_names(model_name: Any, model_version: Any) -> tuple[str, str]:
    if not isinstance(model_name, str) or not model_name.strip():
        raise InvalidArgument(f"model_name must be a non-empty string, got {model_name!r:.80}")
    if isinstance(model_version, bool) or not isinstance(model_version, (str, int, np.integer)):
        raise InvalidArgument(
            f"model_version must be a string or an integer, got {model_version!r:.80}"
        )
    version = str(model_version)
    if not version.strip():
        raise InvalidArgument("model_version must not be empty")
    for what, value in (("model_name", model_name), ("model_version", version)):
        if "\x00" in value:
            raise InvalidArgument(f"{what} {value!r:.80} contains a NUL character")
        key = "model" if what == "model_name" else "version"
        segment = f"{key}={escape_partition_value(value)}"
        if len(segment.encode()) > _MAX_SEGMENT_NAME_BYTES:
            raise InvalidArgument(
                f"{what} {value[:40]!r}... is too long for a folder name once escaped "
                f"({len(segment.encode())} bytes; the limit is {_MAX_SEGMENT_NAME_BYTES})"
            )
    return model_name, version


# -- conversion to Arrow (in the writer thread) --------------------------------------------


def _to_arrow(value: Any) -> pa.Array:
    if isinstance(value, pa.ChunkedArray):
        return value.combine_chunks()
    if isinstance(value, pa.Array):
        return value
    if type(value).__module__.startswith("pandas"):
        try:
            return pa.array(value)  # a pandas series: its missing values become nulls
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            value = value.to_numpy()
    elif hasattr(value, "to_numpy") and not isinstance(value, np.ndarray):
        value = value.to_numpy()  # a polars series and the like
    try:
        arr = value if isinstance(value, np.ndarray) else np.asarray(value)
    except ValueError:  # ragged rows: let Arrow make variable-size lists
        return _flat_array(list(value))
    if arr.dtype == np.float16:  # Parquet readers disagree on half floats
        arr = arr.astype(np.float32)
    if arr.ndim <= 1:
        return _flat_array(arr.reshape(-1))
    values = _flat_array(np.ascontiguousarray(arr).reshape(-1))
    for size in reversed(arr.shape[1:]):
        values = pa.FixedSizeListArray.from_arrays(values, size)
    return values


def _flat_array(values: Any) -> pa.Array:
    try:
        # from_pandas: NaN among objects (pandas' missing string) is a null, not the text "nan"
        is_object = isinstance(values, np.ndarray) and values.dtype == object
        return pa.array(values, from_pandas=is_object)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError, ValueError):
        # Mixed or exotic objects: keep them readable as text rather than lose the row.
        items = values.tolist() if isinstance(values, np.ndarray) else list(values)
        return pa.array([None if v is None else str(v) for v in items], pa.string())


def _strings(values: Any) -> pa.Array:
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return _to_arrow(values).cast(pa.string())
    try:
        return pa.array(values, pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        items = values.tolist() if isinstance(values, np.ndarray) else list(values)
        return pa.array([None if v is None else str(v) for v in items], pa.string())


def _strings_per_row(value: Any, n: int) -> pa.Array:
    if value is None:
        return pa.nulls(n, pa.string())
    if isinstance(value, (str, int, np.generic)):
        return pa.array([str(value)] * n, pa.string())
    return _strings(value)


def _latencies(value: Any, n: int) -> np.ndarray:
    """Latencies as float64; a missing one is NaN, which is stored as null."""
    if value is None:
        return np.full(n, np.nan)
    if isinstance(value, (int, float, np.generic)):
        return np.full(n, float(value))
    return np.asarray(value, dtype=np.float64).reshape(-1)


def _shape(item: _Item) -> tuple[Any, ...] | None:
    """What items must share to be gathered into one record batch; None: convert alone."""
    batch = item.batch
    parts: list[Any] = [item.model, item.version]
    for value in (batch.inputs, batch.outputs):
        if value is None:
            parts.append(None)
        elif isinstance(value, np.ndarray):
            dtype = value.dtype
            parts.append((dtype.kind if dtype.kind in "USO" else dtype, value.shape[1:]))
        elif type(value) is dict:
            columns = []
            for name, column in value.items():
                if type(column) is not np.ndarray:
                    return None
                dtype = column.dtype
                # strings of any width concatenate; other dtypes must match exactly
                columns.append((name, dtype.kind if dtype.kind in "USO" else dtype,
                                column.shape[1:]))
            parts.append(tuple(columns))
        else:
            return None
    return tuple(parts)


def _times_ms(value: Any, n: int) -> np.ndarray:
    if isinstance(value, (int, float, np.integer, np.floating)):
        return np.full(n, int(value), dtype=np.int64)
    if isinstance(value, _dt.datetime):
        return np.full(n, int(value.timestamp() * 1000), dtype=np.int64)
    arr = np.asarray(value)
    if np.issubdtype(arr.dtype, np.datetime64):
        return arr.astype("datetime64[ms]").astype(np.int64)
    return arr.astype(np.int64)


def _columns(kind: str, value: Any) -> list[tuple[str, pa.Array]]:
    if value is None:
        return []
    if isinstance(value, (pa.RecordBatch, pa.Table)):
        pairs = list(zip(value.column_names, value.columns, strict=True))
    elif isinstance(value, Mapping):
        pairs = list(value.items())
    elif hasattr(value, "columns") and hasattr(value, "__getitem__") and not isinstance(
        value, np.ndarray
    ):
        pairs = [(str(c), value[c]) for c in value.columns]
    else:
        pairs = [(UNNAMED, value)]
    return [(f"{kind}.{name}", _to_arrow(column)) for name, column in pairs]


def _align(table: pa.Table, schema: pa.Schema) -> pa.Table | None:
    """``table`` in ``schema`` (missing columns as nulls, safe casts), or None if it cannot be."""
    if table.schema.equals(schema, check_metadata=False):
        return table
    names = set(table.column_names)
    if not names <= set(schema.names):
        return None
    columns = []
    for field in schema:
        if field.name not in names:
            columns.append(pa.chunked_array([pa.nulls(table.num_rows, field.type)]))
            continue
        column = table.column(field.name)
        if column.type != field.type:
            try:
                column = column.cast(field.type)  # safe: refuses to lose values
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
                return None
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=schema)


# -- segments: the local write-ahead files -------------------------------------------------


class _Segment:
    """One open Arrow IPC stream for one partition, fsynced by :meth:`sync`."""

    def __init__(self, folder: Path, key: tuple[str, str, int], schema: pa.Schema) -> None:
        self.key = key
        self.start_ms = time.time_ns() // 1_000_000
        self.opened = time.monotonic()
        name = f"{_SEGMENT_PREFIX}{self.start_ms:013d}-{uuid.uuid4().hex}{_SEGMENT_SUFFIX}"
        self.path = folder / name
        model, version, day = key
        meta = json.dumps({"model": model, "version": version, "date": _date_of_day(day)})
        self.schema = schema.with_metadata({_SEGMENT_META: meta.encode()})
        self.rows = 0
        self._synced_dir = False
        self._file: BinaryIO = open(self.path, "xb")  # noqa: SIM115 - open until close()
        try:
            self._writer = ipc.new_stream(self._file, self.schema)
        except BaseException:
            self._file.close()
            raise

    @property
    def size(self) -> int:
        return self._file.tell()

    def write(self, table: pa.Table) -> None:
        self._writer.write_table(table.replace_schema_metadata(self.schema.metadata))
        self.rows += table.num_rows

    def sync(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())
        if not self._synced_dir:
            fsync_dir(self.path.parent)
            self._synced_dir = True

    def close(self) -> None:
        try:
            self._writer.close()
            self.sync()
        finally:
            self._file.close()


def _read_segment(path: Path) -> tuple[dict[str, str] | None, pa.Table | None]:
    """The partition and records of a segment; a torn tail (a crash mid-write) is cut off."""
    if path.stat().st_size == 0:
        return None, None
    batches = []
    with pa.OSFile(str(path)) as source:
        try:
            reader = ipc.open_stream(source)
        except (pa.ArrowInvalid, OSError):
            return None, None  # the schema itself was torn: nothing was durable yet
        meta = reader.schema.metadata or {}
        if _SEGMENT_META not in meta:
            raise InvalidArgument(f"{path} is not a prediction log segment")
        partition = json.loads(meta[_SEGMENT_META])
        while True:
            try:
                batches.append(reader.read_next_batch())
            except StopIteration:
                break
            except (pa.ArrowInvalid, OSError) as e:
                log.warning("prediction log segment %s ends in a torn write (%s); "
                            "keeping the %d complete batches before it", path, e, len(batches))
                break
        table = pa.Table.from_batches(batches, reader.schema)
    return partition, table.replace_schema_metadata(None)


def _parquet_name(segment: Path) -> str:
    return "part-" + segment.name[len(_SEGMENT_PREFIX) : -len(_SEGMENT_SUFFIX)] + ".parquet"


# -- locks: one owner folder per live log ---------------------------------------------------


def _try_lock(fd: int) -> bool:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


# -- the log -------------------------------------------------------------------------------


_open_logs: weakref.WeakSet[PredictionLog] = weakref.WeakSet()


@atexit.register
def _close_open_logs() -> None:
    for open_log in list(_open_logs):
        try:
            open_log.close()
        except Exception:  # exit must go on
            log.exception("closing the prediction log at exit failed")


class PredictionLog:
    """Appends predictions to Parquet files in an artifact store, off the hot path.

    Arguments:

    - ``store``: the artifact store (:func:`~dockyard.store.artifacts.artifact_store_for`).
    - ``prefix``: the folder in the store (default ``predictions``).
    - ``spool_dir``: local folder of the write-ahead segments (default
      ``$DOCKYARD_SPOOL/predictions``); it must survive a restart for crash
      recovery, and should serve one store and prefix.
    - ``flush_interval``: seconds between fsyncs of the segments, the most
      a crash can lose (default 1).
    - ``rotate_bytes``, ``rotate_seconds``: a segment becomes a Parquet file
      once its Arrow data passes this size (default 64 MiB; the Parquet file
      is smaller, being compressed) or this age (default 300 s).
    - ``sample_rate``: the fraction of predictions kept, decided per
      prediction id (:func:`is_sampled`); 1 keeps all, 0 none.
    - ``enabled``: False makes every method a no-op (no threads, no files).
    - ``deployment``: written in the ``deployment`` column of every batch
      that does not name its own.
    - ``max_pending_bytes``: the most (estimated) bytes queued in memory;
      batches beyond it are dropped and counted in :attr:`dropped`.

    Raises InvalidArgument for a bad argument. Starting a log recovers the
    segments that dead processes left in ``spool_dir``: they are uploaded
    before the new log's own files.

    Make the log in the process that uses it (a server worker makes its own
    after the fork): its threads do not survive a fork, and a forked copy's
    :meth:`close` leaves the parent's files alone.

    Counters for ``/metrics`` (monotonic, except ``lag_seconds`` and
    ``pending_segments``): :attr:`written`, :attr:`dropped`,
    :attr:`sampled_out`, :attr:`failed`, :attr:`recovered`,
    :attr:`lag_seconds`, :attr:`pending_segments`; :meth:`stats` gives them all.
    """

    def __init__(
        self,
        store: ArtifactStore,
        *,
        prefix: str = DEFAULT_PREFIX,
        spool_dir: str | Path | None = None,
        flush_interval: float = DEFAULT_FLUSH_INTERVAL,
        rotate_bytes: int = DEFAULT_ROTATE_BYTES,
        rotate_seconds: float = DEFAULT_ROTATE_SECONDS,
        sample_rate: float = 1.0,
        enabled: bool = True,
        deployment: str | None = None,
        max_pending_bytes: int = DEFAULT_MAX_PENDING_BYTES,
        summarize: Summarizer | None = None,
    ) -> None:
        _positive("flush_interval", flush_interval, "seconds")
        _positive("rotate_seconds", rotate_seconds, "seconds")
        _positive("rotate_bytes", rotate_bytes, "bytes", integer=True)
        _positive("max_pending_bytes", max_pending_bytes, "bytes", integer=True)
        if (
            isinstance(sample_rate, bool)
            or not isinstance(sample_rate, (int, float))
            or not 0.0 <= sample_rate <= 1.0
        ):
            raise InvalidArgument(
                f"sample_rate must be a number from 0 to 1 (the fraction of predictions "
                f"logged), got {sample_rate!r}"
            )
        if deployment is not None and not isinstance(deployment, str):
            raise InvalidArgument(f"deployment must be a string or None, got {deployment!r:.80}")
        if not isinstance(store, ArtifactStore):
            raise InvalidArgument(f"store must be an ArtifactStore, got {type(store).__name__}")
        self.store = store
        self.prefix = validate_artifact_path(prefix, allow_root=True)
        if spool_dir is None:
            spool_dir = get_settings().spool / "predictions"
        self.spool_dir = Path(spool_dir)
        self.flush_interval = float(flush_interval)
        self.rotate_bytes = int(rotate_bytes)
        self.rotate_seconds = float(rotate_seconds)
        self.sample_rate = float(sample_rate)
        self.enabled = bool(enabled)
        self.deployment = deployment
        self.max_pending_bytes = int(max_pending_bytes)
        self.summarize = summarize

        self._lock = threading.Lock()
        self._queue: deque[_Item] = deque()
        self._pending_bytes = 0
        self._wake_bytes = self.max_pending_bytes // 2
        self._closed = False
        self._close_result = True
        self._names: dict[tuple[Any, Any], tuple[str, str]] = {}
        self._threshold = _threshold(self.sample_rate)
        self._last_drop_warning = -math.inf

        self._written = 0
        self._dropped = 0
        self._sampled_out = 0
        self._failed = 0
        self._recovered = 0
        self._inflight_since: float | None = None

        self._wake = threading.Event()
        self._stopping = False
        self._commands: list[_Command] = []
        self._segments: dict[tuple[str, str, int], _Segment] = {}
        self._lock_fd: int | None = None
        self._dir: Path | None = None
        self._pid = os.getpid()
        if not self.enabled:
            return

        self._dir, self._lock_fd = self._make_owner_dir()
        self._uploader = _Uploader(self)
        orphans = self._claim_orphans()
        for path in orphans:
            self._uploader.submit(path, recovered=True)
        if orphans:
            log.info("recovering %d prediction log segment(s) left in %s", len(orphans),
                     self.spool_dir)
        self._writer = threading.Thread(target=self._run_writer, name="dockyard-predlog-writer",
                                        daemon=True)
        self._writer.start()
        self._uploader.start()
        _open_logs.add(self)

    def __repr__(self) -> str:
        return f"PredictionLog({self.store!r}, prefix={self.prefix!r}, enabled={self.enabled})"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the hot path ----------------------------------------------------------------------

    def append(self, batch: PredictionBatch) -> None:
        """Queue ``batch`` for the log and return at once; never blocks on I/O.

        Checks lengths and types only (raising InvalidArgument for a batch
        whose arrays do not have one row per prediction, or a bad model name
        or version); converting and writing happen in the background. When the
        queue is full, or the log is closed, the batch is dropped and counted
        in :attr:`dropped`.
        """
        if not self.enabled:
            return
        if not isinstance(batch, PredictionBatch):
            raise InvalidArgument(f"append takes a PredictionBatch, got {type(batch).__name__}")
        ids = batch.prediction_ids
        n = _length("prediction_ids", ids)
        names_key = (batch.model_name, batch.model_version)
        names = self._names.get(names_key)
        if names is None:
            names = _partition_names(batch.model_name, batch.model_version)
            if len(self._names) > 10_000:
                self._names.clear()
            self._names[names_key] = names
        size = _ROW_OVERHEAD * n
        size += _check_columns("inputs", batch.inputs, n)
        size += _check_columns("outputs", batch.outputs, n)
        _per_row_length("latency_ms", batch.latency_ms, n)
        _per_row_length("time_ms", batch.time_ms, n)
        _per_row_length("request_id", batch.request_id, n)
        if batch.deployment is not None and not isinstance(batch.deployment, str):
            raise InvalidArgument(f"deployment must be a string, got {batch.deployment!r:.80}")
        if n == 0:
            return
        if self._threshold == 0:
            with self._lock:
                self._sampled_out += n
            return
        now = time.monotonic()
        stamp = batch.time_ms if batch.time_ms is not None else time.time_ns() // 1_000_000
        item = _Item(now, n, batch, stamp, batch.deployment or self.deployment, *names)
        with self._lock:
            if self._closed or (self._pending_bytes and
                                self._pending_bytes + size > self.max_pending_bytes):
                self._dropped += n
                warn = now - self._last_drop_warning > _DROP_WARNING_EVERY
                if warn:
                    self._last_drop_warning = now
            else:
                self._queue.append(item)
                self._pending_bytes += size
                warn = False
                if self._pending_bytes > self._wake_bytes:
                    self._wake.set()
        if warn:
            log.warning(
                "prediction log %s: dropped %d prediction(s) (%s); %d dropped in all",
                self.prefix, n, "the log is closed" if self._closed else "the queue is full",
                self._dropped,
            )

    # -- control ---------------------------------------------------------------------------

    def flush(self, *, upload: bool = False, timeout: float | None = None) -> bool:
        """Block until everything appended so far is durable in ``spool_dir``.

        With ``upload=True``, also rotate every open segment and wait until
        it is a Parquet file in the store. Returns False if ``timeout``
        (seconds) ran out first. A no-op returning True when disabled or closed.
        """
        if not self.enabled:
            return True
        command = _Command(upload)
        with self._lock:
            if self._closed:
                return True
            self._commands.append(command)
        self._wake.set()
        return command.done.wait(timeout) and command.ok

    def close(self, timeout: float | None = DEFAULT_CLOSE_TIMEOUT) -> bool:
        """Write and upload everything, then stop the background threads.

        Appends after close are dropped (and counted). Returns True when every
        record is in the store; False if ``timeout`` seconds (None: no limit)
        ran out first, in which case the rest stays in ``spool_dir`` and the
        next log started there uploads it. Calling it again returns the same.
        """
        if not self.enabled:
            return True
        with self._lock:
            if self._closed:
                return self._close_result
            self._closed = True
        if os.getpid() != self._pid:  # a forked copy: the threads and files are the parent's
            self._close_result = False
            return False
        deadline = None if timeout is None else time.monotonic() + timeout
        self._stopping = True
        self._wake.set()
        self._writer.join(_remaining(deadline))
        if self._writer.is_alive():
            log.error("prediction log writer did not stop within %ss; its segments stay in %s",
                      timeout, self._dir)
            self._uploader.stop(deadline)
            self._close_result = False
            return False  # the lock stays held: the writer may still be writing there
        self._uploader.stop(deadline)
        self._uploader.join(_remaining(deadline))
        clean = not self._uploader.is_alive() and self._uploader.empty()
        self._release(clean)
        _open_logs.discard(self)
        self._close_result = clean
        if not clean:
            log.warning("prediction log closed with segments not yet uploaded; they stay in %s "
                        "and the next log started there uploads them", self._dir)
        return clean

    # -- counters --------------------------------------------------------------------------

    @property
    def written(self) -> int:
        """Predictions written to Parquet files in the store (recovered ones included)."""
        return self._written

    @property
    def dropped(self) -> int:
        """Predictions dropped because the queue was full or the log closed."""
        return self._dropped

    @property
    def sampled_out(self) -> int:
        """Predictions left out by sampling."""
        return self._sampled_out

    @property
    def failed(self) -> int:
        """Predictions that could not be converted or stored (see the log for why)."""
        return self._failed

    @property
    def recovered(self) -> int:
        """Predictions recovered from segments a dead process left in ``spool_dir``."""
        return self._recovered

    @property
    def lag_seconds(self) -> float:
        """Age of the oldest appended record not yet durable on disk (0 when none)."""
        since = self._inflight_since
        if since is None:
            try:
                since = self._queue[0].enqueued
            except IndexError:
                return 0.0
        return max(0.0, time.monotonic() - since)

    @property
    def pending_segments(self) -> int:
        """Closed segments waiting to be uploaded (grows while the store is away)."""
        return self._uploader.pending() if self.enabled else 0

    def stats(self) -> dict[str, float]:
        """Every counter by name, for a metrics endpoint."""
        return {
            "written": self.written,
            "dropped": self.dropped,
            "sampled_out": self.sampled_out,
            "failed": self.failed,
            "recovered": self.recovered,
            "lag_seconds": self.lag_seconds,
            "pending_segments": self.pending_segments,
        }

    # -- the owner folder ------------------------------------------------------------------

    def _make_owner_dir(self) -> tuple[Path, int]:
        """A new folder under ``spool_dir``, locked for as long as this log lives.

        It is made under a hidden name and renamed once locked, so that no
        other process ever sees it unlocked.
        """
        uid = uuid.uuid4().hex
        staging = self.spool_dir / f".new-{uid}"
        try:
            staging.mkdir(parents=True)
            fd = os.open(staging / _LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise StoreError(
                f"cannot create the prediction log spool in {self.spool_dir}: {e}"
            ) from e
        if not _try_lock(fd):
            os.close(fd)
            raise StoreError(f"cannot lock the prediction log spool folder {staging}")
        os.write(fd, f"{os.getpid()}\n".encode())
        final = self.spool_dir / f"{_OWNER_PREFIX}{uid}"
        staging.rename(final)
        fsync_dir(self.spool_dir)
        return final, fd

    def _claim_orphans(self) -> list[Path]:
        """Move the segments of dead processes into this log's folder, oldest first."""
        claimed: list[Path] = []
        assert self._dir is not None
        for folder in sorted(self.spool_dir.iterdir()):
            if folder.name.startswith(".new-") and folder.is_dir():
                _remove_dead_staging(folder)
                continue
            if folder == self._dir or not folder.name.startswith(_OWNER_PREFIX):
                continue
            if not folder.is_dir():
                continue
            try:
                claimed.extend(self._claim_folder(folder))
            except OSError as e:
                log.error("prediction log: could not recover the segments in %s: %s", folder, e)
        if claimed:
            fsync_dir(self._dir)
        return sorted(claimed, key=lambda p: p.name)

    def _claim_folder(self, folder: Path) -> list[Path]:
        """Move the segments of ``folder`` here if its process is dead (its lock is free)."""
        assert self._dir is not None
        try:
            fd: int | None = os.open(folder / _LOCK_NAME, os.O_RDWR)
        except FileNotFoundError:
            fd = None  # emptied by another recovery: nothing alive writes here
        if fd is not None and not _try_lock(fd):
            os.close(fd)
            return []  # its process is alive
        claimed: list[Path] = []
        try:
            for segment in sorted(folder.glob(f"{_SEGMENT_PREFIX}*{_SEGMENT_SUFFIX}")):
                target = self._dir / segment.name
                try:
                    segment.rename(target)
                except FileNotFoundError:
                    continue
                claimed.append(target)
            for leftover in folder.iterdir():  # temporary Parquet files of a dead upload
                if leftover.name != _LOCK_NAME and leftover.is_file():
                    leftover.unlink(missing_ok=True)
            # The lock goes last: a folder without one holds no segments.
            (folder / _LOCK_NAME).unlink(missing_ok=True)
        finally:
            if fd is not None:
                os.close(fd)
        try:
            folder.rmdir()
        except OSError:
            pass
        return claimed

    def _release(self, clean: bool) -> None:
        """Give up the owner folder: removed when empty, else left for recovery."""
        assert self._dir is not None and self._lock_fd is not None
        if clean and not any(self._dir.glob(f"{_SEGMENT_PREFIX}*")):
            (self._dir / _LOCK_NAME).unlink(missing_ok=True)
            for leftover in self._dir.iterdir():
                leftover.unlink(missing_ok=True)
            try:
                self._dir.rmdir()
            except OSError:
                pass
        os.close(self._lock_fd)
        self._lock_fd = None

    # -- the writer thread -----------------------------------------------------------------

    def _run_writer(self) -> None:
        next_flush = time.monotonic() + self.flush_interval
        while True:
            timeout = next_flush - time.monotonic()
            if timeout > 0:
                self._wake.wait(timeout)
            self._wake.clear()
            stopping = self._stopping
            with self._lock:
                commands, self._commands = self._commands, []
            try:
                self._write_pending()
            except Exception:
                log.exception("prediction log writer failed; continuing")
            next_flush = time.monotonic() + self.flush_interval
            force = stopping or any(c.upload for c in commands)
            try:
                self._rotate(force=force)
            except Exception:
                log.exception("prediction log rotation failed; continuing")
            for command in commands:
                if command.upload:
                    self._uploader.mark(command)
                else:
                    command.done.set()
            if stopping:
                with self._lock:
                    late = self._commands
                    self._commands = []
                for command in late:
                    command.done.set()
                return

    def _write_pending(self) -> None:
        with self._lock:
            if not self._queue:
                return
            items = list(self._queue)
            self._queue.clear()
            self._pending_bytes = 0
            self._inflight_since = items[0].enqueued
        try:
            groups: dict[tuple[str, str, int], list[pa.RecordBatch]] = {}
            for key, batch in self._convert(items):
                groups.setdefault(key, []).append(batch)
            touched: list[_Segment] = []
            for key, batches in groups.items():
                try:
                    touched.extend(self._write_partition(key, batches))
                except Exception as e:  # noqa: BLE001 - counted; the other partitions go on
                    rows = sum(b.num_rows for b in batches)
                    self._count_failed(rows)
                    log.error("prediction log: could not write %d prediction(s) of %s: %s",
                              rows, key[0], e)
            for segment in touched:
                if self._segments.get(segment.key) is not segment:
                    continue  # closed (and synced) already
                try:
                    segment.sync()
                except OSError as e:
                    self._abandon(segment, e)
                    continue
                if segment.size >= self.rotate_bytes:
                    self._close_segment(segment)
        finally:
            self._inflight_since = None

    def _convert(self, items: list[_Item]) -> list[tuple[tuple[str, str, int], pa.RecordBatch]]:
        """One flush's items as record batches by partition.

        Items of one shape (model, version, column names, dtypes) are gathered
        with numpy and converted once, so that a stream of one-row calls costs
        one Arrow conversion per flush rather than one per call.
        """
        out: list[tuple[tuple[str, str, int], pa.RecordBatch]] = []
        alike: dict[tuple[Any, ...], list[_Item]] = {}
        for item in items:
            shape = _shape(item)
            if shape is None:
                out.extend(self._convert_one(item))
            else:
                alike.setdefault(shape, []).append(item)
        for group in alike.values():
            if len(group) == 1:
                out.extend(self._convert_one(group[0]))
                continue
            try:
                out.extend(self._convert_group(group))
            except Exception:  # noqa: BLE001 - one bad item: convert one by one to find it
                for item in group:
                    out.extend(self._convert_one(item))
        return out

    def _convert_one(self, item: _Item) -> list[tuple[tuple[str, str, int], pa.RecordBatch]]:
        try:
            return self._record_batches(item)
        except Exception as e:  # noqa: BLE001 - counted in failed; the rest goes on
            self._count_failed(item.rows)
            log.error("prediction log: could not convert a batch of %d prediction(s) of %s: %s",
                      item.rows, item.model, e)
            return []

    def _convert_group(
        self, group: list[_Item]
    ) -> list[tuple[tuple[str, str, int], pa.RecordBatch]]:
        model, version = group[0].model, group[0].version
        ids: list[Any] = []
        requests: list[Any] = []
        deployments: list[str | None] = []
        times: list[int] = []
        latencies: list[float] = []
        columns: dict[str, list[np.ndarray]] = {}
        scalar = (int, float, np.integer, np.floating)
        for item in group:
            batch, n = item.batch, item.rows
            ids.extend(batch.prediction_ids)
            request = batch.request_id
            if request is None or isinstance(request, (str, int, np.generic)):
                requests.extend([request] * n)
            else:
                requests.extend(request)
            deployments.extend([item.deployment] * n)
            stamp = item.time_ms
            if isinstance(stamp, scalar):
                times.extend([int(stamp)] * n)
            else:
                times.extend(_times_ms(stamp, n).tolist())
            latency = batch.latency_ms
            if latency is None:
                latencies.extend([math.nan] * n)
            elif isinstance(latency, scalar):
                latencies.extend([float(latency)] * n)
            else:
                latencies.extend(_latencies(latency, n).tolist())
            for kind, value in (("input", batch.inputs), ("output", batch.outputs)):
                if value is None:
                    continue
                if isinstance(value, np.ndarray):
                    columns.setdefault(f"{kind}.{UNNAMED}", []).append(value)
                else:
                    for name, column in value.items():
                        columns.setdefault(f"{kind}.{name}", []).append(column)
        stamps = np.array(times, dtype=np.int64)
        count = len(ids)
        arrays = [
            _strings(ids),
            _strings([None if r is None else str(r) for r in requests]),
            pa.array(stamps, TIME_TYPE),
            _strings(deployments),
            pa.array([model] * count, pa.string()),
            pa.array([version] * count, pa.string()),
            pa.array(np.array(latencies, dtype=np.float64), from_pandas=True),
        ]
        names = list(FIXED_COLUMNS)
        for name, parts in columns.items():
            names.append(name)
            arrays.append(_to_arrow(np.concatenate(parts)))
        record = pa.RecordBatch.from_arrays(arrays, names=names)
        return self._finish(record, stamps, model, version)

    def _record_batches(self, item: _Item) -> list[tuple[tuple[str, str, int], pa.RecordBatch]]:
        batch, n = item.batch, item.rows
        times = _times_ms(item.time_ms, n)
        names = list(FIXED_COLUMNS)
        arrays = [
            _strings(batch.prediction_ids),
            _strings_per_row(batch.request_id, n),
            pa.array(times, TIME_TYPE),
            _strings_per_row(item.deployment, n),
            pa.array([item.model] * n, pa.string()),
            pa.array([item.version] * n, pa.string()),
            pa.array(_latencies(batch.latency_ms, n), from_pandas=True),
        ]
        for kind, value in (("input", batch.inputs), ("output", batch.outputs)):
            for name, array in _columns(kind, value):
                if name in names:
                    raise InvalidArgument(f"column {name!r} appears twice")
                names.append(name)
                arrays.append(array)
        record = pa.RecordBatch.from_arrays(arrays, names=names)
        return self._finish(record, times, item.model, item.version)

    def _finish(
        self, record: pa.RecordBatch, times: np.ndarray, model: str, version: str
    ) -> list[tuple[tuple[str, str, int], pa.RecordBatch]]:
        """Sample ``record`` and split it by date into its partitions."""
        n = record.num_rows
        if self._threshold < 2**64:
            keep = np.fromiter(
                (_id_hash(i or "") < self._threshold
                 for i in record.column("prediction_id").to_pylist()),
                dtype=bool,
                count=n,
            )
            kept = int(keep.sum())
            self._sampled_out += n - kept
            if kept < n:
                record = record.filter(pa.array(keep))
                times = times[keep]
        if record.num_rows == 0:
            return []
        days = times // _MS_PER_DAY
        first, last = int(days.min()), int(days.max())
        if first < _FIRST_DAY or last > _LAST_DAY:
            raise InvalidArgument("time_ms is outside the years 1 to 9999; give milliseconds "
                                  "since 1970-01-01 UTC")
        if first == last:
            return [((model, version, first), record)]
        return [
            ((model, version, int(day)), record.filter(pa.array(days == day)))
            for day in np.unique(days)
        ]

    def _write_partition(
        self, key: tuple[str, str, int], batches: list[pa.RecordBatch]
    ) -> list[_Segment]:
        """Write one flush's batches of a partition; runs of one schema go together."""
        touched: list[_Segment] = []
        run: list[pa.RecordBatch] = []
        for batch in [*batches, None]:
            if batch is not None and (not run or batch.schema.equals(run[0].schema)):
                run.append(batch)
                continue
            table = pa.Table.from_batches(run).combine_chunks()
            segment = self._write_table(key, table)
            if segment is not None and segment not in touched:
                touched.append(segment)
            run = [batch] if batch is not None else []
        return touched

    def _write_table(self, key: tuple[str, str, int], table: pa.Table) -> _Segment | None:
        segment = self._segments.get(key)
        if segment is not None:
            aligned = _align(table, segment.schema)
            if aligned is None:  # a new column or type: the next file gets the new schema
                self._close_segment(segment)
                segment = None
            else:
                table = aligned
        try:
            if segment is None:
                assert self._dir is not None
                segment = _Segment(self._dir, key, table.schema)
                self._segments[key] = segment
            segment.write(table)
        except OSError as e:
            self._count_failed(table.num_rows)
            log.error("prediction log: could not write %d prediction(s) to %s: %s",
                      table.num_rows, self._dir, e)
            if segment is not None:
                self._abandon(segment, e)
            return None
        return segment

    def _close_segment(self, segment: _Segment) -> None:
        self._segments.pop(segment.key, None)
        try:
            segment.close()
        except OSError as e:
            log.error("prediction log: closing segment %s failed: %s", segment.path, e)
        self._uploader.submit(segment.path)

    def _abandon(self, segment: _Segment, error: Exception) -> None:
        """Stop writing a segment the disk refused; what it holds is still uploaded."""
        log.error("prediction log segment %s failed (%s); starting a new one", segment.path, error)
        self._close_segment(segment)

    def _rotate(self, *, force: bool) -> None:
        now = time.monotonic()
        for segment in list(self._segments.values()):
            if force or now - segment.opened >= self.rotate_seconds:
                self._close_segment(segment)

    # -- uploads (called by the uploader thread) -------------------------------------------

    def _upload(self, segment: Path, recovered: bool) -> bool:
        """Convert and upload one segment; False means "retry later"."""
        assert self._dir is not None
        try:
            partition, table = _read_segment(segment)
        except Exception as e:  # noqa: BLE001 - any unreadable file is set aside, not retried
            self._quarantine(segment, f"unreadable segment: {e}")
            return True
        if partition is None or table is None or table.num_rows == 0:
            segment.unlink(missing_ok=True)
            return True
        folder = partition_path(self.prefix, partition["model"], partition["version"],
                                partition["date"])
        target = f"{folder}/{_parquet_name(segment)}"
        tmp = self._dir / f".tmp-{uuid.uuid4().hex}.parquet"
        try:
            pq.write_table(table, tmp, compression="zstd", row_group_size=ROW_GROUP_ROWS)
            self.store.put_file(tmp, target)
        except _RETRYABLE as e:
            log.warning("prediction log: uploading %s to %s failed, will retry: %s",
                        segment.name, target, e)
            return False
        except (DockyardError, pa.ArrowException) as e:
            self._quarantine(segment, f"upload to {target} refused: {e}")
            self._count_failed(table.num_rows)
            return True
        finally:
            tmp.unlink(missing_ok=True)
        self._put_summaries(partition, table, segment)
        segment.unlink(missing_ok=True)
        self._written += table.num_rows
        if recovered:
            self._recovered += table.num_rows
        return True

    def _put_summaries(self, partition: dict[str, str], table: pa.Table,
                       segment: Path) -> None:
        """Upload the summarizer's files for a Parquet file already uploaded; a failure is
        logged and skipped (the rows are safe, and monitors then read them instead)."""
        if self.summarize is None:
            return
        try:
            for path, blob in self.summarize(partition, table,
                                             _parquet_name(segment)[: -len(".parquet")]):
                self.store.put_stream(io.BytesIO(blob), f"{self.prefix}/{path}")
        except Exception:  # noqa: BLE001 - a summary is optional; the predictions are not
            log.exception("prediction log: summarizing %s failed; its rows are uploaded "
                          "without a summary", segment.name)

    def _count_failed(self, rows: int) -> None:
        with self._lock:  # both background threads count failures
            self._failed += rows

    def _quarantine(self, segment: Path, reason: str) -> None:
        log.error("prediction log segment %s moved to %s/: %s", segment, _FAILED_DIR, reason)
        failed = self.spool_dir / _FAILED_DIR
        failed.mkdir(parents=True, exist_ok=True)
        target = failed / segment.name
        segment.replace(target)
        target.with_suffix(".error.txt").write_text(reason + "\n")


class _Uploader(threading.Thread):
    """Uploads closed segments in order, retrying with backoff while the store is away."""

    def __init__(self, owner: PredictionLog) -> None:
        super().__init__(name="dockyard-predlog-uploader", daemon=True)
        self._log = owner
        self._items: deque[tuple[Path, bool] | _Command] = deque()
        self._cond = threading.Condition()
        self._stop_at: float | None = None
        self._stopping = False
        self._failing = False

    def submit(self, segment: Path, recovered: bool = False) -> None:
        with self._cond:
            self._items.append((segment, recovered))
            self._cond.notify()

    def mark(self, command: _Command) -> None:
        """Complete ``command`` once every segment submitted before it is handled."""
        with self._cond:
            self._items.append(command)
            self._cond.notify()

    def stop(self, deadline: float | None) -> None:
        with self._cond:
            self._stopping = True
            self._stop_at = deadline
            self._cond.notify()

    def pending(self) -> int:
        with self._cond:
            return sum(1 for item in self._items if not isinstance(item, _Command))

    def empty(self) -> bool:
        return self.pending() == 0

    def _expired(self) -> bool:
        return self._stop_at is not None and time.monotonic() >= self._stop_at

    def run(self) -> None:
        backoff = _RETRY_MIN
        try:
            while True:
                with self._cond:
                    while not self._items and not self._stopping:
                        self._cond.wait()
                    if not self._items or (self._stopping and self._expired()):
                        return
                    item = self._items[0]
                if isinstance(item, _Command):
                    with self._cond:
                        self._items.popleft()
                    item.ok = not self._failing
                    item.done.set()
                    continue
                try:
                    done = self._log._upload(*item)
                except Exception:
                    log.exception("prediction log upload of %s failed", item[0])
                    done = False
                if done:
                    with self._cond:
                        self._items.popleft()
                    backoff, self._failing = _RETRY_MIN, False
                    continue
                self._failing = True
                with self._cond:
                    wait = backoff
                    if self._stop_at is not None:
                        wait = min(wait, max(0.0, self._stop_at - time.monotonic()))
                    if self._stopping and wait <= 0:
                        return
                    self._cond.wait(wait)
                backoff = min(backoff * 2, _RETRY_MAX)
        finally:
            with self._cond:  # wake every waiter: flush() reports False for what is left
                for item in self._items:
                    if isinstance(item, _Command):
                        item.ok = False
                        item.done.set()


def _remove_dead_staging(folder: Path) -> None:
    """Remove the staging folder of a process that died while starting (it holds no segments)."""
    try:
        fd = os.open(folder / _LOCK_NAME, os.O_RDWR)
    except OSError:
        return  # being set up right now, or already gone
    try:
        if not _try_lock(fd):
            return
        (folder / _LOCK_NAME).unlink(missing_ok=True)
    finally:
        os.close(fd)
    try:
        folder.rmdir()
    except OSError:
        pass


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def _positive(name: str, value: Any, unit: str, *, integer: bool = False) -> None:
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not math.isfinite(value) \
            or value <= 0:
        kind = "a positive integer" if integer else "a positive number"
        raise InvalidArgument(f"{name} must be {kind} of {unit}, got {value!r}")
