"""The validation and policy routes over real HTTP: a bad policy, or a digest that does not
match it, is a 400; the gate's refusal is a 409 VALIDATION_REQUIRED error body."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from dockyard.validation.policy import Policy
from tests.services.server import ServerProcess

POLICY = Policy.parse({"name": "release", "rules": ["accuracy >= 0.85"]})


@pytest.fixture
def api(dockyard_server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=dockyard_server.url + "/api/v1", timeout=10) as client:
        yield client


@pytest.fixture
def model(api: httpx.Client) -> str:
    """A model with one version."""
    exp = api.post("/experiments", json={"name": f"gate-{uuid.uuid4().hex}"}).json()
    run_id = api.post("/runs", json={"experiment_id": exp["id"]}).json()["id"]
    name = f"gate-{uuid.uuid4().hex[:12]}"
    assert api.post("/registered-models", json={"name": name}).status_code == 201
    r = api.post(f"/registered-models/{name}/versions", json={"source": f"runs:/{run_id}/model"})
    assert r.status_code == 201, r.text
    return name


def _error(response: httpx.Response, status: int, code: str = "INVALID_ARGUMENT") -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error_code"] == code, body
    assert body["message"]
    return str(body["message"])


def _policy(**fields: Any) -> dict[str, Any]:
    return {"policy": POLICY.to_dict(), "policy_digest": POLICY.digest,
            "protected_aliases": ["champion"], **fields}


def test_a_bad_policy_or_digest_is_a_400(api: httpx.Client, model: str) -> None:
    route = f"/registered-models/{model}/policy"
    cases = [
        (_policy(policy={"rules": ["accuracy >> 0.8"]}), "rule 1"),
        (_policy(policy={"rules": []}), "no rules"),
        (_policy(policy={"rules": ["accuracy >= 0.8"], "colour": "red"}), "unknown policy keys"),
        (_policy(policy_digest="ab" * 32), "does not match the policy"),
        (_policy(policy_digest=None), "needs its policy_digest"),
        (_policy(policy_digest="nope"), "does not match"),
        (_policy(policy=None), "without a policy"),
        (_policy(protected_aliases=["latest"]), "reserved"),
        (_policy(protected_aliases="champion"), "protected_aliases"),
        ({"policy_digest": POLICY.digest}, "policy"),
    ]
    for body, fragment in cases:
        assert fragment in _error(api.put(route, json=body), 400), body
    assert api.get(f"/registered-models/{model}").json()["policy"] is None
    _error(api.put(f"/registered-models/nope-{uuid.uuid4().hex}/policy", json=_policy()), 404,
           "NOT_FOUND")


def test_the_gate_refuses_with_a_409(api: httpx.Client, model: str) -> None:
    r = api.put(f"/registered-models/{model}/policy", json=_policy())
    assert r.status_code == 200, r.text
    assert (r.json()["policy"], r.json()["policy_digest"]) == (POLICY.to_dict(), POLICY.digest)
    version = f"/registered-models/{model}/versions/1"
    alias = f"/registered-models/{model}/aliases/champion"
    message = _error(api.post(f"{version}:transition", json={"stage": "Production"}), 409,
                     "VALIDATION_REQUIRED")
    assert f"no validation of {model} version 1 under policy 'release'" in message
    body = api.put(alias, json={"version": 1}).json()
    assert body["error_code"] == "VALIDATION_REQUIRED"
    assert body["details"]["problem"] == "missing" and body["details"]["alias"] == "champion"
    assert "override_reason" in _error(api.put(alias, json={"version": 1,
                                                            "override_reason": " "}), 400)

    outcome = POLICY.evaluate({"accuracy": 0.8})
    failed = {"passed": outcome.passed, "policy_name": "release", "policy_digest": POLICY.digest,
              "values": {"accuracy": 0.8}, "summary": outcome.summary}
    r = api.post(f"{version}/validations", json=failed)
    assert r.status_code == 201, r.text
    message = _error(api.put(alias, json={"version": 1}), 409, "VALIDATION_REQUIRED")
    assert "failed: 0 of 1 rules passed; failed: accuracy >= 0.85 (0.8 < 0.85)" in message

    passed = {**failed, "passed": True, "values": {"accuracy": 0.9}, "summary": "1 of 1"}
    assert api.post(f"{version}/validations", json=passed).status_code == 201
    assert api.put(alias, json={"version": 1}).status_code == 200
    assert api.post(f"{version}:transition", json={"stage": "Production"}).status_code == 200
    listed = api.get(f"/registered-models/{model}/validations", params={"version": 1}).json()
    assert [v["passed"] for v in listed["items"]] == [True, False]
    assert api.get(f"{version}/validations").json() == listed


def test_bad_validations_are_a_400(api: httpx.Client, model: str) -> None:
    version = f"/registered-models/{model}/versions/1"
    for body, fragment in [
        ({"passed": True}, "go together"),
        ({"values": {"accuracy": "high"}}, "values.accuracy"),
        ({"colour": "red"}, "colour"),
        ({"passed": "maybe", "policy_digest": POLICY.digest}, "passed"),
    ]:
        assert fragment in _error(api.post(f"{version}/validations", json=body), 400), body
    _error(api.post(f"/registered-models/{model}/versions/9/validations", json={}), 404,
           "NOT_FOUND")
    _error(api.get(f"/registered-models/{model}/validations", params={"version": 0}), 400)
    assert api.get(f"/registered-models/{model}/validations").json()["items"] == []


def test_the_routes_are_in_the_openapi_spec(dockyard_server: ServerProcess) -> None:
    paths = httpx.get(dockyard_server.url + "/openapi.json").json()["paths"]
    for path in ("/api/v1/registered-models/{name}/policy",
                 "/api/v1/registered-models/{name}/validations",
                 "/api/v1/registered-models/{name}/versions/{version}/validations"):
        assert path in paths, path
