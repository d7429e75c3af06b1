"""Run monitors on their schedule, in a background thread of ``dockyard server``.

Each tick (every ``tick`` seconds) runs the monitors whose ``interval_seconds``
has passed since their last run, one after another. A monitor that fails is
logged and retried at its next interval; it never stops the others. With
several server workers only one scheduler runs: the command line starts it
in the parent process, not in each worker.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from dockyard.entities import now_ms
from dockyard.errors import DockyardError

if TYPE_CHECKING:
    from dockyard.client import Client

__all__ = ["MonitorScheduler"]

log = logging.getLogger("dockyard.monitor")


class MonitorScheduler:
    """Runs due monitors every ``tick`` seconds until :meth:`stop`."""

    def __init__(self, client: Client, *, tick: float = 15.0, url: str | None = None) -> None:
        self.client = client
        self.tick = tick
        self.url = url
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> MonitorScheduler:
        self._thread = threading.Thread(target=self._loop, name="dockyard-monitors", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run_due(self) -> list[str]:
        """Run every monitor that is due now; the names of those that ran."""
        from dockyard.monitor.monitors import run_monitor

        ran = []
        now = now_ms()
        for monitor in self.client.list_monitors():
            if self._stop.is_set():
                break
            due = monitor.interval_seconds > 0 and (
                monitor.last_run_at is None
                or now - monitor.last_run_at >= monitor.interval_seconds * 1000)
            if not due:
                continue
            try:
                run_monitor(self.client, monitor, url=self._page(monitor.name))
                ran.append(monitor.name)
                continue
            except DockyardError as exc:
                log.warning("monitor %s failed: %s", monitor.name, exc.message)
            except Exception:  # noqa: BLE001 - one broken monitor must not stop the others
                log.exception("monitor %s failed", monitor.name)
            try:  # tried: next at its next interval, not at every tick
                self.client.set_monitor_run(monitor.id, now)
            except DockyardError as exc:
                log.warning("monitor %s: cannot record the attempt: %s", monitor.name,
                            exc.message)
        return ran

    def _page(self, name: str) -> str | None:
        from urllib.parse import quote

        return f"{self.url.rstrip('/')}/monitoring/{quote(name, safe='')}" if self.url else None

    def _loop(self) -> None:
        while not self._stop.wait(self.tick):
            try:
                self.run_due()
            except Exception:  # noqa: BLE001 - the store may be away for a moment
                log.exception("monitor schedule failed; trying again in %.0f s", self.tick)
