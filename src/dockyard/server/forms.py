"""HTML form posts of the UI: reading a url-encoded body and refusing another site's post.

Read without python-multipart: UI forms are small and url-encoded. Each
form of a signed-in page also carries the session's CSRF token in the
``csrf_token`` field (:func:`~dockyard.server.auth.check_csrf`).
"""

from __future__ import annotations

from urllib.parse import parse_qs

from fastapi import Request

from dockyard.errors import InvalidArgument, PermissionDenied

MAX_FORM_BYTES = 16 * 1024
CSRF_FIELD = "csrf_token"


async def read_form(request: Request) -> dict[str, str]:
    """The fields of a url-encoded form post (the last value of each); none from any other
    body, which then misses the fields the route needs."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        return {}
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise InvalidArgument(f"the form is larger than {MAX_FORM_BYTES} bytes")
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {key: values[-1] for key, values in fields.items()}


def check_origin(request: Request, hint: str = "reload this server's page") -> None:
    """Refuse a form posted from another site (a browser always names its origin on a
    cross-site post); a post without ``Origin`` (curl, old browsers) passes."""
    origin = request.headers.get("origin")
    own = f"{request.url.scheme}://{request.url.netloc}"
    if origin is not None and origin.lower() != own.lower():
        raise PermissionDenied(f"this form was posted from {origin[:100]!r}, not from {own}: "
                               f"{hint}")
