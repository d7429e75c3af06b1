"""Prometheus metrics of the inference server.

:class:`ServerMetrics` owns the metric families of one server process and
renders them for the ``/metrics`` endpoint:

====================================================  =========  ======================================
family                                                type       labels
====================================================  =========  ======================================
``dockyard_serve_requests_total``                     counter    model, version, protocol, status
``dockyard_serve_request_duration_seconds``           histogram  model, version, protocol
``dockyard_serve_batch_rows``                         histogram  model, version
``dockyard_serve_predict_duration_seconds``           histogram  model, version
``dockyard_serve_queue_depth_requests``               gauge      model, version
``dockyard_serve_in_flight_requests``                 gauge      model, version
``dockyard_serve_model_load_seconds``                 gauge      model, version
``dockyard_serve_prediction_log_lag_seconds``         gauge
``dockyard_serve_prediction_log_written_total``       counter
``dockyard_serve_prediction_log_dropped_total``       counter
====================================================  =========  ======================================

Several worker processes
    When ``PROMETHEUS_MULTIPROC_DIR`` is set, prometheus_client keeps every
    value in a per-process file in that directory and :meth:`render`, in any
    worker, merges the files of all workers (``MultiProcessCollector``):
    counters and histograms are summed; queue depth and in-flight gauges are
    summed over live processes; load time and prediction-log lag show the
    largest value over live processes. The variable must be in the
    environment before ``prometheus_client`` is first imported (set it in
    the shell or the supervisor that starts the workers), the directory must
    be emptied before the workers start (:func:`prepare_multiprocess_dir`),
    and when a worker exits its parent calls :func:`mark_process_dead` with
    its pid so that its live gauges disappear. Use one
    :class:`ServerMetrics` per process in this mode.

Cost
    Recording a request is a dictionary lookup of cached label children, a
    counter increment and a histogram observation; no label resolution
    happens per request after the first one with a given label set. The
    in-flight gauge is not touched per request: it is read from the server
    at every render and published after every batch (:meth:`track_in_flight`).
"""

from __future__ import annotations

import glob
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, values
from prometheus_client import multiprocess as _multiprocess
from prometheus_client.exposition import CONTENT_TYPE_LATEST, choose_encoder, generate_latest

from dockyard.errors import InvalidState

__all__ = [
    "BATCH_ROWS_BUCKETS",
    "LATENCY_BUCKETS",
    "PredictionLogStats",
    "ServerMetrics",
    "mark_process_dead",
    "multiprocess_dir",
    "prepare_multiprocess_dir",
]

#: Request latency and predict duration buckets, in seconds: 0.2 ms to 10 s.
LATENCY_BUCKETS = (
    0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05,
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip

#: Batch size buckets, in rows.
BATCH_ROWS_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)

_ENV = "PROMETHEUS_MULTIPROC_DIR"


class PredictionLogStats(Protocol):
    """What :meth:`ServerMetrics.bind_prediction_log` reads from the prediction log writer."""

    written: int
    dropped: int
    lag_seconds: float


def multiprocess_dir() -> str | None:
    """The multiprocess directory from the environment, or ``None``."""
    return os.environ.get(_ENV) or None


def prepare_multiprocess_dir(path: str | os.PathLike[str]) -> Path:
    """Create ``path`` and delete the value files a previous run left there.

    Call it in the parent before the workers start.
    """
    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    for stale in glob.glob(os.path.join(directory, "*.db")):
        os.remove(stale)
    return directory


def mark_process_dead(pid: int, path: str | os.PathLike[str] | None = None) -> None:
    """Forget the live gauges of an exited worker (call it in the parent)."""
    directory = os.fspath(path) if path is not None else multiprocess_dir()
    if directory:
        _multiprocess.mark_process_dead(pid, directory)


class ServerMetrics:
    """The metric families of one inference server process.

    ``namespace`` prefixes every family name (``dockyard`` gives
    ``dockyard_serve_requests_total``). With ``PROMETHEUS_MULTIPROC_DIR``
    set (or ``multiprocess_dir`` given) the metrics are shared by all worker
    processes, see the module docstring; otherwise they live in
    :attr:`registry`, a :class:`~prometheus_client.CollectorRegistry` of
    this instance's own.
    """

    def __init__(self, *, namespace: str = "dockyard", multiprocess_dir: str | None = None,
                 deployment: str | None = None) -> None:
        directory = multiprocess_dir if multiprocess_dir is not None else os.environ.get(_ENV)
        self.multiprocess = bool(directory)
        self.registry = CollectorRegistry(auto_describe=True)
        if self.multiprocess:
            if not getattr(values.ValueClass, "_multiprocess", False):
                raise InvalidState(
                    f"{_ENV} was set after prometheus_client was imported; set it in the "
                    "environment that starts the server processes"
                )
            assert directory is not None
            env = os.environ.get(_ENV)
            if not env or os.path.realpath(env) != os.path.realpath(directory):
                raise InvalidState(
                    f"metrics are written to {_ENV} ({env!r}); render from that directory, "
                    f"not {directory!r}"
                )
            if not os.path.isdir(directory):
                raise InvalidState(f"{_ENV} names {directory!r}, which is not a directory")
            # In multiprocess mode every metric writes to the shared files
            # whatever its registry; the registry rendered holds only the
            # collector that merges those files.
            _multiprocess.MultiProcessCollector(self.registry, path=directory)
            target: CollectorRegistry | None = None
        else:
            target = self.registry
        ns = f"{namespace}_serve" if namespace else "serve"
        model = ("model", "version")
        # A server of a deployment labels its requests with it, so that error rates can be
        # told apart per deployment of one version.
        self._deployment = () if deployment is None else (deployment,)
        per_request = (*model, *(("deployment",) if deployment is not None else ()), "protocol")

        self.requests = Counter(
            "requests", "Requests answered, by status code.",
            (*per_request, "status"), namespace=ns, registry=target,
        )  # fmt: skip
        self.request_duration = Histogram(
            "request_duration_seconds", "Time from request received to response ready.",
            per_request, namespace=ns, buckets=LATENCY_BUCKETS, registry=target,
        )  # fmt: skip
        self.batch_rows = Histogram(
            "batch_rows", "Rows per predict call.",
            model, namespace=ns, buckets=BATCH_ROWS_BUCKETS, registry=target,
        )  # fmt: skip
        self.predict_duration = Histogram(
            "predict_duration_seconds", "Time spent in the model's predict, per batch.",
            model, namespace=ns, buckets=LATENCY_BUCKETS, registry=target,
        )  # fmt: skip
        self.queue_depth = Gauge(
            "queue_depth_requests", "Requests waiting for a batch.",
            model, namespace=ns, registry=target, multiprocess_mode="livesum",
        )  # fmt: skip
        self.in_flight = Gauge(
            "in_flight_requests", "Requests received and not yet answered.",
            model, namespace=ns, registry=target, multiprocess_mode="livesum",
        )  # fmt: skip
        self.model_load = Gauge(
            "model_load_seconds", "Time it took to load the model.",
            model, namespace=ns, registry=target, multiprocess_mode="livemax",
        )  # fmt: skip
        self.prediction_log_lag = Gauge(
            "prediction_log_lag_seconds", "Age of the oldest prediction not yet written.",
            namespace=ns, registry=target, multiprocess_mode="livemax",
        )  # fmt: skip
        self.prediction_log_written = Counter(
            "prediction_log_written", "Predictions written to the prediction log.",
            namespace=ns, registry=target,
        )  # fmt: skip
        self.prediction_log_dropped = Counter(
            "prediction_log_dropped", "Predictions dropped because the log could not keep up.",
            namespace=ns, registry=target,
        )  # fmt: skip

        self._request_children: dict[tuple[str, str, str, int], tuple[Any, Any]] = {}
        self._sync_lock = threading.Lock()
        self._prediction_log: PredictionLogStats | None = None
        self._log_seen = (0, 0)
        self._batchers: list[tuple[Any, Any]] = []
        self._in_flight_readers: list[Callable[[], None]] = []

    # ------------------------------------------------------------ requests

    def observe_request(
        self, model: str, version: str, protocol: str, status: int, seconds: float
    ) -> None:
        """Record one answered request: its status code and latency in seconds.

        ``protocol`` names the route family (``v2``, ``v1``,
        ``invocations`` ...). A request rejected before a model was chosen
        can use ``model=""`` and ``version=""``.
        """
        key = (model, version, protocol, status)
        children = self._request_children.get(key)
        if children is None:
            labels = (model, version, *self._deployment, protocol)
            children = self._request_children[key] = (
                self.requests.labels(*labels, str(status)),
                self.request_duration.labels(*labels),
            )
        children[0].inc()
        children[1].observe(seconds)

    # ------------------------------------------------------------ batches

    def batch_observer(self, model: str, version: str) -> Callable[[Any], None]:
        """An ``on_batch`` hook for :class:`~dockyard.serve.batching.AdaptiveBatcher`.

        It records the batch size, the predict duration and the queue depth
        left behind.
        """
        rows = self.batch_rows.labels(model, version)
        duration = self.predict_duration.labels(model, version)
        depth = self.queue_depth.labels(model, version)

        def observe(info: Any) -> None:
            rows.observe(info.rows)
            duration.observe(info.predict_seconds)
            depth.set(info.queued_requests)

        return observe

    def observe_batch(self, model: str, version: str, rows: int, predict_seconds: float) -> None:
        """Record one predict call of ``rows`` rows (without a batcher)."""
        self.batch_rows.labels(model, version).observe(rows)
        self.predict_duration.labels(model, version).observe(predict_seconds)

    def track_batcher(self, model: str, version: str, batcher: Any) -> None:
        """Read ``batcher.queued_requests`` into the queue depth gauge at every render."""
        self._batchers.append((self.queue_depth.labels(model, version), batcher))

    def track_in_flight(
        self, model: str, version: str, read: Callable[[], int]
    ) -> Callable[[], None]:
        """Read the in-flight gauge from ``read()`` at every render, instead of per request.

        Returns a function that publishes the current value at once (call it
        now and then, e.g. after each batch, so that other workers' renders
        see it too).
        """
        child = self.in_flight.labels(model, version)

        def publish() -> None:
            child.set(read())

        self._in_flight_readers.append(publish)
        return publish

    def set_queue_depth(self, model: str, version: str, requests: int) -> None:
        """Set the queue depth gauge."""
        self.queue_depth.labels(model, version).set(requests)

    def observe_model_load(self, model: str, version: str, seconds: float) -> None:
        """Record how long loading a model version took."""
        self.model_load.labels(model, version).set(seconds)

    # ------------------------------------------------------------ prediction log

    def bind_prediction_log(self, stats: PredictionLogStats) -> None:
        """Read ``written``, ``dropped`` and ``lag_seconds`` from ``stats`` at every render.

        In multiprocess mode each worker publishes its own numbers only when
        it renders or calls :meth:`sync`; a writer can also push them after
        each flush with :meth:`set_prediction_log`.
        """
        self._prediction_log = stats
        self._log_seen = (0, 0)

    def set_prediction_log(self, written: int, dropped: int, lag_seconds: float) -> None:
        """Publish the prediction log's running totals and current lag.

        ``written`` and ``dropped`` are totals since the writer started; the
        counters advance by the difference from the last call.
        """
        with self._sync_lock:
            seen_written, seen_dropped = self._log_seen
            # A total smaller than the last one means a new writer: count from zero.
            delta_written = written - seen_written if written >= seen_written else written
            delta_dropped = dropped - seen_dropped if dropped >= seen_dropped else dropped
            if delta_written:
                self.prediction_log_written.inc(delta_written)
            if delta_dropped:
                self.prediction_log_dropped.inc(delta_dropped)
            self._log_seen = (written, dropped)
            self.prediction_log_lag.set(lag_seconds)

    # ------------------------------------------------------------ exposition

    def sync(self) -> None:
        """Pull values from the bound prediction log, tracked batchers and in-flight readers."""
        stats = self._prediction_log
        if stats is not None:
            self.set_prediction_log(
                int(stats.written), int(stats.dropped), float(stats.lag_seconds)
            )
        for gauge, batcher in self._batchers:
            gauge.set(batcher.queued_requests)
        for publish in self._in_flight_readers:
            publish()

    def render(self, accept: str | None = None) -> tuple[bytes, str]:
        """The exposition for ``/metrics``: ``(body, content_type)``.

        ``accept`` is the request's ``Accept`` header; OpenMetrics is
        returned when it asks for it, the Prometheus text format otherwise.
        """
        self.sync()
        if accept:
            encoder, content_type = choose_encoder(accept)
            return encoder(self.registry), content_type
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
