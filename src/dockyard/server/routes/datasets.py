"""Datasets: versions, the runs that used them, their check results, and their files.

Audit events: ``dataset`` (id: ``name@version``) when a version is recorded
or checked, ``run`` when a run records an input.
"""

from __future__ import annotations

import re

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict

from dockyard.client import Client
from dockyard.entities import Page
from dockyard.entities.dataset import (
    Dataset,
    DatasetCheck,
    DatasetInput,
    DatasetVersion,
    NewDatasetVersion,
)
from dockyard.entities.validation import validate_version
from dockyard.errors import InvalidArgument, InvalidState
from dockyard.server.deps import client_of, json_response
from dockyard.server.routes.artifacts import artifact_router
from dockyard.server.writes import AuditedRoute, actor_of
from dockyard.store.artifacts.base import ArtifactStore

router = APIRouter(route_class=AuditedRoute)

TAGS = ["datasets"]
_ONE = "/datasets/{name}"
_VERSION = _ONE + "/versions/{version}"


class NewInput(BaseModel):
    """A dataset version a run used, and what for."""

    model_config = ConfigDict(extra="forbid")
    name: str
    version: int
    context: str = "training"


def _number(version: str) -> int | None:
    return None if version == "latest" else validate_version(version)


@router.post("/datasets/versions", tags=TAGS, response_model=DatasetVersion,
             summary="Record a dataset version (the existing one when its digest is known)")
def create_dataset_version(body: NewDatasetVersion, request: Request) -> Response:
    client = client_of(request)
    version = client.store.create_dataset_version(body, user=actor_of(request))
    request.state.resource_id = version.spec
    request.state.audit = {"digest": version.digest, "storage": version.storage,
                           "rows": version.rows}
    return json_response(version)


@router.get("/datasets", tags=TAGS, response_model=Page[Dataset],
            summary="Datasets by name (those whose name contains name_like, if given)")
def list_datasets(request: Request, name_like: str | None = None,
                  max_results: int = Query(1000, ge=1, le=1000)) -> Response:
    found = client_of(request).store.list_datasets(name_like, max_results)
    return json_response(Page[Dataset](items=found))


@router.get(_ONE, tags=TAGS, response_model=Dataset, summary="Get a dataset")
def get_dataset(name: str, request: Request) -> Response:
    return json_response(client_of(request).store.get_dataset(name))


@router.get(_ONE + "/versions", tags=TAGS, response_model=Page[DatasetVersion],
            summary="A dataset's versions, newest first")
def list_dataset_versions(name: str, request: Request,
                          max_results: int = Query(1000, ge=1, le=1000)) -> Response:
    found = client_of(request).store.list_dataset_versions(name, max_results)
    return json_response(Page[DatasetVersion](items=found))


@router.get(_ONE + "/versions:by-digest", tags=TAGS, response_model=Page[DatasetVersion],
            summary="The version with this content digest: one item, or none")
def find_dataset_version(name: str, digest: str, request: Request) -> Response:
    found = client_of(request).store.find_dataset_version(name, digest)
    return json_response(Page[DatasetVersion](items=[] if found is None else [found]))


@router.get(_VERSION, tags=TAGS, response_model=DatasetVersion,
            summary="Get a dataset version (a number, or latest)")
def get_dataset_version(name: str, version: str, request: Request) -> Response:
    return json_response(client_of(request).store.get_dataset_version(name, _number(version)))


@router.get(_ONE + "/runs", tags=TAGS, response_model=Page[DatasetInput],
            summary="The runs that used a dataset (or one version), newest first")
def list_dataset_runs(name: str, request: Request, version: int | None = None) -> Response:
    found = client_of(request).store.list_dataset_runs(name, version)
    return json_response(Page[DatasetInput](items=found))


@router.post(_VERSION + "/checks", tags=TAGS, response_model=DatasetCheck, status_code=201,
             summary="Store the outcome of data checks run on a version")
def save_dataset_check(name: str, version: str, body: DatasetCheck,
                       request: Request) -> Response:
    number = _number(version)
    if (body.name, body.version) != (name, number):
        raise InvalidArgument(f"the body names {body.name}@{body.version}, the path "
                              f"{name}@{version}: POST a version's checks to its own path")
    check = client_of(request).store.save_dataset_check(body, user=actor_of(request))
    request.state.resource_id = f"{name}@{check.version}"
    request.state.audit = {"suite": check.suite, "passed": check.passed, "failed": check.failed}
    return json_response(check, 201)


@router.get(_VERSION + "/checks", tags=TAGS, response_model=Page[DatasetCheck],
            summary="A version's check results, newest first")
def list_dataset_checks(name: str, version: str, request: Request,
                        max_results: int = Query(100, ge=1, le=1000)) -> Response:
    store = client_of(request).store
    number = _number(version) or store.get_dataset_version(name).version
    found = store.list_dataset_checks(name, number, max_results)
    return json_response(Page[DatasetCheck](items=found))


@router.post("/runs/{run_id}/inputs", tags=["runs"], response_model=DatasetInput,
             summary="Record that a run used a dataset version")
def log_dataset_input(run_id: str, body: NewInput, request: Request) -> Response:
    found = client_of(request).store.log_dataset_input(run_id, body.name, body.version,
                                                       body.context)
    request.state.audit = {"dataset": f"{found.name}@{found.version}", "context": found.context}
    return json_response(found)


@router.get("/runs/{run_id}/inputs", tags=["runs"], response_model=Page[DatasetInput],
            summary="The dataset versions a run used")
def list_run_inputs(run_id: str, request: Request) -> Response:
    return json_response(Page[DatasetInput](items=client_of(request).store.list_run_inputs(run_id)))


def _writable(client: Client, name: str, path: str) -> ArtifactStore:
    """A dataset's files may be written until a version records them: their folder is the
    digest of their content, and a recorded version's data never changes."""
    digest = path.split("/", 1)[0]
    if not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise InvalidArgument(f"a dataset's files live in a folder named after their digest "
                              f"(<sha256>/data.parquet), not {path!r:.80}")
    if client.store.find_dataset_version(name, digest) is not None:
        raise InvalidState(f"the files of dataset {name!r} under {digest[:12]}... belong to a "
                           "recorded version and cannot change")
    return client.dataset_files(name)


files_router = artifact_router(
    _ONE + "/files", "name", "datasets", "a dataset's files",
    readable=lambda client, name, _path: client.dataset_files(name), writable=_writable)
