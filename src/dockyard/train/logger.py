"""The background logger: queue, batch, send, spool.

Fluent logging calls put items on a queue and return at once. A worker
thread takes up to ``batch_size`` items, groups them by run, and sends each
group as one idempotent batch (one request, one transaction). When the
server is unreachable the batch goes to the :class:`~dockyard.train.spool.Spool`
on disk; spooled batches are replayed, oldest first, as soon as the server
answers again. While anything is spooled, new batches queue behind it, so
points reach the server in the order they were logged.

:meth:`BatchLogger.flush` returns once everything queued before the call is
durable: committed by the store, or written to the spool.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
import uuid
import weakref
from collections import deque
from dataclasses import dataclass, field

from dockyard.entities import Batch, Metric, NewRun, Param, RunStatus, RunTag, now_ms
from dockyard.errors import DockyardError
from dockyard.store.base import MetadataStore
from dockyard.train.spool import RETRYABLE, Spool, send_batch

log = logging.getLogger("dockyard.logger")
_RETRY_SPOOL_EVERY = 2.0  # seconds between replay attempts while the server is away


@dataclass
class _Item:
    run_id: str
    metric: Metric | None = None
    param: Param | None = None
    tag: RunTag | None = None
    end: tuple[RunStatus, int] | None = None
    create: NewRun | None = None


@dataclass
class _Pending:
    metrics: list[Metric] = field(default_factory=list)
    params: list[Param] = field(default_factory=list)
    tags: list[RunTag] = field(default_factory=list)
    end: tuple[RunStatus, int] | None = None
    create: NewRun | None = None


class BatchLogger:
    """Sends queued metrics, params and tags to a store from a background thread."""

    def __init__(self, store: MetadataStore, spool: Spool, batch_size: int = 1000,
                 flush_interval: float = 0.5) -> None:
        self.store = store
        self.spool = spool
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self._queue: deque[_Item] = deque()
        self._cond = threading.Condition()
        self._enqueued = 0
        self._done = 0
        self._errors: list[DockyardError] = []
        self._wake = threading.Event()
        self._closed = False
        self._last_spool_try = 0.0
        self._spooled = bool(spool.pending())  # batches a previous process left behind
        self._thread = threading.Thread(target=self._run, name="dockyard-logger", daemon=True)
        self._thread.start()
        ref = weakref.ref(self)
        atexit.register(lambda: (lg := ref()) and lg.close())

    # producer side ------------------------------------------------------------
    def _put(self, items: list[_Item]) -> None:
        with self._cond:
            if self._closed:
                raise DockyardError("the logger is closed")
            self._queue.extend(items)
            self._enqueued += len(items)
        if len(self._queue) >= self.batch_size:
            self._wake.set()

    def start_run(self, new: NewRun) -> None:
        """Queue a run's creation: it reaches the store with the run's first batch."""
        assert new.id is not None
        self._put([_Item(new.id, create=new)])

    def log_metrics(self, run_id: str, metrics: list[Metric]) -> None:
        self._put([_Item(run_id, metric=m) for m in metrics])

    def log_params(self, run_id: str, params: list[Param]) -> None:
        self._put([_Item(run_id, param=p) for p in params])

    def set_tags(self, run_id: str, tags: list[RunTag]) -> None:
        self._put([_Item(run_id, tag=t) for t in tags])

    def end_run(self, run_id: str, status: RunStatus, end_time: int | None = None) -> None:
        """Queue the run's end behind its last points, and wait until it is durable."""
        self._put([_Item(run_id, end=(status, end_time or now_ms()))])
        self.flush()

    def flush(self, timeout: float | None = None) -> None:
        """Block until everything queued so far is committed or spooled.

        Raises the first error a batch met since the last flush (a param
        changed by another process, say); the other batches were still written.
        """
        with self._cond:
            target = self._enqueued
        self._wake.set()
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._done < target:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError(f"flush timed out with {target - self._done} items unsent")
                self._cond.wait(remaining if remaining is not None else 1.0)
                self._wake.set()
            errors, self._errors = self._errors, []
        if errors:
            raise errors[0]

    def close(self) -> None:
        if self._closed:
            return
        try:
            self.flush(timeout=60)
        except Exception as exc:  # at exit there is nobody left to raise to
            log.warning("dockyard: could not flush logged data at exit: %s", exc)
        with self._cond:
            self._closed = True
        self._wake.set()

    @property
    def spooled(self) -> int:
        """How many batches wait in the spool for the server."""
        return len(self.spool)

    # worker side ---------------------------------------------------------------
    def _run(self) -> None:
        while True:
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            if self._closed and not self._queue:
                return
            try:
                self._retry_spool()
                while self._queue:
                    self._send_some()
            except Exception:  # never let the worker die; the data stays queued
                log.exception("dockyard logger failed; will retry")
                time.sleep(0.5)

    def _take(self) -> list[_Item]:
        with self._cond:
            n = min(self.batch_size, len(self._queue))
            return [self._queue.popleft() for _ in range(n)]

    def _send_some(self) -> None:
        items = self._take()
        try:
            for batch in _batches(items):
                try:
                    self._deliver(batch)
                except Exception as exc:  # the disk, or a bug: say so, never hang a flush
                    log.exception("dockyard: could not deliver or spool a batch")
                    with self._cond:
                        self._errors.append(DockyardError(f"a batch was lost: {exc!r}"))
        finally:
            with self._cond:
                self._done += len(items)
                self._cond.notify_all()

    def _deliver(self, batch: Batch) -> None:
        if self._spooled:  # keep order: nothing overtakes what is already spooled
            self.spool.add(batch)
            self._retry_spool()
            return
        try:
            _applied, errors = send_batch(self.store, batch)
        except RETRYABLE as exc:
            log.warning("dockyard server unavailable (%s); spooling to %s", exc, self.spool.dir)
            self.spool.add(batch)
            self._spooled = True
            self._last_spool_try = time.monotonic()
            return
        except DockyardError as exc:
            errors = [exc]
        for exc in errors:
            log.error("dockyard: the server refused data for run %s: %s", batch.run_id, exc)
        if errors:
            with self._cond:
                self._errors.extend(errors)

    def _retry_spool(self) -> None:
        now = time.monotonic()
        if now - self._last_spool_try < _RETRY_SPOOL_EVERY:
            return
        self._last_spool_try = now
        if not self.spool.pending():
            self._spooled = False
            return
        result = self.spool.replay(self.store)
        self._spooled = result.remaining > 0
        if result.sent or result.duplicates:
            log.info("dockyard: replayed %d spooled batches (%d already applied)",
                     result.sent + result.duplicates, result.duplicates)


def _batches(items: list[_Item]) -> list[Batch]:
    """Group queued items into one batch per run, in order of first appearance."""
    groups: dict[str, _Pending] = {}
    for it in items:
        g = groups.setdefault(it.run_id, _Pending())
        if it.metric is not None:
            g.metrics.append(it.metric)
        elif it.param is not None:
            g.params.append(it.param)
        elif it.tag is not None:
            g.tags.append(it.tag)
        elif it.end is not None:
            g.end = it.end
        elif it.create is not None:
            g.create = it.create
    return [
        Batch.model_construct(
            run_id=run_id, create=g.create, metrics=g.metrics, params=g.params, tags=g.tags,
            batch_id=uuid.uuid4().hex,
            end_status=g.end[0] if g.end else None, end_time=g.end[1] if g.end else None)
        for run_id, g in groups.items()
    ]
