from __future__ import annotations

from fastapi import APIRouter, Query, Request, Response

from dockyard.entities import Experiment, Page
from dockyard.server.deps import client_of, json_response
from dockyard.server.schemas import CreateExperiment, UpdateExperiment
from dockyard.server.writes import AuditedRoute

router = APIRouter(prefix="/experiments", tags=["experiments"], route_class=AuditedRoute)


@router.post("", response_model=Experiment, status_code=201, summary="Create an experiment")
def create_experiment(body: CreateExperiment, request: Request) -> Response:
    store = client_of(request).store
    exp = store.create_experiment(body.name, body.project_id, body.description, body.tags)
    request.state.audit = {"name": body.name}
    return json_response(exp, 201)


@router.get("", response_model=Page[Experiment], summary="Search experiments")
def search_experiments(
    request: Request,
    project_id: str | None = None,
    name_like: str | None = Query(None, description="SQL LIKE pattern on the name"),
    max_results: int = 1000,
    page_token: str | None = None,
) -> Response:
    page = client_of(request).store.search_experiments(project_id, name_like, max_results, page_token)
    return json_response(page)


@router.get(":by-name", response_model=Experiment, summary="Get an experiment by name")
def get_experiment_by_name(name: str, request: Request, project_id: str | None = None) -> Response:
    return json_response(client_of(request).store.get_experiment_by_name(name, project_id))


@router.get("/{experiment_id}", response_model=Experiment, summary="Get an experiment")
def get_experiment(experiment_id: str, request: Request) -> Response:
    return json_response(client_of(request).get_experiment(experiment_id))


@router.patch("/{experiment_id}", response_model=Experiment, summary="Rename, describe or tag")
def update_experiment(experiment_id: str, body: UpdateExperiment, request: Request) -> Response:
    request.state.audit = body.model_dump(exclude_none=True)
    exp = client_of(request).update_experiment(experiment_id, body.name, body.description, body.tags)
    return json_response(exp)
