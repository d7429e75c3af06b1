"""Shared route helpers."""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import Request, Response
from pydantic import BaseModel, ValidationError

from dockyard.client import Client
from dockyard.errors import InvalidArgument, TooLarge, UnsupportedMediaType
from dockyard.server.errors import describe_validation

M = TypeVar("M", bound=BaseModel)
_BODY_MODELS: dict[str, type[BaseModel]] = {}
MAX_JSON_BODY = 64 * 1024 * 1024


def client_of(request: Request) -> Client:
    return request.app.state.client  # type: ignore[no-any-return]


def json_response(model: BaseModel, status_code: int = 200) -> Response:
    """Serialise in pydantic's Rust core: much faster than FastAPI's encoder for big pages."""
    return Response(model.model_dump_json(), status_code=status_code, media_type="application/json")


def json_body(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` for a route that parses its own body with :func:`parse_body`."""
    _BODY_MODELS[model.__name__] = model
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": ref}}}}


def add_body_schemas(spec: dict[str, Any]) -> dict[str, Any]:
    """Put the models of :func:`json_body` routes into the OpenAPI components."""
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    for name, model in _BODY_MODELS.items():
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for def_name, definition in schema.pop("$defs", {}).items():
            schemas.setdefault(def_name, definition)
        schemas.setdefault(name, schema)
    return spec


async def parse_body(request: Request, model: type[M]) -> M:
    """Validate a JSON body straight from bytes (pydantic's parser, several times
    faster than decoding to Python objects first: the batch route's hot path).

    Bodies over :data:`MAX_JSON_BODY` are refused with 413 before they fill memory,
    and bodies not sent as ``application/json`` with 415: a form on another site
    cannot post one (browsers send forms only as text, URL-encoded or multipart).
    """
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise UnsupportedMediaType(f"the body must be JSON sent with Content-Type: "
                                   f"application/json, not {media_type or 'no content type'!r}")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_JSON_BODY:
        raise TooLarge(f"the body is {declared} bytes; the limit is {MAX_JSON_BODY} (split the batch)")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_JSON_BODY:
            raise TooLarge(f"the body is over {MAX_JSON_BODY} bytes (split the batch)")
    try:
        return model.model_validate_json(bytes(body))
    except ValidationError as exc:
        raise InvalidArgument(describe_validation(exc.errors())) from None
