"""Artifacts in a folder on the local file system (the embedded default)."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from dockyard.entities import FileInfo
from dockyard.entities.validation import validate_artifact_path
from dockyard.errors import Conflict, InvalidArgument, NotFound, StoreError
from dockyard.files import fsync_dir
from dockyard.store.artifacts.base import CHUNK_SIZE, ArtifactStore, Progress, listing

# Writes go to a hidden sibling first; list() hides these so that a reader
# never sees a half-written file, even while a write is in flight.
_TMP_PREFIX = ".dockyard-tmp-"


class LocalArtifactStore(ArtifactStore):
    """Files under ``root`` on the local file system.

    ``root`` is created on the first write. Every path is checked with
    :func:`~dockyard.entities.validation.validate_artifact_path` and, after
    symlinks are resolved, must still lie under ``root``; anything else raises
    ``InvalidArgument`` before the disk is touched. A missing file raises
    ``NotFound``; writing where a folder is (or below a file) raises
    ``Conflict``; other OS failures raise ``StoreError``.
    """

    def __init__(self, root: str | Path) -> None:
        # Resolve once so that a symlinked root (e.g. /tmp on macOS) still
        # contains the paths resolved from it.
        self.root = Path(root).expanduser().resolve()

    def __repr__(self) -> str:
        return f"LocalArtifactStore({str(self.root)!r})"

    # -- paths ---------------------------------------------------------------

    def _lexical(self, path: str, *, allow_root: bool = False) -> tuple[str, Path]:
        normal = validate_artifact_path(path, allow_root=allow_root)
        return normal, self.root.joinpath(*normal.split("/")) if normal else self.root

    def _inside(self, full: Path, path: str) -> Path:
        resolved = full.resolve()
        if not resolved.is_relative_to(self.root):
            raise InvalidArgument(
                f"artifact path {path!r} leads outside the artifact root through a symlink"
            )
        return resolved

    def _resolve(self, path: str, *, allow_root: bool = False) -> tuple[str, Path]:
        normal, full = self._lexical(path, allow_root=allow_root)
        return normal, self._inside(full, path)

    def _file(self, path: str) -> Path:
        normal, full = self._resolve(path)
        if not full.is_file():
            what = "a folder, not a file" if full.is_dir() else "missing"
            raise NotFound(f"artifact {normal!r} is {what} (under {self.root})", path=normal)
        return full

    # -- writes --------------------------------------------------------------

    def put_stream(self, stream: BinaryIO, path: str, progress: Progress | None = None) -> None:
        """Write ``stream`` to ``path`` atomically, 1 MiB at a time.

        The bytes go to a temporary file in the target's folder, are fsynced,
        and then replace the target in one rename, so a reader sees the old
        file or the whole new one. Raises InvalidArgument for a bad path,
        Conflict if ``path`` is a folder or lies below a file, StoreError for
        other OS failures; whatever the stream raises propagates unchanged.
        """
        normal, full = self._resolve(path)
        if full.is_dir():
            raise Conflict(f"artifact {normal!r} is a folder; cannot write a file there")
        # The target's name is left out of the temporary one, which would
        # otherwise pass the file system's name limit before the target does.
        tmp = full.with_name(f"{_TMP_PREFIX}{secrets.token_hex(8)}")
        fd = self._open_tmp(tmp, normal)
        try:
            with os.fdopen(fd, "wb") as f:
                # Only the file operations are translated: an error raised by
                # the caller's stream is the caller's, and propagates as is.
                while chunk := stream.read(CHUNK_SIZE):
                    with self._os_errors("write", normal):
                        f.write(chunk)
                    if progress:
                        progress(len(chunk))
                with self._os_errors("write", normal):
                    f.flush()
                    os.fsync(f.fileno())
            with self._os_errors("write", normal):
                try:
                    os.replace(tmp, full)
                except IsADirectoryError as e:
                    raise Conflict(
                        f"artifact {normal!r} is a folder; cannot write a file there"
                    ) from e
        finally:
            tmp.unlink(missing_ok=True)
        with self._os_errors("write", normal):
            fsync_dir(full.parent)

    @contextmanager
    def _os_errors(self, verb: str, normal: str) -> Iterator[None]:
        try:
            yield
        except OSError as e:
            raise StoreError(f"could not {verb} artifact {normal!r} under {self.root}: {e}") from e

    def _open_tmp(self, tmp: Path, normal: str) -> int:
        # A concurrent delete() may prune the freshly made parent folder
        # between mkdir and open; one retry covers that race.
        for attempt in (1, 2):
            try:
                tmp.parent.mkdir(parents=True, exist_ok=True)
                # os.open with 0o666 honours the umask, unlike mkstemp's 0o600.
                return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY, 0o666)
            except (FileExistsError, NotADirectoryError) as e:
                if isinstance(e, FileExistsError) and tmp.parent.is_dir():
                    raise StoreError(f"temporary file {tmp} already exists") from e
                raise Conflict(
                    f"cannot write artifact {normal!r}: a parent of it is a file, not a folder"
                ) from e
            except FileNotFoundError as e:
                if attempt == 2:
                    raise StoreError(f"could not create a folder for {normal!r}: {e}") from e
            except OSError as e:
                raise StoreError(f"could not write artifact {normal!r}: {e}") from e
        raise AssertionError("unreachable")

    def delete(self, path: str) -> None:
        """Delete a file, or a folder with everything below it; missing is fine.

        A symlink is removed, never followed. Empty folders left behind are
        pruned up to the root, so a folder lists only while it holds files
        (as on S3). ``delete("")`` empties the root. Raises InvalidArgument
        for a bad path, StoreError if the OS refuses.
        """
        normal, full = self._lexical(path, allow_root=True)
        # Check the parent only: the last component may itself be a symlink,
        # which is deleted as a link rather than followed.
        self._inside(full.parent if normal else full, path)
        with self._os_errors("delete", normal):
            if not normal:
                if full.is_dir():
                    for child in full.iterdir():
                        _remove(child)
                return
            _remove(full)
        self._prune(full.parent)

    def _prune(self, folder: Path) -> None:
        while folder != self.root and folder.is_relative_to(self.root):
            try:
                folder.rmdir()
            except OSError:
                return  # not empty (or gone): stop climbing
            folder = folder.parent

    # -- reads ---------------------------------------------------------------

    def iter_bytes(self, path: str, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        """Stream a file in chunks of at most ``chunk_size`` bytes.

        Raises NotFound (before the first chunk) if ``path`` is not a file,
        InvalidArgument for a bad path.
        """
        full = self._file(path)
        try:
            f = open(full, "rb")
        except FileNotFoundError:
            raise NotFound(f"artifact {path!r} is missing (under {self.root})") from None
        return _chunks(f, chunk_size)

    def list(self, path: str = "") -> list[FileInfo]:
        """Direct children of a folder: files (with sizes) then folders, each by path.

        A missing folder, or a file, lists as empty. Entries whose symlinks
        lead outside the root are left out. Raises InvalidArgument for a bad
        path.
        """
        normal, full = self._resolve(path, allow_root=True)
        files: list[FileInfo] = []
        folders: list[FileInfo] = []
        try:
            entries = list(os.scandir(full))
        except (FileNotFoundError, NotADirectoryError):
            return []
        except OSError as e:
            raise StoreError(f"could not list artifacts in {normal!r}: {e}") from e
        for entry in entries:
            if entry.name.startswith(_TMP_PREFIX):
                continue
            child = f"{normal}/{entry.name}" if normal else entry.name
            if entry.is_symlink() and not Path(entry.path).resolve().is_relative_to(self.root):
                continue
            try:
                if entry.is_dir():
                    folders.append(FileInfo(path=child, is_dir=True))
                elif entry.is_file():
                    files.append(FileInfo(path=child, is_dir=False, size=entry.stat().st_size))
            except FileNotFoundError:
                continue  # deleted while we listed
        return listing(files, folders)

    def exists(self, path: str) -> bool:
        """True if ``path`` is a file. Raises InvalidArgument for a bad path."""
        return self._resolve(path)[1].is_file()

    def size(self, path: str) -> int:
        """Size in bytes. Raises NotFound if ``path`` is not a file."""
        full = self._file(path)
        try:
            return full.stat().st_size
        except FileNotFoundError:
            raise NotFound(f"artifact {path!r} is missing (under {self.root})") from None


_O_BINARY = getattr(os, "O_BINARY", 0)  # Windows would otherwise translate newlines


def _chunks(f: BinaryIO, chunk_size: int) -> Iterator[bytes]:
    with f:
        while chunk := f.read(chunk_size):
            yield chunk


def _remove(target: Path) -> None:
    if target.is_symlink() or target.is_file():
        target.unlink(missing_ok=True)
    elif target.is_dir():
        shutil.rmtree(target)
