"""Running monitors on demand, and the overview of what needs attention."""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from dockyard.entities import now_ms
from dockyard.entities.monitoring import Alert, MonitorValue
from dockyard.errors import InvalidArgument, NotFound
from dockyard.monitor.overview import MonitorStatus, Overview, overview, status_of
from dockyard.server.deps import client_of, json_body, json_response, parse_body
from dockyard.server.writes import AuditedRoute

router = APIRouter(tags=["monitors"], route_class=AuditedRoute)


class RunResult(BaseModel):
    """What one run of a monitor computed and which alerts it moved."""

    monitor_id: str
    windows: list[tuple[int, int]]
    values: list[MonitorValue]
    alerts: list[Alert]


@router.post("/monitors/{monitor_id}/run", response_model=RunResult,
             summary="Run a monitor now (for cron or CI)")
async def run_monitor(request: Request, monitor_id: str, since: int | None = None,
                      until: int | None = None, alert: bool = True) -> Response:
    """Compute the monitor's windows, update its alerts and notify. With ``since`` and
    ``until`` (ms since the epoch), judge exactly that period; ``alert=false`` computes
    and stores values without moving alerts (a backfill)."""
    from dockyard.monitor.monitors import run_monitor as run

    client = client_of(request)
    monitor = await run_in_threadpool(client.get_monitor, monitor_id)
    base = str(request.base_url).rstrip("/")
    done = await run_in_threadpool(run, client, monitor, since=since, until=until, alert=alert,
                                   url=f"{base}/monitoring/{quote(monitor.name, safe='')}")
    request.state.audit = {"windows": len(done.windows), "alerts": len(done.alerts)}
    return json_response(RunResult(monitor_id=monitor.id, windows=done.windows,
                                   values=done.values, alerts=done.alerts))


@router.get("/monitoring/overview", response_model=Overview,
            summary="Monitors that need attention first")
async def get_overview(request: Request) -> Response:
    return json_response(await run_in_threadpool(overview, client_of(request)))


@router.get("/monitors/{monitor_id}/status", response_model=MonitorStatus,
            summary="A monitor's state: open alerts, degraded metrics, latest window")
async def get_status(request: Request, monitor_id: str) -> Response:
    client = client_of(request)
    monitor = await run_in_threadpool(client.get_monitor, monitor_id)
    return json_response(await run_in_threadpool(status_of, client, monitor))


@router.get("/monitors/{monitor_id}/features/{feature}/histogram",
            summary="A feature's reference and current histograms, side by side")
async def get_histogram(request: Request, monitor_id: str, feature: str,
                        since: int | None = None, until: int | None = None) -> dict[str, Any]:
    """The window ``[since, until)`` (ms since the epoch) defaults to the last window-length
    up to now."""
    from dockyard.monitor.monitors import feature_histogram

    client = client_of(request)
    monitor = await run_in_threadpool(client.get_monitor, monitor_id)
    if since is None or until is None:
        size = monitor.window_seconds * 1000
        until = until if until is not None else now_ms()
        since = since if since is not None else until - size
    if until <= since:
        raise InvalidArgument("until must be after since")
    return await run_in_threadpool(feature_histogram, client, monitor, feature, since=since,
                                   until=until)


class ReferenceBody(BaseModel):
    """A monitor's reference: its profile (base64 of :meth:`Profile.to_bytes`) and metadata."""

    profile: str
    meta: dict[str, Any]


@router.put("/monitors/{monitor_id}/reference", openapi_extra=json_body(ReferenceBody),
           summary="Store a monitor's reference profile")
async def put_reference(request: Request, monitor_id: str) -> dict[str, str]:
    """The profile is made where the reference data is (``create_monitor``); only the profile
    travels. It is checked before it is stored."""
    import base64

    from dockyard.monitor.profile import Profile

    body = await parse_body(request, ReferenceBody)
    try:
        blob = base64.b64decode(body.profile, validate=True)
    except ValueError:  # binascii.Error, or a character outside ASCII
        raise InvalidArgument("profile must be base64 of a Dockyard profile") from None
    Profile.from_bytes(blob)  # InvalidArgument for anything that is not one
    values = body.meta.get("values")
    if not isinstance(values, list) or not all(
            isinstance(v, list) and len(v) == 3 and isinstance(v[0], str)
            and isinstance(v[1], str) and isinstance(v[2], int | float)
            and not isinstance(v[2], bool) and math.isfinite(v[2]) for v in values):
        raise InvalidArgument("meta.values must be a list of [metric, feature, value] with a "
                              "finite number as value")
    folder = await run_in_threadpool(client_of(request).put_monitor_reference, monitor_id, blob,
                                     body.meta)
    request.state.audit = {"bytes": len(blob)}
    return {"reference": folder}


@router.get("/monitors/{monitor_id}/reference", response_model=ReferenceBody,
            summary="A monitor's reference profile")
async def get_reference(request: Request, monitor_id: str) -> Response:
    import base64

    client = client_of(request)
    monitor = await run_in_threadpool(client.get_monitor, monitor_id)
    stored = await run_in_threadpool(client.get_monitor_reference, monitor)
    if stored is None:
        raise NotFound(f"monitor {monitor.name!r} has no reference")
    return json_response(ReferenceBody(profile=base64.b64encode(stored[0]).decode(),
                                       meta=stored[1]))


metrics_router = APIRouter(tags=["monitors"], route_class=AuditedRoute)


@metrics_router.get("/metrics", summary="Monitor values for Prometheus (text format)",
                    response_class=PlainTextResponse)
async def metrics(request: Request) -> Response:
    """Drift, data quality, model quality and firing alerts of every monitor's latest window."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    from dockyard.monitor.exporter import MonitorCollector

    registry = CollectorRegistry(auto_describe=False)
    registry.register(MonitorCollector(client_of(request)))
    body = await run_in_threadpool(generate_latest, registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
