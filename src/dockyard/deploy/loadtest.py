"""Load a deployment and check its SLA: latency percentiles, throughput, errors.

:func:`run_load` keeps ``concurrency`` requests in flight for ``duration``
seconds (closed loop: each worker sends its next request when the last one
is answered) and measures every answer. :func:`check_sla` compares the
result with the deployment's :class:`~dockyard.entities.deployment.Sla`.
The request body is the model's input example as an Open Inference Protocol
request, unless the caller gives one.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from dockyard.entities.deployment import Sla
from dockyard.errors import InvalidArgument

__all__ = ["LoadResult", "check_sla", "run_load", "v2_request"]

_V2_TYPES = {"f": "FP64", "i": "INT64", "u": "UINT64", "b": "BOOL"}


@dataclass
class LoadResult:
    """What a load test measured."""

    requests: int
    errors: int
    """Answers other than 2xx, and requests that got no answer."""
    seconds: float
    throughput: float
    """Answered requests per second (errors included)."""
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    statuses: dict[str, int] = field(default_factory=dict)
    """Answers per HTTP status ("error" for no answer)."""

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "error_rate": self.error_rate}


def v2_request(example: Any) -> dict[str, Any]:
    """An Open Inference Protocol request body carrying ``example`` (a DataFrame or array)."""
    import pandas as pd

    if isinstance(example, pd.DataFrame):
        inputs = []
        for name, column in example.items():
            values = column.to_numpy()
            kind = _V2_TYPES.get(values.dtype.kind, "BYTES")
            data = values.tolist() if kind != "BYTES" else [str(v) for v in values]
            inputs.append({"name": str(name), "shape": [len(values)], "datatype": kind,
                           "data": data})
        return {"inputs": inputs}
    array = np.asarray(example)
    kind = _V2_TYPES.get(array.dtype.kind, "BYTES")
    data = array.ravel().tolist() if kind != "BYTES" else [str(v) for v in array.ravel()]
    return {"inputs": [{"name": "input-0", "shape": list(array.shape), "datatype": kind,
                        "data": data}]}


def run_load(url: str, body: dict[str, Any], *, duration: float, concurrency: int,
             timeout: float = 30.0,
             progress: Callable[[float, int], Any] | None = None) -> LoadResult:
    """POST ``body`` to ``url`` from ``concurrency`` workers for ``duration`` seconds.

    ``progress(elapsed_seconds, answered)`` is called about every 0.2 s.
    """
    if duration <= 0 or concurrency < 1:
        raise InvalidArgument("give a duration above 0 and a concurrency of at least 1")
    return asyncio.run(_load(url, body, duration, concurrency, timeout, progress))


async def _load(url: str, body: dict[str, Any], duration: float, concurrency: int,
                timeout: float, progress: Callable[[float, int], Any] | None) -> LoadResult:
    import aiohttp
    import orjson

    content = orjson.dumps(body)
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    headers = {"content-type": "application/json"}
    started = time.perf_counter()
    end = started + duration

    async def worker(http: aiohttp.ClientSession) -> None:
        while time.perf_counter() < end:
            sent = time.perf_counter()
            try:
                async with http.post(url, data=content, headers=headers) as response:
                    await response.read()
                    statuses[str(response.status)] += 1
            except (aiohttp.ClientError, asyncio.TimeoutError):
                statuses["error"] += 1
            latencies.append((time.perf_counter() - sent) * 1000.0)

    async def report() -> None:
        while progress is not None:
            progress(time.perf_counter() - started, len(latencies))
            await asyncio.sleep(0.2)

    async with aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=timeout),
            connector=aiohttp.TCPConnector(limit=concurrency)) as http:
        reporter = asyncio.create_task(report())
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
        reporter.cancel()
    seconds = time.perf_counter() - started
    ok = sum(n for status, n in statuses.items() if status.startswith("2"))
    n = len(latencies)
    p50, p95, p99 = (np.percentile(latencies, [50, 95, 99]).tolist() if n else (None,) * 3)
    return LoadResult(requests=n, errors=n - ok, seconds=seconds, throughput=n / seconds,
                      p50_ms=p50, p95_ms=p95, p99_ms=p99, statuses=dict(statuses))


def check_sla(result: LoadResult, sla: Sla, *, max_error_rate: float = 0.01) -> list[str]:
    """How the result breaks the SLA, one line per broken promise (empty: it holds).

    Fast errors are not service: more than ``max_error_rate`` of failed
    requests breaks the SLA too.
    """
    broken = []
    if result.error_rate > max_error_rate:
        broken.append(f"{result.errors} of {result.requests} requests failed "
                      f"({result.error_rate:.1%}, more than {max_error_rate:.0%})")
    if sla.p99_ms is not None and (result.p99_ms is None or result.p99_ms > sla.p99_ms):
        broken.append(f"p99 latency {result.p99_ms or 0:.1f} ms is over the SLA's "
                      f"{sla.p99_ms:g} ms")
    if sla.min_throughput is not None and result.throughput < sla.min_throughput:
        broken.append(f"throughput {result.throughput:.1f} requests/s is under the SLA's "
                      f"{sla.min_throughput:g}")
    return broken
