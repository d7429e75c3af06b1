"""Logging work that runs after the training call returns, in the order it was given.

Autologging hands the slow part of logging a fit (saving the model package,
metrics on the training data, importances) to one worker thread, so the fit
returns as soon as the model is trained. A run that has work pending ends
after that work: its end is queued behind it. :func:`dockyard.flush` waits
for the queue, and the interpreter waits for it at exit (the worker is not
a daemon), so nothing queued is lost by a normal exit.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait

log = logging.getLogger("dockyard.logger")


class Background:
    """One worker thread for logging work, with per-run bookkeeping."""

    def __init__(self, name: str = "dockyard-background") -> None:
        self._name = name
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._futures: set[Future[None]] = set()
        self._pending: Counter[str] = Counter()
        self._worker: int | None = None

    def submit(self, run_id: str, work: Callable[[], None]) -> None:
        """Run ``work`` for ``run_id`` after everything submitted before it.

        A failure is logged as a warning: background logging never raises
        into the caller's code.
        """
        def job() -> None:
            self._worker = threading.get_ident()
            try:
                work()
            except Exception as exc:
                log.warning("dockyard: background logging for run %s failed: %r", run_id, exc)
            finally:
                with self._lock:
                    self._pending[run_id] -= 1
                    if self._pending[run_id] <= 0:
                        del self._pending[run_id]

        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(1, thread_name_prefix=self._name)
            self._pending[run_id] += 1
            future = self._pool.submit(job)
            self._futures.add(future)
        future.add_done_callback(self._forget)

    def _forget(self, future: Future[None]) -> None:
        with self._lock:
            self._futures.discard(future)

    def pending(self, run_id: str) -> bool:
        """Whether work for ``run_id`` is queued or running."""
        with self._lock:
            return self._pending.get(run_id, 0) > 0

    def wait(self, timeout: float | None = None) -> None:
        """Block until everything submitted so far has run (a no-op on the worker itself)."""
        if threading.get_ident() == self._worker:
            return
        with self._lock:
            futures = list(self._futures)
        if futures:
            wait(futures, timeout)
