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


def describe_unparsed_body(exc: BaseException | None) -> str:
    """Why a body could not be decoded, for FastAPI's bare "error parsing the body"."""
    if isinstance(exc, RecursionError):
        why = "it nests too deeply"
    elif isinstance(exc, UnicodeDecodeError):
        why = "it is not UTF-8 text"
    elif exc is not None and str(exc):
        why = str(exc)
    else:
        why = "it is malformed"
    return f"request body is not valid JSON: {why}; send one JSON object"


def _lone_surrogate(exc: BaseException) -> bool:
    """Text with an unpaired UTF-16 surrogate (JSON's "\\ud800") cannot be stored."""
    return isinstance(exc, UnicodeEncodeError) and "surrogate" in str(exc.reason)


_FASTAPI_PARSE_ERROR = "There was an error parsing the body"
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
        message = str(exc.detail)
        if exc.status_code == 400 and message == _FASTAPI_PARSE_ERROR:
            if isinstance(exc.__cause__, DockyardError):  # e.g. the body limit, while reading
                return await _dockyard(request, exc.__cause__)
            message = describe_unparsed_body(exc.__cause__)
        return page(request, exc) or JSONResponse(
            {"error_code": code, "message": message}, status_code=exc.status_code)

    @app.exception_handler(UnicodeEncodeError)
    async def _unencodable(request: Request, exc: UnicodeEncodeError) -> Response:
        # Python's JSON parser accepts "\\ud800"; no database or file name can hold it.
        if not _lone_surrogate(exc):
            return await _unexpected(request, exc)
        refused = InvalidArgument("the request holds text with a lone UTF-16 surrogate (such as "
                                  "\\ud800), which is not valid Unicode; send the character's "
                                  "full surrogate pair or its UTF-8 bytes")
        return page(request, refused) or JSONResponse(refused.to_dict(), status_code=400)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        request_id = uuid.uuid4().hex[:12]
        log.exception("unhandled error in %s %s (request %s)", request.method, request.url.path, request_id)
        return page(request, exc) or JSONResponse(
            {"error_code": "INTERNAL_ERROR",
             "message": f"internal error ({exc.__class__.__name__}); request id {request_id}"},
            status_code=500,
        )
