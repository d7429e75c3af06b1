"""One place that turns exceptions into ``{error_code, message}`` responses."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from dockyard.errors import DockyardError, InvalidArgument

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


HtmlErrors = Callable[[Request, Exception], Response | None]


def install_error_handlers(app: FastAPI, html_errors: HtmlErrors | None = None) -> None:
    """JSON errors for the API; ``html_errors`` may answer a page's error with HTML instead."""

    def page(request: Request, exc: Exception) -> Response | None:
        return html_errors(request, exc) if html_errors else None

    @app.exception_handler(DockyardError)
    async def _dockyard(request: Request, exc: DockyardError) -> Response:
        return page(request, exc) or JSONResponse(exc.to_dict(), status_code=exc.http_status)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        message = describe_validation(exc.errors())
        return page(request, InvalidArgument(message)) or JSONResponse(
            {"error_code": "INVALID_ARGUMENT", "message": message}, status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = _HTTP_CODES.get(exc.status_code, "INTERNAL_ERROR" if exc.status_code >= 500 else "INVALID_ARGUMENT")
        return page(request, exc) or JSONResponse(
            {"error_code": code, "message": str(exc.detail)}, status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        request_id = uuid.uuid4().hex[:12]
        log.exception("unhandled error in %s %s (request %s)", request.method, request.url.path, request_id)
        return page(request, exc) or JSONResponse(
            {"error_code": "INTERNAL_ERROR",
             "message": f"internal error ({exc.__class__.__name__}); request id {request_id}"},
            status_code=500,
        )
