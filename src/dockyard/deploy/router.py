"""The traffic router of a local deployment: weighted routing, shadow copies, drain, stats.

An ASGI app in front of the deployment's model servers (``dockyard serve``
processes on loopback ports). Each request goes to one served version,
picked at random by weight (stable and canary); a shadow version gets a
copy of every inference request, sent after the answer and never returned.
Both carry the same ``X-Request-ID``, so their predictions can be compared
in the prediction log.

The route table is swapped whole, so a request sees the old table or the new
one, never half of each. The router counts requests in flight per server, so
an old version is stopped only after its last answer (drain), and keeps
per-version outcomes (latency, server errors) for canary analysis and for
its own ``/metrics``. A connection refused by a server (the request was not
delivered) is retried once on another ready version, so a restart does not
fail requests.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import re
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from dockyard.entities.deployment import Route

log = logging.getLogger("dockyard.deploy")

Scope = dict[str, Any]
_HOP_BY_HOP = frozenset({b"connection", b"keep-alive", b"transfer-encoding", b"host",
                         b"content-length", b"upgrade", b"te", b"trailer",
                         b"proxy-authorization", b"proxy-connection"})
_SAMPLES = 100_000
"""Outcomes kept per version for canary analysis (the newest)."""
MAX_BODY = 64 * 1024 * 1024
"""The largest request body the router forwards (413 beyond), as ``dockyard serve``'s default."""
_PINNED = re.compile(r"^/v2/models/[^/]+/versions/([^/]+)/")


def route_key(route: Route) -> tuple[str, str, bool]:
    """Which model server a route needs: a shadow runs apart from a served copy of a version."""
    return (route.model_name, route.version, route.role == "shadow")


@dataclass
class Backend:
    """One model version's server process, as the router sees it."""

    route: Route
    url: str
    ready: bool = False
    in_flight: int = 0
    samples: deque[tuple[float, float, bool]] = field(
        default_factory=lambda: deque(maxlen=_SAMPLES))
    """(monotonic time, latency in ms, server error) of each answered request."""

    @property
    def key(self) -> tuple[str, str, bool]:
        return route_key(self.route)

    @property
    def label(self) -> str:
        return f"{self.route.model_name}/{self.route.version}"

    def snapshot(self) -> list[tuple[float, float, bool]]:
        """The outcomes kept, oldest first (a copy: :func:`stats_of` may run in a thread)."""
        return list(self.samples)


def stats_of(samples: list[tuple[float, float, bool]], since: float) -> Stats:
    """Outcomes of the requests answered since ``since`` (monotonic seconds)."""
    import bisect

    rows = samples[bisect.bisect_left(samples, (since,)):]
    latencies = np.fromiter((s[1] for s in rows), dtype=np.float64, count=len(rows))
    errors = sum(s[2] for s in rows)
    p90, p99 = np.percentile(latencies, [90, 99]).tolist() if rows else (None, None)
    return Stats(len(rows), errors, p90, p99)


@dataclass(frozen=True)
class Stats:
    """Requests answered, server errors among them, and latency percentiles in ms."""

    requests: int
    errors: int
    p90_ms: float | None
    p99_ms: float | None

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


@dataclass(frozen=True)
class Table:
    """Where traffic goes: served backends with their weights, and an optional shadow."""

    served: tuple[Backend, ...] = ()
    weights: tuple[int, ...] = ()
    shadow: Backend | None = None

    def pinned(self, version: str) -> Backend | None:
        """The ready served backend of ``version`` (a request to ``.../versions/<v>/...``)."""
        return next((b for b in self.served if b.route.version == version and b.ready), None)

    def pick(self, exclude: Backend | None = None) -> Backend | None:
        """A ready backend at random by weight; the other ready ones if its weight is 0."""
        ready = [(b, w) for b, w in zip(self.served, self.weights)
                 if b.ready and b is not exclude]
        if not ready:
            return None
        total = sum(w for _, w in ready)
        if total <= 0:
            return ready[0][0]
        point = random.random() * total
        for backend, weight in ready:
            point -= weight
            if point < 0:
                return backend
        return ready[-1][0]


class Router:
    """The ASGI app of a local deployment's endpoint."""

    def __init__(self, name: str, *, timeout: float = 60.0) -> None:
        self.name = name
        self.timeout = timeout
        self.table = Table()
        self._http: Any = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._metrics = _Metrics(name)

    # the table ---------------------------------------------------------------------------
    def switch(self, backends: Sequence[Backend], routes: Sequence[Route]) -> None:
        """Route by ``routes`` from now on (each names one of ``backends``)."""
        by_key = {b.key: b for b in backends}
        served = [r for r in routes if r.role != "shadow"]
        shadow = next((r for r in routes if r.role == "shadow"), None)
        self.table = Table(
            served=tuple(by_key[route_key(r)] for r in served),
            weights=tuple(r.weight for r in served),
            shadow=by_key[route_key(shadow)] if shadow else None,
        )

    async def drain(self, backend: Backend, timeout: float = 30.0) -> bool:
        """Wait until ``backend`` answered its last request; False if ``timeout`` passed."""
        deadline = time.monotonic() + timeout
        while backend.in_flight and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        return backend.in_flight == 0

    # ASGI --------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http_request(scope, receive, send)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        import aiohttp

        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._http = aiohttp.ClientSession(
                    timeout=aiohttp.ClientTimeout(total=self.timeout, connect=5.0),
                    connector=aiohttp.TCPConnector(limit=256), auto_decompress=False,
                    skip_auto_headers=("User-Agent", "Content-Type"))
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._tasks:
                    await asyncio.wait(self._tasks, timeout=10)
                await self._http.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http_request(self, scope: Scope, receive: Any, send: Any) -> None:
        path = scope["path"]
        if path == "/v2/health/live":
            return await _reply(send, 200, b"")
        if path == "/v2/health/ready":
            ready = any(b.ready for b in self.table.served)
            return await _reply(send, 200 if ready else 503, b"")
        if path == "/metrics":
            return await _reply(send, 200, self._metrics.render(), b"text/plain; version=0.0.4")
        body = bytearray()
        while True:
            message = await receive()
            body += message.get("body", b"")
            if len(body) > MAX_BODY:
                return await _reply(send, 413, orjson.dumps({
                    "error_code": "TOO_LARGE",
                    "message": f"the body is over {MAX_BODY} bytes: split the request"}))
            if not message.get("more_body"):
                break
        headers = [(k, v) for k, v in scope["headers"] if k.lower() not in _HOP_BY_HOP]
        if not any(k.lower() == b"x-request-id" for k, _ in headers):
            headers.append((b"x-request-id", os.urandom(16).hex().encode()))
        target = scope["path"] + (f"?{scope['query_string'].decode()}"
                                  if scope.get("query_string") else "")
        table = self.table
        pinned = _PINNED.match(scope["path"])
        if pinned:
            backend = table.pinned(pinned.group(1))
            if backend is None:
                return await _reply(send, 404, orjson.dumps({
                    "error": f"deployment {self.name!r} serves no version {pinned.group(1)!r} "
                             "now; see dockyard deploy status"}))
        else:
            backend = table.pick()
        result = None
        for _ in range(2):
            if backend is None:
                break
            result = await self._forward(backend, scope["method"], target, headers, bytes(body))
            if result is not None:
                break
            backend = None if pinned else table.pick(exclude=backend)  # not delivered: retry
        if backend is None or result is None:
            return await _reply(send, 503, orjson.dumps({
                "error_code": "UNAVAILABLE",
                "message": f"deployment {self.name!r} has no ready model server; retry "
                           "shortly, or see dockyard deploy status"}),
                extra=[(b"retry-after", b"1")])
        status, reply_headers, content = result
        reply_headers.append((b"x-dockyard-version", backend.label.encode()))
        await _reply(send, status, content, headers=reply_headers)
        shadow = table.shadow
        if shadow is not None and shadow.ready and scope["method"] == "POST":
            task = asyncio.get_running_loop().create_task(
                self._mirror(shadow, target, headers, bytes(body)))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _forward(self, backend: Backend, method: str, target: str,
                       headers: list[tuple[bytes, bytes]], body: bytes
                       ) -> tuple[int, list[tuple[bytes, bytes]], bytes] | None:
        """Send the request; None when it was not delivered (connection refused)."""
        import aiohttp

        backend.in_flight += 1
        started = time.perf_counter()
        try:
            async with self._http.request(
                    method, backend.url + target, data=body,
                    headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers],
            ) as response:
                content = await response.read()
                status = response.status
                out = [(k, v) for k, v in response.raw_headers if k.lower() not in _HOP_BY_HOP]
        except aiohttp.ClientConnectorError:
            return None
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            self._observe(backend, started, 502)
            message = f"model server {backend.label} failed: {type(exc).__name__}: {exc}"
            return 502, [(b"content-type", b"application/json")], orjson.dumps(
                {"error_code": "BAD_GATEWAY", "message": message})
        finally:
            backend.in_flight -= 1
        self._observe(backend, started, status)
        return status, out, content

    async def _mirror(self, backend: Backend, target: str, headers: list[tuple[bytes, bytes]],
                      body: bytes) -> None:
        try:
            await self._forward(backend, "POST", target, headers, body)
        except Exception as exc:  # a shadow never hurts the answer
            log.warning("shadow request to %s failed: %s", backend.label, exc)

    def _observe(self, backend: Backend, started: float, status: int) -> None:
        seconds = time.perf_counter() - started
        backend.samples.append((time.monotonic(), seconds * 1000.0, status >= 500))
        self._metrics.observe(backend, status, seconds)


class _Metrics:
    """The router's Prometheus metrics, labelled by deployment, version and role."""

    def __init__(self, name: str) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.name = name
        self.registry = CollectorRegistry()
        labels = ["deployment", "model", "version", "role"]
        self.requests = Counter("dockyard_deployment_requests", "Requests answered, by code.",
                                [*labels, "code"], registry=self.registry)
        self.latency = Histogram(
            "dockyard_deployment_request_duration_seconds",
            "Time from the router's request to the model server's answer.", labels,
            buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10),
            registry=self.registry)

    def observe(self, backend: Backend, status: int, seconds: float) -> None:
        route = backend.route
        labels = (self.name, route.model_name, route.version, route.role)
        self.requests.labels(*labels, str(status)).inc()
        self.latency.labels(*labels).observe(seconds)

    def render(self) -> bytes:
        from prometheus_client import generate_latest

        return generate_latest(self.registry)


async def _reply(send: Any, status: int, body: bytes, content_type: bytes = b"application/json",
                 *, headers: list[tuple[bytes, bytes]] | None = None,
                 extra: list[tuple[bytes, bytes]] | None = None) -> None:
    out = headers if headers is not None else [(b"content-type", content_type)]
    out = [*out, *(extra or []), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": out})
    await send({"type": "http.response.body", "body": body})
