"""The audit trail's routes: append-only, paged by id, exported as JSON Lines, and the state a
deployment's change replaced."""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

from dockyard.server.app import create_app
from dockyard.server.routes import audit
from dockyard.store.base import MetadataStore
from dockyard.store.http import API_PREFIX
from tests.services.server import ServerProcess


@pytest.fixture
def app(tmp_path: Path) -> Iterator[FastAPI]:
    made = create_app(f"sqlite:///{tmp_path / 'store.db'}", str(tmp_path / "artifacts"))
    yield made
    made.state.client.close()


@pytest.fixture
def api(dockyard_server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=dockyard_server.url + API_PREFIX, timeout=10,
                      headers={"X-Dockyard-User": f"auditor-{uuid.uuid4().hex[:8]}"}) as client:
        yield client


def test_the_trail_has_no_write_route(app: FastAPI) -> None:
    trail = f"{API_PREFIX}/audit-events"
    # Every route of the app, those of included routers too.
    routes = {(r.path, frozenset(r.methods or ())) for r in iter_route_contexts(app.routes)}
    assert len(routes) > 100
    audited = {(path, methods) for path, methods in routes if path and "audit" in path}
    assert {path for path, _ in audited} == {trail, f"{trail}:export", "/audit"}
    for path, methods in audited:
        assert methods and methods <= {"GET", "HEAD"}, (path, methods)
    spec = app.openapi()["paths"]
    for path in (p for p in spec if p.startswith(trail)):
        assert set(spec[path]) == {"get"}, path
    for store in (MetadataStore, app.state.client.store):  # the interface, and the SQL store
        assert {m for m in dir(store) if "audit" in m} == {"record_audit_event",
                                                           "search_audit_events"}


def test_export_streams_every_match_in_pages(app: FastAPI,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audit, "EXPORT_PAGE", 2)
    # A thread of its own: a browser test earlier in the session may leave a loop running here.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, _export(app)).result()


async def _export(app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app" + API_PREFIX) as http:
        for i in range(5):
            made = await http.post("/experiments", json={"name": f"e{i}"},
                                   headers={"X-Dockyard-User": "ann"})
            assert made.status_code == 201
        await http.post("/experiments", json={"name": "other"},
                        headers={"X-Dockyard-User": "bob"})
        r = await http.get("/audit-events:export", params={"actor": "ann"})
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/x-ndjson"
        lines = [orjson.loads(line) for line in r.content.splitlines()]
        assert [e["request"].get("name") for e in lines] == [f"e{i}" for i in range(5)]
        assert [e["id"] for e in lines] == sorted(e["id"] for e in lines)
        searched = (await http.get("/audit-events", params={"actor": "ann"})).json()
        assert lines == searched["items"]
        nothing = await http.get("/audit-events:export", params={"actor": "nobody"})
        assert nothing.status_code == 200 and nothing.content == b""
        bad = await http.get("/audit-events:export", params={"since": 2**70})
        assert bad.status_code == 400 and bad.json()["error_code"] == "INVALID_ARGUMENT"


def test_search_pages_by_id(api: httpx.Client) -> None:
    for _ in range(3):
        api.post("/experiments", json={"name": f"paged-{uuid.uuid4().hex[:8]}"})
    actor = api.headers["X-Dockyard-User"]
    first = api.get("/audit-events", params={"actor": actor, "max_results": 2}).json()["items"]
    rest = api.get("/audit-events", params={"actor": actor, "after_id": first[-1]["id"]})
    assert len(first) == 2 and len(rest.json()["items"]) == 1
    assert rest.json()["items"][0]["id"] > first[-1]["id"]
    assert api.get("/audit-events", params={"after_id": "x"}).status_code == 400


def _deployment(name: str, model: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "routes": [{"model_name": model, "version": "1"}], **fields}


def test_deployment_changes_keep_what_they_replaced(api: httpx.Client) -> None:
    name, model = f"d-{uuid.uuid4().hex[:10]}", f"m-{uuid.uuid4().hex[:8]}"
    spec = _deployment(name, model, config={"token": "s3cret"})
    assert api.post("/deployments", json=spec).status_code == 201
    canary = {**spec, "routes": [{"model_name": model, "version": "1", "weight": 90},
                                 {"model_name": model, "version": "2", "weight": 10,
                                  "role": "canary"}],
              "scaling": {"min_replicas": 2, "max_replicas": 4}}
    r = api.put(f"/deployments/{name}", json={"spec": canary, "expected_revision": 1})
    assert r.status_code == 200, r.text
    stale = api.put(f"/deployments/{name}", json={"spec": spec, "expected_revision": 1})
    assert stale.status_code == 409
    assert api.delete(f"/deployments/{name}").status_code == 200
    events = api.get("/audit-events", params={"resource_type": "deployment",
                                              "resource_id": name}).json()["items"]
    assert [e["action"] for e in events] == ["create_deployment", "update_deployment",
                                             "delete_deployment"]
    created, updated, deleted = events
    assert created["before"] is None
    before = updated["before"]
    assert before["revision"] == 1 and before["status"] == "pending"
    assert [(r["version"], r["weight"]) for r in before["routes"]] == [("1", 100)]
    assert before["scaling"]["min_replicas"] == 1
    assert "config" not in before and "sla" not in before  # unchanged settings are left out
    assert deleted["before"]["revision"] == 2 and len(deleted["before"]["routes"]) == 2
    assert deleted["before"]["config"] == ["token"]  # config's keys, never its values
    assert "s3cret" not in str(events)
    missing = api.put(f"/deployments/{name}", json={"spec": spec})
    assert missing.status_code == 404 and missing.json()["error_code"] == "NOT_FOUND"
