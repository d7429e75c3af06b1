"""Every caller mistake gets a clear 4xx with {error_code, message} and writes nothing.

Driven over real HTTP against a live server, and through the SDK (embedded and
remote) so both boundaries hold.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import dockyard
from dockyard.errors import (
    AlreadyExists,
    Conflict,
    InvalidArgument,
    InvalidFilter,
    InvalidState,
    NotFound,
)
from tests.services.server import ServerProcess


@pytest.fixture
def api(dockyard_server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=dockyard_server.url + "/api/v1", timeout=10) as client:
        yield client


@pytest.fixture
def run_id(api: httpx.Client) -> str:
    exp = api.post("/experiments", json={"name": f"bad-{uuid.uuid4().hex}"}).json()
    return str(api.post("/runs", json={"experiment_id": exp["id"]}).json()["id"])


def _error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error_code"] == code, body
    assert body["message"]
    return str(body["message"])


def _batch(api: httpx.Client, run_id: str, **body: object) -> httpx.Response:
    return api.post(f"/runs/{run_id}/batch", json=body)


def test_invalid_and_overlong_names(api: httpx.Client) -> None:
    assert "empty" in _error(api.post("/experiments", json={"name": "  "}), 400, "INVALID_ARGUMENT")
    assert "250" in _error(api.post("/experiments", json={"name": "x" * 251}), 400, "INVALID_ARGUMENT")
    _error(api.post("/experiments", json={"name": 5}), 400, "INVALID_ARGUMENT")
    _error(api.post("/experiments", json={}), 400, "INVALID_ARGUMENT")
    _error(api.post("/experiments", json={"name": "a", "bogus": 1}), 400, "INVALID_ARGUMENT")


def test_duplicate_experiment(api: httpx.Client) -> None:
    name = f"dup-{uuid.uuid4().hex}"
    assert api.post("/experiments", json={"name": name}).status_code == 201
    _error(api.post("/experiments", json={"name": name}), 409, "ALREADY_EXISTS")


def test_malformed_json(api: httpx.Client, run_id: str) -> None:
    r = api.post(f"/runs/{run_id}/batch", content=b'{"metrics": [', headers={"Content-Type": "application/json"})
    assert "JSON" in _error(r, 400, "INVALID_ARGUMENT")


@pytest.mark.parametrize("body, fragment", [
    ({"metrics": [{"key": "bad key!", "value": 1}]}, "not allowed"),
    ({"metrics": [{"key": "k" * 251, "value": 1}]}, "limit"),
    ({"metrics": [{"key": "m", "value": "NaN"}]}, "finite"),
    ({"metrics": [{"key": "m", "value": "Infinity"}]}, "finite"),
    ({"metrics": [{"key": "m", "value": "high"}]}, "metrics.1.value"),
    ({"metrics": [{"key": "m", "value": 1, "step": 2**70}]}, "step"),
    ({"params": [{"key": "p", "value": "v" * 6001}]}, "limit"),
    ({"params": [{"key": "p", "value": "a\x00b"}]}, "NUL"),
    ({"tags": [{"key": "../t", "value": "v"}]}, "'..'"),
    ({"tags": [{"key": "t", "value": "v" * 8001}]}, "limit"),
])
def test_bad_batch_values_write_nothing(api: httpx.Client, run_id: str, body: dict, fragment: str) -> None:
    # A good metric rides along: the whole batch must be refused.
    body = {**body, "metrics": [{"key": "good", "value": 1.0}, *body.get("metrics", [])]}
    assert fragment in _error(_batch(api, run_id, **body), 400, "INVALID_ARGUMENT")
    assert api.get(f"/runs/{run_id}").json()["metrics"] == {}


def test_nan_literal_in_json_is_rejected(api: httpx.Client, run_id: str) -> None:
    r = api.post(f"/runs/{run_id}/batch", content=b'{"metrics": [{"key": "m", "value": NaN}]}',
                 headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert api.get(f"/runs/{run_id}").json()["metrics"] == {}


def test_unknown_ids(api: httpx.Client) -> None:
    missing = uuid.uuid4().hex
    assert missing in _error(api.get(f"/runs/{missing}"), 404, "NOT_FOUND")
    _error(api.get(f"/experiments/{missing}"), 404, "NOT_FOUND")
    _error(_batch(api, missing, metrics=[{"key": "m", "value": 1}]), 404, "NOT_FOUND")
    _error(api.post("/runs", json={"experiment_id": missing}), 404, "NOT_FOUND")
    _error(api.get(f"/runs/{missing}/metric-history", params={"key": "m"}), 404, "NOT_FOUND")
    _error(api.get("/nothing-here"), 404, "NOT_FOUND")


@pytest.mark.parametrize("max_points", ["abc", "3", "0", "-5", "1000001", "2.5", "1e3", "", "9" * 40])
def test_bad_max_points_of_metric_history(api: httpx.Client, run_id: str, max_points: str) -> None:
    r = api.get(f"/runs/{run_id}/metric-history", params={"key": "m", "max_points": max_points})
    assert "from 4 to 1,000,000" in _error(r, 400, "INVALID_ARGUMENT")


def test_metric_history_with_max_points(api: httpx.Client, run_id: str) -> None:
    _batch(api, run_id, metrics=[{"key": "m", "value": i % 7, "step": i} for i in range(100)])
    r = api.get(f"/runs/{run_id}/metric-history", params={"key": "m", "max_points": "10"})
    assert r.status_code == 200, r.text
    assert len(r.json()["steps"]) <= 10 and r.json()["sampled_from"] == 100
    assert api.get(f"/runs/{run_id}/metric-history", params={"key": "m"}).json()["sampled_from"] is None


@pytest.mark.parametrize("path", ["%2E%2E/escape.txt", "a/%2E%2E/%2E%2E/escape.txt", "%2Fetc/passwd",
                                  "a%5Cb.txt"])
def test_artifact_paths_that_escape(api: httpx.Client, run_id: str, path: str) -> None:
    r = api.put(f"/runs/{run_id}/artifacts/{path}", content=b"x")
    _error(r, 400, "INVALID_ARGUMENT")
    assert api.get(f"/runs/{run_id}/artifacts").json()["items"] == []
    _error(api.get(f"/runs/{run_id}/artifacts/{path}"), 400, "INVALID_ARGUMENT")


def test_writes_to_a_finished_run(api: httpx.Client, run_id: str) -> None:
    assert api.patch(f"/runs/{run_id}", json={"status": "FINISHED"}).status_code == 200
    assert "FINISHED" in _error(_batch(api, run_id, metrics=[{"key": "m", "value": 1}]), 409, "INVALID_STATE")
    _error(api.put(f"/runs/{run_id}/artifacts/late.txt", content=b"late"), 409, "INVALID_STATE")
    _error(api.patch(f"/runs/{run_id}", json={"status": "FAILED"}), 409, "INVALID_STATE")
    _error(api.patch(f"/runs/{run_id}", json={"status": "DONE"}), 400, "INVALID_ARGUMENT")
    assert api.get(f"/runs/{run_id}").json()["metrics"] == {}
    assert api.get(f"/runs/{run_id}/artifacts").json()["items"] == []


def test_param_relogged_with_another_value(api: httpx.Client, run_id: str) -> None:
    assert _batch(api, run_id, params=[{"key": "lr", "value": "0.1"}]).status_code == 200
    assert _batch(api, run_id, params=[{"key": "lr", "value": "0.1"}]).status_code == 200
    r = _batch(api, run_id, params=[{"key": "lr", "value": "0.2"}], metrics=[{"key": "m", "value": 1}])
    assert "'0.1'" in _error(r, 409, "CONFLICT")
    run = api.get(f"/runs/{run_id}").json()
    assert run["params"] == {"lr": "0.1"} and run["metrics"] == {}


def test_malformed_filter_points_at_the_token(api: httpx.Client, run_id: str) -> None:
    exp_id = api.get(f"/runs/{run_id}").json()["experiment_id"]
    r = api.post("/runs:search", json={"experiment_ids": [exp_id], "filter": "metrics.auc >> 0.5"})
    _error(r, 400, "INVALID_FILTER")
    assert r.json()["details"]["position"] == 13
    r = api.post("/runs:search", json={"experiment_ids": [exp_id], "filter": "metrics.auc > 0.5 and"})
    assert r.json()["details"]["position"] == 21
    r = api.post("/runs:search", json={"experiment_ids": [exp_id], "order_by": ["metrics.auc sideways"]})
    _error(r, 400, "INVALID_FILTER")
    r = api.post("/runs:search", json={"experiment_ids": [exp_id], "max_results": 0})
    _error(r, 400, "INVALID_ARGUMENT")
    r = api.post("/runs:search", json={"experiment_ids": [exp_id], "page_token": "garbage"})
    _error(r, 400, "INVALID_ARGUMENT")


def test_audit_records_every_successful_write(api: httpx.Client) -> None:
    name = f"audited-{uuid.uuid4().hex}"
    exp = api.post("/experiments", json={"name": name}, headers={"X-Dockyard-User": "alice"}).json()
    run = api.post("/runs", json={"experiment_id": exp["id"]}, headers={"X-Dockyard-User": "alice"}).json()
    api.post(f"/runs/{run['id']}/batch", json={"metrics": [{"key": "m", "value": 1}]},
             headers={"X-Dockyard-User": "alice"})
    api.post(f"/runs/{run['id']}/batch", json={"metrics": [{"key": "bad key", "value": 1}]})
    events = api.get("/audit-events", params={"actor": "alice"}).json()["items"]
    mine = [e for e in events if e["resource_id"] in (exp["id"], run["id"])]
    assert [e["action"] for e in mine] == ["create_experiment", "create_run", "log_batch"]
    assert mine[0]["request"] == {"name": name}
    assert mine[2]["request"]["metrics"] == 1
    # searches are not writes
    api.post("/runs:search", json={"experiment_ids": [exp["id"]]}, headers={"X-Dockyard-User": "alice"})
    assert len(api.get("/audit-events", params={"actor": "alice"}).json()["items"]) == len(events)
    # the audit trail has no write routes
    assert api.post("/audit-events", json={}).status_code == 405
    assert api.delete("/audit-events").status_code == 405


def test_openapi_spec_is_served(dockyard_server: ServerProcess) -> None:
    spec = httpx.get(dockyard_server.url + "/openapi.json").json()
    assert "/api/v1/runs/{run_id}/batch" in spec["paths"]
    assert spec["info"]["title"] == "Dockyard"


# --- the same mistakes through the SDK, embedded and remote -------------------------


@pytest.fixture(params=["embedded", "server"])
def client(request: pytest.FixtureRequest) -> Iterator[dockyard.Client]:
    if request.param == "server":
        c = dockyard.Client(request.getfixturevalue("dockyard_server").url)
    else:
        c = dockyard.Client()
    yield c
    c.close()


def test_sdk_raises_the_same_errors(client: dockyard.Client, tmp_path: Path) -> None:
    name = f"sdk-{uuid.uuid4().hex}"
    exp = client.create_experiment(name)
    with pytest.raises(AlreadyExists):
        client.create_experiment(name)
    with pytest.raises(InvalidArgument):
        client.create_experiment("x" * 300)
    run = client.create_run(exp.id)
    with pytest.raises(InvalidArgument, match="finite"):
        client.log_metric(run.id, "m", float("nan"))
    with pytest.raises(InvalidArgument):
        client.log_param(run.id, "p", "v" * 7000)
    client.log_param(run.id, "p", "1")
    with pytest.raises(Conflict):
        client.log_param(run.id, "p", "2")
    with pytest.raises(NotFound):
        client.get_run(uuid.uuid4().hex)
    with pytest.raises(InvalidFilter) as info:
        client.search_runs(exp.id, "params.p ~ 1")
    assert info.value.details["position"] == 9
    f = tmp_path / "a.txt"
    f.write_text("a")
    for bad in ("../x", "/abs", "a/../../b"):
        with pytest.raises(InvalidArgument):
            client.log_artifact(run.id, f, bad)
    assert client.list_artifacts(run.id) == []
    client.set_terminated(run.id)
    with pytest.raises(InvalidState):
        client.log_metric(run.id, "m", 1.0)
    with pytest.raises(InvalidState):
        client.log_artifact(run.id, f)
    assert client.get_run(run.id).params == {"p": "1"}


def test_oversized_batch_body_is_refused_before_it_is_read(
    dockyard_server: ServerProcess, run_id: str, api: httpx.Client
) -> None:
    import socket

    host, port = "127.0.0.1", dockyard_server.port
    request = (f"POST /api/v1/runs/{run_id}/batch HTTP/1.1\r\nHost: {host}\r\n"
               "Content-Type: application/json\r\nContent-Length: 100000000\r\n\r\n{").encode()
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(request)  # one byte of the promised 100 MB
        reply = b""
        while b"TOO_LARGE" not in reply:  # the head and the body may come in separate packets
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
    text = reply.decode()
    assert text.startswith("HTTP/1.1 413"), text
    assert "TOO_LARGE" in text
    assert api.get(f"/runs/{run_id}").json()["metrics"] == {}


# --- the model registry -------------------------------------------------------------


@pytest.fixture
def model(api: httpx.Client, run_id: str) -> str:
    """A registered model with one version, registered from ``run_id``."""
    name = f"model-{uuid.uuid4().hex}"
    assert api.post("/registered-models", json={"name": name}).status_code == 201
    r = api.post(f"/registered-models/{name}/versions", json={"source": f"runs:/{run_id}/model"})
    assert r.status_code == 201, r.text
    return name


def test_bad_registered_models(api: httpx.Client, model: str) -> None:
    assert "'/' or '@'" in _error(api.post("/registered-models", json={"name": "a/b"}), 400, "INVALID_ARGUMENT")
    assert "200" in _error(api.post("/registered-models", json={"name": "m" * 201}), 400, "INVALID_ARGUMENT")
    _error(api.post("/registered-models", json={}), 400, "INVALID_ARGUMENT")
    _error(api.post("/registered-models", json={"name": 5}), 400, "INVALID_ARGUMENT")
    _error(api.post("/registered-models", json={"name": "x", "bogus": 1}), 400, "INVALID_ARGUMENT")
    _error(api.post("/registered-models", json={"name": "x", "tags": {"bad key!": "v"}}), 400,
           "INVALID_ARGUMENT")
    _error(api.post("/registered-models", json={"name": model}), 409, "ALREADY_EXISTS")
    _error(api.get(f"/registered-models/nope-{uuid.uuid4().hex}"), 404, "NOT_FOUND")
    _error(api.get("/registered-models/a%00b"), 400, "INVALID_ARGUMENT")
    _error(api.get("/registered-models", params={"max_results": 0}), 400, "INVALID_ARGUMENT")
    _error(api.get("/registered-models", params={"max_results": "many"}), 400, "INVALID_ARGUMENT")
    _error(api.get("/registered-models", params={"page_token": "garbage"}), 400, "INVALID_ARGUMENT")
    _error(api.patch(f"/registered-models/{model}", json={"owner": "o" * 251}), 400, "INVALID_ARGUMENT")
    _error(api.patch(f"/registered-models/{model}", json={"name": "renamed"}), 400, "INVALID_ARGUMENT")
    _error(api.patch(f"/registered-models/nope-{uuid.uuid4().hex}", json={}), 404, "NOT_FOUND")


@pytest.mark.parametrize("body, status, code, fragment", [
    ({}, 400, "INVALID_ARGUMENT", "source"),
    ({"source": "s3://bucket/model"}, 400, "INVALID_ARGUMENT", "runs:/<run_id>/<path>"),
    ({"source": "runs:/abc/model"}, 400, "INVALID_ARGUMENT", "32 lowercase hex"),
    ({"source": f"runs:/{'0' * 32}/model"}, 404, "NOT_FOUND", "does not exist"),
    ({"source": "RUN/model", "package_digest": "zz"}, 400, "INVALID_ARGUMENT", "package_digest"),
    ({"source": "RUN/model", "package_digest": "AB" * 32}, 400, "INVALID_ARGUMENT", "sha256"),
    ({"source": "RUN/model", "signature": [1]}, 400, "INVALID_ARGUMENT", "signature"),
    ({"source": "RUN/../model"}, 400, "INVALID_ARGUMENT", "escapes"),
    ({"source": "RUN/model", "card": "a\u0000b"}, 400, "INVALID_ARGUMENT", "NUL"),
    ({"source": "RUN/model", "stage": "Production"}, 400, "INVALID_ARGUMENT", "stage"),
])
def test_bad_model_versions_write_nothing(api: httpx.Client, model: str, run_id: str, body: dict,
                                          status: int, code: str, fragment: str) -> None:
    if "source" in body:
        body = {**body, "source": body["source"].replace("RUN", f"runs:/{run_id}")}
    assert fragment in _error(api.post(f"/registered-models/{model}/versions", json=body), status, code)
    assert api.get(f"/registered-models/{model}").json()["latest_version"] == 1


def test_bad_version_numbers_and_unknown_versions(api: httpx.Client, model: str) -> None:
    for bad in ("abc", "0", "-1", "99999999999999999999", "1.5"):
        _error(api.get(f"/registered-models/{model}/versions/{bad}"), 400, "INVALID_ARGUMENT")
    assert "has no version 7" in _error(api.get(f"/registered-models/{model}/versions/7"), 404, "NOT_FOUND")
    _error(api.get(f"/registered-models/nope-{uuid.uuid4().hex}/versions/1"), 404, "NOT_FOUND")
    _error(api.get(f"/registered-models/nope-{uuid.uuid4().hex}/versions"), 404, "NOT_FOUND")
    _error(api.get("/model-versions", params={"run_id": "not-a-run"}), 400, "INVALID_ARGUMENT")
    _error(api.get("/model-versions", params={"stage": "Prod"}), 400, "INVALID_ARGUMENT")
    _error(api.get(f"/registered-models/{model}/versions", params={"max_results": 0}), 400,
           "INVALID_ARGUMENT")


def test_package_fields_cannot_be_patched(api: httpx.Client, model: str) -> None:
    before = api.get(f"/registered-models/{model}/versions/1").json()
    for field, value in (("source", "runs:/" + "0" * 32 + "/other"), ("package_digest", "ab" * 32),
                         ("signature", {}), ("run_id", "0" * 32), ("stage", "Production")):
        r = api.patch(f"/registered-models/{model}/versions/1", json={field: value})
        assert field in _error(r, 400, "INVALID_ARGUMENT")
    assert api.get(f"/registered-models/{model}/versions/1").json() == before


def test_bad_aliases(api: httpx.Client, model: str) -> None:
    alias = f"/registered-models/{model}/aliases"
    _error(api.put(f"{alias}/champion", json={"version": "1"}), 400, "INVALID_ARGUMENT")
    _error(api.put(f"{alias}/champion", json={}), 400, "INVALID_ARGUMENT")
    _error(api.put(f"{alias}/champion", json={"version": 0}), 400, "INVALID_ARGUMENT")
    assert "has no version 7" in _error(api.put(f"{alias}/champion", json={"version": 7}), 404, "NOT_FOUND")
    assert "reserved" in _error(api.put(f"{alias}/latest", json={"version": 1}), 400, "INVALID_ARGUMENT")
    _error(api.put(f"{alias}/1st", json={"version": 1}), 400, "INVALID_ARGUMENT")
    _error(api.put(f"{alias}/{'a' * 41}", json={"version": 1}), 400, "INVALID_ARGUMENT")
    _error(api.get(f"{alias}/champion"), 404, "NOT_FOUND")
    _error(api.delete(f"{alias}/champion"), 404, "NOT_FOUND")
    assert api.get(f"/registered-models/{model}").json()["aliases"] == {}
    assert api.put(f"{alias}/champion", json={"version": 1}).json()["previous_version"] is None


def test_bad_stage_transitions_and_locked_deletes(api: httpx.Client, model: str) -> None:
    version = f"/registered-models/{model}/versions/1"
    _error(api.post(f"{version}:transition", json={"stage": "Prod"}), 400, "INVALID_ARGUMENT")
    _error(api.post(f"{version}:transition", json={}), 400, "INVALID_ARGUMENT")
    _error(api.post(f"{version}:transition", json={"stage": "Production", "archive_existing": "yes"}),
           400, "INVALID_ARGUMENT")
    assert "archive_existing" in _error(api.post(
        f"{version}:transition", json={"stage": "Archived", "archive_existing": True}), 400, "INVALID_ARGUMENT")
    _error(api.post(f"/registered-models/{model}/versions/9:transition", json={"stage": "Staging"}),
           404, "NOT_FOUND")
    assert api.get(version).json()["stage"] == "None"
    assert api.post(f"{version}:transition", json={"stage": "production"}).status_code == 200
    assert "Production" in _error(api.delete(version), 409, "INVALID_STATE")
    assert "Production" in _error(api.delete(f"/registered-models/{model}"), 409, "INVALID_STATE")
    assert api.get(version).json()["stage"] == "Production"


def test_bad_model_uris_and_lineage(api: httpx.Client, model: str) -> None:
    for route in ("/models:resolve", "/lineage"):
        assert "accepted forms" in _error(api.get(route, params={"uri": "s3://x"}), 400, "INVALID_ARGUMENT")
        _error(api.get(route, params={"uri": f"models:/{model}"}), 400, "INVALID_ARGUMENT")
        _error(api.get(route), 400, "INVALID_ARGUMENT")
        _error(api.get(route, params={"uri": f"models:/{model}/5"}), 404, "NOT_FOUND")
        _error(api.get(route, params={"uri": f"models:/{model}@champion"}), 404, "NOT_FOUND")
        assert api.get(route, params={"uri": f"models:/{model}/1"}).status_code == 200
    _error(api.get("/lineage", params={"uri": "runs:/nope"}), 400, "INVALID_ARGUMENT")


def test_registry_routes_are_in_the_openapi_spec(dockyard_server: ServerProcess) -> None:
    paths = httpx.get(dockyard_server.url + "/openapi.json").json()["paths"]
    for path in ("/api/v1/registered-models", "/api/v1/registered-models/{name}/versions/{version}",
                 "/api/v1/registered-models/{name}/aliases/{alias}", "/api/v1/model-versions",
                 "/api/v1/registered-models/{name}/versions/{version}:transition",
                 "/api/v1/models:resolve", "/api/v1/lineage"):
        assert path in paths, path
