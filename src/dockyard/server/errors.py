"""One place that turns exceptions into ``{error_code, message}`` responses."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from dockyard.errors import DockyardError

log = logging.getLogger("dockyard.server")

_HTTP_CODES = {
    400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
    404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 409: "CONFLICT", 413: "TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
}


def describe_validation(errors: Sequence[Any]) -> str:
    """One readable line from pydantic's errors: where, and what was wrong."""
    parts = []
    for err in errors[:10]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        if err.get("type") == "json_invalid":
            return "request body is not valid JSON: " + str(err.get("ctx", {}).get("error", err.get("msg")))
        parts.append(f"{loc or 'body'}: {err.get('msg')}")
    more = len(errors) - 10
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DockyardError)
    async def _dockyard(_request: Request, exc: DockyardError) -> JSONResponse:
        return JSONResponse(exc.to_dict(), status_code=exc.http_status)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(
            {"error_code": "INVALID_ARGUMENT", "message": describe_validation(exc.errors())}, status_code=400
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "INTERNAL_ERROR" if exc.status_code >= 500 else "INVALID_ARGUMENT")
        return JSONResponse({"error_code": code, "message": str(exc.detail)}, status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        request_id = uuid.uuid4().hex[:12]
        log.exception("unhandled error in %s %s (request %s)", request.method, request.url.path, request_id)
        return JSONResponse(
            {"error_code": "INTERNAL_ERROR",
             "message": f"internal error ({exc.__class__.__name__}); request id {request_id}"},
            status_code=500,
        )
