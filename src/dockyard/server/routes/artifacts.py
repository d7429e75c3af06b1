"""Artifacts, proxied: clients need no credentials for the store behind.

One set of routes serves two kinds of folders: a run's artifacts
(``/runs/{run_id}/artifacts``, writable while the run runs) and a dataset's
files (``/datasets/{name}/files``, writable until a version records them).
"""

from __future__ import annotations

import mimetypes
import tempfile
from collections.abc import Callable

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from dockyard.client import Client
from dockyard.entities import FileInfo, FileInfoPage, Page
from dockyard.entities.validation import validate_artifact_path
from dockyard.errors import InvalidArgument
from dockyard.server.deps import client_of, json_response
from dockyard.server.writes import AuditedRoute
from dockyard.store.artifacts.base import ArtifactStore

_SPOOL_IN_MEMORY = 8 * 1024 * 1024
Opener = Callable[[Client, str, str], ArtifactStore]
"""(client, owner id, path) -> the owner's store, checked for reading or for writing."""


def _checked(path: str, request: Request, *, allow_root: bool = False) -> str:
    """The validated ``path``. The router's ``{path:path}`` drops one trailing newline
    ("a.txt%0A" matches with path "a.txt"), so the URL's own path is checked for it."""
    if request.scope["path"].endswith("\n"):
        raise InvalidArgument(f"artifact path {path!r:.200} ends with a newline (%0A); "
                              "a path may not hold control characters")
    return validate_artifact_path(path, allow_root=allow_root)


def artifact_router(prefix: str, owner: str, tag: str, what: str,
                    readable: Opener, writable: Opener) -> APIRouter:
    """Routes to list, download, upload and delete files below ``prefix``, whose one path
    parameter ``owner`` names the run or dataset."""
    def owner_param(key: str = Path(alias=owner)) -> str:
        """Declares the prefix's path parameter, so that the spec names it."""
        return key

    router = APIRouter(prefix=prefix, tags=[tag], route_class=AuditedRoute,
                       dependencies=[Depends(owner_param)])

    @router.get("", response_model=Page[FileInfo], summary=f"List a folder of {what}")
    def list_files(request: Request, path: str = "") -> Response:
        key = request.path_params[owner]
        store = readable(client_of(request), key, path)
        return json_response(FileInfoPage(items=store.list(
            _checked(path, request, allow_root=True))))

    @router.get("/{path:path}", summary=f"Download one of {what} (streamed)",
                response_class=StreamingResponse,
                responses={200: {"content": {"application/octet-stream": {}}}})
    def download(path: str, request: Request) -> Response:
        path = _checked(path, request)
        store = readable(client_of(request), request.path_params[owner], path)
        size = store.size(path)  # raises NotFound before the response starts
        media_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
        return StreamingResponse(store.iter_bytes(path), media_type=media_type,
                                 headers={"Content-Length": str(size)})

    @router.head("/{path:path}", include_in_schema=False)
    def size(path: str, request: Request) -> Response:
        path = _checked(path, request)
        store = readable(client_of(request), request.path_params[owner], path)
        return Response(headers={"Content-Length": str(store.size(path))})

    @router.put("/{path:path}", status_code=204, summary=f"Upload one of {what} (streamed body)")
    async def upload(path: str, request: Request) -> Response:
        path = _checked(path, request)
        # Refuse before reading a byte: a large upload that may not land must not fill the disk.
        store = await run_in_threadpool(writable, client_of(request),
                                        request.path_params[owner], path)
        # Spool to disk past 8 MiB: a large upload never sits in memory, and the
        # store gets a seekable file (S3 multipart needs one).
        with tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY) as buffer:
            size = 0
            async for chunk in request.stream():
                size += len(chunk)
                await run_in_threadpool(buffer.write, chunk)
            buffer.seek(0)
            await run_in_threadpool(store.put_stream, buffer, path)  # type: ignore[arg-type]
        request.state.audit = {"path": path, "bytes": size}
        return Response(status_code=204)

    @router.delete("", status_code=204, summary=f"Delete all of {what} that may still change")
    @router.delete("/{path:path}", status_code=204,
                   summary=f"Delete a file or folder of {what} that may still change")
    def delete(request: Request, path: str = "") -> Response:
        path = _checked(path, request, allow_root=True)
        writable(client_of(request), request.path_params[owner], path).delete(path)
        request.state.audit = {"path": path}
        return Response(status_code=204)

    return router


router = artifact_router(
    "/runs/{run_id}/artifacts", "run_id", "artifacts", "a run's artifacts",
    readable=lambda client, run_id, _path: client.run_artifacts(run_id),
    writable=lambda client, run_id, _path: client.writable_artifacts(run_id))
