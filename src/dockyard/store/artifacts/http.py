"""HttpArtifactStore: a run's artifacts, proxied by a Dockyard server.

Clients need no cloud credentials: the server streams uploads to and
downloads from its own artifact store (a folder or S3).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO
from urllib.parse import quote

from dockyard.entities import FileInfo, FileInfoPage
from dockyard.entities.validation import validate_artifact_path
from dockyard.errors import NotFound
from dockyard.store.artifacts.base import CHUNK_SIZE, ArtifactStore, Progress
from dockyard.store.http import HttpSession


class HttpArtifactStore(ArtifactStore):
    """Artifacts under ``{server}/api/v1{base}``, e.g. ``/runs/<id>/artifacts``."""

    def __init__(self, http: HttpSession, base: str) -> None:
        self.http = http
        self.base = base.rstrip("/")

    def _url(self, path: str) -> str:
        return f"{self.base}/{quote(validate_artifact_path(path))}"

    def put_stream(self, stream: BinaryIO, path: str, progress: Progress | None = None) -> None:
        url = self._url(path)

        def chunks() -> Iterator[bytes]:
            while chunk := stream.read(CHUNK_SIZE):
                yield chunk
                if progress:
                    progress(len(chunk))

        self.http.request("PUT", url, content=chunks(),
                          headers={"Content-Type": "application/octet-stream"})

    def iter_bytes(self, path: str, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        # Open eagerly so that a missing file raises here, not at the first chunk.
        opened = self.http.stream("GET", self._url(path))
        response = opened.__enter__()

        def chunks() -> Iterator[bytes]:
            try:
                yield from response.iter_bytes(chunk_size)
            finally:
                opened.__exit__(None, None, None)

        return chunks()

    def list(self, path: str = "") -> list[FileInfo]:
        path = validate_artifact_path(path, allow_root=True)
        r = self.http.request("GET", self.base, params={"path": path} if path else None)
        return FileInfoPage.model_validate_json(r.content).items

    def exists(self, path: str) -> bool:
        try:
            self.size(path)
        except NotFound:
            return False
        return True

    def size(self, path: str) -> int:
        try:
            r = self.http.request("HEAD", self._url(path))
        except NotFound:  # a HEAD answer has no body to carry the message
            raise NotFound(f"artifact {path!r} does not exist") from None
        return int(r.headers.get("content-length", 0))

    def delete(self, path: str) -> None:
        path = validate_artifact_path(path, allow_root=True)
        self.http.request("DELETE", f"{self.base}/{quote(path)}" if path else self.base)
