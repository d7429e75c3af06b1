"""A run's artifacts, proxied: clients need no credentials for the store behind."""

from __future__ import annotations

import mimetypes
import tempfile

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from dockyard.entities import FileInfo, FileInfoPage, Page
from dockyard.entities.validation import validate_artifact_path
from dockyard.server.deps import client_of, json_response
from dockyard.server.writes import AuditedRoute

router = APIRouter(prefix="/runs/{run_id}/artifacts", tags=["artifacts"], route_class=AuditedRoute)
_SPOOL_IN_MEMORY = 8 * 1024 * 1024


@router.get("", response_model=Page[FileInfo], summary="List a folder of a run's artifacts")
def list_artifacts(run_id: str, request: Request, path: str = "") -> Response:
    return json_response(FileInfoPage(items=client_of(request).list_artifacts(run_id, path)))


@router.get("/{path:path}", summary="Download an artifact (streamed)",
            response_class=StreamingResponse, responses={200: {"content": {"application/octet-stream": {}}}})
def download_artifact(run_id: str, path: str, request: Request) -> Response:
    store = client_of(request).run_artifacts(run_id)
    path = validate_artifact_path(path)
    size = store.size(path)  # raises NotFound before the response starts
    media_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
    return StreamingResponse(store.iter_bytes(path), media_type=media_type,
                             headers={"Content-Length": str(size)})


@router.head("/{path:path}", include_in_schema=False)
def artifact_size(run_id: str, path: str, request: Request) -> Response:
    size = client_of(request).run_artifacts(run_id).size(validate_artifact_path(path))
    return Response(headers={"Content-Length": str(size)})


@router.put("/{path:path}", status_code=204, summary="Upload an artifact (streamed request body)")
async def upload_artifact(run_id: str, path: str, request: Request) -> Response:
    path = validate_artifact_path(path)
    # Refuse before reading a byte: a large upload to an ended run must not fill the disk.
    store = await run_in_threadpool(client_of(request).writable_artifacts, run_id)
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


@router.delete("", status_code=204, summary="Delete all artifacts of a running run")
@router.delete("/{path:path}", status_code=204, summary="Delete an artifact or folder of a running run")
def delete_artifact(run_id: str, request: Request, path: str = "") -> Response:
    client = client_of(request)
    client.writable_artifacts(run_id).delete(validate_artifact_path(path, allow_root=True))
    request.state.audit = {"path": path}
    return Response(status_code=204)
