"""The model registry over REST: registered models, versions, aliases, stages, validations,
the promotion gate's policy and model URIs.

Audit events: ``registered-model`` (id: the name), ``model-version``
(``<name>/<version>``) and ``model-alias`` (``<name>@<alias>``, with the
versions it pointed at before and after). A promotion let through the gate
with an override reason also has the store's ``override_validation_gate``
event on the version.
"""

from __future__ import annotations

import hashlib
from typing import Any

from fastapi import APIRouter, Query, Request, Response

from dockyard.entities import (
    AliasChange,
    ModelValidation,
    ModelVersion,
    NewModelValidation,
    Page,
    RegisteredModel,
    ResolvedModel,
    StageTransition,
)
from dockyard.entities.approval import ApprovalRequest
from dockyard.errors import InvalidArgument, PermissionDenied
from dockyard.manage import approvals
from dockyard.server.auth import principal_of
from dockyard.server.deps import client_of, json_response
from dockyard.server.schemas import (
    CreateModelVersion,
    CreateRegisteredModel,
    RegisterModel,
    SetAlias,
    SetModelPolicy,
    TransitionStage,
    UpdateModelVersion,
    UpdateRegisteredModel,
)
from dockyard.server.writes import AuditedRoute, actor_of
from dockyard.store.base import MetadataStore
from dockyard.validation.policy import Policy

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
            summary="Search registered models by name (those the caller may see)")
def search_registered_models(
    request: Request,
    name_like: str | None = Query(None, description="SQL LIKE pattern on the name"),
    max_results: int = 1000,
    page_token: str | None = None,
) -> Response:
    page = _store(request).search_registered_models(name_like, max_results, page_token)
    principal = principal_of(request)
    if not principal.can("viewer"):  # a page may then hold fewer than max_results
        page.items = [m for m in page.items if principal.sees(f"model:{m.name}")]
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


@router.put(_MODEL + "/policy", tags=MODELS, response_model=RegisteredModel,
            summary="Set or clear the validation policy that gates promotions")
def set_model_policy(name: str, body: SetModelPolicy, request: Request) -> Response:
    policy = None
    if body.policy is not None:
        parsed = Policy.parse(body.policy)
        if body.policy_digest is not None and body.policy_digest != parsed.digest:
            raise InvalidArgument(
                f"policy_digest {body.policy_digest[:16]!r}... does not match the policy, whose "
                f"digest is {parsed.digest[:16]}...: send Policy.digest of the same policy")
        policy = parsed.to_dict()
    model = _store(request).set_model_policy(name, policy, body.policy_digest,
                                             body.protected_aliases)
    _audit(request, name, {"policy_name": (model.policy or {}).get("name"),
                           "policy_digest": model.policy_digest,
                           "rules": len((model.policy or {}).get("rules", [])),
                           "protected_aliases": model.protected_aliases})
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


def _override_needs_admin(request: Request, reason: str | None) -> None:
    principal = principal_of(request)
    if reason is not None and principal.signed_in and not principal.is_admin:
        raise PermissionDenied(f"{principal.name} cannot override the validation gate: only "
                               "an administrator can; validate the version instead")


def _approval_instead(request: Request, name: str, version: int, *, stage: str | None = None,
                      alias: str | None = None, archive_existing: bool = False,
                      ) -> Response | None:
    """On a server with authentication, a protected change opens an approval request (202)."""
    if not request.app.state.auth.required:
        return None
    store = _store(request)
    target = approvals.needs_approval(store, name, stage=stage, alias=alias)
    if target is None:
        return None
    found = store.create_approval_request(name, version, target, actor_of(request),
                                          archive_existing=archive_existing)
    request.state.resource_type = "model-version"
    request.state.resource_id = f"{name}/{version}"
    request.state.audit = {"approval_request": found.id, "target": target}
    return json_response(found, 202)


_PENDING = {202: {"model": ApprovalRequest,
                  "description": "The change needs an approval: the request opened for it"}}


@router.post(_VERSION + ":transition", tags=VERSIONS, response_model=StageTransition,
             responses=_PENDING,
             summary="Move a version to a stage; archive_existing archives the others in it")
def transition_stage(name: str, version: int, body: TransitionStage, request: Request) -> Response:
    _override_needs_admin(request, body.override_reason)
    pending = _approval_instead(request, name, version, stage=str(body.stage),
                                archive_existing=body.archive_existing)
    if pending is not None:
        return pending
    done = _store(request).transition_stage(name, version, body.stage, body.archive_existing,
                                            body.override_reason, user=actor_of(request))
    change: dict[str, Any] = {
        "from": done.previous_stage.value, "to": done.model_version.stage.value,
        "archive_existing": body.archive_existing, "archived": done.archived}
    if body.override_reason is not None:
        change["override_reason"] = body.override_reason
    _audit(request, f"{name}/{done.model_version.version}", change)
    return json_response(done)


# validations -----------------------------------------------------------------------------
@router.post(_VERSION + "/validations", tags=VERSIONS, response_model=ModelValidation,
             status_code=201, summary="Record a validation of a version (its verdict and metrics)")
def record_validation(name: str, version: int, body: NewModelValidation,
                      request: Request) -> Response:
    found = _store(request).record_validation(name, version, body, user=actor_of(request))
    _audit(request, f"{name}/{found.version}", {
        "validation_id": found.id, "passed": found.passed, "policy_digest": found.policy_digest,
        "report_uri": found.report_uri})
    return json_response(found, 201)


@router.get(_MODEL + "/validations", tags=VERSIONS, response_model=Page[ModelValidation],
            summary="Validations of a model (of one version with ?version=), newest first")
def list_validations(name: str, request: Request, version: int | None = None,
                     max_results: int = 100) -> Response:
    found = _store(request).list_validations(name, version, max_results)
    return json_response(Page[ModelValidation](items=found))


@router.get(_VERSION + "/validations", tags=VERSIONS, response_model=Page[ModelValidation],
            summary="Validations of one version, newest first")
def list_version_validations(name: str, version: int, request: Request,
                             max_results: int = 100) -> Response:
    found = _store(request).list_validations(name, version, max_results)
    return json_response(Page[ModelValidation](items=found))


# aliases ---------------------------------------------------------------------------------
@router.get(_ALIAS, tags=ALIASES, response_model=ModelVersion,
            summary="The version an alias points at")
def get_model_version_by_alias(name: str, alias: str, request: Request) -> Response:
    return json_response(_store(request).get_model_version_by_alias(name, alias))


@router.put(_ALIAS, tags=ALIASES, response_model=AliasChange, responses=_PENDING,
            summary="Point an alias at a version (creates or moves it atomically)")
def set_alias(name: str, alias: str, body: SetAlias, request: Request) -> Response:
    _override_needs_admin(request, body.override_reason)
    pending = _approval_instead(request, name, body.version, alias=alias)
    if pending is not None:
        return pending
    change = _store(request).set_alias(name, alias, body.version, body.override_reason,
                                       user=actor_of(request))
    audit: dict[str, Any] = {"alias": alias, "from": change.previous_version,
                             "to": change.version}
    if body.override_reason is not None:
        audit["override_reason"] = body.override_reason
    _audit(request, f"{name}@{alias}", audit, "model-alias")
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
