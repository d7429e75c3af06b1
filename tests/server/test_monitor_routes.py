"""The monitor and alert routes over real HTTP: caller mistakes are 4xx naming what was wrong,
ids in the path and the body must agree, and every change is in the audit trail."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.services.server import ServerProcess

T0 = 1_700_000_000_000


@pytest.fixture
def api(dockyard_server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=dockyard_server.url + "/api/v1", timeout=10) as client:
        yield client


def _name() -> str:
    return f"monitor-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def monitor(api: httpx.Client) -> dict[str, Any]:
    r = api.post("/monitors", json={"name": _name(), "model_name": "churn"})
    assert r.status_code == 201, r.text
    return dict(r.json())


def _error(response: httpx.Response, status: int, code: str = "INVALID_ARGUMENT") -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error_code"] == code, body
    return str(body["message"])


def _value(monitor_id: str, **fields: Any) -> dict[str, Any]:
    return {"monitor_id": monitor_id, "window_start": T0, "window_end": T0 + 3_600_000,
            "metric": "psi", "feature": "age", "value": 0.1, "computed_at": T0, **fields}


def _alert(monitor_id: str, **fields: Any) -> dict[str, Any]:
    return {"id": uuid.uuid4().hex, "monitor_id": monitor_id, "rule": "drift",
            "fingerprint": uuid.uuid4().hex, "severity": "warning", "state": "firing",
            "started_at": T0, "updated_at": T0, **fields}


@pytest.mark.parametrize(("body", "field"), [
    ({"model_name": "churn", "window_seconds": "hourly"}, "window_seconds"),
    ({"window_seconds": 3600}, "model_name"),
    ({"model_name": "churn", "colour": "blue"}, "colour"),
    ({"model_name": "churn", "rules": [{"name": "r"}]}, "rules.0.metric"),
    ({"model_name": "churn", "rules": "psi > 0.2"}, "rules"),
    ({"model_name": "churn", "cohorts": [{"column": "age", "bins": ["young"]}]}, "cohorts.0.bins"),
    ({"model_name": "churn", "window_seconds": 10}, "window_seconds"),
    ({"model_name": "churn",
      "rules": [{"name": "r", "metric": "psi", "feature": "*", "threshold": "Infinity"}]},
     "threshold"),
    ({"model_name": "churn", "channels": [{"url": "https://hooks.example"}]}, "type"),
])
def test_a_malformed_monitor_is_refused_naming_the_field(api: httpx.Client, body: dict[str, Any],
                                                         field: str) -> None:
    name = _name()
    assert field in _error(api.post("/monitors", json={"name": name, **body}), 400)
    _error(api.get("/monitors:by-name", params={"name": name}), 404, "NOT_FOUND")


def test_a_body_that_is_not_json_is_refused(api: httpx.Client) -> None:
    r = api.post("/monitors", content=b'{"name": ', headers={"Content-Type": "application/json"})
    assert "JSON" in _error(r, 400)


def test_ids_in_the_path_and_the_body_must_agree(api: httpx.Client,
                                                 monitor: dict[str, Any]) -> None:
    other = api.post("/monitors", json={"name": _name(), "model_name": "churn"}).json()
    r = api.post(f"/monitors/{monitor['id']}/values",
                 json=[_value(monitor["id"]), _value(other["id"])])
    assert other["id"] in _error(r, 400)
    assert api.get(f"/monitors/{monitor['id']}/values").json()["items"] == []
    alert = _alert(monitor["id"])
    _error(api.put(f"/alerts/{uuid.uuid4().hex}", json=alert), 400)
    assert api.put(f"/alerts/{alert['id']}", json=alert).status_code == 200
    event = {"alert_id": uuid.uuid4().hex, "time": T0, "state": "firing"}
    _error(api.post(f"/alerts/{alert['id']}/events", json=event), 400)
    assert api.get(f"/alerts/{alert['id']}/events").json()["items"] == []


def test_malformed_values_and_queries_are_refused(api: httpx.Client,
                                                  monitor: dict[str, Any]) -> None:
    values = f"/monitors/{monitor['id']}/values"
    assert "array" in _error(api.post(values, json=_value(monitor["id"])), 400)
    assert "finite" in _error(api.post(values, json=[_value(monitor["id"], value="NaN")]), 400)
    assert "0.count" in _error(api.post(values, json=[_value(monitor["id"], count="many")]), 400)
    assert "since" in _error(api.get(values, params={"since": "yesterday"}), 400)
    assert "'open'" in _error(api.get("/alerts", params={"state": ["firing", "open"]}), 400)
    assert "max_results" in _error(api.get("/alerts", params={"max_results": 0}), 400)
    _error(api.get("/monitors:by-name"), 400)
    last_run = f"/monitors/{monitor['id']}/last-run"
    assert "time" in _error(api.post(last_run, json={"time": "now"}), 400)
    r = api.put(f"/alerts/{'x' * 200}", json=_alert(monitor["id"], id="x" * 200))
    assert "alert id" in _error(r, 400)


def test_a_reference_profile_that_is_not_base64_is_a_400(api: httpx.Client,
                                                        monitor: dict[str, Any]) -> None:
    route = f"/monitors/{monitor['id']}/reference"
    for profile in ("\u00e9t\u00e9", "\x80", "not base64!"):
        r = api.put(route, json={"profile": profile, "meta": {"values": []}})
        assert "base64" in _error(r, 400)


def test_unknown_monitors_and_alerts_are_404(api: httpx.Client) -> None:
    missing = uuid.uuid4().hex
    for r in (api.get(f"/monitors/{missing}"), api.delete(f"/monitors/{missing}"),
              api.get(f"/monitors/{missing}/values"),
              api.post(f"/monitors/{missing}/values", json=[_value(missing)]),
              api.post(f"/monitors/{missing}/last-run", json={"time": T0}),
              api.put(f"/alerts/{missing}", json=_alert(missing, id=missing)),
              api.get(f"/alerts/{missing}"), api.get(f"/alerts/{missing}/events")):
        _error(r, 404, "NOT_FOUND")


def test_a_taken_name_is_409(api: httpx.Client, monitor: dict[str, Any]) -> None:
    r = api.post("/monitors", json={"name": monitor["name"], "model_name": "other"})
    _error(r, 409, "ALREADY_EXISTS")


def test_changes_are_audited_without_channel_settings(api: httpx.Client) -> None:
    secret = f"https://hooks.example/{uuid.uuid4().hex}"
    body = {"name": _name(), "model_name": "churn", "channels": [{"type": "webhook",
                                                                   "url": secret}]}
    created = api.post("/monitors", json=body).json()
    mid = created["id"]
    assert api.put(f"/monitors/{mid}", json={**body, "window_seconds": 600}).status_code == 200
    assert api.post(f"/monitors/{mid}/last-run", json={"time": T0}).status_code == 204
    r = api.post(f"/monitors/{mid}/values", json=[_value(mid), _value(mid, value=0.2)])
    assert r.json() == {"written": 1}
    assert api.delete(f"/monitors/{mid}").json()["window_seconds"] == 600
    events = api.get("/audit-events", params={"resource_type": "monitor",
                                              "resource_id": mid}).json()["items"]
    assert [e["action"] for e in events] == ["create_monitor", "update_monitor",
                                             "set_monitor_run", "log_monitor_values",
                                             "delete_monitor"]
    assert events[0]["request"]["channels"] == ["webhook"]
    assert events[0]["before"] is None
    assert events[1]["before"]["window_seconds"] == created["window_seconds"] != 600
    assert events[1]["request"]["window_seconds"] == 600
    assert events[4]["before"]["window_seconds"] == 600
    assert events[4]["before"]["channels"] == ["webhook"]
    assert secret not in str(events)


def test_alert_changes_are_audited(api: httpx.Client, monitor: dict[str, Any]) -> None:
    alert = _alert(monitor["id"])
    assert api.put(f"/alerts/{alert['id']}", json=alert).status_code == 200
    event = {"alert_id": alert["id"], "time": T0, "state": "firing",
             "deliveries": [{"channel": "webhook", "ok": True}]}
    assert api.post(f"/alerts/{alert['id']}/events", json=event).status_code == 201
    events = api.get("/audit-events", params={"resource_type": "alert",
                                              "resource_id": alert["id"]}).json()["items"]
    assert [e["action"] for e in events] == ["save_alert", "record_alert_event"]
    assert events[0]["before"] is None
    resolved = {**alert, "state": "resolved", "updated_at": T0 + 1}
    assert api.put(f"/alerts/{alert['id']}", json=resolved).status_code == 200
    last = api.get("/audit-events", params={"resource_type": "alert",
                                            "resource_id": alert["id"]}).json()["items"][-1]
    assert last["before"]["state"] == "firing" and last["request"]["state"] == "resolved"
