"""Content digests of datasets: the same data gives the same digest, so the same version.

- A file (or a folder of files) is hashed byte for byte: sha256 of the file,
  or of the sorted list of ``relative/path<TAB>sha256`` lines of a folder's
  files. Hashing a file runs beside its profiling (hashlib releases the GIL).
- A DataFrame or Arrow table is hashed by value: sha256 of its schema (column
  names and Arrow types) followed by pandas' 64-bit hash of every row
  (``pandas.util.hash_pandas_object``, stable across versions and
  platforms), so the digest does not depend on how the frame was built or
  chunked. The index is not hashed: a frame whose index carries data gets it
  as columns first (see :func:`frame_of`).
- A SQL query's digest is that of its result, as a frame.

A file and a frame of the same values have different digests: the digest says
"these bytes" for a file, "these values" for a frame.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pyarrow as pa

from dockyard.errors import InvalidArgument

CHUNK = 4 * 1024 * 1024
_FRAME_HEADER = b"dockyard-frame-digest-v1\n"


def frame_of(data: Any) -> pd.DataFrame:
    """``data`` as a DataFrame whose index holds no data: a named or non-default index
    becomes columns (``reset_index``), so it is hashed, stored and profiled with the rest."""
    if isinstance(data, pa.Table | pa.RecordBatch):
        return data.to_pandas()
    if not isinstance(data, pd.DataFrame):
        raise InvalidArgument(f"expected a pandas DataFrame or an Arrow table, got "
                              f"{type(data).__name__}")
    index = data.index
    plain = isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1 \
        and index.name is None
    frame = data if plain else data.reset_index()
    names = [str(c) for c in frame.columns]
    if len(set(names)) != len(names):
        raise InvalidArgument("the data has two columns of the same name "
                              f"({next(n for n in names if names.count(n) > 1)!r}); rename one")
    if names != list(frame.columns):
        frame = frame.set_axis(names, axis=1)
    return frame


def arrow_schema(frame: pd.DataFrame) -> pa.Schema:
    try:
        return pa.Schema.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise InvalidArgument(f"the data cannot be stored as Parquet: {exc}; give columns of "
                              "one type each (numbers, text, booleans, timestamps)") from None


def frame_digest(frame: pd.DataFrame, schema: pa.Schema | None = None,
                 rows_per_chunk: int = 1 << 20) -> str:
    """The digest of a frame's values (see the module docstring)."""
    schema = schema or arrow_schema(frame)
    digest = hashlib.sha256(_FRAME_HEADER)
    digest.update(orjson.dumps([[f.name, str(f.type)] for f in schema]))
    for start in range(0, len(frame), rows_per_chunk):
        part = frame.iloc[start:start + rows_per_chunk]
        digest.update(pd.util.hash_pandas_object(part, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def files_of(path: Path, suffixes: tuple[str, ...]) -> list[Path]:
    """The data files of a file or folder path (sorted; hidden and ``_`` files left out)."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise InvalidArgument(f"{path} does not exist: give a file or a folder of files")
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in suffixes
                   and not any(part.startswith((".", "_")) for part in
                               p.relative_to(path).parts))
    if not files:
        raise InvalidArgument(f"the folder {path} holds no {'/'.join(suffixes)} files")
    return files


def file_digest(root: Path, files: list[Path],
                progress: Callable[[int], None] | None = None) -> str:
    """sha256 of one file, or of the listing of several below ``root``."""
    digests = []
    for file in files:
        digest = hashlib.sha256()
        with open(file, "rb") as stream:
            while chunk := stream.read(CHUNK):
                digest.update(chunk)
                if progress:
                    progress(len(chunk))
        digests.append(digest.hexdigest())
    if len(files) == 1 and files[0] == root:
        return digests[0]
    listing = "".join(f"{f.relative_to(root).as_posix()}\t{d}\n" for f, d in zip(files, digests))
    return hashlib.sha256(listing.encode()).hexdigest()


def stream_digest(chunks: Iterable[bytes]) -> str:
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


def size_of(files: list[Path]) -> int:
    return sum(os.path.getsize(f) for f in files)
