"""Deployments: the inventory of what runs where, their changes and their history.

Audit events: ``deployment`` (id: its name) for every change, with the
versions it routes to; an update or a deletion also records the state it
replaced (``before``: revision, routes with their weights, the settings).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, Response

from dockyard.entities import Page
from dockyard.entities.deployment import Deployment, DeploymentEvent, DeploymentSpec
from dockyard.errors import InvalidArgument
from dockyard.server.deps import client_of, json_response
from dockyard.server.schemas import DeploymentStatus, UpdateDeployment
from dockyard.server.writes import AuditedRoute, actor_of

router = APIRouter(route_class=AuditedRoute)

TAGS = ["deployments"]
_ONE = "/deployments/{name}"


def _audit(request: Request, deployment: Deployment, **change: object) -> None:
    request.state.resource_id = deployment.name
    request.state.audit = {"revision": deployment.revision, "routes": deployment.versions(),
                           **change}


def _state(deployment: Deployment, new: DeploymentSpec | None = None) -> dict[str, Any]:
    """What the audit trail keeps of a deployment's state: its revision, routes with their
    weights, and its settings (only those ``new`` changes, when given). Of ``config``, which
    may hold secrets, only the keys."""
    old = deployment.spec().model_dump(mode="json", exclude={"name", "routes"})
    if new is not None:
        changed = new.model_dump(mode="json", exclude={"name", "routes"})
        old = {k: value for k, value in old.items() if changed.get(k) != value}
    if "config" in old:
        old["config"] = sorted(old["config"])
    return {"revision": deployment.revision, "status": deployment.status,
            "routes": [r.model_dump(mode="json") for r in deployment.routes], **old}


@router.post("/deployments", tags=TAGS, response_model=Deployment, status_code=201,
             summary="Record a new deployment (its target picks it up)")
def create_deployment(body: DeploymentSpec, request: Request) -> Response:
    deployment = client_of(request).store.create_deployment(body, user=actor_of(request))
    _audit(request, deployment, action="create", target=deployment.target,
           environment=deployment.environment)
    return json_response(deployment, 201)


@router.get("/deployments", tags=TAGS, response_model=Page[Deployment],
            summary="The inventory: deployments by name, of one environment or model if given")
def list_deployments(request: Request, environment: str | None = None,
                     model_name: str | None = None) -> Response:
    found = client_of(request).store.list_deployments(environment, model_name)
    return json_response(Page[Deployment](items=found))


@router.get(_ONE, tags=TAGS, response_model=Deployment, summary="Get a deployment")
def get_deployment(name: str, request: Request) -> Response:
    return json_response(client_of(request).store.get_deployment(name))


@router.put(_ONE, tags=TAGS, response_model=Deployment,
            summary="Change a deployment's spec (409 if expected_revision is stale)")
def update_deployment(name: str, body: UpdateDeployment, request: Request) -> Response:
    if body.spec.name != name:
        raise InvalidArgument(f"the spec names {body.spec.name!r:.80}, but the path names "
                              f"{name!r:.80}: PUT a deployment's spec to /deployments/<its name>")
    store = client_of(request).store
    previous = store.get_deployment(name)
    deployment = store.update_deployment(
        body.spec, action=body.action, message=body.message, user=actor_of(request),
        expected_revision=body.expected_revision)
    _audit(request, deployment, action=body.action)
    if deployment.revision in (previous.revision, previous.revision + 1):
        # Otherwise another change came between the read and this one: the state it
        # replaced is not the one read, and the trail says nothing rather than something wrong.
        request.state.audit_before = _state(previous, body.spec)
    return json_response(deployment)


@router.post(_ONE + "/status", tags=TAGS, response_model=Deployment,
             summary="Record what the deployment's target reports")
def set_deployment_status(name: str, body: DeploymentStatus, request: Request) -> Response:
    deployment = client_of(request).store.set_deployment_status(
        name, body.status, body.message, observed_revision=body.observed_revision,
        endpoint=body.endpoint)
    _audit(request, deployment, status=deployment.status)
    return json_response(deployment)


@router.get(_ONE + "/history", tags=TAGS, response_model=Page[DeploymentEvent],
            summary="A deployment's changes, newest first")
def get_deployment_history(name: str, request: Request,
                           max_results: int = Query(100, ge=1, le=1000)) -> Response:
    events = client_of(request).store.get_deployment_history(name, max_results)
    return json_response(Page[DeploymentEvent](items=events))


@router.delete(_ONE, tags=TAGS, response_model=Deployment,
               summary="Remove a deployment and its history from the record")
def delete_deployment(name: str, request: Request) -> Response:
    deployment = client_of(request).store.delete_deployment(name)
    _audit(request, deployment, action="delete")
    request.state.audit_before = _state(deployment)
    return json_response(deployment)
