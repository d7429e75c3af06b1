"""Profiles made inside the model servers, which monitor runs merge instead of profiling rows.

A model server logging predictions hands each Parquet file it uploads to a
:class:`ServingProfiler`, in the log's upload thread (off the request path),
so that monitor runs merge small profiles instead of profiling the rows again.
For every monitor of the served model the profiler profiles the file's rows
against the monitor's reference, one profile per minute of prediction time,
and the log uploads them beside the file::

    <log prefix>/_profiles/monitor=<id>/ref=<reference digest>/bucket=<start-ms>/part-....profile

A monitor run still reads the window's ids, times, latencies and outputs
from the log (for labels, cohorts and latency); a run whose window is whole
minutes merges the profiles of its minutes (:func:`window_profile`); merging
is exact for counts, moments,
histograms and categories, and within the sketches' error for quantiles and
distinct counts. The profiles are used only when they account for every row
of the window: a server that could not reach the metadata store, a monitor
made after the server started (until the next refresh) or a reference that
changed all leave rows without a profile, and the run then profiles the
rows from the log itself. The raw log stays for drill-down either way.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dockyard.entities.monitoring import Monitor
from dockyard.errors import DockyardError, InvalidArgument
from dockyard.monitor.profile import Profile
from dockyard.monitor.windows import epoch_ms, logged_columns

if TYPE_CHECKING:
    from dockyard.client import Client
    from dockyard.monitor.predictions import PredictionStore

__all__ = ["BUCKET_MS", "FOLDER", "ServingProfiler", "reference_digest", "window_profile"]

log = logging.getLogger("dockyard.monitor")

BUCKET_MS = 60_000
"""Serving profiles cover one minute of prediction time each."""
FOLDER = "_profiles"
REFRESH_SECONDS = 300.0


def reference_digest(blob: bytes) -> str:
    """A short digest of a reference profile: serving profiles made against another are ignored."""
    return hashlib.sha256(blob).hexdigest()[:16]


def profile_columns(table: pa.Table, monitor: Monitor, names: list[str]) -> pa.Table | None:
    """The logged columns a monitor profiles, named as in its reference (``prediction`` for the
    output); None when the log lacks them all, or when the monitor's run could not tell its
    output either (it reads the log then, and says why)."""
    try:
        found = logged_columns(table, monitor, names)
    except InvalidArgument:
        return None
    return pa.table({name: table.column(logged) for name, logged in found.items()}) \
        if found else None


class ServingProfiler:
    """The prediction log's summarizer for the monitors of one server's models.

    Reads the monitors and their references through ``client`` (refreshed every
    ``refresh_seconds``); a store it cannot reach means no profiles, never a
    failed upload.
    """

    def __init__(self, client: Client | None = None, *, uri: str | None = None,
                 artifacts: str | None = None,
                 refresh_seconds: float = REFRESH_SECONDS) -> None:
        self.client = client
        self._where = (uri, artifacts)  # for a client made at first use, off the start-up path
        self.refresh_seconds = refresh_seconds
        self._lock = threading.Lock()
        self._loaded_at = -float("inf")
        self._monitors: list[tuple[Monitor, Profile, str]] = []

    def monitors(self) -> list[tuple[Monitor, Profile, str]]:
        """The monitors with a reference, and the reference's profile and digest."""
        with self._lock:
            if time.monotonic() - self._loaded_at >= self.refresh_seconds:
                self._loaded_at = time.monotonic()
                try:
                    self._monitors = self._load()
                except DockyardError as exc:
                    log.warning("serving profiles: cannot read the monitors: %s", exc.message)
            return self._monitors

    def _load(self) -> list[tuple[Monitor, Profile, str]]:
        if self.client is None:
            from dockyard.client import Client

            self.client = Client(*self._where)
        found = []
        for monitor in self.client.list_monitors():
            stored = self.client.get_monitor_reference(monitor)
            if stored is not None:
                found.append((monitor, Profile.from_bytes(stored[0]), reference_digest(stored[0])))
        return found

    def __call__(self, partition: dict[str, str], table: pa.Table,
                 name: str) -> list[tuple[str, bytes]]:
        files = []
        for monitor, reference, digest in self.monitors():
            if monitor.model_name != partition["model"] or (
                    monitor.model_version is not None
                    and monitor.model_version != partition["version"]):
                continue
            rows = table
            if monitor.deployment is not None:
                rows = table.filter(pc.equal(table.column("deployment"), monitor.deployment))
            if not rows.num_rows:
                continue
            columns = profile_columns(rows, monitor, list(reference.columns))
            if columns is None:
                continue
            stamps = epoch_ms(rows.column("time")).to_numpy()
            buckets = stamps - stamps % BUCKET_MS
            for bucket in np.unique(buckets):
                part = columns.filter(pa.array(buckets == bucket))
                profile = Profile(reference=reference)
                profile.update(part)
                files.append((f"{FOLDER}/monitor={monitor.id}/ref={digest}/bucket={int(bucket)}/"
                              f"{name}.profile", profile.to_bytes()))
        return files


def window_profile(store: PredictionStore, monitor: Monitor, reference: Profile,
                   files: list[str], start: int, end: int, rows: int) -> Profile | None:
    """The merged serving profiles of ``[start, end)``, if they cover exactly ``rows`` rows;
    else None (the window is not whole minutes, or some rows have no profile).

    ``files`` lists the monitor's profiles for its reference (``store.list_files`` of
    ``_profiles/monitor=<id>/ref=<digest>``), listed once for every window of a run.
    """
    if start % BUCKET_MS or end % BUCKET_MS or not rows:
        return None
    blobs: list[bytes] = []
    for path in files:
        bucket = _bucket(path)
        if bucket is not None and start <= bucket < end and path.endswith(".profile"):
            blobs.append(store.read_file(path))
    if not blobs:
        return None
    merged = Profile(reference=reference)
    try:
        merged = merged.merge(*(Profile.from_bytes(b) for b in blobs))
    except DockyardError as exc:
        log.warning("monitor %s: its serving profiles do not merge (%s); reading the log",
                    monitor.name, exc.message)
        return None
    return merged if merged.rows == rows else None


def _bucket(path: str) -> int | None:
    for part in path.split("/"):
        if part.startswith("bucket="):
            value = part[len("bucket="):]
            return int(value) if value.isdigit() else None
    return None
