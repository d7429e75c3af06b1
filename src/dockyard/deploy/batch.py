"""Batch scoring: a model's predictions for every row of a file, in chunks, resumably.

:func:`score_file` loads a model once, reads a Parquet file (or a folder of
them) or a CSV file in chunks of ``chunk_rows`` rows, and writes the input's
columns and the predictions as one Parquet file. Each scored chunk is written
first as a part file into a staging folder beside the output::

    scores.parquet.parts/
      state.json            the model's package digest, the input's files, the options
      part-00000.parquet    rows 0 .. chunk_rows - 1, inputs and predictions
      part-00001.parquet
      ...

A run that stops (an error, Ctrl-C, a lost machine) leaves the parts it
finished; the next run with the same model, input and options skips them and
scores the rest. When every chunk is scored the parts are combined into the
output (written to a temporary file and renamed into place) and the staging
folder is removed. Parts and output are never seen half-written.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from dockyard.errors import AlreadyExists, Conflict, DockyardError, InvalidArgument, NotFound
from dockyard.files import fsync_dir
from dockyard.progress import ProgressCallback, reporter

if TYPE_CHECKING:
    from dockyard.client import Client
    from dockyard.models.package import LoadedModel
    from dockyard.models.signature import Signature

__all__ = ["PARTS_SUFFIX", "STATE_NAME", "BatchResult", "ProgressCallback", "score_file"]

PARTS_SUFFIX = ".parts"
"""The staging folder of ``out.parquet`` is ``out.parquet.parts``."""
STATE_NAME = "state.json"

_PARQUET = (".parquet", ".pq")
_CSV = (".csv", ".csv.gz", ".csv.bz2")
_STATE_VERSION = 1


@dataclass(frozen=True)
class BatchResult:
    """What :func:`score_file` did."""

    output: Path
    rows: int
    """Rows in the output (those scored by earlier, interrupted runs included)."""
    chunks: int
    chunks_resumed: int
    """Chunks an earlier run had scored, which this run did not score again."""
    seconds: float
    prediction_columns: tuple[str, ...]


def score_file(
    model_uri: str | os.PathLike[str],
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    *,
    client: Client | None = None,
    chunk_rows: int = 100_000,
    columns: Sequence[str] | None = None,
    prediction_column: str = "prediction",
    progress: bool | ProgressCallback = False,
    resume: bool = True,
    overwrite: bool = False,
    trust: bool | None = None,
) -> BatchResult:
    """Score every row of ``input_path`` with a model and write ``output_path`` (Parquet).

    ``model_uri`` is ``models:/name@alias``, ``models:/name/3``,
    ``runs:/<run_id>/model`` or a local package folder, loaded once as
    ``client.load_model(model_uri, trust=trust)`` does (without ``client``,
    as :func:`dockyard.load_model` does). The input is a Parquet file, a
    folder of Parquet files (``*.parquet``, read in name order) or a CSV file.
    Predictions are those of ``model.predict(df)`` on the same rows: a 1-D
    result is the column ``prediction_column``; a 2-D array gives
    ``<prediction_column>_0``, ``_1`` ...; a DataFrame or a dict its own
    column names. ``columns`` are the input columns copied to the output
    beside the predictions (default: all of them; ``[]``: none).

    ``progress`` is True for a progress bar on stderr, or a
    :data:`ProgressCallback`, called with the rows scored so far (resumed rows included)
    and the input's rows (None when unknown, as for CSV): once before the first chunk,
    then after each chunk is written. With ``resume`` (the default), the chunks of an
    interrupted run are kept; a run whose model, input, ``chunk_rows`` or
    columns differ from theirs raises Conflict rather than mix them, and
    ``resume=False`` starts over.

    Raises NotFound for a missing input, InvalidArgument for an unsupported
    file, an empty input or a column that is not in it, AlreadyExists when
    the output exists and ``overwrite`` is False; a chunk the model cannot
    score (SchemaError when it lacks a signature column) raises the model's
    error, its message naming the chunk's rows.
    """
    started = time.monotonic()
    if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int) or chunk_rows < 1:
        raise InvalidArgument(
            f"chunk_rows must be a whole number of at least 1, got {chunk_rows!r}")
    if not isinstance(prediction_column, str) or not prediction_column:
        raise InvalidArgument("prediction_column must be a column name, such as 'prediction'")
    source, output = Path(input_path), Path(output_path)
    data = _Input.open(source)
    _check_output(output, source, overwrite)
    kept = _kept_columns(data, columns)
    if data.rows == 0:
        raise InvalidArgument(f"{source} has no rows: there is nothing to score")
    model = _load_model(model_uri, client, trust)
    data.set_types(model.signature)
    read = None if columns is None else _read_columns(data, kept, model.signature)

    from dockyard.models import package_digest

    parts = output.with_name(output.name + PARTS_SUFFIX)
    state = {
        "version": _STATE_VERSION,
        "model": {"uri": str(model_uri), "digest": package_digest(model.path)},
        "input": data.identity(),
        "chunk_rows": chunk_rows,
        "columns": kept,
        "prediction_column": prediction_column,
    }
    done, rows = _prepare_parts(parts, state, resume)
    index = len(done)
    names: tuple[str, ...] = ()
    try:
        with reporter(progress, "scoring") as report:
            report(rows, data.rows)
            for chunk in _chunks(data.batches(read, skip=rows, batch_rows=chunk_rows),
                                 chunk_rows):
                table, names = _score_chunk(model, chunk, kept, prediction_column, rows, source)
                _write_parquet(table, parts / _part_name(index))
                index += 1
                rows += chunk.num_rows
                report(rows, data.rows)
        if index == 0:
            raise InvalidArgument(f"{source} has no rows: there is nothing to score")
    except BaseException:
        if index == 0:  # nothing to resume from
            shutil.rmtree(parts, ignore_errors=True)
        raise
    schema = _combine([parts / _part_name(i) for i in range(index)], output)
    shutil.rmtree(parts, ignore_errors=True)
    if not names:  # every chunk was resumed: the prediction columns are those after the kept ones
        names = tuple(name for name in schema.names if name not in kept)
    return BatchResult(output=output, rows=rows, chunks=index, chunks_resumed=len(done),
                       seconds=time.monotonic() - started, prediction_columns=names)


# ---------------------------------------------------------------------- the input
class _Input:
    """The file (or files) to score: its kind, schema and row count, read in batches."""

    def __init__(self, path: Path, kind: str, files: list[Path], schema: pa.Schema,
                 rows: int | None) -> None:
        self.path, self.kind, self.files, self.schema, self.rows = path, kind, files, schema, rows
        self.csv_types: dict[str, pa.DataType] = {}

    @classmethod
    def open(cls, path: Path) -> _Input:
        """Raises NotFound for a missing path, InvalidArgument for one that is not Parquet or
        CSV or that pyarrow cannot read."""
        if not path.exists():
            raise NotFound(f"the input {path} does not exist; give a Parquet file, a folder of "
                           "Parquet files or a CSV file", path=str(path))
        name = path.name.lower()
        if path.is_dir():
            files = sorted(file for file in path.rglob("*") if _is_data_file(path, file))
            if not files:
                raise InvalidArgument(f"the folder {path} holds no Parquet files (*.parquet); "
                                      "give a folder of Parquet files, or a file")
            kind = "parquet"
        elif name.endswith(_PARQUET):
            files, kind = [path], "parquet"
        elif name.endswith(_CSV):
            files, kind = [path], "csv"
        else:
            raise InvalidArgument(
                f"cannot score {path}: the input must be a Parquet file (.parquet, .pq), a folder "
                "of Parquet files or a CSV file (.csv, .csv.gz); convert it to one of these")
        try:
            if kind == "parquet":
                dataset = _dataset(path, files)
                return cls(path, kind, files, dataset.schema, dataset.count_rows())
            import pyarrow.csv as pacsv

            with pacsv.open_csv(path) as reader:
                return cls(path, kind, files, reader.schema, None)
        except (pa.ArrowException, OSError) as exc:
            raise InvalidArgument(f"cannot read {path} as {kind.upper()}: {exc}") from exc

    def set_types(self, signature: Signature | None) -> None:
        """Read the CSV columns the model takes as numbers or text with the signature's types.

        pyarrow infers a CSV column's type from the first block; a float column whose first
        rows are whole numbers, or a text column of digits, would otherwise change type later.
        """
        if self.kind != "csv" or signature is None or signature.is_tensor:
            return
        for column in signature.inputs:
            if column.dtype in ("float32", "float64"):
                self.csv_types[column.name] = pa.float64()
            elif column.dtype == "string":
                self.csv_types[column.name] = pa.string()
        if self.csv_types:
            import pyarrow.csv as pacsv

            options = pacsv.ConvertOptions(column_types=self.csv_types)
            with pacsv.open_csv(self.path, convert_options=options) as reader:
                self.schema = reader.schema

    def identity(self) -> dict[str, Any]:
        """What a resumed run must find unchanged: every file's size and modification time."""
        files = []
        for file in self.files:
            st = file.stat()
            relative = file.relative_to(self.path).as_posix() if self.path.is_dir() else ""
            files.append([relative, st.st_size, st.st_mtime_ns])
        return {"path": str(self.path.resolve()), "files": files}

    def batches(self, columns: list[str] | None, *, skip: int, batch_rows: int
                ) -> Iterator[pa.RecordBatch]:
        """The input's rows from row ``skip`` on, in batches of at most ``batch_rows`` rows."""
        try:
            if self.kind == "parquet":
                yield from self._parquet(columns, skip, batch_rows)
            else:
                import pyarrow.csv as pacsv

                convert = pacsv.ConvertOptions(column_types=self.csv_types,
                                               include_columns=columns or [])
                with pacsv.open_csv(self.path, convert_options=convert) as reader:
                    yield from _drop(reader, skip)
        except pa.ArrowException as exc:
            hint = ("; pyarrow infers CSV column types from the first rows: convert the file to "
                    "Parquet, or keep fewer columns" if self.kind == "csv" else "")
            raise InvalidArgument(f"cannot read {self.path}: {exc}{hint}") from exc

    def _parquet(self, columns: list[str] | None, skip: int, batch_rows: int
                 ) -> Iterator[pa.RecordBatch]:
        for fragment in _dataset(self.path, self.files).get_fragments():
            groups = fragment.row_groups
            first = 0
            while first < len(groups) and skip >= groups[first].num_rows:  # not read at all
                skip -= groups[first].num_rows
                first += 1
            if first == len(groups):
                continue
            if first:
                fragment = fragment.subset(row_group_ids=[group.id for group in groups[first:]])
            yield from _drop(fragment.to_batches(schema=self.schema, columns=columns,
                                                 batch_size=batch_rows), skip)
            skip = 0


def _dataset(path: Path, files: list[Path]) -> Any:
    """The Parquet files as a dataset; in a folder, ``key=value`` subfolders (as Spark and
    pandas write partitioned data) add the column ``key``, as ``pandas.read_parquet`` does."""
    import pyarrow.dataset as ds

    if not path.is_dir():
        return ds.dataset([str(path)], format="parquet")
    return ds.dataset([str(file) for file in files], format="parquet", partitioning="hive",
                      partition_base_dir=str(path))


def _is_data_file(root: Path, file: Path) -> bool:
    """A Parquet file of a folder; names starting with _ or . (_SUCCESS, .crc) are not data."""
    parts = file.relative_to(root).parts
    return (file.is_file() and file.name.lower().endswith(_PARQUET)
            and not any(part.startswith(("_", ".")) for part in parts))


def _drop(batches: Iterable[pa.RecordBatch], rows: int) -> Iterator[pa.RecordBatch]:
    """The batches without their first ``rows`` rows."""
    for batch in batches:
        if rows >= batch.num_rows:
            rows -= batch.num_rows
            continue
        yield batch.slice(rows) if rows else batch
        rows = 0


def _chunks(batches: Iterable[pa.RecordBatch], rows: int) -> Iterator[pa.Table]:
    """Tables of exactly ``rows`` rows (the last one fewer), whatever the batches' sizes."""
    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        pending.append(batch)
        count += batch.num_rows
        while count >= rows:
            table = pa.Table.from_batches(pending)
            yield table.slice(0, rows)
            rest = table.slice(rows)
            pending, count = rest.to_batches(), rest.num_rows
    if count:
        yield pa.Table.from_batches(pending)


def _kept_columns(data: _Input, columns: Sequence[str] | None) -> list[str]:
    names = list(data.schema.names)
    if columns is None:
        return names
    if isinstance(columns, str):
        raise InvalidArgument(f"columns must be a list of names, got the text {columns!r}")
    for name in columns:
        if name not in names:
            raise InvalidArgument(f"column {name!r} (to keep in the output) is not in "
                                  f"{data.path}; it has {', '.join(map(repr, names))}")
    return list(dict.fromkeys(columns))


def _read_columns(data: _Input, kept: list[str], signature: Signature | None) -> list[str] | None:
    """The columns to read: those kept and those the model takes (all, for a tensor model)."""
    if signature is None or signature.is_tensor:
        return None
    wanted = {*kept, *(column.name for column in signature.inputs)}
    return [name for name in data.schema.names if name in wanted]


def _check_output(output: Path, source: Path, overwrite: bool) -> None:
    if not output.name.lower().endswith(_PARQUET):
        raise InvalidArgument(f"the output {output} must be named *.parquet: batch scoring "
                              "writes Parquet")
    if output.is_dir():
        raise InvalidArgument(f"the output {output} is a folder; give the path of a file")
    target, origin = output.resolve(), source.resolve()
    if target == origin or (origin.is_dir() and origin in target.parents):
        raise InvalidArgument(f"the output {output} is (inside) the input {source}; write it "
                              "somewhere else")
    if output.exists() and not overwrite:
        raise AlreadyExists(f"{output} already exists; pass overwrite=True (--overwrite) to "
                            "replace it, or choose another output", path=str(output))


def _load_model(model_uri: str | os.PathLike[str], client: Client | None,
                trust: bool | None) -> LoadedModel:
    if client is not None:
        return client.load_model(model_uri, trust=trust)
    from dockyard.train.fluent import load_model

    return load_model(model_uri, trust=trust)


# ---------------------------------------------------------------------- scoring
def _score_chunk(model: LoadedModel, chunk: pa.Table, kept: list[str], name: str, start: int,
                 source: Path) -> tuple[pa.Table, tuple[str, ...]]:
    """The chunk's kept columns and its predictions, and the prediction columns' names."""
    where = f"rows {start:,} to {start + chunk.num_rows - 1:,} of {source}"
    try:
        output = model.predict(chunk.to_pandas(), extra_columns="ignore")
    except DockyardError as exc:
        raise type(exc)(f"{where}: {exc.message}", **exc.details) from exc
    except Exception as exc:  # the model's own code
        raise DockyardError(f"the model failed on {where}: {type(exc).__name__}: {exc}") from exc
    predictions = _prediction_columns(output, chunk.num_rows, name, where)
    for column in predictions:
        if column in kept:
            raise InvalidArgument(
                f"the prediction column {column!r} is also an input column kept in the output; "
                "pass another prediction_column (--prediction-column) or leave "
                f"{column!r} out of the kept columns (--keep-columns)")
    columns = {column: chunk.column(column) for column in kept}
    return pa.table({**columns, **predictions}), tuple(predictions)


def _prediction_columns(output: Any, rows: int, name: str, where: str) -> dict[str, pa.Array]:
    """A predict result as named Arrow columns of ``rows`` values each."""
    if isinstance(output, pd.DataFrame):
        named = not isinstance(output.columns, pd.RangeIndex)
        if output.shape[1] == 1 and not named:
            values: dict[str, Any] = {name: output.iloc[:, 0]}
        else:
            values = {str(label) if named else f"{name}_{i}": output.iloc[:, i]
                      for i, label in enumerate(output.columns)}
    elif isinstance(output, pd.Series):
        values = {name: output}
    elif isinstance(output, Mapping):
        values = {str(key): value for key, value in output.items()}
    else:
        array = np.asarray(output)
        if array.ndim == 2 and array.shape[1] == 1:
            array = array[:, 0]
        if array.ndim == 2:
            values = {f"{name}_{i}": array[:, i] for i in range(array.shape[1])}
        else:
            values = {name: array}
    columns = {}
    for column, value in values.items():
        if isinstance(value, pd.Series):
            arrow = pa.Array.from_pandas(value.reset_index(drop=True))
        else:
            value = np.asarray(value)
            if value.ndim == 0:
                raise DockyardError(f"the model returned one value for {where}, not one per row")
            arrow = pa.array(value.tolist() if value.ndim > 1 else value)
        if len(arrow) != rows:
            raise DockyardError(f"the model returned {len(arrow):,} predictions in {column!r} "
                                f"for the {rows:,} {where}")
        columns[column] = arrow
    return columns


# ---------------------------------------------------------------------- parts and output
def _part_name(index: int) -> str:
    return f"part-{index:05d}.parquet"


def _prepare_parts(parts: Path, state: dict[str, Any], resume: bool) -> tuple[list[Path], int]:
    """The staging folder, ready: the parts an earlier run finished and their rows."""
    if parts.exists() and not resume:
        shutil.rmtree(parts)
    if parts.exists() and any(parts.glob("part-*.parquet")):  # else there is nothing to keep
        stored = _read_state(parts / STATE_NAME)
        if stored is None:
            raise Conflict(
                f"{parts} holds parts but no readable {STATE_NAME}, so they cannot be checked "
                "against this run; delete the folder, or pass --no-resume (resume=False) to "
                "start over", path=str(parts))
        if changed := _changes(stored, state):
            raise Conflict(
                f"cannot resume from {parts}: {changed} since its parts were scored; delete the "
                "folder, or pass --no-resume (resume=False) to start over", path=str(parts))
    parts.mkdir(parents=True, exist_ok=True)
    for leftover in parts.glob(".*.tmp"):  # a part being written when a run stopped
        leftover.unlink(missing_ok=True)
    _write_json(parts / STATE_NAME, state)
    done: list[Path] = []
    rows = 0
    while (part := parts / _part_name(len(done))).is_file():
        try:
            rows += pq.read_metadata(part).num_rows
        except (pa.ArrowException, OSError):
            break  # unreadable (a machine that lost power): scored again, with what follows it
        done.append(part)
    for stale in parts.glob("part-*.parquet"):
        if stale not in done:
            stale.unlink()
    return done, rows


def _changes(stored: dict[str, Any], state: dict[str, Any]) -> str:
    """What differs between the state of the parts and this run, in words; '' if nothing."""
    reasons = []
    if stored.get("model", {}).get("digest") != state["model"]["digest"]:
        reasons.append("the model changed (another package digest)")
    if stored.get("input") != state["input"]:
        reasons.append("the input changed (its files' sizes or modification times differ)")
    if stored.get("chunk_rows") != state["chunk_rows"]:
        reasons.append(f"chunk_rows changed (from {stored.get('chunk_rows')} to "
                       f"{state['chunk_rows']})")
    if (stored.get("columns"), stored.get("prediction_column")) != (
            state["columns"], state["prediction_column"]):
        reasons.append("the output columns changed")
    if stored.get("version") != state["version"] and not reasons:
        reasons.append("the parts were written by another version of Dockyard")
    return "; ".join(reasons)


def _read_state(path: Path) -> dict[str, Any] | None:
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def _write_json(path: Path, value: dict[str, Any]) -> None:
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    partial.write_text(json.dumps(value, indent=2))
    os.replace(partial, path)


def _write_parquet(table: pa.Table, path: Path) -> None:
    """Write ``table`` to ``path`` atomically: a temporary sibling renamed into place."""
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        pq.write_table(table, partial)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def _combine(parts: list[Path], output: Path) -> pa.Schema:
    """The parts, in order, as one Parquet file written atomically; returns its schema."""
    try:
        # A column that is all null in one chunk is typed null there and, say, string in others.
        schema = pa.unify_schemas([pq.read_schema(part) for part in parts],
                                  promote_options="permissive")
    except pa.ArrowException as exc:
        raise DockyardError(f"the scored chunks in {parts[0].parent} have columns of different "
                            f"types and cannot be combined: {exc}") from exc
    partial = output.with_name(f".{output.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        with pq.ParquetWriter(partial, schema) as writer:
            for part in parts:
                writer.write_table(pq.read_table(part).cast(schema))
        os.replace(partial, output)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    fsync_dir(output.parent)
    return schema
