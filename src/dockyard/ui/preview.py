"""Previews of artifacts for the run page: text, JSON, images and tables.

A preview reads only the start of a file (tables: the first rows), so a
large artifact costs little to look at; the full file is a download away.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from dockyard.store.artifacts.base import ArtifactStore

TEXT_LIMIT = 256 * 1024  # bytes of text shown
JSON_LIMIT = 1024 * 1024  # larger JSON is shown as text
PARQUET_LIMIT = 256 * 1024 * 1024  # a Parquet footer sits at the end: the file is read whole
TABLE_ROWS = 20

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp", ".bmp"}
TEXT_SUFFIXES = {".txt", ".log", ".md", ".py", ".yaml", ".yml", ".toml", ".cfg", ".ini", ".sh",
                 ".html", ".xml", ".sql", ".r", ".ipynb", ".jsonl", ".ndjson", ""}
CSV_SUFFIXES = {".csv", ".tsv"}
PARQUET_SUFFIXES = {".parquet", ".pq"}


@dataclass
class Preview:
    """What the template shows for one file."""

    kind: str  # text | json | image | table | binary | too_large
    path: str
    size: int
    text: str = ""
    truncated: bool = False
    columns: list[str] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    message: str = ""


def _head(chunks: Iterator[bytes], limit: int) -> tuple[bytes, bool]:
    """The first ``limit`` bytes, and whether there was more."""
    buf = bytearray()
    try:
        for chunk in chunks:
            buf += chunk
            if len(buf) > limit:
                return bytes(buf[:limit]), True
    finally:
        close = getattr(chunks, "close", None)
        if close:
            close()
    return bytes(buf), False


def _decode(data: bytes) -> str | None:
    if b"\x00" in data[:8192]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start >= len(data) - 3:  # a character cut at the limit
            return data[: exc.start].decode("utf-8")
        return None


def preview(store: ArtifactStore, path: str) -> Preview:
    """Preview the file at ``path`` of a run's artifact ``store``."""
    size = store.size(path)
    suffix = PurePosixPath(path).suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return Preview("image", path, size)
    if suffix in PARQUET_SUFFIXES:
        return _parquet(store, path, size)
    limit = JSON_LIMIT if suffix == ".json" else TEXT_LIMIT
    data, truncated = _head(store.iter_bytes(path), limit)
    text = _decode(data)
    if text is None:
        return Preview("binary", path, size, message="a binary file: download it to open it")
    if suffix == ".json" and not truncated:
        try:
            return Preview("json", path, size, text=json.dumps(json.loads(text), indent=2))
        except ValueError as exc:
            return Preview("text", path, size, text=text, message=f"not valid JSON: {exc}")
    if suffix in CSV_SUFFIXES:
        return _csv(path, size, text, delimiter="\t" if suffix == ".tsv" else ",")
    return Preview("text", path, size, text=text, truncated=truncated)


def _csv(path: str, size: int, text: str, delimiter: str) -> Preview:
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        header = next(reader, [])
        rows = [row for _, row in zip(range(TABLE_ROWS), reader)]
    except csv.Error as exc:
        return Preview("text", path, size, text=text, message=f"not valid CSV: {exc}")
    return Preview("table", path, size, columns=header, rows=rows)


def _parquet(store: ArtifactStore, path: str, size: int) -> Preview:
    if size > PARQUET_LIMIT:
        return Preview("too_large", path, size,
                       message=f"Parquet files over {PARQUET_LIMIT // 2**20} MiB are not previewed")
    import pyarrow.parquet as pq

    with tempfile.TemporaryFile() as tmp:
        for chunk in store.iter_bytes(path):
            tmp.write(chunk)
        tmp.seek(0)
        try:
            parquet = pq.ParquetFile(tmp)
            batch = next(parquet.iter_batches(batch_size=TABLE_ROWS), None)
        except Exception as exc:  # noqa: BLE001 -- pyarrow raises several types for bad files
            return Preview("binary", path, size, message=f"not a readable Parquet file: {exc}")
        columns = list(parquet.schema_arrow.names)
        rows = [] if batch is None else [list(r.values()) for r in batch.to_pylist()]
        total = parquet.metadata.num_rows
    return Preview("table", path, size, columns=columns, rows=rows,
                   message=f"first {len(rows)} of {total:,} rows")
