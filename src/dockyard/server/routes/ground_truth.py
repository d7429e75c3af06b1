"""Ground truth: labels of served predictions, posted when the outcome is known."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from dockyard.entities import GroundTruth, GroundTruthReport, Page
from dockyard.server.deps import client_of, json_body, json_response, parse_body
from dockyard.server.schemas import GetGroundTruth, LogGroundTruth
from dockyard.server.writes import AuditedRoute

router = APIRouter(prefix="/ground-truth", tags=["ground-truth"], route_class=AuditedRoute)


@router.post("", response_model=GroundTruthReport, openapi_extra=json_body(LogGroundTruth),
             summary="Log the labels of predictions by prediction id")
async def log_ground_truth(request: Request) -> Response:
    """Labels join their predictions by id, in the prediction's time window.

    The answer counts what was written and lists duplicate ids (kept unless
    ``replace``) and ids that are not in the prediction log (yet).
    """
    body = await parse_body(request, LogGroundTruth)
    report = await run_in_threadpool(
        client_of(request).log_ground_truth, body.prediction_ids, body.labels,
        label_time=body.label_time, replace=body.replace)
    request.state.audit = {"received": report.received, "accepted": report.accepted,
                           "duplicates": len(report.duplicate_ids),
                           "replaced": len(report.replaced_ids),
                           "unknown": len(report.unknown_ids)}
    return json_response(report)


@router.post("/search", response_model=Page[GroundTruth],
             openapi_extra={**json_body(GetGroundTruth), "x-read-only": True},
             summary="The labels stored for prediction ids")
async def get_ground_truth(request: Request) -> Response:
    body = await parse_body(request, GetGroundTruth)
    found = await run_in_threadpool(client_of(request).get_ground_truth, body.prediction_ids)
    return json_response(Page[GroundTruth](items=found))
