"""The Ray Serve target: a deployment as one Ray Serve application.

``dockyard deploy models:/churn@champion --name churn --target ray --address ...``
records the deployment; :class:`RayServeTarget` turns it into a Serve
application named after it, at route prefix ``/<name>`` on Serve's HTTP proxy:

* one Serve deployment per route (``<model>-<version>``: stable, canary,
  shadow), each replica loading the model package once (pinned to its
  registered digest), warming it up and batching concurrent requests with
  Dockyard's :class:`~dockyard.serve.batching.AdaptiveBatcher`, exactly as
  ``dockyard serve`` does, so both give the same predictions;
* an ``ingress`` deployment answering the Open Inference Protocol: each
  inference request goes to the stable or the canary deployment at random by
  weight, and a copy goes to the shadow, whose answer is never waited for.

Why Dockyard's batcher rather than ``@serve.batch``: the replica decodes,
batches and encodes with the very code of the model server, batches grow with
the load without a fixed wait, and predict runs in a worker thread, so the
replica's event loop keeps answering health checks and taking requests.

:func:`autoscaling_config` maps the deployment's scaling onto Ray Serve's
autoscaler. Ray is imported inside functions only (``pip install 'dockyard[ray]'``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import random
import re
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dockyard.deploy.deployments import DeploymentFailed
from dockyard.entities.deployment import Deployment, Resources, Route, Scaling
from dockyard.errors import (
    DockyardError,
    InvalidArgument,
    MissingExtra,
    NotFound,
    ServerUnavailable,
)

if TYPE_CHECKING:
    from dockyard.client import Client

__all__ = ["Ingress", "ModelReplica", "RayServeTarget", "autoscaling_config"]

log = logging.getLogger("dockyard.deploy")

START_TIMEOUT = 300.0
"""Seconds a revision has to run (every replica loaded and healthy) before it fails."""
UPSCALE_DELAY_S = 10.0
DOWNSCALE_DELAY_S = 300.0
INGRESS = "ingress"
_TUNING = ("upscale_delay_s", "downscale_delay_s", "look_back_period_s", "metrics_interval_s",
           "initial_replicas")
_UNITS = {"m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
          "Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40}


def autoscaling_config(scaling: Scaling, config: Mapping[str, Any] | None = None
                       ) -> dict[str, Any]:
    """Ray Serve's ``autoscaling_config`` for each version of a deployment.

    ``min_replicas`` and ``max_replicas`` as given (equal: a fixed count);
    ``target_ongoing_requests`` is ``target_concurrency``, the requests in
    flight (queued or running) per replica the autoscaler aims at. Ray scales
    up after ``upscale_delay_s`` (10) seconds of sustained load and down after
    ``downscale_delay_s`` (300) quiet seconds: Ray's own defaults (30 s and
    600 s) are slow for an endpoint. ``initial_replicas`` is at least one, so
    a version proves it loads before the deployment is reported healthy, even
    when it may scale to zero. ``config`` (the deployment's target settings)
    overrides ``upscale_delay_s``, ``downscale_delay_s``, ``look_back_period_s``
    (the window Ray averages the load over, 30 s), ``metrics_interval_s`` (how
    often callers report their load to Serve's controller, 10 s; keep it below
    the window) and ``initial_replicas``.
    """
    config = config or {}
    out: dict[str, Any] = {
        "min_replicas": scaling.min_replicas,
        "max_replicas": scaling.max_replicas,
        "initial_replicas": max(scaling.min_replicas, 1),
        "target_ongoing_requests": scaling.target_concurrency,
        "upscale_delay_s": UPSCALE_DELAY_S,
        "downscale_delay_s": DOWNSCALE_DELAY_S,
    }
    for key in _TUNING:
        if config.get(key) is not None:
            out[key] = _setting(config, key, None, int if key == "initial_replicas" else float)
    if not scaling.min_replicas <= out["initial_replicas"] <= scaling.max_replicas:
        raise InvalidArgument(f"config initial_replicas is {out['initial_replicas']}; give "
                              f"{scaling.min_replicas} to {scaling.max_replicas}")
    return out


class RayServeTarget:
    """Runs deployments as Ray Serve applications on the Ray cluster at ``address``.

    ``address`` is what ``ray.init`` takes: ``ray://<head>:10001`` (Ray
    Client, from any machine that reaches the head), or ``<head>:6379`` or
    ``auto`` from a machine that is a node of the cluster. A process talks to
    one cluster: the first target connects, the others reuse the connection.
    """

    def __init__(self, client: Client, address: str) -> None:
        self.client = client
        self.address = address

    def apply(self, deployment: Deployment) -> str:
        """Deploy (or update) ``deployment`` and return its endpoint URL once Serve runs it.

        Records ``deploying``, then ``healthy`` with the revision and the
        endpoint; or ``failed`` with the reason, and raises DeploymentFailed.
        Versions whose route is unchanged keep their replicas across updates.
        """
        name, store = deployment.name, self.client.store
        try:
            serve = self._serve(deployment.config)
        except DockyardError as exc:  # no Ray, or no cluster there: the record says so
            store.set_deployment_status(name, "failed", exc.message)
            raise
        store.set_deployment_status(name, "deploying", f"deploying revision "
                                    f"{deployment.revision} to Ray Serve at {self.address}")
        try:
            timeout = _setting(deployment.config, "timeout_s", START_TIMEOUT, float)
            deadline = time.monotonic() + timeout
            app, expected = self._application(deployment, serve)
            serve.run_many([serve.RunTarget(app, name=name, route_prefix=f"/{name}")],
                           wait_for_ingress_deployment_creation=False,
                           wait_for_applications_running=False)
            reason = _wait_running(serve, name, expected, deadline, timeout)
        except DockyardError as exc:
            reason = exc.message
        except Exception as exc:  # noqa: BLE001 - Ray refused the application: record why
            reason = f"{type(exc).__name__}: {exc}"
        if reason is not None:
            store.set_deployment_status(name, "failed", reason[:5000])
            raise DeploymentFailed(f"deployment {name!r} revision {deployment.revision} "
                                   f"failed on Ray Serve: {reason}")
        url = self._endpoint(name, deployment.config)
        message = f"Ray Serve runs revision {deployment.revision}"
        if not _answers(f"{url}/v2/health/ready", min(15.0, deadline - time.monotonic())):
            message += f"; {url} did not answer from here (is Serve's proxy reachable?)"
        store.set_deployment_status(name, "healthy", message,
                                    observed_revision=deployment.revision, endpoint=url)
        return url

    def status(self, name: str) -> dict[str, Any]:
        """What Serve reports: the application's status, and replicas per deployment.

        ``{"name", "status", "message", "deployments": {<deployment>: {"status",
        "replicas" (running), "replica_states", "message"}}}``; NotFound if Serve
        runs no application of that name.
        """
        serve = self._serve({})
        app = serve.status().applications.get(name)
        if app is None:
            raise NotFound(f"Ray Serve at {self.address} runs no application {name!r}")
        deployments = {
            key: {"status": _text(d.status), "replicas": int(d.replica_states.get("RUNNING", 0)),
                  "replica_states": {_text(k): int(v) for k, v in d.replica_states.items()},
                  "message": d.message}
            for key, d in app.deployments.items()}
        return {"name": name, "status": _text(app.status), "message": app.message,
                "deployments": deployments}

    def stop(self, name: str) -> None:
        """Delete the application (its replicas drain, then stop); nothing if it does not run."""
        serve = self._serve({})
        if name in serve.status().applications:
            serve.delete(name)

    # -- helpers ---------------------------------------------------------------------------
    def _serve(self, config: Mapping[str, Any]) -> Any:
        """Ray Serve, connected to the cluster (``serve.run`` starts it there if need be)."""
        try:
            import ray
            from ray import serve
        except ImportError as exc:
            raise MissingExtra("the Ray Serve target needs Ray Serve: pip install "
                               "'dockyard[ray]'", module="ray", extra="ray") from exc
        if not ray.is_initialized():
            try:
                ray.init(address=self.address, log_to_driver=False)
            except Exception as exc:  # ConnectionError, or a Ray error for a bad address
                raise ServerUnavailable(
                    f"cannot connect to the Ray cluster at {self.address!r}: {exc}; give "
                    "ray://<head>:10001, or <head>:6379 on a node of the cluster") from exc
        http = {key[5:]: config[key] for key in ("http_host", "http_port") if key in config}
        if http:  # Serve's HTTP options are the cluster's: they apply if Serve starts here
            serve.start(http_options=http)
        return serve

    def _application(self, deployment: Deployment, serve: Any) -> tuple[Any, set[str]]:
        """The bound Serve application, and the names of its deployments."""
        from dockyard.serve.hosting import resolve_model

        config = deployment.config
        scaling = autoscaling_config(deployment.scaling, config)
        actor = _actor_options(deployment.resources, config)
        batching = {key: _setting(config, key, None, kind)
                    for key, kind in (("max_batch_size", int), ("max_wait_ms", float))
                    if key in config}
        target = max(1.0, deployment.scaling.target_concurrency)
        max_ongoing = _setting(config, "max_ongoing_requests", max(5, math.ceil(2 * target)))
        retries = _setting(config, "max_constructor_retry_count", 3)
        backends, table = {}, []
        for route in deployment.routes:
            key = _deployment_name(route)
            spec = resolve_model(route.uri, client=self.client)
            # Where a replica without the driver's copy of the package fetches it (a server
            # proxies its own artifacts; a local store needs the client's artifact root).
            artifacts = None if self.client.is_remote else self.client._artifact_root
            source = {"spec": spec.to_dict(), "store_uri": self.client.uri,
                      "artifacts": artifacts}
            options = {"name": key, "ray_actor_options": actor, "autoscaling_config": scaling,
                       "max_ongoing_requests": max_ongoing, "max_surge_percent": 100,
                       # a package that does not load fails the revision soon (Ray tries 20 times)
                       "max_constructor_retry_count": retries}
            backends[key] = _pinned(serve.deployment(ModelReplica, **options),
                                    options, source, batching).bind(source, batching)
            table.append({"key": key, **route.model_dump()})
        # The ingress only forwards: no CPU reserved, many requests in flight. Its route
        # table is its user_config, so moving weights reconfigures it without a restart.
        ingress_actor = {key: value for key, value in actor.items() if key == "runtime_env"}
        pinned = {"name": INGRESS, "num_replicas": _setting(config, "ingress_replicas", 1),
                  "ray_actor_options": {**ingress_actor, "num_cpus": 0},
                  "max_ongoing_requests": 1000, "max_surge_percent": 100}
        ingress = _pinned(serve.deployment(Ingress, **pinned), pinned, deployment.name,
                          sorted(backends)).options(
            user_config={"routes": table, "revision": deployment.revision})
        return ingress.bind(deployment.name, backends), {INGRESS, *backends}

    def _endpoint(self, name: str, config: Mapping[str, Any]) -> str:
        if config.get("public_url"):
            return f"{str(config['public_url']).rstrip('/')}/{name}"
        from ray.serve.context import _get_global_client

        http = _get_global_client().http_config
        if http.root_url:
            return f"{http.root_url.rstrip('/')}/{name}"
        host = http.host
        if host in ("0.0.0.0", "::", ""):
            host = _address_host(self.address) or "127.0.0.1"
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{http.port}{http.root_path or ''}/{name}"


class ModelReplica:
    """One replica of a served version: its package loaded once, warmed up, batched.

    ``source`` holds the :class:`~dockyard.serve.hosting.ModelSpec` the driver
    resolved (its ``path`` is the driver's local copy) and the record's
    ``store_uri`` and ``artifacts``: a replica on a node without that copy
    fetches the package from the record itself.
    """

    def __init__(self, source: dict[str, Any], batching: dict[str, Any]) -> None:
        from dockyard.models.package import MANIFEST_NAME
        from dockyard.serve.hosting import HostedModel, ModelSpec

        spec = ModelSpec.from_dict(source["spec"])
        if not (Path(spec.path) / MANIFEST_NAME).is_file():
            from dockyard.client import Client

            with Client(source["store_uri"], source["artifacts"]) as client:
                spec = replace(spec, path=str(client.download_model(spec.uri)))
        self.hosted = HostedModel(spec, **batching)
        self.hosted.warm_up()
        self.label = f"{spec.name}/{spec.version}"
        self.requests = 0

    def ready(self) -> bool:
        """True: a replica answers only once its model loaded and warmed up."""
        return True

    def metadata(self) -> dict[str, Any]:
        """The V2 model metadata."""
        return self.hosted.metadata()

    def stats(self) -> dict[str, Any]:
        """How many inference requests this replica took (shadow copies included)."""
        return {"version": self.label, "requests": self.requests}

    async def infer(self, kind: str, body: bytes, content_type: str | None = None
                    ) -> tuple[int, bytes, dict[str, str]]:
        """Decode a ``v2`` or ``invocations`` request, predict, encode: status, body, headers."""
        from dockyard.serve import protocol
        from dockyard.serve.batching import Overloaded

        self.requests += 1
        hosted = self.hosted
        encode_error = protocol.encode_v2_error if kind == "v2" else protocol.encode_error
        try:
            if kind == "v2":
                model_input = protocol.decode_v2(body, hosted.signature)
            else:
                json_body = content_type is None or "json" in content_type
                if json_body and body.lstrip()[:1] == b"[":  # a bare list of records
                    body = b'{"dataframe_records":' + body + b"}"
                model_input = protocol.decode_invocations(
                    body, hosted.signature, content_type=content_type or "application/json")
            try:
                predictions = await hosted.predict(model_input)
            except DockyardError:
                raise
            except Exception as exc:  # the model's own code
                log.error("%s raised %s", self.label, type(exc).__name__, exc_info=exc)
                message = f"{type(exc).__name__} in the model {self.label}: {exc}"
                return 500, encode_error(message), {}
            if kind == "v2":
                return 200, protocol.encode_v2_response(
                    predictions, model_name=hosted.name, model_version=hosted.version,
                    request=model_input, signature=hosted.signature), {}
            return 200, protocol.encode_invocations_response(predictions), {}
        except DockyardError as exc:
            headers = {"retry-after": str(exc.retry_after)} if isinstance(exc, Overloaded) else {}
            return exc.http_status, encode_error(exc), headers


class Ingress:
    """The application's HTTP entry: Open Inference Protocol routes, weighted routing, shadow.

    ``backends`` maps each version's Serve deployment name to its handle; the
    route table comes through ``reconfigure`` (Serve's ``user_config``), so
    moving a canary's weight changes no replica.
    """

    def __init__(self, name: str, backends: dict[str, Any]) -> None:
        self.name = name
        self.backends = backends
        self.routes: list[dict[str, Any]] = []
        self.revision = 0
        self._tasks: set[asyncio.Task[None]] = set()

    def reconfigure(self, config: dict[str, Any]) -> None:
        """Take the route table of a revision: ``{"routes": [...], "revision": n}``."""
        self.routes = list(config["routes"])
        self.revision = int(config.get("revision", 0))
        self.served = [r for r in self.routes if r["role"] != "shadow"]
        self.weights = [r["weight"] for r in self.served]
        self.stable = next(r for r in self.routes if r["role"] == "stable")
        self.shadow = next((r for r in self.routes if r["role"] == "shadow"), None)
        self.models = {self.name, *(r["model_name"] for r in self.routes)}

    async def __call__(self, request: Any) -> Any:
        from starlette.responses import Response

        status, body, headers = await self._handle(request)
        return Response(body, status_code=status, headers=headers,
                        media_type="application/json")

    async def _handle(self, request: Any) -> tuple[int, bytes, dict[str, str]]:
        from dockyard.serve import protocol

        scope = request.scope
        root, path = scope.get("root_path", ""), scope["path"]
        rest = (path[len(root):] if root and path.startswith(root) else path).rstrip("/")
        method = request.method
        if rest == "/v2/health/live":
            return 200, b"{}", {}
        if rest == "/v2/health/ready":
            ready = await self._ready(self.served)
            return (200 if ready else 503), json.dumps({"ready": ready}).encode(), {}
        if rest == "/v2":
            return 200, json.dumps({"name": self.name, "revision": self.revision}).encode(), {}
        if rest == "/invocations" and method == "POST":
            return await self._infer(request, "invocations", self._pick())
        match = re.fullmatch(r"/v2/models/([^/]+)(?:/versions/([^/]+))?(/infer|/ready)?", rest)
        if match is None:
            error = NotFound(f"no route {rest or '/'} here; use /v2/models/<model>/infer, "
                             "/v2/health/ready or /invocations")
            return 404, protocol.encode_error(error), {}
        model, version, action = match.groups()
        if model not in self.models:
            error = NotFound(f"model {model!r} is not served here; it serves "
                             f"{', '.join(sorted(self.models))}")
            return 404, protocol.encode_v2_error(error), {}
        if version is None:
            route = self._pick() if action == "/infer" else self.stable
        else:
            route = next(
                (r for r in self.routes if r["version"] == version
                 and model in (self.name, r["model_name"])), None)
        if route is None:
            error = NotFound(f"model {model!r} has no version {version!r} here")
            return 404, protocol.encode_v2_error(error), {}
        if action == "/infer" and method == "POST":
            return await self._infer(request, "v2", route, mirror=version is None)
        if action is None and method == "GET":
            metadata = await self.backends[route["key"]].metadata.remote()
            return 200, json.dumps(metadata).encode(), {}
        if action == "/ready" and method == "GET":
            ready = await self._ready([route])
            return (200 if ready else 503), json.dumps({"name": model, "ready": ready}).encode(), {}
        return 405, protocol.encode_v2_error(f"{method} is not allowed on {rest}"), {}

    def _pick(self) -> dict[str, Any]:
        return random.choices(self.served, weights=self.weights)[0]

    async def _infer(self, request: Any, kind: str, route: dict[str, Any], *,
                     mirror: bool = True) -> tuple[int, bytes, dict[str, str]]:
        from dockyard.serve import protocol

        body = await request.body()
        content_type = request.headers.get("content-type")
        label = f"{route['model_name']}/{route['version']}"
        try:
            status, answer, headers = await self.backends[route["key"]].infer.remote(
                kind, body, content_type)
        except Exception as exc:  # noqa: BLE001 - the replica died, or Serve shed the request
            message = f"{label} did not answer: {type(exc).__name__}: {exc}"
            encode = protocol.encode_v2_error if kind == "v2" else protocol.encode_error
            return 503, encode(message), {"retry-after": "1", "x-dockyard-version": label}
        shadow = self.shadow
        if mirror and shadow is not None:
            task = asyncio.get_running_loop().create_task(
                self._mirror(shadow, kind, body, content_type))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return status, answer, {**headers, "x-dockyard-version": label}

    async def _mirror(self, route: dict[str, Any], kind: str, body: bytes,
                      content_type: str | None) -> None:
        try:
            await self.backends[route["key"]].infer.remote(kind, body, content_type)
        except Exception as exc:  # noqa: BLE001 - a shadow never hurts the answer
            log.warning("shadow request to %s/%s failed: %s", route["model_name"],
                        route["version"], exc)

    async def _ready(self, routes: list[dict[str, Any]]) -> bool:
        """Whether a replica of each route answers within 10 s."""
        calls = [self.backends[r["key"]].ready.remote() for r in routes]
        try:
            return all(await asyncio.wait_for(asyncio.gather(*calls), timeout=10))
        except Exception:  # noqa: BLE001 - not answering is not ready
            return False


# -- helpers --------------------------------------------------------------------------------
def _setting(config: Mapping[str, Any], key: str, default: Any, kind: type = int) -> Any:
    """A number from the deployment's target settings: an int, or a float, 0 or more."""
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, kind if kind is int else (int, float)) \
            or not math.isfinite(value) or value < 0:
        noun = "a whole number" if kind is int else "a number"
        raise InvalidArgument(f"config {key} is {value!r}; give {noun} of 0 or more")
    return kind(value)


def _deployment_name(route: Route) -> str:
    return f"{route.model_name}-{route.version}".replace("#", "_")


def _actor_options(resources: Resources, config: Mapping[str, Any]) -> dict[str, Any]:
    """A replica's Ray resources, from the deployment's Kubernetes-style quantities."""
    options: dict[str, Any] = {"num_cpus": _quantity(resources.cpu),
                               "memory": int(_quantity(resources.memory))}
    if resources.gpu:
        options["num_gpus"] = resources.gpu
    if "runtime_env" in config:
        options["runtime_env"] = config["runtime_env"]
    return options


def _quantity(text: str) -> float:
    match = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)([A-Za-z]*)", text)
    if match is None or (match.group(2) and match.group(2) not in _UNITS):
        raise InvalidArgument(f"{text!r} is not a quantity (e.g. 500m, 2, 512Mi, 2Gi)")
    return float(match.group(1)) * _UNITS.get(match.group(2), 1.0)


def _pinned(deployment: Any, *parts: Any) -> Any:
    """``deployment`` with a code version that changes only when what it runs changes.

    Serve gives every ``serve.run`` a random code version, which restarts every
    replica; a version hashed from the options and init arguments keeps an
    unchanged version's replicas running while a canary comes or goes.
    """
    from dockyard import __version__

    text = json.dumps([__version__, *parts], sort_keys=True, default=str)
    try:
        return deployment.options(version=hashlib.sha256(text.encode()).hexdigest()[:16],
                                  _internal=True)
    except (TypeError, ValueError):  # a Ray without the internal flag: restart on update
        return deployment


def _wait_running(serve: Any, name: str, expected: set[str], deadline: float,
                  timeout: float) -> str | None:
    """None once Serve runs the application with every expected deployment; else why not."""
    while True:
        app = serve.status().applications.get(name)
        if app is not None:
            status = _text(app.status)
            if status == "RUNNING" and expected <= set(app.deployments):
                return None
            if status == "DEPLOY_FAILED":
                failing = [f"{key}: {d.message}" for key, d in app.deployments.items()
                           if d.message and _text(d.status) != "HEALTHY"]
                return "; ".join([app.message, *failing] if app.message else failing) \
                    or "Serve reports DEPLOY_FAILED"
        if time.monotonic() >= deadline:
            shown = "no application" if app is None else _text(app.status)
            waiting = "" if app is None else ", ".join(
                f"{key} {_text(d.status)} {dict(d.replica_states)}"
                for key, d in app.deployments.items())
            return (f"not running after {timeout:g} s ({shown}{': ' + waiting if waiting else ''}"
                    "); are there enough CPUs, memory and GPUs for the replicas?")
        time.sleep(0.25)


def _answers(url: str, timeout: float) -> bool:
    """Whether ``url`` answers 200 within ``timeout`` seconds (proxies learn routes late)."""
    import httpx

    deadline = time.monotonic() + max(timeout, 1.0)
    while True:
        try:
            if httpx.get(url, timeout=5.0).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)


def _address_host(address: str) -> str | None:
    match = re.fullmatch(r"(?:ray://)?\[?([^\]]+?)\]?:\d+", address)
    return match.group(1) if match else None


def _text(value: Any) -> str:
    return str(getattr(value, "value", value))
