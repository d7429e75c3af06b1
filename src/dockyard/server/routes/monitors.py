"""Monitors, their values per window, and alerts with their history, over REST.

Audit events: ``monitor`` (id: the monitor id) for changes of a monitor, its
last run and its values; ``alert`` (id: the alert id) for saved alerts and
their events. Updating or deleting a monitor, and replacing an alert, also
record the state replaced (``before``, in the same summary). Channel
settings can hold secrets (webhook URLs, passwords): the audit trail records
only their types.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from dockyard.entities import Alert, AlertEvent, Monitor, MonitorSpec, MonitorValue, Page
from dockyard.errors import InvalidArgument, NotFound
from dockyard.server.deps import client_of, json_body, json_response, parse_body
from dockyard.server.schemas import MonitorValues, SetMonitorRun, ValuesWritten
from dockyard.server.writes import AuditedRoute

router = APIRouter(route_class=AuditedRoute)

MONITORS = ["monitors"]
ALERTS = ["alerts"]
_MONITOR = "/monitors/{monitor_id}"
_ALERT = "/alerts/{alert_id}"


def _audit(request: Request, resource_id: str, change: dict[str, Any]) -> None:
    request.state.resource_id = resource_id
    request.state.audit = change


def _spec_change(spec: MonitorSpec) -> dict[str, Any]:
    return {"name": spec.name, "model_name": spec.model_name,
            "model_version": spec.model_version, "deployment": spec.deployment,
            "window_seconds": spec.window_seconds, "rules": [r.name for r in spec.rules],
            "channels": [c.get("type") for c in spec.channels]}


def _alert_change(alert: Alert) -> dict[str, Any]:
    return {"monitor_id": alert.monitor_id, "rule": alert.rule, "state": alert.state,
            "severity": alert.severity}


# monitors ------------------------------------------------------------------------------
@router.post("/monitors", tags=MONITORS, response_model=Monitor, status_code=201,
             summary="Create a monitor of a model (or one deployment of it)")
def create_monitor(body: MonitorSpec, request: Request) -> Response:
    monitor = client_of(request).create_monitor(body)
    _audit(request, monitor.id, _spec_change(monitor))
    return json_response(monitor, 201)


@router.get("/monitors", tags=MONITORS, response_model=Page[Monitor],
            summary="Monitors by name, of one model or deployment when given")
def list_monitors(request: Request, model_name: str | None = None,
                  deployment: str | None = None) -> Response:
    found = client_of(request).list_monitors(model_name, deployment)
    return json_response(Page[Monitor](items=found))


@router.get("/monitors:by-name", tags=MONITORS, response_model=Monitor,
            summary="Get a monitor by its name")
def get_monitor_by_name(request: Request, name: str = Query()) -> Response:
    return json_response(client_of(request).get_monitor_by_name(name))


@router.get(_MONITOR, tags=MONITORS, response_model=Monitor, summary="Get a monitor")
def get_monitor(monitor_id: str, request: Request) -> Response:
    return json_response(client_of(request).get_monitor(monitor_id))


@router.put(_MONITOR, tags=MONITORS, response_model=Monitor,
            summary="Replace a monitor's spec (its name too); values and alerts stay")
def update_monitor(monitor_id: str, body: MonitorSpec, request: Request) -> Response:
    client = client_of(request)
    previous = client.get_monitor(monitor_id)
    monitor = client.update_monitor(monitor_id, body)
    _audit(request, monitor.id, _spec_change(monitor))
    request.state.audit_before = _spec_change(previous)
    return json_response(monitor)


@router.delete(_MONITOR, tags=MONITORS, response_model=Monitor,
               summary="Delete a monitor with its values, alerts and alert events")
def delete_monitor(monitor_id: str, request: Request) -> Response:
    monitor = client_of(request).delete_monitor(monitor_id)
    _audit(request, monitor.id, {"name": monitor.name, "model_name": monitor.model_name})
    request.state.audit_before = _spec_change(monitor)
    return json_response(monitor)


@router.post(_MONITOR + "/last-run", tags=MONITORS, status_code=204,
             summary="Record when the monitor was last evaluated")
def set_monitor_run(monitor_id: str, body: SetMonitorRun, request: Request) -> Response:
    client_of(request).set_monitor_run(monitor_id, body.time)
    _audit(request, monitor_id, {"last_run_at": body.time})
    return Response(status_code=204)


# values per window ---------------------------------------------------------------------
@router.post(_MONITOR + "/values", tags=MONITORS, response_model=ValuesWritten,
             openapi_extra=json_body(MonitorValues),
             summary="Write a monitor's values per window (a value with a stored key replaces it)")
async def log_monitor_values(monitor_id: str, request: Request) -> Response:
    values = (await parse_body(request, MonitorValues)).root
    for i, value in enumerate(values):
        if value.monitor_id != monitor_id:
            raise InvalidArgument(
                f"value {i} is for monitor {value.monitor_id!r:.40}, not {monitor_id!r:.40}: "
                "post each monitor's values to its own /monitors/{id}/values")
    written = await run_in_threadpool(client_of(request).log_monitor_values, values)
    windows = sorted({val.window_start for val in values})
    _audit(request, monitor_id, {"received": len(values), "written": written,
                                 "windows": [windows[0], windows[-1]] if windows else []})
    return json_response(ValuesWritten(written=written))


@router.get(_MONITOR + "/values", tags=MONITORS, response_model=Page[MonitorValue],
            summary="A monitor's values with window_start in [since, until)")
def get_monitor_values(
    monitor_id: str,
    request: Request,
    since: int | None = Query(None, description="ms since the epoch; included"),
    until: int | None = Query(None, description="ms since the epoch; excluded"),
    metric: str | None = None,
    feature: str | None = Query(None, description="exact; empty for values of the whole window"),
    cohort: str | None = Query(None, description="exact; empty for the whole traffic"),
) -> Response:
    found = client_of(request).get_monitor_values(monitor_id, since, until, metric, feature,
                                                  cohort)
    return json_response(Page[MonitorValue](items=found))


# alerts ----------------------------------------------------------------------------------
@router.put(_ALERT, tags=ALERTS, response_model=Alert,
            summary="Save an alert (insert, or replace the one with this id)")
def save_alert(alert_id: str, body: Alert, request: Request) -> Response:
    if body.id != alert_id:
        raise InvalidArgument(f"the alert's id is {body.id!r:.80}, but the path names "
                              f"{alert_id!r:.80}: PUT an alert to /alerts/<its id>")
    client = client_of(request)
    try:
        previous: Alert | None = client.get_alert(alert_id)
    except NotFound:
        previous = None  # a new alert: nothing replaced
    alert = client.save_alert(body)
    _audit(request, alert.id, _alert_change(alert))
    if previous is not None:
        request.state.audit_before = _alert_change(previous)
    return json_response(alert)


@router.get("/alerts", tags=ALERTS, response_model=Page[Alert],
            summary="Alerts, the most recently updated first")
def list_alerts(
    request: Request,
    monitor_id: str | None = None,
    state: list[str] | None = Query(None, description="pending, firing or resolved; repeatable"),
    max_results: int = 1000,
) -> Response:
    found = client_of(request).list_alerts(monitor_id, state, max_results)
    return json_response(Page[Alert](items=found))


@router.get(_ALERT, tags=ALERTS, response_model=Alert, summary="Get an alert")
def get_alert(alert_id: str, request: Request) -> Response:
    return json_response(client_of(request).get_alert(alert_id))


@router.post(_ALERT + "/events", tags=ALERTS, response_model=AlertEvent, status_code=201,
             summary="Append a change of an alert's state, with its deliveries")
def record_alert_event(alert_id: str, body: AlertEvent, request: Request) -> Response:
    if body.alert_id != alert_id:
        raise InvalidArgument(f"the event is of alert {body.alert_id!r:.80}, but the path names "
                              f"{alert_id!r:.80}: POST it to /alerts/<its alert_id>/events")
    event = client_of(request).record_alert_event(body)
    _audit(request, alert_id, {"state": event.state, "time": event.time,
                               "deliveries": [d.get("ok") for d in event.deliveries]})
    return json_response(event, 201)


@router.get(_ALERT + "/events", tags=ALERTS, response_model=Page[AlertEvent],
            summary="An alert's events, oldest first")
def list_alert_events(alert_id: str, request: Request) -> Response:
    return json_response(Page[AlertEvent](items=client_of(request).list_alert_events(alert_id)))
