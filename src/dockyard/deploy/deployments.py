"""Changing deployments: deploy, update, canary, shadow, promote, rollback, and waiting.

Every operation writes the deployment's desired state into the record (one
new revision, with who and why in its history); the target converges to it
and reports back through the deployment's status. So the same commands work
for every target, from the CLI, the SDK or a CI job, and the record is the
inventory of what runs where.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dockyard.entities.deployment import (
    Deployment,
    DeploymentSpec,
    Route,
    check_deployment_name,
    check_deployment_spec,
)
from dockyard.errors import DockyardError, InvalidArgument, InvalidState, NotFound

if TYPE_CHECKING:
    from dockyard.client import Client

__all__ = [
    "DeploymentFailed",
    "canary",
    "canary_routes",
    "deploy",
    "promote",
    "resolve_route",
    "rollback",
    "shadow",
    "shadow_routes",
    "update",
    "wait_until_ready",
]


class DeploymentFailed(DockyardError):
    """The deployment did not become healthy: it failed, or the wait timed out."""

    error_code = "DEPLOYMENT_FAILED"
    http_status = 409


def resolve_route(client: Client, model_uri: str, *, weight: int = 100,
                  role: str = "stable") -> Route:
    """The registered version a model URI names now (an alias is read once, here).

    Deployments serve registered versions, so that the record can tell which
    version runs where; ``runs:/`` URIs and folders are refused with a hint.
    """
    resolved = client.resolve_model_uri(model_uri)
    version = resolved.model_version
    if version is None:
        raise InvalidArgument(
            f"{model_uri!r} is not a registered model version; register it first "
            "(dockyard models register ...) and deploy models:/<name>/<version> or "
            "models:/<name>@<alias>")
    return Route(model_name=version.name, version=str(version.version), weight=weight,
                 role=role)


def deploy(client: Client, spec: DeploymentSpec, *, message: str = "") -> Deployment:
    """Create the deployment, or change an existing one of that name to ``spec``.

    Creating or applying the same spec twice is safe (a CI job can run it on
    every commit): an unchanged spec writes nothing.
    """
    spec = check_deployment_spec(spec)
    try:
        current = client.store.get_deployment(spec.name)
    except NotFound:
        return client.store.create_deployment(spec, user=client.user)
    if current.target != spec.target:
        raise InvalidArgument(
            f"deployment {spec.name!r} runs on {current.target}, not {spec.target}; stop and "
            "delete it first (dockyard deploy delete), or pick another name")
    if current.spec() == spec:
        return current
    return _change(client, current, spec, "update", message)


def update(client: Client, name: str, model_uri: str, *, message: str = "") -> Deployment:
    """Serve ``model_uri`` instead of the stable version (canary and shadow routes end).

    The target starts the new version, waits until it is ready, switches
    traffic to it and then drains the old one: no request is dropped.
    """
    current = _get(client, name)
    route = resolve_route(client, model_uri)
    routes = [route]
    return _change(client, current, _with(current, routes=routes), "update",
                   message or f"serve {route.model_name}/{route.version}")


def canary(client: Client, name: str, model_uri: str, percent: int | None = None, *,
           message: str = "") -> Deployment:
    """Send ``percent`` of traffic (default: the rollout's first step) to a new version.

    The stable version keeps the rest. With the rollout's ``auto`` on, the
    target moves the canary through the rollout's steps and rolls it back by
    itself when it breaks a rule (see :class:`~dockyard.entities.deployment.Rollout`).
    """
    current = _get(client, name)
    percent = current.rollout.steps[0] if percent is None else percent
    if not 0 < percent < 100:
        raise InvalidArgument(f"canary percent is {percent}; give 1 to 99 (use update to "
                              "send all traffic to the new version)")
    route = resolve_route(client, model_uri, weight=percent, role="canary")
    routes = canary_routes(current.stable, route)
    return _change(client, current, _with(current, routes=routes), "canary",
                   message or f"canary {route.model_name}/{route.version} at {percent}%")


def shadow(client: Client, name: str, model_uri: str, *, message: str = "") -> Deployment:
    """Mirror every request to a new version too; its answers are recorded, not returned."""
    current = _get(client, name)
    route = resolve_route(client, model_uri, weight=0, role="shadow")
    routes = shadow_routes(current.stable, route)
    return _change(client, current, _with(current, routes=routes), "update",
                   message or f"shadow {route.model_name}/{route.version}")


def canary_routes(stable: Route, canary: Route) -> list[Route]:
    """The stable version with what the canary (at its weight) leaves of the traffic."""
    if canary.uri == stable.uri:
        raise InvalidArgument(f"{stable.model_name}/{stable.version} is already the stable "
                              "version; canary another version")
    return [stable.model_copy(update={"weight": 100 - canary.weight}),
            canary.model_copy(update={"role": "canary"})]


def shadow_routes(stable: Route, shadow: Route) -> list[Route]:
    """The stable version with all the traffic, and a shadow that gets a copy of it."""
    if shadow.uri == stable.uri:
        raise InvalidArgument(f"{stable.model_name}/{stable.version} is the stable version; "
                              "shadow another version")
    return [stable.model_copy(update={"weight": 100}),
            shadow.model_copy(update={"role": "shadow", "weight": 0})]


def set_canary_weight(client: Client, current: Deployment, percent: int, *,
                      message: str) -> Deployment:
    """Move the canary to ``percent`` of traffic; 100 promotes it."""
    if percent >= 100:
        return promote(client, current.name, message=message, expected=current)
    stable, route = current.stable, _canary(current)
    routes = [stable.model_copy(update={"weight": 100 - percent}),
              route.model_copy(update={"weight": percent})]
    return _change(client, current, _with(current, routes=routes), "canary", message)


def promote(client: Client, name: str, *, message: str = "",
            expected: Deployment | None = None) -> Deployment:
    """Make the canary (or shadow) the stable version, with all the traffic."""
    current = expected or _get(client, name)
    route = current.route("canary") or current.route("shadow")
    if route is None:
        raise InvalidState(f"deployment {name!r} has no canary or shadow to promote")
    new = route.model_copy(update={"weight": 100, "role": "stable"})
    return _change(client, current, _with(current, routes=[new]), "promote",
                   message or f"promote {route.model_name}/{route.version}")


def rollback(client: Client, name: str, *, message: str = "",
             expected: Deployment | None = None) -> Deployment:
    """Return to the previous version in one step.

    During a canary, that is the stable version alone; otherwise the routes
    served before the stable version last changed (by an update or a
    promotion). Rolling back twice returns to where it started (like
    ``kubectl rollout undo``).
    """
    current = expected or _get(client, name)
    if current.route("canary") is not None:
        routes = [current.stable.model_copy(update={"weight": 100})]
    elif current.previous_routes:
        routes = current.previous_routes
    else:
        raise InvalidState(f"deployment {name!r} has served only "
                           f"{', '.join(current.versions())}: there is nothing to roll back to")
    shown = ", ".join(f"{r.model_name}/{r.version}" for r in routes)
    return _change(client, current, _with(current, routes=routes), "rollback",
                   message or f"roll back to {shown}")


def wait_until_ready(client: Client, name: str, *, timeout: float = 300.0,
                     poll: float = 0.25,
                     on_status: Callable[[Deployment], Any] | None = None) -> Deployment:
    """Block until the target runs the current revision and is healthy.

    Raises :class:`DeploymentFailed` when the target reports ``failed`` for
    the current revision, or when ``timeout`` seconds pass first.
    """
    deadline = time.monotonic() + timeout
    shown = None
    while True:
        current = client.store.get_deployment(name)
        if on_status is not None and (current.status, current.message) != shown:
            shown = (current.status, current.message)
            on_status(current)
        if current.converged and current.status == "healthy":
            return current
        if current.status == "failed" and current.observed_revision < current.revision:
            raise DeploymentFailed(f"deployment {name!r} revision {current.revision} failed: "
                                   f"{current.message or 'see its history'}")
        if time.monotonic() >= deadline:
            raise DeploymentFailed(
                f"deployment {name!r} was not healthy within {timeout:g} s (status "
                f"{current.status}, running revision {current.observed_revision} of "
                f"{current.revision}){': ' + current.message if current.message else ''}")
        time.sleep(poll)


# helpers -------------------------------------------------------------------------------
def _get(client: Client, name: str) -> Deployment:
    return client.store.get_deployment(check_deployment_name(name))


def _canary(deployment: Deployment) -> Route:
    route = deployment.route("canary")
    if route is None:
        raise InvalidState(f"deployment {deployment.name!r} has no canary")
    return route


def _with(deployment: Deployment, **fields: Any) -> DeploymentSpec:
    return deployment.spec().model_copy(update=fields)


def _change(client: Client, current: Deployment, spec: DeploymentSpec, action: str,
            message: str) -> Deployment:
    return client.store.update_deployment(spec, action=action, message=message,
                                          user=client.user,
                                          expected_revision=current.revision)
