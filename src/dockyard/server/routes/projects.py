from __future__ import annotations

from fastapi import APIRouter, Request, Response

from dockyard.entities import Page, Project, ProjectPage
from dockyard.server.auth import principal_of
from dockyard.server.deps import client_of, json_response
from dockyard.server.schemas import CreateProject
from dockyard.server.writes import AuditedRoute

router = APIRouter(prefix="/projects", tags=["projects"], route_class=AuditedRoute)


@router.get("", response_model=Page[Project],
            summary="List the projects the caller may see (all, with a global role)")
def list_projects(request: Request) -> Response:
    projects = client_of(request).list_projects()
    principal = principal_of(request)
    projects = [p for p in projects if principal.sees(f"project:{p.name}")]
    return json_response(ProjectPage(items=projects))


@router.post("", response_model=Project, status_code=201, summary="Create a project")
def create_project(body: CreateProject, request: Request) -> Response:
    return json_response(client_of(request).create_project(body.name, body.description), 201)


@router.get(":by-name", response_model=Project, summary="Get a project by name")
def get_project_by_name(name: str, request: Request) -> Response:
    return json_response(client_of(request).get_project_by_name(name))


@router.get("/{project_id}", response_model=Project, summary="Get a project")
def get_project(project_id: str, request: Request) -> Response:
    return json_response(client_of(request).get_project(project_id))
