"""The artifact store interface: files under a root, streamed both ways.

Implementations: :class:`LocalArtifactStore` (a folder), :class:`S3ArtifactStore`
(any S3-compatible server) and :class:`HttpArtifactStore` (a run's artifacts
proxied by a Dockyard server). Every implementation passes
``tests/contract/test_artifact_store.py``.

Paths are relative POSIX paths checked by
:func:`dockyard.entities.validation.validate_artifact_path`: an absolute path or
one with ``..`` raises ``InvalidArgument`` before anything is touched. A
missing file raises ``NotFound``. Writes are atomic: a reader sees the old
file or the complete new one, never a part. Nothing holds a whole file in
memory.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from dockyard.entities import FileInfo

CHUNK_SIZE = 1024 * 1024
Progress = Callable[[int], None]
"""Called with the number of bytes moved since the last call."""


def listing(files: list[FileInfo], folders: list[FileInfo]) -> list[FileInfo]:
    """The order :meth:`ArtifactStore.list` promises: files by path, then folders by path."""
    return sorted(files, key=lambda f: f.path) + sorted(folders, key=lambda f: f.path)


class ArtifactStore(ABC):
    @abstractmethod
    def put_stream(self, stream: BinaryIO, path: str, progress: Progress | None = None) -> None:
        """Write the bytes read from ``stream`` (until EOF) to ``path``, replacing it."""

    def put_file(self, local_path: str | Path, path: str, progress: Progress | None = None) -> None:
        """Upload a local file to ``path``."""
        with open(local_path, "rb") as f:
            self.put_stream(f, path, progress)

    @abstractmethod
    def iter_bytes(self, path: str, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        """Stream a file's content. Raises NotFound before yielding if it is missing."""

    def get_file(self, path: str, local_path: str | Path, progress: Progress | None = None) -> Path:
        """Download ``path`` to ``local_path`` (atomically: via a temporary file)."""
        target = Path(local_path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.part")
        chunks = self.iter_bytes(path)  # raises NotFound before anything is written
        try:
            with open(tmp, "wb") as f:
                for chunk in chunks:
                    f.write(chunk)
                    if progress:
                        progress(len(chunk))
            tmp.replace(target)
        finally:
            close = getattr(chunks, "close", None)
            if close:  # release the connection or file even when writing failed
                close()
            tmp.unlink(missing_ok=True)
        return target

    @abstractmethod
    def list(self, path: str = "") -> list[FileInfo]:
        """The direct children of a folder (files with sizes, then sub-folders), by path.

        ``FileInfo.path`` is relative to the store's root. A missing folder
        lists as empty.
        """

    def walk(self, path: str = "") -> Iterator[FileInfo]:
        """Every file below ``path``, recursively."""
        for info in self.list(path):
            if info.is_dir:
                yield from self.walk(info.path)
            else:
                yield info

    @abstractmethod
    def exists(self, path: str) -> bool:
        """True if ``path`` is a file."""

    @abstractmethod
    def size(self, path: str) -> int:
        """Size of a file in bytes. Raises NotFound."""

    @abstractmethod
    def delete(self, path: str) -> None:
        """Delete a file or a folder with everything below it (missing is fine)."""


class ScopedArtifactStore(ArtifactStore):
    """A view of another store below a prefix (how a run sees its own folder)."""

    def __init__(self, inner: ArtifactStore, prefix: str) -> None:
        self.inner = inner
        self.prefix = prefix.strip("/")

    def _full(self, path: str, folder: bool = False) -> str:
        from dockyard.entities.validation import validate_artifact_path

        path = validate_artifact_path(path, allow_root=folder)
        return f"{self.prefix}/{path}" if path else self.prefix

    def _rel(self, path: str) -> str:
        return path[len(self.prefix) + 1 :] if path.startswith(self.prefix + "/") else path

    def put_stream(self, stream: BinaryIO, path: str, progress: Progress | None = None) -> None:
        self.inner.put_stream(stream, self._full(path), progress)

    def put_file(self, local_path: str | Path, path: str, progress: Progress | None = None) -> None:
        self.inner.put_file(local_path, self._full(path), progress)

    def iter_bytes(self, path: str, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        return self.inner.iter_bytes(self._full(path), chunk_size)

    def list(self, path: str = "") -> list[FileInfo]:
        return [
            info.model_copy(update={"path": self._rel(info.path)})
            for info in self.inner.list(self._full(path, folder=True))
        ]

    def walk(self, path: str = "") -> Iterator[FileInfo]:
        # the inner store's walk (one flat listing on S3), not one request per folder
        for info in self.inner.walk(self._full(path, folder=True)):
            yield info.model_copy(update={"path": self._rel(info.path)})

    def exists(self, path: str) -> bool:
        return self.inner.exists(self._full(path))

    def size(self, path: str) -> int:
        return self.inner.size(self._full(path))

    def delete(self, path: str) -> None:
        self.inner.delete(self._full(path, folder=True))
