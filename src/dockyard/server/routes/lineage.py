from __future__ import annotations

from fastapi import APIRouter, Query, Request, Response

from dockyard.entities import LineageGraph
from dockyard.server.deps import client_of, json_response
from dockyard.server.writes import AuditedRoute

router = APIRouter(prefix="/lineage", tags=["lineage"], route_class=AuditedRoute)


@router.get("", response_model=LineageGraph,
            summary="Upstream and downstream records of a model version, run or dataset version, "
                    "as nodes and edges")
def get_lineage(request: Request, uri: str = Query(
        description="a model URI (models:/<name>/<version>, models:/<name>@<alias>, ...) "
                    "runs:/<run_id>, or datasets:/<name>/<version>")) -> Response:
    return json_response(client_of(request).get_lineage(uri))
