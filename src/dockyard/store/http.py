"""HTTP plumbing shared by the REST metadata store and the HTTP artifact store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import orjson

from dockyard._version import __version__
from dockyard.errors import DockyardError, ServerUnavailable, error_from_body

API_PREFIX = "/api/v1"
USER_HEADER = "X-Dockyard-User"
AUTHORIZATION_HEADER = "Authorization"

_UNREACHABLE = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.ReadError,
    httpx.WriteError,
    httpx.RemoteProtocolError,
    httpx.ReadTimeout,
    httpx.WriteTimeout,
    httpx.PoolTimeout,
)


def raise_for_response(response: httpx.Response) -> None:
    if response.is_success:
        return
    try:
        body = orjson.loads(response.read())
    except orjson.JSONDecodeError:
        body = response.text[:500]
    except httpx.StreamError:
        body = ""
    raise error_from_body(response.status_code, body)


class HttpSession:
    """A pooled connection to one Dockyard server.

    ``user`` goes in the ``X-Dockyard-User`` header of every request; ``token``
    (an API token's secret, ``DOCKYARD_TOKEN``), when given, in an
    ``Authorization: Bearer`` header besides.

    Connection failures become :class:`~dockyard.errors.ServerUnavailable`;
    error bodies become the exception class the server raised.
    """

    def __init__(self, base_url: str, user: str | None = None, timeout: float = 30.0,
                 token: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"User-Agent": f"dockyard/{__version__}"}
        if user:
            headers[USER_HEADER] = user
        if token:
            # httpx keeps the header out of its logs and reprs; never print it here either.
            headers[AUTHORIZATION_HEADER] = f"Bearer {token}"
        self.client = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
        )

    def request(self, method: str, path: str, *, json: Any = None, **kwargs: Any) -> httpx.Response:
        if json is not None:
            kwargs["content"] = orjson.dumps(json)
            kwargs.setdefault("headers", {})["Content-Type"] = "application/json"
        try:
            response = self.client.request(method, API_PREFIX + path, **kwargs)
        except _UNREACHABLE as exc:
            raise ServerUnavailable(
                f"cannot reach the Dockyard server at {self.base_url}: {exc.__class__.__name__}: {exc}"
            ) from exc
        except httpx.HTTPError as exc:
            raise DockyardError(f"HTTP request to {self.base_url} failed: {exc}") from exc
        raise_for_response(response)
        return response

    @contextmanager
    def stream(self, method: str, path: str, **kwargs: Any) -> Iterator[httpx.Response]:
        try:
            with self.client.stream(method, API_PREFIX + path, **kwargs) as response:
                raise_for_response(response)
                yield response
        except _UNREACHABLE as exc:
            raise ServerUnavailable(
                f"cannot reach the Dockyard server at {self.base_url}: {exc.__class__.__name__}: {exc}"
            ) from exc

    def close(self) -> None:
        self.client.close()

    def __del__(self) -> None:
        # Clients are often dropped without close(); do not leak their sockets.
        try:
            self.client.close()
        except Exception:
            pass
