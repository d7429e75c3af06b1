"""The inference server's ASGI application.

A plain ASGI callable rather than a web framework: the hot path is one
dictionary lookup for the route, one read of the body, a decode straight
into numpy (:mod:`~dockyard.serve.protocol`), a batched predict
(:mod:`~dockyard.serve.batching`), one encode, and a hand-over to the
prediction log (:mod:`~dockyard.serve.recorder`, :mod:`~dockyard.serve.predlog`)
that returns at once.

Routes
    ===========================================  ====  ==========================================
    ``/v2``                                      GET   server metadata (Open Inference Protocol)
    ``/v2/health/live``, ``/v2/health/ready``    GET   liveness, readiness (503 until warmed up)
    ``/v2/models/{name}[/versions/{v}]``         GET   model metadata
    ``.../ready``                                GET   model readiness
    ``.../infer``                                POST  inference, V2 JSON or binary tensors
    ``.../transform``                            POST  the features a feature pipeline computes
    ``/v1/models``, ``/v1/models/{name}``        GET   KServe V1 model list and readiness
    ``/v1/models/{name}:predict``                POST  KServe V1 ``instances``
    ``/v1/models/{name}:transform``              POST  features for V1 ``instances``
    ``/invocations``                             POST  MLflow scoring server body (JSON or CSV)
    ``/``, ``/ping``, ``/health``, ``/version``  GET   KServe V1 and MLflow liveness, version
    ``/metrics``                                 GET   Prometheus metrics
    ===========================================  ====  ==========================================

``/v2/models/{name}/...`` without a version, ``/v1`` and ``/invocations``
go to the first version hosted under that name (``/invocations``: the
first model). Every answer carries ``X-Request-Id`` (the caller's, or a new
one); every prediction carries a prediction id, in ``X-Prediction-Id`` and
in the body, for joining ground truth later.

``.../transform`` takes the same body as ``.../infer`` (``:transform`` the
same as ``:predict``) and answers the features the model would see: the
raw input checked against the signature and run through the package's
feature pipeline, exactly as a predict batch runs it. V2 answers one output
per feature column; V1 answers ``{"columns": [...], "data": [[...], ...]}``.
A model without a feature pipeline answers 404. Transforms are not
predictions: they get no prediction id and are not logged.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from dockyard._version import __version__
from dockyard.errors import DockyardError, InvalidArgument, NotFound, ServerUnavailable, TooLarge
from dockyard.models.signature import ExtraColumns
from dockyard.serve import binary, protocol
from dockyard.serve.batching import Overloaded
from dockyard.serve.hosting import HostedModel, ModelSpec
from dockyard.serve.logs import AccessLog
from dockyard.serve.metrics import ServerMetrics
from dockyard.serve.predlog import PredictionLog
from dockyard.serve.recorder import Recorder

__all__ = ["ServeApp", "ServeConfig", "app_from_env"]

log = logging.getLogger("dockyard.serve")

CONFIG_ENV = "DOCKYARD_SERVE_CONFIG"
"""The environment variable through which worker processes receive the :class:`ServeConfig`."""

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

_JSON = b"application/json"
_TEXT = b"text/plain; charset=utf-8"
_FORM = "application/x-www-form-urlencoded"
_HEADER_LENGTH = binary.HEADER.encode()
_MAX_REQUEST_ID = 128
_ACCESS_FLUSH_SECONDS = 0.25
_SWITCH_INTERVAL = 0.0005
_INLINE_MS = 1.0


@dataclass(frozen=True)
class ServeConfig:
    """Everything a server process needs; JSON-serialisable for the worker processes."""

    models: tuple[ModelSpec, ...]
    max_batch_size: int = 32
    """Most rows coalesced into one predict call."""
    max_wait_ms: float = 2.0
    """Longest a request waits for a batch to fill while the model is busy."""
    max_queue: int = 256
    """Requests queued per model before the server sheds load with 503."""
    timeout: float | None = 60.0
    """Seconds before a request is answered 504; None for no limit."""
    max_body_bytes: int = 64 * 1024 * 1024
    max_rows: int | None = 100_000
    """Most rows in one request (413 beyond)."""
    extra_columns: ExtraColumns = "drop"
    """Inputs the signature does not name: dropped, or refused with ``"error"``."""
    prediction_log: bool = True
    log_uri: str | None = None
    """Artifact root of the prediction log (folder or ``s3://``); the artifact root by default."""
    log_prefix: str = "predictions"
    log_sample_rate: float = 1.0
    log_flush_interval: float = 1.0
    log_rotate_seconds: float = 300.0
    """Seconds after which a log segment becomes a Parquet file that queries (and monitors) see."""
    log_spool_dir: str | None = None
    monitor_profiles: bool = True
    """Profile each logged file for the monitors of the served models (in the log's upload
    thread), so that monitor runs merge profiles instead of reading every row."""
    deployment: str | None = None
    access_log: bool = True
    warm_up: bool = True

    def __post_init__(self) -> None:
        if not self.models:
            raise InvalidArgument("a server needs at least one model")
        seen: set[tuple[str, str]] = set()
        for spec in self.models:
            key = (spec.name, spec.version)
            if key in seen:
                raise InvalidArgument(
                    f"model {spec.name!r} version {spec.version} is given twice; "
                    "give each version once, or host it under another name (NAME=URI)"
                )
            seen.add(key)
        for name, value, low in (
            ("max_batch_size", self.max_batch_size, 1),
            ("max_queue", self.max_queue, 1),
            ("max_body_bytes", self.max_body_bytes, 1),
        ):
            if not isinstance(value, int) or value < low:
                raise InvalidArgument(
                    f"{name} must be a whole number of at least {low}, got {value!r}"
                )
        if self.max_wait_ms < 0:
            raise InvalidArgument(f"max_wait_ms must not be negative, got {self.max_wait_ms!r}")
        if self.timeout is not None and self.timeout <= 0:
            raise InvalidArgument(f"timeout must be positive seconds, got {self.timeout!r}")
        if self.max_rows is not None and self.max_rows < 1:
            raise InvalidArgument(f"max_rows must be at least 1, got {self.max_rows!r}")

    def to_json(self) -> str:
        doc = {key: getattr(self, key) for key in self.__dataclass_fields__}
        doc["models"] = [spec.to_dict() for spec in self.models]
        return orjson.dumps(doc).decode()

    @classmethod
    def from_json(cls, text: str) -> ServeConfig:
        doc = orjson.loads(text)
        doc["models"] = tuple(ModelSpec.from_dict(spec) for spec in doc["models"])
        return cls(**doc)


class _Reply(Exception):
    """An answer decided early (an error); carries the status, body and headers."""

    def __init__(self, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None):
        self.status = status
        self.body = body
        self.headers = headers or []


class _ModelFailed(Exception):
    """The model's own code raised ``error`` (a 500 that names it)."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


class _Disconnected(Exception):
    """The client went away before its body arrived."""


class ServeApp:
    """The ASGI application of one server process, for the models in ``config``.

    Models load in the lifespan start-up, so the process accepts
    connections only once every model is loaded and warmed up.
    """

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.ready = False
        self.models: dict[tuple[str, str], HostedModel] = {}
        self.defaults: dict[str, HostedModel] = {}
        self.metrics: ServerMetrics | None = None
        self.prediction_log: PredictionLog | None = None
        self.recorder: Recorder | None = None
        self.access_log = AccessLog() if config.access_log else None
        self._flusher: asyncio.Task[None] | None = None
        self._publish_in_flight: dict[tuple[str, str], Callable[[], None]] = {}
        self._exact = {
            "/v2/health/live": self._live,
            "/v2/health/ready": self._ready,
            "/v2": self._server_metadata,
            "/v2/": self._server_metadata,
            "/": self._root,
            "/ping": self._ping,
            "/health": self._ping,
            "/version": self._version,
            "/metrics": self._metrics,
            "/v1/models": self._v1_list,
            "/invocations": self._invocations,
        }

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Load and warm up every model, open the prediction log; then the app is ready."""
        config = self.config
        # The prediction log's writer thread converts a second of predictions at a time;
        # a short switch interval hands the GIL back to the event loop within a fraction
        # of a millisecond instead of 5 ms, which keeps the tail latency flat meanwhile.
        sys.setswitchinterval(_SWITCH_INTERVAL)
        self.metrics = metrics = ServerMetrics(deployment=config.deployment)
        for spec in config.models:
            hosted = HostedModel(
                spec,
                on_batch=self._batch_hook(metrics, spec),
                max_batch_size=config.max_batch_size,
                max_wait_ms=config.max_wait_ms,
                max_queue=config.max_queue,
                inline_ms=_INLINE_MS,
                timeout=config.timeout,
            )
            metrics.observe_model_load(spec.name, spec.version, hosted.load_seconds)
            metrics.track_batcher(spec.name, spec.version, hosted.batcher)
            self._publish_in_flight[hosted.key] = metrics.track_in_flight(
                spec.name, spec.version, lambda hosted=hosted: hosted.in_flight)
            if config.warm_up:
                hosted.warm_up()
            self.models[(spec.name, spec.version)] = hosted
            self.defaults.setdefault(spec.name, hosted)
            log.info(
                "serving %s version %s", spec.name, spec.version,
                extra={"uri": spec.uri, "load_seconds": round(hosted.load_seconds, 4)},
            )
        if config.prediction_log:
            from dockyard.config import get_settings
            from dockyard.store.artifacts import artifact_store_for

            settings = get_settings()
            self.prediction_log = PredictionLog(
                artifact_store_for(config.log_uri or settings.artifacts),
                prefix=config.log_prefix,
                spool_dir=config.log_spool_dir,
                flush_interval=config.log_flush_interval,
                rotate_seconds=config.log_rotate_seconds,
                sample_rate=config.log_sample_rate,
                deployment=config.deployment,
                summarize=_monitor_profiles(settings) if config.monitor_profiles else None,
            )
            metrics.bind_prediction_log(self.prediction_log)
            self.recorder = Recorder(self.prediction_log)
        # Everything loaded so far (libraries, models) lives as long as the process: keep it
        # out of the garbage collector's full passes, which would otherwise stall requests.
        gc.collect()
        gc.freeze()
        self.ready = True

    def _batch_hook(self, metrics: ServerMetrics, spec: ModelSpec) -> Callable[[Any], None]:
        """After each batch: its metrics, and the model's in-flight count published."""
        observe = metrics.batch_observer(spec.name, spec.version)
        key = (spec.name, spec.version)

        def hook(info: Any) -> None:
            observe(info)
            self._publish_in_flight[key]()

        return hook

    async def stop(self) -> None:
        """Stop taking predictions, answer what is queued, write the prediction log out."""
        self.ready = False
        await asyncio.gather(*(hosted.batcher.close() for hosted in self.models.values()))
        if self.recorder is not None:
            self.recorder.flush()
        if self.prediction_log is not None:
            done = await asyncio.to_thread(self.prediction_log.close)
            if not done:
                log.error(
                    "the prediction log could not write everything before its timeout; "
                    "what is left stays in %s and is written by the next server",
                    self.prediction_log.spool_dir,
                )
        if self._flusher is not None:
            self._flusher.cancel()
        if self.access_log is not None:
            self.access_log.flush()

    async def _flush_access_log(self) -> None:
        assert self.access_log is not None
        while True:
            await asyncio.sleep(_ACCESS_FLUSH_SECONDS)
            self.access_log.flush()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await asyncio.to_thread(self.start)
                except Exception as exc:
                    log.exception("the server could not start: %s", exc)
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                if self.access_log is not None:
                    self._flusher = asyncio.get_running_loop().create_task(
                        self._flush_access_log()
                    )
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                try:
                    await self.stop()
                finally:
                    await send({"type": "lifespan.shutdown.complete"})
                return

    # ------------------------------------------------------------ dispatch

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        else:  # websocket
            await send({"type": "websocket.close", "code": 1003})

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        path: str = scope["path"]
        given = _header(scope, b"x-request-id")
        request_id = (_request_id(given) if given else None) or os.urandom(16).hex()
        handler = self._exact.get(path)
        try:
            if handler is not None:
                status, body, headers = await handler(scope, receive, request_id, started)
            elif path.startswith("/v2/models/"):
                status, body, headers = await self._v2_model_route(
                    scope, receive, request_id, started, path[11:]
                )
            elif path.startswith("/v1/models/"):
                status, body, headers = await self._v1_model_route(
                    scope, receive, request_id, started, path[11:]
                )
            else:
                raise _Reply(404, _error_body(path, f"no route {path}; see /v2 and /v1/models"))
        except _Reply as reply:
            status, body, headers = reply.status, reply.body, reply.headers
        except _Disconnected:
            return
        headers.append((b"x-request-id", request_id.encode()))
        if not any(key == b"content-type" for key, _ in headers):
            headers.append((b"content-type", _JSON))
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    # ------------------------------------------------------------ health and metadata

    async def _live(self, scope: Scope, *_: Any) -> tuple[int, bytes, list]:
        _only(scope, "GET")
        return 200, b'{"live":true}', []

    async def _ready(self, scope: Scope, *_: Any) -> tuple[int, bytes, list]:
        _only(scope, "GET")
        if self.ready:
            return 200, b'{"ready":true}', []
        return 503, b'{"ready":false}', []

    async def _server_metadata(self, scope: Scope, *_: Any) -> tuple[int, bytes, list]:
        _only(scope, "GET")
        body = {"name": "dockyard", "version": __version__, "extensions": []}
        return 200, orjson.dumps(body), []

    async def _root(self, scope: Scope, *_: Any) -> tuple[int, bytes, list]:
        _only(scope, "GET")
        return 200, b'{"status":"alive"}', []

    async def _ping(self, scope: Scope, *_: Any) -> tuple[int, bytes, list]:
        _only(scope, "GET")
        if self.ready:
            return 200, b"\n", [(b"content-type", _TEXT)]
        return 503, b"not ready\n", [(b"content-type", _TEXT)]

    async def _version(self, scope: Scope, *_: Any) -> tuple[int, bytes, list]:
        _only(scope, "GET")
        return 200, __version__.encode(), [(b"content-type", _TEXT)]

    async def _metrics(self, scope: Scope, *_: Any) -> tuple[int, bytes, list]:
        _only(scope, "GET")
        if self.metrics is None:
            return 503, b"# not started\n", [(b"content-type", _TEXT)]
        accept = _header(scope, b"accept")
        body, content_type = self.metrics.render(accept.decode("latin-1") if accept else None)
        return 200, body, [(b"content-type", content_type.encode())]

    async def _v1_list(self, scope: Scope, *_: Any) -> tuple[int, bytes, list]:
        _only(scope, "GET")
        return 200, orjson.dumps({"models": list(self.defaults)}), []

    # ------------------------------------------------------------ model routes

    def _find(self, name: str, version: str | None, v2: bool) -> HostedModel:
        hosted = (
            self.defaults.get(name) if version is None else self.models.get((name, version))
        )
        if hosted is not None:
            return hosted
        if name in self.defaults:
            versions = [ver for (model, ver) in self.models if model == name]
            message = (
                f"model {name!r} has no version {version!r} here; it serves "
                f"{', '.join(repr(ver) for ver in versions)}"
            )
        else:
            message = f"model {name!r} is not served here; it serves {_names(self.defaults)}"
        error = NotFound(message)
        raise _Reply(404, protocol.encode_v2_error(error) if v2 else protocol.encode_error(error))

    async def _v2_model_route(
        self, scope: Scope, receive: Receive, request_id: str, started: float, rest: str
    ) -> tuple[int, bytes, list]:
        parts = rest.split("/")
        name, version, action = parts[0], None, ""
        if len(parts) >= 3 and parts[1] == "versions":
            version = parts[2]
            parts = parts[2:]
        if len(parts) == 2:
            action = parts[1]
        elif len(parts) != 1:
            raise _Reply(404, _v2_error(f"no route {scope['path']}"))
        if action == "infer":
            _only(scope, "POST")
            hosted = self._find(name, version, v2=True)
            return await self._infer(scope, receive, request_id, started, hosted, "v2")
        if action == "transform":
            _only(scope, "POST")
            hosted = self._find(name, version, v2=True)
            return await self._transform(scope, receive, request_id, started, hosted, "v2")
        _only(scope, "GET")
        if action == "":
            return 200, orjson.dumps(self._find(name, version, v2=True).metadata()), []
        if action == "ready":
            self._find(name, version, v2=True)
            return self._model_ready(name)
        raise _Reply(404, _v2_error(
            f"no route {scope['path']}; use .../infer, .../transform, .../ready"
        ))

    async def _v1_model_route(
        self, scope: Scope, receive: Receive, request_id: str, started: float, rest: str
    ) -> tuple[int, bytes, list]:
        if rest.endswith(":predict"):
            _only(scope, "POST")
            hosted = self._find(rest[: -len(":predict")], None, v2=False)
            return await self._infer(scope, receive, request_id, started, hosted, "v1")
        if rest.endswith(":transform"):
            _only(scope, "POST")
            hosted = self._find(rest[: -len(":transform")], None, v2=False)
            return await self._transform(scope, receive, request_id, started, hosted, "v1")
        if ":" in rest or "/" in rest:
            raise _Reply(404, _error_body(scope["path"], f"no route {scope['path']}"))
        _only(scope, "GET")
        self._find(rest, None, v2=False)
        return self._model_ready(rest)

    def _model_ready(self, name: str) -> tuple[int, bytes, list]:
        """A served model's readiness (V1 and V2): its server's, since every model loads first."""
        return (200 if self.ready else 503), orjson.dumps({"name": name, "ready": self.ready}), []

    async def _invocations(
        self, scope: Scope, receive: Receive, request_id: str, started: float
    ) -> tuple[int, bytes, list]:
        _only(scope, "POST")
        hosted = next(iter(self.defaults.values()), None)
        if hosted is None:
            raise _Reply(503, protocol.encode_error(_not_ready()))
        return await self._infer(scope, receive, request_id, started, hosted, "invocations")

    # ------------------------------------------------------------ inference

    async def _infer(
        self,
        scope: Scope,
        receive: Receive,
        request_id: str,
        started: float,
        hosted: HostedModel,
        kind: str,
    ) -> tuple[int, bytes, list]:
        name, version = hosted.name, hosted.version
        encode_error = protocol.encode_v2_error if kind == "v2" else protocol.encode_error
        status, body, headers, rows, prediction_id = 500, b"", [], 0, None
        hosted.in_flight += 1
        try:
            if not self.ready:
                raise _not_ready()
            batcher = hosted.batcher
            if batcher.queued_requests >= batcher.max_queue:
                raise batcher.overloaded()  # shed before reading and decoding the body
            content_type, json_length, payload = await self._read_body(scope, receive)
            model_input, binary_out = self._decode(kind, payload, content_type, json_length,
                                                   hosted)
            rows = model_input.n_rows
            try:
                predictions = await hosted.predict(model_input)
            except DockyardError:
                raise
            except Exception as exc:  # the model's own code
                raise _ModelFailed(exc) from exc
            base = os.urandom(16).hex()
            ids = [base] if rows == 1 else [f"{base}-{i}" for i in range(rows)]
            prediction_id = base
            if kind == "v2":
                body = protocol.encode_v2_response(
                    predictions,
                    model_name=name,
                    model_version=version,
                    request=model_input,
                    parameters={"prediction_ids": ids},
                    signature=hosted.signature,
                )
                if binary_out:
                    body, size = binary.write_response(body, binary_out)
                    if size is not None:
                        headers = [(_HEADER_LENGTH, str(size).encode()),
                                   (b"content-type", b"application/octet-stream")]
            elif kind == "v1":
                body = _with_ids(protocol.encode_v1_response(predictions), ids)
            else:
                body = _with_ids(protocol.encode_invocations_response(predictions), ids)
            status = 200
            headers.append((b"x-prediction-id", base.encode()))
            if self.recorder is not None:
                self.recorder.add(
                    hosted.key,
                    ids,
                    model_input.tensor if model_input.tensor is not None else model_input.columns,
                    predictions,
                    (time.perf_counter() - started) * 1000.0,
                    request_id,
                )
        except _Disconnected:
            status = 499  # the client closed the request; nothing is sent
            raise
        except DockyardError as exc:
            status, body = exc.http_status, encode_error(exc)
            if isinstance(exc, Overloaded):
                headers = [(b"retry-after", str(exc.retry_after).encode())]
            if status >= 500 and not isinstance(exc, Overloaded) and exc.http_status != 504:
                log.error(
                    "request %s to %s version %s failed: %s", request_id, name, version, exc,
                    exc_info=exc if exc.http_status == 500 else None,
                    extra={"request_id": request_id, "model": name, "version": version},
                )
        except Exception as exc:
            status, body = 500, _failure(exc, kind, request_id, name, version, "the model")
        finally:
            hosted.in_flight -= 1
            self._observe(scope, request_id, name, version, kind, status, started, rows,
                          prediction_id=prediction_id)
        return status, body, headers

    async def _transform(
        self,
        scope: Scope,
        receive: Receive,
        request_id: str,
        started: float,
        hosted: HostedModel,
        kind: str,
    ) -> tuple[int, bytes, list]:
        """The features ``hosted`` computes for a V2 or V1 request body (not a prediction)."""
        name, version = hosted.name, hosted.version
        encode_error = protocol.encode_v2_error if kind == "v2" else protocol.encode_error
        status, body, headers, rows = 500, b"", [], 0
        try:
            if not self.ready:
                raise _not_ready()
            if not hosted.has_features:
                raise NotFound(
                    f"model {name!r} version {version!r} has no feature pipeline: it takes its "
                    "input as is, so there is nothing to transform (save the model with "
                    "features= to package its transforms)"
                )
            content_type, json_length, payload = await self._read_body(scope, receive)
            model_input, _ = self._decode(kind, payload, content_type, json_length, hosted)
            rows = model_input.n_rows
            try:
                features = await asyncio.to_thread(hosted.transform, model_input)
            except DockyardError:
                raise
            except Exception as exc:  # a feature step's own code
                raise _ModelFailed(exc) from exc
            if kind == "v2":
                body = protocol.encode_v2_response(
                    features, model_name=name, model_version=version, request=model_input
                )
            else:
                body = protocol.encode_features_response(features)
            status = 200
        except _Disconnected:
            status = 499
            raise
        except DockyardError as exc:
            status, body = exc.http_status, encode_error(exc)
        except Exception as exc:
            status = 500
            body = _failure(exc, kind, request_id, name, version, "the model's features")
        finally:
            self._observe(scope, request_id, name, version, f"{kind}-transform", status, started,
                          rows)
        return status, body, headers

    def _observe(self, scope: Scope, request_id: str, name: str, version: str, label: str,
                 status: int, started: float, rows: int, **fields: Any) -> None:
        """Count an answered request in the metrics and write its access-log line."""
        seconds = time.perf_counter() - started
        if self.metrics is not None:
            self.metrics.observe_request(name, version, label, status, seconds)
        if self.access_log is not None:
            self.access_log.write({
                "request_id": request_id,
                "method": scope["method"],
                "path": scope["path"],
                "status": status,
                "latency_ms": round(seconds * 1000.0, 3),
                "model": name,
                "version": version,
                "rows": rows,
                **fields,
            })

    def _decode(
        self,
        kind: str,
        payload: bytes,
        content_type: str | None,
        json_length: str | None,
        hosted: HostedModel,
    ) -> tuple[protocol.ModelInput, bool | frozenset[str]]:
        """The request's model input, and which outputs go back binary (V2 only)."""
        config = self.config
        options = {"max_rows": config.max_rows, "extra_columns": config.extra_columns}
        if kind == "v2":
            if json_length is not None:
                doc = binary.read_request(payload, json_length)
                model_input = protocol.decode_v2(doc, hosted.signature, **options)
                return model_input, binary.binary_outputs(doc)
            model_input = protocol.decode_v2(payload, hosted.signature, **options)
            if model_input.parameters.get("binary_data_output") is True:
                return model_input, True
            if b'"binary_data"' in payload:  # an output asked for as binary: rare, look closer
                return model_input, binary.binary_outputs(orjson.loads(payload))
            return model_input, False
        if json_length is not None:
            raise protocol.UnsupportedMediaType(
                "binary tensor data is taken only by the V2 routes (/v2/models/.../infer)",
                name=None, expected="application/json", got="binary tensor data",
            )
        if kind == "v1":
            return protocol.decode_v1(payload, hosted.signature, **options), False
        if content_type is None or content_type.startswith(_FORM):
            content_type = "application/json"  # curl -d sends JSON labelled as a form
        return protocol.decode_invocations(
            payload, hosted.signature, content_type=content_type, **options
        ), False

    async def _read_body(
        self, scope: Scope, receive: Receive
    ) -> tuple[str | None, str | None, bytes]:
        """The content type, the binary extension's JSON length (or None) and the body."""
        limit = self.config.max_body_bytes
        content_type = json_length = None
        for key, value in scope["headers"]:
            if key == b"content-type":
                content_type = value.decode("latin-1").strip().lower() or None
            elif key == b"content-length" and value.isdigit() and int(value) > limit:
                raise _too_large(limit)
            elif key == _HEADER_LENGTH:
                json_length = value.decode("latin-1").strip()
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        body = message.get("body", b"")
        if not message.get("more_body", False):
            if len(body) > limit:
                raise _too_large(limit)
            return content_type, json_length, body
        chunks, size = [body], len(body)
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return content_type, json_length, b"".join(chunks)


def app_from_env() -> ServeApp:
    """The app of a worker process, from the configuration in ``DOCKYARD_SERVE_CONFIG``."""
    text = os.environ.get(CONFIG_ENV)
    if not text:
        raise InvalidArgument(f"{CONFIG_ENV} is not set; start the server with `dockyard serve`")
    return ServeApp(ServeConfig.from_json(text))


# ---------------------------------------------------------------- helpers


def _request_id(value: bytes) -> str | None:
    """The caller's request id when it is short printable ASCII, else None (a new one is made)."""
    if 0 < len(value) <= _MAX_REQUEST_ID and value.isascii():
        text = value.decode("ascii")
        if text.isprintable():
            return text
    return None


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return value
    return None


def _only(scope: Scope, method: str) -> None:
    if scope["method"] != method and not (method == "GET" and scope["method"] == "HEAD"):
        raise _Reply(
            405,
            _error_body(scope["path"], f"{scope['method']} is not allowed on {scope['path']}; "
                        f"use {method}", "METHOD_NOT_ALLOWED"),
            [(b"allow", method.encode())],
        )


def _error_body(path: str, message: str, code: str = "NOT_FOUND") -> bytes:
    """V2 routes answer ``{"error": ...}``, the others Dockyard's error body."""
    if path.startswith("/v2"):
        return _v2_error(message)
    return orjson.dumps({"error_code": code, "message": message})


def _v2_error(message: str) -> bytes:
    return orjson.dumps({"error": message})


def _too_large(limit: int) -> TooLarge:
    return TooLarge(
        f"the request body is larger than {limit} bytes; send fewer rows per request "
        "or start the server with a larger --max-body-size"
    )


def _not_ready() -> DockyardError:
    return ServerUnavailable(
        "the server is not ready: its models are loading or it is shutting down"
    )


def _names(models: Mapping[str, Any]) -> str:
    return ", ".join(repr(name) for name in models) or "no models"


def _failure(exc: Exception, kind: str, request_id: str, name: str, version: str,
             what: str) -> bytes:
    """The body of a 500 answer, logged: an error in ``what`` (the model's own code, raised
    as _ModelFailed) or in the server."""
    failed = exc.error if isinstance(exc, _ModelFailed) else exc
    where, code = (f"in {what}", "MODEL_ERROR") if failed is not exc else (
        "in the server", "INTERNAL_ERROR")
    message = f"{type(failed).__name__} {where}: {failed} (request id {request_id})"
    log.error(
        "%s raised %s on request %s to %s version %s", where[3:], type(failed).__name__,
        request_id, name, version, exc_info=failed,
        extra={"request_id": request_id, "model": name, "version": version},
    )
    if kind == "v2":
        return protocol.encode_v2_error(message)
    return orjson.dumps({"error_code": code, "message": message,
                         "details": {"error": type(failed).__name__, "request_id": request_id}})


def _with_ids(body: bytes, ids: list[str]) -> bytes:
    """Add ``"prediction_ids"`` to a JSON object body."""
    return body[:-1] + b',"prediction_ids":' + orjson.dumps(ids) + b"}"


def _monitor_profiles(settings: Any) -> Any:
    from dockyard.monitor.summaries import ServingProfiler

    return ServingProfiler(uri=settings.uri, artifacts=settings.artifacts)
