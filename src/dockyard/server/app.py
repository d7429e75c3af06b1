"""The FastAPI application: ``create_app`` builds it around one Client."""

from __future__ import annotations

import gc
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.staticfiles import StaticFiles

from dockyard._version import __version__
from dockyard.client import Client
from dockyard.config import get_settings
from dockyard.server.auth import AuthConfig
from dockyard.server.deps import MAX_JSON_BODY, add_body_schemas
from dockyard.server.limits import BodyLimit
from dockyard.server.errors import install_error_handlers
from dockyard.server.routes import artifacts as artifact_routes
from dockyard.server.routes import (
    approvals,
    audit,
    datasets,
    deployments,
    experiments,
    ground_truth,
    identity,
    lineage,
    models,
    monitoring,
    monitors,
    projects,
    runs,
)
from dockyard.server.ui import html_error_response
from dockyard.server.ui import router as ui_router
from dockyard.server.ui_approvals import router as ui_approvals_router
from dockyard.server.ui_audit import router as ui_audit_router
from dockyard.server.ui_data import router as ui_data_router
from dockyard.server.ui_deployments import router as ui_deployments_router
from dockyard.server.ui_login import SignInRequired, require_page_access, sign_in_redirect
from dockyard.server.ui_login import router as ui_login_router
from dockyard.server.ui_models import router as ui_models_router
from dockyard.server.ui_monitoring import router as ui_monitoring_router
from dockyard.server.ui_study import router as ui_study_router
from dockyard.server.ui_validation import router as ui_validation_router
from dockyard.store.http import API_PREFIX
from dockyard.ui import STATIC

ENV_STORE = "DOCKYARD_SERVER_URI"
ENV_ARTIFACTS = "DOCKYARD_SERVER_ARTIFACTS"
ENV_AUTH = "DOCKYARD_SERVER_AUTH"
"""``1``: the server requires authentication (how ``dockyard server`` tells its workers)."""
ENV_DEFAULT_ROLE = "DOCKYARD_SERVER_DEFAULT_ROLE"


def create_app(uri: str | None = None, artifacts: str | None = None,
               auth: AuthConfig | None = None) -> FastAPI:
    """A server over the metadata store at ``uri`` and the artifact root ``artifacts``.

    Both default to the embedded store and folder under ``DOCKYARD_HOME``.
    ``auth`` says who may call it: by default nobody signs in and every
    request has every right (single-user, for a server on loopback);
    ``AuthConfig(required=True)`` requires a token or a UI session and
    authorises every route by role (see :mod:`dockyard.server.auth`).
    """
    settings = get_settings()
    uri = uri or settings.uri
    if uri.startswith(("http://", "https://")):
        from dockyard.errors import InvalidArgument

        raise InvalidArgument("the server needs a database URI (sqlite:// or postgresql://), not a server URL")
    client = Client(uri, artifacts or settings.artifacts)
    client.artifact_store()  # fail at start, not at the first upload, if the root is unusable

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Everything loaded so far lives as long as the server: keep it out of the
        # collector's way, so that a full collection during a big search stays short.
        gc.freeze()
        yield
        client.close()

    app = FastAPI(
        lifespan=lifespan,
        title="Dockyard",
        version=__version__,
        description="Track, package, deploy and monitor machine-learning models.",
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.client = client
    app.state.auth = auth or AuthConfig()
    install_error_handlers(app, html_error_response)
    app.add_middleware(BodyLimit, limit=MAX_JSON_BODY)
    for module in (projects, experiments, runs, artifact_routes, audit, models, lineage,
                   ground_truth, monitors, monitoring, deployments, datasets, identity,
                   approvals):
        app.include_router(module.router, prefix=API_PREFIX)
    app.include_router(datasets.files_router, prefix=API_PREFIX)
    app.include_router(monitoring.metrics_router)
    app.add_exception_handler(SignInRequired, sign_in_redirect)
    app.include_router(ui_login_router)
    for page_router in (ui_router, ui_models_router, ui_monitoring_router, ui_deployments_router,
                        ui_data_router, ui_study_router, ui_validation_router,
                        ui_approvals_router, ui_audit_router):
        app.include_router(page_router, dependencies=[Depends(require_page_access)])
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = declare_errors(add_body_schemas(get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes)))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.get("/health", tags=["health"], summary="Liveness and store check")
    def health() -> dict[str, str]:
        client.store.list_projects()
        return {"status": "ok", "version": __version__}

    return app


_ERROR_SCHEMA = {
    "title": "Error",
    "type": "object",
    "required": ["error_code", "message"],
    "properties": {"error_code": {"type": "string"}, "message": {"type": "string"}},
}


def declare_errors(spec: dict[str, Any]) -> dict[str, Any]:
    """Say what the error handlers really answer: any caller mistake is a 4xx with
    ``{error_code, message}`` (a failed validation is a 400, not FastAPI's 422)."""
    spec.setdefault("components", {}).setdefault("schemas", {})["Error"] = _ERROR_SCHEMA
    error = {"description": "The request was refused: error_code says why, message what was wrong",
             "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    for item in spec.get("paths", {}).values():
        for operation in item.values():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            responses["4XX"] = error
    spec["components"]["schemas"].pop("HTTPValidationError", None)
    spec["components"]["schemas"].pop("ValidationError", None)
    return spec


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` (used with several workers)."""
    auth = AuthConfig(required=os.environ.get(ENV_AUTH) == "1",
                      default_role=os.environ.get(ENV_DEFAULT_ROLE, "viewer") or None)
    return create_app(os.environ.get(ENV_STORE) or None, os.environ.get(ENV_ARTIFACTS) or None,
                      auth)
