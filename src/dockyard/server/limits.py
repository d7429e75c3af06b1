"""The size limit of every request body but file uploads, as ASGI middleware.

Routes that parse their own body (:func:`~dockyard.server.deps.parse_body`)
check it too; this covers the routes whose bodies FastAPI reads into memory.
A declared ``Content-Length`` over the limit is refused before reading; a
chunked body is counted as it arrives. Artifact and dataset file uploads
stream to disk and are exempt.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from dockyard.errors import TooLarge

_UPLOADS = re.compile(r"^/api/v1/(runs/[^/]+/artifacts|datasets/[^/]+/files)/")


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with 413."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or _UPLOADS.match(scope["path"]):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            await self._refuse(send, f"the body is {int(declared):,} bytes; the limit is "
                                     f"{self.limit:,}")
            return
        seen = 0

        async def counted() -> Any:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise TooLarge(f"the body is over {self.limit:,} bytes, the limit")
            return message

        await self.app(scope, counted, send)

    @staticmethod
    async def _refuse(send: Any, message: str) -> None:
        body = orjson.dumps({"error_code": TooLarge.error_code, "message": message})
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
