"""Adaptive batching: concurrent requests coalesced into one predict call.

A server hands each request's input to :meth:`AdaptiveBatcher.submit`; the
batcher concatenates the inputs of the requests waiting at that moment along
the row axis, calls the model's ``predict`` once in a worker thread (so the
event loop keeps accepting and parsing requests meanwhile) and slices the
output back, in order, to each caller.

Items
    A request's input (an *item*) is one of

    - a numpy array with the rows on axis 0 (a 2-D feature matrix, or a
      tensor of any rank),
    - a mapping of column or tensor name to a numpy array, all with the same
      number of rows on axis 0,
    - a list, one element per row (e.g. texts).

    ``predict`` receives an object of the same kind: the item itself when the
    batch holds one request (no copy, no concatenation), else the
    concatenation of the items. Only requests whose items have the same
    structure (same kind, same names, same dtypes and trailing shapes) share
    a batch, so a request with another layout never breaks someone else's
    batch; validation against the model's signature belongs before
    :meth:`~AdaptiveBatcher.submit`.

Outputs
    ``predict`` returns an array with one row per input row (any rank), a
    mapping of name to such arrays (or lists), a list with one element per
    row, a tuple of such outputs, or anything with a pandas-style ``iloc``.
    Each caller receives the slice holding its own rows (numpy slices are
    views). When a batch holds one request the output is handed back as it
    is, so a model whose output is not row-aligned can still be served with
    ``max_batch_size=1``.

Dispatch policy
    A batch is started as soon as a worker slot is free and one of these
    holds:

    - *idle*: no batch of this model is running (and ``eager`` is on, the
      default). A lone request therefore never waits for ``max_wait_ms``:
      at concurrency 1 the latency is the predict time plus a thread hop.
      The start is deferred by one event-loop iteration (``call_soon``), so
      requests submitted in the same iteration (a burst read from the
      sockets at once) still share the batch.
    - *full*: the queue holds ``max_batch_size`` rows or more.
    - *wait*: the oldest queued request has waited ``max_wait_ms``. This
      applies when other batches are running and a slot is free
      (``max_concurrent_batches > 1``), or always when ``eager`` is off
      (the classic "wait to fill the batch" policy, for accelerators where a
      fuller batch costs little more than a small one).
    - *drain*: :meth:`~AdaptiveBatcher.close` was called.

    While a predict runs, new requests accumulate in the queue and go
    together into the next batch the moment it finishes: under light load
    batches are small and latency is low, under heavy load batches grow
    towards ``max_batch_size`` and throughput rises. That is the adaptive
    part; no timer is involved with the default settings.

    A batch never splits a request: a request larger than ``max_batch_size``
    rows runs as a batch of its own.

Overload, timeouts, errors
    :meth:`~AdaptiveBatcher.submit` raises :class:`Overloaded` (HTTP 503,
    with a suggested ``retry_after`` in seconds) at once when the queue is
    at ``max_queue`` requests (or ``max_queue_rows`` rows), instead of
    letting the queue and the latency grow without bound. A request that
    times out raises :class:`RequestTimeout` (a :class:`TimeoutError`, so
    also an ``asyncio.TimeoutError``); if its batch had not started, its rows
    are dropped from the queue, and a caller that is cancelled (a client
    that went away) is dropped the same way. An exception raised by
    ``predict`` is delivered to every request of that batch and to no other.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import math
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Self

import numpy as np

from dockyard.errors import DockyardError, InvalidArgument, InvalidState, ServerUnavailable

__all__ = [
    "AdaptiveBatcher",
    "BatchInfo",
    "BatcherClosed",
    "Overloaded",
    "RequestTimeout",
    "batch_key",
    "concat_rows",
    "count_rows",
    "split_rows",
]

log = logging.getLogger("dockyard.serve")


class Overloaded(ServerUnavailable):
    """The model's queue is full; retry after ``retry_after`` seconds.

    The server answers 503 with a ``Retry-After`` header. It derives from
    :class:`~dockyard.errors.ServerUnavailable`, so a client that retries
    an unreachable server retries an overloaded one too.
    """

    error_code = "OVERLOADED"
    http_status = 503

    def __init__(self, message: str, *, retry_after: int = 1, **details: Any) -> None:
        super().__init__(message, retry_after=retry_after, **details)
        self.retry_after = retry_after


class BatcherClosed(ServerUnavailable):
    """The model is shutting down and takes no new requests."""

    error_code = "SHUTTING_DOWN"
    http_status = 503


class RequestTimeout(DockyardError, TimeoutError):
    """The request was not answered within its timeout.

    A :class:`TimeoutError`, hence also an :class:`asyncio.TimeoutError`.
    """

    error_code = "DEADLINE_EXCEEDED"
    http_status = 504


@dataclass(frozen=True, slots=True)
class BatchInfo:
    """What one batch did, handed to the ``on_batch`` hook after it finished.

    ``rows`` and ``requests`` describe the batch; ``predict_seconds`` is the
    time spent in ``predict`` alone (not concatenation or slicing);
    ``queued_rows`` and ``queued_requests`` are the queue depth once the
    next batch has been started; ``reason`` is why the batch started
    (``"idle"``, ``"full"``, ``"wait"`` or ``"drain"``, see the module
    docstring); ``error`` is the exception delivered to the batch's callers,
    or ``None``.
    """

    rows: int
    requests: int
    predict_seconds: float
    queued_rows: int
    queued_requests: int
    reason: str
    error: BaseException | None = None


# ---------------------------------------------------------------- items


def count_rows(item: Any) -> int:
    """Rows in an item: the length of axis 0 (of the first entry of a mapping)."""
    if isinstance(item, np.ndarray):
        if item.ndim == 0:
            raise InvalidArgument("a 0-d array has no rows to batch")
        return item.shape[0]
    if isinstance(item, Mapping):
        for value in item.values():
            return len(value)
        raise InvalidArgument("an empty mapping has no rows to batch")
    if isinstance(item, list):
        return len(item)
    raise InvalidArgument(f"cannot count the rows of a {type(item).__name__}")


def _dtype_key(dtype: np.dtype) -> Any:
    # Strings of different widths concatenate without loss; anything else
    # must match exactly so that concatenation never changes a dtype.
    return dtype.kind if dtype.kind in "US" else dtype.str


def batch_key(item: Any) -> Hashable:
    """The structure of an item; only items with equal keys share a batch."""
    if isinstance(item, np.ndarray):
        return ("array", _dtype_key(item.dtype), item.shape[1:])
    if isinstance(item, Mapping):
        return frozenset(
            (name, _dtype_key(value.dtype), value.shape[1:])
            if isinstance(value, np.ndarray)
            else (name, type(value))
            for name, value in item.items()
        )
    return type(item)


def concat_rows(items: Sequence[Any]) -> Any:
    """Concatenate items of one structure along the row axis."""
    first = items[0]
    if isinstance(first, np.ndarray):
        return np.concatenate(items, axis=0)
    if isinstance(first, Mapping):
        return {name: np.concatenate([item[name] for item in items], axis=0) for name in first}
    if isinstance(first, list):
        return [row for item in items for row in item]
    raise InvalidArgument(f"cannot batch inputs of type {type(first).__name__}")


def _bounds(sizes: Sequence[int]) -> list[tuple[int, int]]:
    out = []
    start = 0
    for size in sizes:
        out.append((start, start + size))
        start += size
    return out


def _split(output: Any, bounds: list[tuple[int, int]], total: int, where: str) -> list[Any]:
    if isinstance(output, np.ndarray):
        got = output.shape[0] if output.ndim else None
        if got != total:
            raise DockyardError(
                f"predict returned {got if got is not None else 'a scalar'} rows{where} "
                f"for {total} input rows"
            )
        return [output[a:b] for a, b in bounds]
    if isinstance(output, Mapping):
        parts = {
            name: _split(value, bounds, total, f" in {name!r}") for name, value in output.items()
        }
        return [{name: part[i] for name, part in parts.items()} for i in range(len(bounds))]
    if isinstance(output, tuple):
        parts_t = [
            _split(value, bounds, total, f" in output {i}") for i, value in enumerate(output)
        ]
        return [tuple(part[i] for part in parts_t) for i in range(len(bounds))]
    if isinstance(output, list) or hasattr(output, "iloc"):
        got = len(output)
        if got != total:
            raise DockyardError(f"predict returned {got} rows{where} for {total} input rows")
        if isinstance(output, list):
            return [output[a:b] for a, b in bounds]
        return [output.iloc[a:b] for a, b in bounds]
    raise DockyardError(f"cannot split a predict output of type {type(output).__name__} into rows")


def split_rows(output: Any, sizes: Sequence[int]) -> list[Any]:
    """Slice a batch output back into one part per request of ``sizes`` rows."""
    return _split(output, _bounds(sizes), sum(sizes), "")


# ---------------------------------------------------------------- batcher

_QUEUED, _RUNNING, _DROPPED = 0, 1, 2
_UNSET: Any = object()


class _Entry:
    __slots__ = ("enqueued", "future", "item", "rows", "state")

    def __init__(self, item: Any, rows: int, future: asyncio.Future[Any], enqueued: float) -> None:
        self.item = item
        self.rows = rows
        self.future = future
        self.state = _QUEUED
        self.enqueued = enqueued


class AdaptiveBatcher:
    """Coalesce concurrent requests for one model into batched predict calls.

    ``predict`` is a plain (blocking) function from a batch to its output;
    it runs in a worker thread, at most ``max_concurrent_batches`` calls at
    a time (one by default: most models use their own threads, and one
    call at a time keeps batches large). The batcher starts its own worker
    threads on first use; they take jobs from a plain queue and answer
    through ``call_soon_threadsafe``, which costs well under half of a
    ``run_in_executor`` round trip. The module docstring describes items,
    outputs and the dispatch policy.

    Parameters:
        max_batch_size: most rows in one batch (a larger request runs alone).
        max_wait_ms: how long a queued request may be held to fill a batch
            when the model is busy with other batches but a slot is free,
            or always when ``eager`` is off.
        max_queue: most queued (not yet running) requests; beyond it
            :meth:`submit` raises :class:`Overloaded`.
        max_queue_rows: most queued rows, or ``None`` for no row limit
            (a request is always accepted into an empty queue).
        max_concurrent_batches: predict calls that may run at once.
        eager: start a batch at once when the model is idle (default).
        inline_ms: a batch of one request, with no other batch running, runs
            in the event loop's own thread when the model's predict has
            taken less than this on average: at low concurrency that saves
            the two thread wake-ups of a hand-off (tens of microseconds),
            and the loop is blocked no longer than a fast predict. 0 (the
            default) always hands off.
        timeout: default per-request timeout in seconds, or ``None``.
        executor: run predict in this executor instead of the batcher's
            own worker threads (which :meth:`close` stops).
        on_batch: called in the event loop with a :class:`BatchInfo` after
            every batch (metrics); its exceptions are logged and ignored.
        concat, split, key: replace :func:`concat_rows`, :func:`split_rows`
            and :func:`batch_key` for other item types.
        name: the model's name, for thread names and messages.
    """

    def __init__(
        self,
        predict: Callable[[Any], Any],
        *,
        max_batch_size: int = 32,
        max_wait_ms: float = 2.0,
        max_queue: int = 1024,
        max_queue_rows: int | None = None,
        max_concurrent_batches: int = 1,
        eager: bool = True,
        inline_ms: float = 0.0,
        timeout: float | None = None,
        executor: concurrent.futures.Executor | None = None,
        on_batch: Callable[[BatchInfo], None] | None = None,
        concat: Callable[[Sequence[Any]], Any] = concat_rows,
        split: Callable[[Any, Sequence[int]], list[Any]] = split_rows,
        key: Callable[[Any], Hashable] = batch_key,
        name: str = "model",
    ) -> None:
        if max_batch_size < 1:
            raise InvalidArgument("max_batch_size must be at least 1")
        if max_wait_ms < 0:
            raise InvalidArgument("max_wait_ms must not be negative")
        if max_queue < 1:
            raise InvalidArgument("max_queue must be at least 1")
        if max_queue_rows is not None and max_queue_rows < 1:
            raise InvalidArgument("max_queue_rows must be at least 1")
        if inline_ms < 0:
            raise InvalidArgument("inline_ms must not be negative")
        if max_concurrent_batches < 1:
            raise InvalidArgument("max_concurrent_batches must be at least 1")
        if timeout is not None and timeout <= 0:
            raise InvalidArgument("timeout must be positive")
        self._predict = predict
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000.0
        self.max_queue = max_queue
        self.max_queue_rows = max_queue_rows
        self.max_concurrent_batches = max_concurrent_batches
        self.eager = eager
        self.inline = inline_ms / 1000.0
        self.timeout = timeout
        self.name = name
        self.on_batch = on_batch
        self._concat = concat
        self._split = split
        self._key = key
        self._executor = executor
        self._jobs: queue.SimpleQueue[tuple[Any, ...] | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: deque[_Entry] = deque()
        self._queued_requests = 0
        self._queued_rows = 0
        self._running = 0
        self._running_requests = 0
        self._dispatch_pending = False
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False
        self._idle_waiters: list[asyncio.Future[None]] = []
        self._batch_seconds = 0.0  # moving average, for Retry-After

    # ------------------------------------------------------------ state

    @property
    def queued_requests(self) -> int:
        """Requests waiting for a batch (not yet running)."""
        return self._queued_requests

    @property
    def queued_rows(self) -> int:
        """Rows waiting for a batch (not yet running)."""
        return self._queued_rows

    @property
    def running_batches(self) -> int:
        """Predict calls running now."""
        return self._running

    @property
    def in_flight(self) -> int:
        """Requests submitted and not yet answered (queued or running)."""
        return self._queued_requests + self._running_requests

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    # ------------------------------------------------------------ submit

    async def submit(
        self, item: Any, n_rows: int | None = None, *, timeout: float | None = _UNSET
    ) -> Any:
        """Predict on ``item`` as part of a batch and return its own rows' output.

        ``n_rows`` is the item's row count (counted with :func:`count_rows`
        when omitted). ``timeout`` (seconds) overrides the batcher's default;
        ``None`` waits without limit.

        Raises :class:`Overloaded` at once when the queue is full,
        :class:`BatcherClosed` after :meth:`close`, :class:`RequestTimeout`
        when the timeout passes first, and whatever ``predict`` raised for
        this request's batch.
        """
        if self._closed:
            raise BatcherClosed(f"model {self.name!r} is shutting down")
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            if self._loop is not None:
                raise InvalidState(f"the batcher of model {self.name!r} serves another event loop")
            self._loop = loop
        rows = count_rows(item) if n_rows is None else n_rows
        if rows < 0:
            raise InvalidArgument("n_rows must not be negative")
        if self._queued_requests >= self.max_queue or (
            self.max_queue_rows is not None
            and self._queued_rows
            and self._queued_rows + rows > self.max_queue_rows
        ):
            raise self.overloaded()
        future: asyncio.Future[Any] = loop.create_future()
        entry = _Entry(item, rows, future, loop.time())
        self._queue.append(entry)
        self._queued_requests += 1
        self._queued_rows += rows
        if (
            not self._dispatch_pending
            and self._running < self.max_concurrent_batches
            and (self._timer is None or self._queued_rows >= self.max_batch_size)
        ):
            self._dispatch_pending = True
            loop.call_soon(self._dispatch)
        if timeout is _UNSET:
            timeout = self.timeout
        timer = None if timeout is None else loop.call_later(timeout, self._expire, entry, timeout)
        try:
            return await future
        except asyncio.CancelledError:
            self._drop(entry)
            raise
        finally:
            if timer is not None:
                timer.cancel()

    def overloaded(self) -> Overloaded:
        """The :class:`Overloaded` error for the queue as it is now, with its ``retry_after``."""
        batches_ahead = math.ceil(self._queued_rows / self.max_batch_size) + self._running
        estimate = batches_ahead * self._batch_seconds / self.max_concurrent_batches
        retry_after = max(1, math.ceil(estimate))
        return Overloaded(
            f"model {self.name!r} is overloaded: {self._queued_requests} requests queued",
            retry_after=retry_after,
            queued_requests=self._queued_requests,
            queued_rows=self._queued_rows,
        )

    def _drop(self, entry: _Entry) -> None:
        """Take a queued entry out of the counts; the deque skips it later."""
        if entry.state == _QUEUED:
            entry.state = _DROPPED
            self._queued_requests -= 1
            self._queued_rows -= entry.rows
            self._notify_if_idle()

    def _expire(self, entry: _Entry, timeout: float) -> None:
        if entry.future.done():
            return
        self._drop(entry)
        entry.future.set_exception(
            RequestTimeout(
                f"no answer from model {self.name!r} within {timeout:g} s", timeout=timeout
            )
        )

    # ------------------------------------------------------------ dispatch

    def _dispatch(self) -> None:
        """Start batches while a slot is free and the policy says go."""
        self._dispatch_pending = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        loop = self._loop
        assert loop is not None
        while self._running < self.max_concurrent_batches and self._queued_requests:
            if self._closed:
                reason = "drain"
            elif self._queued_rows >= self.max_batch_size:
                reason = "full"
            elif self._running == 0 and self.eager:
                reason = "idle"
            else:
                oldest = self._oldest()
                waited = loop.time() - oldest.enqueued
                if waited < self.max_wait:
                    self._timer = loop.call_later(self.max_wait - waited, self._dispatch)
                    return
                reason = "wait"
            batch = self._take()
            if batch:
                self._start(batch, reason)

    def _oldest(self) -> _Entry:
        queue = self._queue
        while queue[0].state != _QUEUED:
            queue.popleft()
        return queue[0]

    def _take(self) -> list[_Entry]:
        queue = self._queue
        batch: list[_Entry] = []
        rows = 0
        key: Hashable = None
        limit = self.max_batch_size
        while queue:
            entry = queue[0]
            if entry.state != _QUEUED or entry.future.done():
                self._drop(entry)
                queue.popleft()
                continue
            if batch:
                if rows + entry.rows > limit:
                    break
                if key is None:
                    key = self._key(batch[0].item)
                if self._key(entry.item) != key:
                    break
            queue.popleft()
            entry.state = _RUNNING
            batch.append(entry)
            rows += entry.rows
            if rows >= limit:
                break
        self._queued_requests -= len(batch)
        self._queued_rows -= rows
        return batch

    def _start(self, batch: list[_Entry], reason: str) -> None:
        loop = self._loop
        assert loop is not None
        self._running += 1
        self._running_requests += len(batch)
        items = [entry.item for entry in batch]
        sizes = [entry.rows for entry in batch]
        rows = sum(sizes)
        if len(batch) == 1 and self._running == 1 and 0 < self._batch_seconds < self.inline:
            self._finished(batch, rows, reason, self._run(items, sizes))
            return
        if self._executor is None:
            if not self._threads:
                self._start_threads()
            self._jobs.put((batch, rows, reason, items, sizes))
        else:
            done = loop.run_in_executor(self._executor, self._run, items, sizes)
            done.add_done_callback(functools.partial(self._executor_done, batch, rows, reason))

    def _start_threads(self) -> None:
        for i in range(self.max_concurrent_batches):
            thread = threading.Thread(
                target=self._work, name=f"dockyard-predict-{self.name}-{i}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def _work(self) -> None:
        """A worker thread: run jobs until the ``None`` that :meth:`close` sends."""
        loop = self._loop
        assert loop is not None
        jobs = self._jobs
        while True:
            job = jobs.get()
            if job is None:
                return
            batch, rows, reason, items, sizes = job
            try:
                outcome = self._run(items, sizes)
            except BaseException as exc:  # noqa: BLE001 - whatever it is, the callers get it
                outcome = (None, 0.0, exc)
            try:
                loop.call_soon_threadsafe(self._finished, batch, rows, reason, outcome)
            except RuntimeError:  # the event loop is closed: nobody is waiting
                return

    def _executor_done(
        self, batch: list[_Entry], rows: int, reason: str, done: asyncio.Future[Any]
    ) -> None:
        try:
            outcome = done.result()
        except BaseException as exc:  # noqa: BLE001 - the executor failed or was shut down
            outcome = (None, 0.0, exc)
        self._finished(batch, rows, reason, outcome)

    def _run(
        self, items: list[Any], sizes: list[int]
    ) -> tuple[list[Any] | None, float, BaseException | None]:
        """The worker-thread part: concatenate, predict, split."""
        seconds = 0.0
        try:
            if len(items) == 1:
                start = time.perf_counter()
                output = self._predict(items[0])
                seconds = time.perf_counter() - start
                return [output], seconds, None
            batch = self._concat(items)
            start = time.perf_counter()
            output = self._predict(batch)
            seconds = time.perf_counter() - start
            return self._split(output, sizes), seconds, None
        except Exception as exc:  # noqa: BLE001 - delivered to the batch's callers
            return None, seconds, exc

    def _finished(
        self,
        batch: list[_Entry],
        rows: int,
        reason: str,
        outcome: tuple[list[Any] | None, float, BaseException | None],
    ) -> None:
        self._running -= 1
        self._running_requests -= len(batch)
        results, seconds, error = outcome
        # Keep the model busy: start the next batch before answering this one.
        if self._queued_requests:
            self._dispatch()
        if error is None:
            assert results is not None
            for entry, result in zip(batch, results):
                if not entry.future.done():
                    entry.future.set_result(result)
        else:
            for entry in batch:
                if not entry.future.done():
                    entry.future.set_exception(error)
        self._batch_seconds = (
            seconds if not self._batch_seconds else 0.8 * self._batch_seconds + 0.2 * seconds
        )
        if self.on_batch is not None:
            info = BatchInfo(
                rows=rows,
                requests=len(batch),
                predict_seconds=seconds,
                queued_rows=self._queued_rows,
                queued_requests=self._queued_requests,
                reason=reason,
                error=error,
            )
            try:
                self.on_batch(info)
            except Exception:
                log.exception("on_batch hook of model %r failed", self.name)
        self._notify_if_idle()

    # ------------------------------------------------------------ shutdown

    def _notify_if_idle(self) -> None:
        if self._idle_waiters and not self._queued_requests and not self._running:
            waiters, self._idle_waiters = self._idle_waiters, []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    async def close(self) -> None:
        """Stop taking requests and wait until every queued and running batch is answered.

        Queued requests are dispatched at once (no ``max_wait_ms``). New
        :meth:`submit` calls raise :class:`BatcherClosed`. The batcher's own
        worker threads end afterwards; an executor passed in is left alone.
        """
        self._closed = True
        loop = self._loop
        if loop is not None:
            if loop is not asyncio.get_running_loop():
                raise InvalidState("close() must run in the event loop the batcher serves")
            self._dispatch()
            while self._queued_requests or self._running:
                waiter: asyncio.Future[None] = loop.create_future()
                self._idle_waiters.append(waiter)
                await waiter
        for _ in self._threads:
            self._jobs.put(None)
        self._threads.clear()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
