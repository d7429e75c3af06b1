"""The deployment pages: the inventory of what runs where, and one deployment's story.

``/deployments`` lists every deployment (filtered by environment or model):
the versions it serves with their roles and traffic, its status and
endpoint. ``/deployments/<name>`` shows its routes, settings and SLA, and
its history: every change, who made it and why, and what its target
reported.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response

from dockyard.entities.deployment import ENVIRONMENTS
from dockyard.errors import InvalidArgument
from dockyard.server.deps import client_of
from dockyard.server.ui import render, templates
from dockyard.server.ui_models import version_url

router = APIRouter(include_in_schema=False)

HISTORY_SHOWN = 200


def deployment_url(name: str) -> str:
    """The page of the deployment named ``name``."""
    return f"/deployments/{quote(name, safe='')}"


@router.get("/deployments")
def inventory(request: Request, environment: str = "", model: str = "") -> Response:
    """Every deployment, by name: which versions run where, and how they are doing."""
    if environment and environment not in ENVIRONMENTS:
        raise InvalidArgument(f"environment {environment!r:.40} is not one of "
                              f"{', '.join(ENVIRONMENTS)}")
    found = client_of(request).store.list_deployments(environment or None, model or None)
    return render(request, "deployments.html", "deployments", deployments=found,
                  environment=environment, model=model, environments=ENVIRONMENTS)


@router.get("/deployments/{name}")
def deployment_page(name: str, request: Request) -> Response:
    """One deployment: its routes, settings, SLA and history."""
    client = client_of(request)
    deployment = client.store.get_deployment(name)
    history = client.store.get_deployment_history(name, HISTORY_SHOWN)
    return render(request, "deployment.html", "deployments", d=deployment, history=history)


templates.env.globals.update(deployment_url=deployment_url, version_url=version_url)
