"""The model registry over REST: registered models, versions, aliases, stages and model URIs.

Audit events: ``registered-model`` (id: the name), ``model-version``
(``<name>/<version>``) and ``model-alias`` (``<name>@<alias>``, with the
versions it pointed at before and after).
"""

from __future__ import annotations

import hashlib
from typing import Any

from fastapi import APIRouter, Query, Request, Response

from dockyard.entities import (
    AliasChange,
    ModelVersion,
    Page,
    RegisteredModel,
    ResolvedModel,
    StageTransition,
)
from dockyard.server.deps import client_of, json_response
from dockyard.server.schemas import (
    CreateModelVersion,
    CreateRegisteredModel,
    RegisterModel,
    SetAlias,
    TransitionStage,
    UpdateModelVersion,
    UpdateRegisteredModel,
)
from dockyard.server.writes import AuditedRoute
from dockyard.store.base import MetadataStore

router = APIRouter(route_class=AuditedRoute)

MODELS = ["registered-models"]
VERSIONS = ["model-versions"]
ALIASES = ["model-aliases"]
_MODEL = "/registered-models/{name}"
_VERSION = _MODEL + "/versions/{version}"
_ALIAS = _MODEL + "/aliases/{alias}"


def _store(request: Request) -> MetadataStore:
    return client_of(request).store


def _audit(request: Request, resource_id: str, change: dict[str, Any],
           resource_type: str | None = None) -> None:
    request.state.resource_id = resource_id
    request.state.audit = change
    if resource_type:
        request.state.resource_type = resource_type


# registered models ---------------------------------------------------------------------
@router.post("/registered-models", tags=MODELS, response_model=RegisteredModel, status_code=201,
             summary="Register a model name")
def create_registered_model(body: CreateRegisteredModel, request: Request) -> Response:
    model = _store(request).create_registered_model(
        body.name, body.description, body.tags, body.owner, body.task)
    _audit(request, model.name, {"name": model.name, "owner": model.owner, "task": model.task})
    return json_response(model, 201)


@router.get("/registered-models", tags=MODELS, response_model=Page[RegisteredModel],
            summary="Search registered models by name")
def search_registered_models(
    request: Request,
    name_like: str | None = Query(None, description="SQL LIKE pattern on the name"),
    max_results: int = 1000,
    page_token: str | None = None,
) -> Response:
    page = _store(request).search_registered_models(name_like, max_results, page_token)
    return json_response(page)


@router.get(_MODEL, tags=MODELS, response_model=RegisteredModel,
            summary="Get a registered model with its aliases and latest version")
def get_registered_model(name: str, request: Request) -> Response:
    return json_response(_store(request).get_registered_model(name))


@router.patch(_MODEL, tags=MODELS, response_model=RegisteredModel,
              summary="Describe, tag, or change the owner or task of a model")
def update_registered_model(name: str, body: UpdateRegisteredModel, request: Request) -> Response:
    model = _store(request).update_registered_model(
        name, body.description, body.tags, body.owner, body.task)
    _audit(request, name, body.model_dump(exclude_none=True))
    return json_response(model)


@router.delete(_MODEL, tags=MODELS, response_model=RegisteredModel,
               summary="Delete a model and its versions (refused while one is in Production)")
def delete_registered_model(name: str, request: Request) -> Response:
    model = _store(request).delete_registered_model(name)
    _audit(request, name, {"latest_version": model.latest_version, "aliases": model.aliases})
    return json_response(model)


# versions --------------------------------------------------------------------------------
@router.post(_MODEL + "/versions", tags=VERSIONS, response_model=ModelVersion, status_code=201,
             summary="Register the package at a runs:/ URI as the next version")
def create_model_version(name: str, body: CreateModelVersion, request: Request) -> Response:
    mv = _store(request).create_model_version(
        name, body.source, body.package_digest, body.signature, body.description, body.tags,
        body.card)
    _audit(request, f"{name}/{mv.version}",
           {"source": mv.source, "run_id": mv.run_id, "package_digest": mv.package_digest})
    return json_response(mv, 201)


@router.post("/models:register", tags=VERSIONS, response_model=ModelVersion, status_code=201,
             summary="Register a logged package; its digest and signature are read from it")
def register_model(body: RegisterModel, request: Request) -> Response:
    mv = client_of(request).register_model(body.source, body.name, body.description, body.tags,
                                           body.card)
    _audit(request, f"{mv.name}/{mv.version}",
           {"source": mv.source, "run_id": mv.run_id, "package_digest": mv.package_digest})
    return json_response(mv, 201)


@router.get(_MODEL + "/versions", tags=VERSIONS, response_model=Page[ModelVersion],
            summary="The versions of one model, newest first")
def list_model_versions(name: str, request: Request, stage: str | None = None,
                        max_results: int = 1000, page_token: str | None = None) -> Response:
    return json_response(_store(request).search_model_versions(
        name, None, stage, max_results, page_token))


@router.get("/model-versions", tags=VERSIONS, response_model=Page[ModelVersion],
            summary="Search versions of every model by model, source run and stage")
def search_model_versions(request: Request, name: str | None = None, run_id: str | None = None,
                          stage: str | None = None, max_results: int = 1000,
                          page_token: str | None = None) -> Response:
    return json_response(_store(request).search_model_versions(
        name, run_id, stage, max_results, page_token))


@router.get(_VERSION, tags=VERSIONS, response_model=ModelVersion, summary="Get a model version")
def get_model_version(name: str, version: int, request: Request) -> Response:
    return json_response(_store(request).get_model_version(name, version))


@router.patch(_VERSION, tags=VERSIONS, response_model=ModelVersion,
              summary="Change a version's description, tags or card (recorded, even in Production)")
def update_model_version(name: str, version: int, body: UpdateModelVersion,
                         request: Request) -> Response:
    mv = _store(request).update_model_version(name, version, body.description, body.tags, body.card)
    change: dict[str, Any] = {"stage": mv.stage.value, "locked": mv.locked}
    change.update(body.model_dump(exclude_none=True, exclude={"card"}))
    if body.card is not None:
        change["card"] = {"chars": len(body.card),
                          "sha256": hashlib.sha256(body.card.encode()).hexdigest()}
    _audit(request, f"{name}/{mv.version}", change)
    return json_response(mv)


@router.delete(_VERSION, tags=VERSIONS, response_model=ModelVersion,
               summary="Delete a version and its aliases (refused in Production)")
def delete_model_version(name: str, version: int, request: Request) -> Response:
    mv = _store(request).delete_model_version(name, version)
    _audit(request, f"{name}/{mv.version}",
           {"stage": mv.stage.value, "aliases": mv.aliases, "source": mv.source})
    return json_response(mv)


@router.post(_VERSION + ":transition", tags=VERSIONS, response_model=StageTransition,
             summary="Move a version to a stage; archive_existing archives the others in it")
def transition_stage(name: str, version: int, body: TransitionStage, request: Request) -> Response:
    done = _store(request).transition_stage(name, version, body.stage, body.archive_existing)
    _audit(request, f"{name}/{done.model_version.version}", {
        "from": done.previous_stage.value, "to": done.model_version.stage.value,
        "archive_existing": body.archive_existing, "archived": done.archived})
    return json_response(done)


# aliases ---------------------------------------------------------------------------------
@router.get(_ALIAS, tags=ALIASES, response_model=ModelVersion,
            summary="The version an alias points at")
def get_model_version_by_alias(name: str, alias: str, request: Request) -> Response:
    return json_response(_store(request).get_model_version_by_alias(name, alias))


@router.put(_ALIAS, tags=ALIASES, response_model=AliasChange,
            summary="Point an alias at a version (creates or moves it atomically)")
def set_alias(name: str, alias: str, body: SetAlias, request: Request) -> Response:
    change = _store(request).set_alias(name, alias, body.version)
    _audit(request, f"{name}@{alias}", {"alias": alias, "from": change.previous_version,
                                        "to": change.version}, "model-alias")
    return json_response(change)


@router.delete(_ALIAS, tags=ALIASES, response_model=AliasChange, summary="Remove an alias")
def delete_alias(name: str, alias: str, request: Request) -> Response:
    change = _store(request).delete_alias(name, alias)
    _audit(request, f"{name}@{alias}", {"alias": alias, "from": change.previous_version,
                                        "to": None}, "model-alias")
    return json_response(change)


# model URIs ------------------------------------------------------------------------------
@router.get("/models:resolve", tags=MODELS, response_model=ResolvedModel,
            summary="Where the package of a models:/ or runs:/ URI lives")
def resolve_model_uri(request: Request, uri: str = Query(
        description="models:/<name>/<version>, models:/<name>@<alias>, models:/<name>/latest, "
                    "models:/<name>/<stage> or runs:/<run_id>/<path>")) -> Response:
    return json_response(client_of(request).resolve_model_uri(uri))
