"""Shared route helpers."""

from __future__ import annotations

from fastapi import Request, Response
from pydantic import BaseModel

from dockyard.client import Client


def client_of(request: Request) -> Client:
    return request.app.state.client  # type: ignore[no-any-return]


def json_response(model: BaseModel, status_code: int = 200) -> Response:
    """Serialise in pydantic's Rust core: much faster than FastAPI's encoder for big pages."""
    return Response(model.model_dump_json(), status_code=status_code, media_type="application/json")
