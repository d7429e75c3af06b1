"""Deployments: which model versions serve where, how they scale, and what they promise.

A deployment (an endpoint) is the desired state a target converges to:
routes (model versions with traffic weights and roles), scaling, resources,
an SLA and a rollout policy. Every change bumps its ``revision`` and is kept
in its history; the target reports back through ``status`` and
``observed_revision`` (the revision it runs). Pure data, like the other
entities: the checks here are shared by every store and by the CLI.
"""

from __future__ import annotations

import math
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dockyard.entities import validation as v
from dockyard.errors import InvalidArgument

ENVIRONMENTS = ("dev", "staging", "prod")
TARGETS = ("local", "ray", "kubernetes")
ROLES = ("stable", "canary", "shadow")
STATUSES = ("pending", "deploying", "healthy", "degraded", "failed", "stopped")
"""``pending``: recorded, not yet picked up; ``deploying``: the target is converging;
``healthy``: the target runs the current revision and every version is ready;
``degraded``: it serves, but a version is not ready; ``failed``: it does not serve;
``stopped``: stopped on purpose."""
ACTIONS = ("create", "update", "canary", "promote", "rollback", "status")
MAX_ROUTES = 8
_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\Z")
_VERSION = re.compile(r"^[0-9]{1,10}\Z")
_COUNT_LIMIT = 1_000_000_000
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|Ki|Mi|Gi|Ti|M|G|T)?\Z")


class _Entity(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Route(_Entity):
    """One model version a deployment serves, its share of traffic and its role.

    ``stable`` and ``canary`` routes split the traffic by ``weight`` (percent,
    summing to 100). A ``shadow`` route gets a copy of every request; its
    answers are recorded, never returned, and its weight is 0.
    """

    model_name: str
    version: str
    weight: int = 100
    role: str = "stable"

    @property
    def uri(self) -> str:
        """The model URI of this version (``models:/<name>/<version>``)."""
        return f"models:/{self.model_name}/{self.version}"


class Scaling(_Entity):
    """Replicas per version, and the load each replica should carry."""

    min_replicas: int = 1
    max_replicas: int = 1
    target_concurrency: float = 8.0
    """Requests in flight per replica the autoscaler aims at (Ray Serve's target ongoing
    requests, KServe's concurrency target)."""


class Resources(_Entity):
    """What one replica asks for, as Kubernetes quantities (``500m``, ``2``, ``1Gi``)."""

    cpu: str = "1"
    memory: str = "1Gi"
    gpu: int = 0


class Sla(_Entity):
    """What the deployment promises; ``dockyard loadtest`` checks it."""

    p99_ms: float | None = None
    """The 99th percentile of latency, in milliseconds, at most."""
    min_throughput: float | None = None
    """Requests per second the deployment sustains, at least."""


class Rollout(_Entity):
    """How a canary moves forward, and when it is rolled back by itself.

    The canary takes ``steps`` percent of traffic in turn, each for
    ``interval_seconds`` and at least ``min_requests`` requests; 100 promotes
    it. At every check it is rolled back when its error rate exceeds the
    stable version's by more than ``max_error_rate_increase``, or its p90 or
    p99 latency exceeds the stable version's times the ratio (once each side
    answered 100 requests for p90, 1,000 for p99; latencies under
    ``latency_floor_ms`` never count: noise, not a regression).
    """

    steps: list[int] = Field(default_factory=lambda: [10, 50, 100])
    interval_seconds: float = 60.0
    min_requests: int = 20
    max_error_rate_increase: float = 0.01
    max_p90_ratio: float | None = 2.0
    max_p99_ratio: float | None = 2.0
    latency_floor_ms: float = 5.0
    auto: bool = True
    """False leaves the canary at its first step until promoted or rolled back by hand."""


class DeploymentSpec(_Entity):
    """What a deployment should be: the part a user writes."""

    name: str
    environment: str = "dev"
    target: str = "local"
    routes: list[Route]
    scaling: Scaling = Field(default_factory=Scaling)
    resources: Resources = Field(default_factory=Resources)
    sla: Sla = Field(default_factory=Sla)
    rollout: Rollout = Field(default_factory=Rollout)
    config: dict[str, Any] = Field(default_factory=dict)
    """Target settings: ``host`` and ``port`` (local), ``address`` (ray), ``namespace``
    (kubernetes)."""
    description: str = ""

    def route(self, role: str) -> Route | None:
        """The route with this role, if any."""
        return next((r for r in self.routes if r.role == role), None)

    @property
    def stable(self) -> Route:
        """The stable route (a checked spec has exactly one)."""
        route = self.route("stable")
        if route is None:
            raise InvalidArgument("a deployment has exactly one stable route")
        return route


class Deployment(DeploymentSpec):
    """A stored deployment: its spec, where it stands, and who changed it last."""

    revision: int = 1
    """Bumped by every change of the spec."""
    observed_revision: int = 0
    """The revision the target runs (equal to ``revision`` once it converged)."""
    status: str = "pending"
    message: str = ""
    endpoint: str | None = None
    """Where clients send requests, once the target knows."""
    previous_routes: list[Route] = Field(default_factory=list)
    """The routes before the stable version last changed: what ``rollback`` returns to."""
    created_at: int
    created_by: str = ""
    updated_at: int
    updated_by: str = ""

    def spec(self) -> DeploymentSpec:
        """The user-written part."""
        return DeploymentSpec(**self.model_dump(include=set(DeploymentSpec.model_fields)))

    @property
    def converged(self) -> bool:
        """The target runs the current revision."""
        return self.observed_revision >= self.revision

    def versions(self) -> list[str]:
        """``name/version`` of every route."""
        return [f"{r.model_name}/{r.version}" for r in self.routes]


class DeploymentEvent(_Entity):
    """One entry of a deployment's history: who changed what, when, from what to what."""

    deployment: str
    revision: int
    time: int
    user: str = ""
    action: str
    message: str = ""
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None


# -- checks shared by every store ------------------------------------------------------------

def check_deployment_name(name: Any) -> str:
    """A DNS label (lowercase letters, digits and '-', up to 63): it names services and URLs."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidArgument(
            f"deployment name {name!r:.80} is not valid: use up to 63 lowercase letters, digits "
            "and '-', starting and ending with a letter or digit (it becomes a host name)")
    return name


def _choice(kind: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise InvalidArgument(f"{kind} {value!r:.40} is not one of {', '.join(choices)}")
    return str(value)


def _positive(kind: str, value: float | None, *, zero: bool = False) -> None:
    if value is None:
        return
    if not math.isfinite(value) or value < 0 or (value == 0 and not zero):
        raise InvalidArgument(f"{kind} is {value!r}; it must be a positive number")


def check_routes(routes: list[Route]) -> list[Route]:
    """Routes that make sense together: 1 to 8 of them, served weights summing to 100."""
    if not routes:
        raise InvalidArgument("a deployment serves at least one model version; give one route")
    if len(routes) > MAX_ROUTES:
        raise InvalidArgument(f"{len(routes)} routes; a deployment has at most {MAX_ROUTES}")
    seen = set()
    for route in routes:
        v.validate_model_name(route.model_name)
        if not _VERSION.match(route.version):
            raise InvalidArgument(f"version {route.version!r:.40} of {route.model_name!r} must "
                                  "be a registered version number: deployments serve registered "
                                  "versions")
        _choice("route role", route.role, ROLES)
        if not 0 <= route.weight <= 100:
            raise InvalidArgument(f"the weight of {route.model_name}/{route.version} is "
                                  f"{route.weight}; weights are percentages from 0 to 100")
        if route.role == "shadow" and route.weight:
            raise InvalidArgument("a shadow route gets a copy of the traffic, not a share: "
                                  "give it weight 0")
        if route.role == "canary" and not 0 < route.weight < 100:
            raise InvalidArgument(f"the canary {route.model_name}/{route.version} has weight "
                                  f"{route.weight}; a canary takes 1 to 99 percent (promote it "
                                  "to give it all the traffic)")
        key = (route.model_name, route.version)
        if key in seen:
            raise InvalidArgument(f"{route.model_name}/{route.version} is routed twice; "
                                  "give each version one route")
        seen.add(key)
    served = [r for r in routes if r.role != "shadow"]
    if not served:
        raise InvalidArgument("every route is a shadow; a deployment needs a stable route that "
                              "answers requests")
    if sum(r.weight for r in served) != 100:
        shares = ", ".join(f"{r.model_name}/{r.version}={r.weight}" for r in served)
        raise InvalidArgument(f"the weights of the served routes sum to "
                              f"{sum(r.weight for r in served)} ({shares}); they must sum to 100")
    for role, most in (("stable", 1), ("canary", 1), ("shadow", 1)):
        count = sum(r.role == role for r in routes)
        if count > most or (role == "stable" and count < most):
            raise InvalidArgument(f"{count} {role} routes: a deployment has exactly one stable "
                                  "route, and at most one canary and one shadow")
    return routes


def check_deployment_spec(spec: DeploymentSpec) -> DeploymentSpec:
    """Raise InvalidArgument naming the first thing wrong with ``spec``; return it otherwise."""
    check_deployment_name(spec.name)
    _choice("environment", spec.environment, ENVIRONMENTS)
    _choice("target", spec.target, TARGETS)
    check_routes(spec.routes)
    scaling = spec.scaling
    if scaling.min_replicas < 0 or scaling.max_replicas < 1:
        raise InvalidArgument("replicas: min_replicas must be at least 0 and max_replicas at "
                              "least 1")
    if scaling.min_replicas > scaling.max_replicas:
        raise InvalidArgument(f"min_replicas ({scaling.min_replicas}) is more than max_replicas "
                              f"({scaling.max_replicas})")
    if scaling.max_replicas > 1000:
        raise InvalidArgument(f"max_replicas is {scaling.max_replicas}; the limit is 1000")
    if not 0 <= spec.resources.gpu <= 1000:
        raise InvalidArgument(f"resources gpu is {spec.resources.gpu}; give 0 to 1000")
    _positive("target_concurrency", scaling.target_concurrency)
    for kind, quantity in (("cpu", spec.resources.cpu), ("memory", spec.resources.memory)):
        if not _QUANTITY.match(quantity):
            raise InvalidArgument(f"resources {kind} {quantity!r:.40} is not a quantity: write "
                                  "e.g. 500m or 2 for cpu, 512Mi or 2Gi for memory")
    _positive("sla p99_ms", spec.sla.p99_ms)
    _positive("sla min_throughput", spec.sla.min_throughput)
    rollout = spec.rollout
    if not rollout.steps or any(not 0 < s <= 100 for s in rollout.steps) \
            or rollout.steps != sorted(set(rollout.steps)) or rollout.steps[-1] != 100:
        raise InvalidArgument(f"rollout steps {rollout.steps} must rise from above 0 to 100 "
                              "(e.g. 10, 50, 100): each is the canary's percent of traffic")
    _positive("rollout interval_seconds", rollout.interval_seconds)
    _positive("rollout max_error_rate_increase", rollout.max_error_rate_increase, zero=True)
    _positive("rollout max_p90_ratio", rollout.max_p90_ratio)
    _positive("rollout max_p99_ratio", rollout.max_p99_ratio)
    _positive("rollout latency_floor_ms", rollout.latency_floor_ms, zero=True)
    if not 1 <= rollout.min_requests <= _COUNT_LIMIT:
        raise InvalidArgument(f"rollout min_requests is {rollout.min_requests}; give 1 to "
                              f"{_COUNT_LIMIT:,}")
    v.validate_description(spec.description)
    _check_config(spec)
    return spec


def _check_config(spec: DeploymentSpec) -> None:
    """The target settings: JSON, with the local target's host and port of the right kind."""
    import orjson

    v.check_mapping("config", spec.config)
    try:
        text = orjson.dumps(spec.config)
    except (TypeError, orjson.JSONEncodeError) as exc:
        raise InvalidArgument(f"config is not JSON: {exc}") from None
    if len(text) > 100_000:
        raise InvalidArgument(f"config is {len(text):,} bytes of JSON; the limit is 100,000")
    if any(isinstance(x, float) and not math.isfinite(x) for x in spec.config.values()):
        raise InvalidArgument("config holds a number that is not finite")
    port = spec.config.get("port")
    if port is not None and (isinstance(port, bool) or not isinstance(port, int)
                             or not 1 <= port <= 65535):
        raise InvalidArgument(f"config port {port!r:.40} must be a whole number from 1 to 65535")
    for key in ("host", "address", "namespace"):
        value = spec.config.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise InvalidArgument(f"config {key} {value!r:.40} must be a non-empty string")


def parse_spec(data: Any) -> DeploymentSpec:
    """A spec from a JSON-like mapping, checked; InvalidArgument names the bad field."""
    if not isinstance(data, dict):
        raise InvalidArgument("a deployment spec is a JSON object")
    try:
        spec = DeploymentSpec.model_validate(data)
    except ValidationError as exc:
        raise InvalidArgument(f"deployment spec: {describe(exc)}") from None
    return check_deployment_spec(spec)


def describe(exc: ValidationError) -> str:
    """The first error of a pydantic validation, as one line naming the field."""
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error["loc"]) or "spec"
    return f"{where}: {error['msg']}"
