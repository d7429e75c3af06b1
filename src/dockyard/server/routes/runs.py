from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BeforeValidator, Field
from pydantic_core import PydanticCustomError
from starlette.concurrency import run_in_threadpool

from dockyard.entities import Batch, BatchResult, MetricHistory, Page, Run
from dockyard.entities.downsample import MIN_POINTS
from dockyard.errors import InvalidArgument
from dockyard.server.deps import client_of, json_body, json_response, parse_body
from dockyard.server.schemas import CreateRun, LogBatch, SearchRuns, UpdateRun
from dockyard.server.writes import AuditedRoute
from dockyard.store.base import MAX_POINTS_LIMIT, check_max_points

router = APIRouter(prefix="/runs", tags=["runs"], route_class=AuditedRoute)


@router.post("", response_model=Run, status_code=201, summary="Start a run")
def create_run(body: CreateRun, request: Request) -> Response:
    run = client_of(request).store.create_run(
        body.experiment_id, body.name, body.start_time, body.parent_id, body.tags, body.source,
        body.id)
    request.state.audit = {"experiment_id": body.experiment_id, "name": run.name}
    return json_response(run, 201)


@router.post(":search", response_model=Page[Run], summary="Search runs with the filter grammar",
             openapi_extra={"x-read-only": True})
def search_runs(body: SearchRuns, request: Request) -> Response:
    page = client_of(request).store.search_runs_json(
        body.experiment_ids, body.filter, body.order_by, body.max_results, body.page_token)
    return Response(page, media_type="application/json")


@router.get("/{run_id}", response_model=Run, summary="Get a run with its params, tags and latest metrics")
def get_run(run_id: str, request: Request) -> Response:
    return json_response(client_of(request).get_run(run_id))


@router.patch("/{run_id}", response_model=Run, summary="Rename a run or end it")
def update_run(run_id: str, body: UpdateRun, request: Request) -> Response:
    request.state.audit = body.model_dump(mode="json", exclude_none=True)
    return json_response(client_of(request).update_run(run_id, body.status, body.end_time, body.name))


@router.post("/{run_id}/batch", response_model=BatchResult, openapi_extra=json_body(LogBatch),
             summary="Log metrics, params and tags in one transaction (idempotent by batch_id); "
                     "may start the run (create) and end it (end_status)")
async def log_batch(run_id: str, request: Request) -> Response:
    body = await parse_body(request, LogBatch)
    request.state.audit = {
        "batch_id": body.batch_id, "metrics": len(body.metrics), "params": len(body.params),
        "tags": len(body.tags), **({"end_status": body.end_status.value} if body.end_status else {}),
        **({"create": body.create.experiment_id} if body.create else {}),
    }
    batch = Batch.model_construct(run_id=run_id, **dict(body))
    return json_response(await run_in_threadpool(client_of(request).store.log_batch, batch))


def _max_points(raw: Any) -> int | None:
    """Every bad ``max_points`` gets the one message that says what is allowed."""
    if isinstance(raw, str) and raw.isdecimal() and len(raw) <= 20:
        raw = int(raw)
    try:
        return check_max_points(raw)
    except InvalidArgument as exc:
        raise PydanticCustomError("invalid_argument", exc.message) from None


MaxPoints = Annotated[
    Annotated[int, Field(ge=MIN_POINTS, le=MAX_POINTS_LIMIT)] | None,
    BeforeValidator(_max_points),
    Query(description="At most this many points: a longer history is thinned to the lowest and "
                      "highest point of equal buckets, and sampled_from gives its full length"),
]


@router.get("/{run_id}/metric-history", response_model=MetricHistory,
            summary="The points of one metric, in columns; every one, or at most max_points")
def get_metric_history(run_id: str, key: str, request: Request,
                       max_points: MaxPoints = None) -> Response:
    return json_response(client_of(request).get_metric_history(run_id, key, max_points))
