"""Authorisation: every role against every endpoint of the OpenAPI spec, on a real server.

``EXPECTED`` is the access table written out by hand: what each route needs.
The matrix test walks the server's own OpenAPI spec, so a route added without
a row here fails, and sends one request per route and principal: a role below
the requirement gets 403, one at or above it gets past authorisation (any
answer but 401 and 403), and a request without credentials gets 401.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from dockyard.entities.identity import ROLES, role_rank
from dockyard.store.sql import SqlMetadataStore
from tests.services.server import ServerProcess

SIGNED_IN = "signed in"
"""Any signed-in user passes authorisation; the route checks the rest itself."""

EXPECTED: dict[tuple[str, str], str] = {
    ("GET", "/alerts"): "viewer",
    ("GET", "/alerts/{alert_id}"): "viewer",
    ("PUT", "/alerts/{alert_id}"): "deployer",
    ("GET", "/alerts/{alert_id}/events"): "viewer",
    ("POST", "/alerts/{alert_id}/events"): "deployer",
    ("GET", "/approval-requests"): "viewer",
    ("POST", "/approval-requests"): "editor",
    ("GET", "/approval-requests/{request_id}"): "viewer",
    ("POST", "/approval-requests/{request_id}:approve"): "approver",
    ("POST", "/approval-requests/{request_id}:reject"): "approver",
    ("GET", "/audit-events"): "approver",
    ("GET", "/audit-events:export"): "approver",
    ("GET", "/datasets"): "viewer",
    ("POST", "/datasets/versions"): "editor",
    ("GET", "/datasets/{name}"): "viewer",
    ("DELETE", "/datasets/{name}/files"): "editor",
    ("GET", "/datasets/{name}/files"): "viewer",
    ("DELETE", "/datasets/{name}/files/{path}"): "editor",
    ("GET", "/datasets/{name}/files/{path}"): "viewer",
    ("PUT", "/datasets/{name}/files/{path}"): "editor",
    ("GET", "/datasets/{name}/runs"): "viewer",
    ("GET", "/datasets/{name}/versions"): "viewer",
    ("GET", "/datasets/{name}/versions/{version}"): "viewer",
    ("GET", "/datasets/{name}/versions/{version}/checks"): "viewer",
    ("POST", "/datasets/{name}/versions/{version}/checks"): "editor",
    ("GET", "/datasets/{name}/versions:by-digest"): "viewer",
    ("GET", "/deployments"): "viewer",
    ("POST", "/deployments"): "deployer",
    ("DELETE", "/deployments/{name}"): "deployer",
    ("GET", "/deployments/{name}"): "viewer",
    ("PUT", "/deployments/{name}"): "deployer",
    ("GET", "/deployments/{name}/history"): "viewer",
    ("POST", "/deployments/{name}/status"): "deployer",
    ("GET", "/experiments"): "viewer",
    ("POST", "/experiments"): "editor",
    ("GET", "/experiments/{experiment_id}"): "viewer",
    ("PATCH", "/experiments/{experiment_id}"): "editor",
    ("GET", "/experiments:by-name"): "viewer",
    ("POST", "/ground-truth"): "editor",
    ("POST", "/ground-truth/search"): "viewer",
    ("GET", "/lineage"): "viewer",
    ("GET", "/metrics"): "viewer",
    ("GET", "/model-versions"): "viewer",
    ("POST", "/models:register"): "editor",
    ("GET", "/models:resolve"): "viewer",
    ("GET", "/monitoring/overview"): "viewer",
    ("GET", "/monitors"): "viewer",
    ("POST", "/monitors"): "deployer",
    ("DELETE", "/monitors/{monitor_id}"): "deployer",
    ("GET", "/monitors/{monitor_id}"): "viewer",
    ("PUT", "/monitors/{monitor_id}"): "deployer",
    ("GET", "/monitors/{monitor_id}/features/{feature}/histogram"): "viewer",
    ("POST", "/monitors/{monitor_id}/last-run"): "deployer",
    ("GET", "/monitors/{monitor_id}/reference"): "viewer",
    ("PUT", "/monitors/{monitor_id}/reference"): "deployer",
    ("POST", "/monitors/{monitor_id}/run"): "deployer",
    ("GET", "/monitors/{monitor_id}/status"): "viewer",
    ("GET", "/monitors/{monitor_id}/values"): "viewer",
    ("POST", "/monitors/{monitor_id}/values"): "deployer",
    ("GET", "/monitors:by-name"): "viewer",
    ("GET", "/projects"): SIGNED_IN,
    ("POST", "/projects"): "editor",
    ("GET", "/projects/{project_id}"): "viewer",
    ("GET", "/projects:by-name"): "viewer",
    ("GET", "/registered-models"): SIGNED_IN,
    ("POST", "/registered-models"): "editor",
    ("DELETE", "/registered-models/{name}"): "admin",
    ("GET", "/registered-models/{name}"): "viewer",
    ("PATCH", "/registered-models/{name}"): "editor",
    ("DELETE", "/registered-models/{name}/aliases/{alias}"): "deployer",
    ("GET", "/registered-models/{name}/aliases/{alias}"): "viewer",
    ("PUT", "/registered-models/{name}/aliases/{alias}"): "deployer",
    ("PUT", "/registered-models/{name}/policy"): "approver",
    ("GET", "/registered-models/{name}/validations"): "viewer",
    ("GET", "/registered-models/{name}/versions"): "viewer",
    ("POST", "/registered-models/{name}/versions"): "editor",
    ("DELETE", "/registered-models/{name}/versions/{version}"): "editor",
    ("GET", "/registered-models/{name}/versions/{version}"): "viewer",
    ("PATCH", "/registered-models/{name}/versions/{version}"): "editor",
    ("GET", "/registered-models/{name}/versions/{version}/validations"): "viewer",
    ("POST", "/registered-models/{name}/versions/{version}/validations"): "editor",
    ("POST", "/registered-models/{name}/versions/{version}:transition"): "editor",
    ("GET", "/roles"): "admin",
    ("POST", "/runs"): "editor",
    ("GET", "/runs/{run_id}"): "viewer",
    ("PATCH", "/runs/{run_id}"): "editor",
    ("DELETE", "/runs/{run_id}/artifacts"): "editor",
    ("GET", "/runs/{run_id}/artifacts"): "viewer",
    ("DELETE", "/runs/{run_id}/artifacts/{path}"): "editor",
    ("GET", "/runs/{run_id}/artifacts/{path}"): "viewer",
    ("PUT", "/runs/{run_id}/artifacts/{path}"): "editor",
    ("POST", "/runs/{run_id}/batch"): "editor",
    ("GET", "/runs/{run_id}/inputs"): "viewer",
    ("POST", "/runs/{run_id}/inputs"): "editor",
    ("GET", "/runs/{run_id}/metric-history"): "viewer",
    ("POST", "/runs:search"): "viewer",
    ("GET", "/tokens"): SIGNED_IN,
    ("POST", "/tokens"): SIGNED_IN,
    ("POST", "/tokens/{token_id}/revoke"): SIGNED_IN,
    ("GET", "/users"): "admin",
    ("POST", "/users"): "admin",
    ("GET", "/users/{name}"): "admin",
    ("PATCH", "/users/{name}"): "admin",
    ("DELETE", "/users/{name}/roles"): "admin",
    ("PUT", "/users/{name}/roles"): "admin",
    ("GET", "/whoami"): SIGNED_IN,
}
OPEN = {("GET", "/health")}
"""Routes anyone may call: the load balancer's liveness check."""


class Secured:
    """A server that requires authentication, its principals' tokens and some resources."""

    def __init__(self, workdir: Path) -> None:
        self.server = ServerProcess(workdir, args=("--auth", "--default-role", "none"))
        store = SqlMetadataStore(self.server.uri)
        self.tokens: dict[str, str] = {}
        for role in (None, *ROLES):
            name = f"as-{role or 'nobody'}"
            store.create_user(name)
            if role:
                store.grant_role(name, role)
            self.tokens[role or "nobody"] = store.create_token(name).secret
        self.project = store.create_project("churn")
        self.experiment = store.create_experiment("train", project_id=self.project.id)
        self.run = store.create_run(self.experiment.id)
        other = store.create_project("fraud")
        self.other_experiment = store.create_experiment("train", project_id=other.id)
        self.other_run = store.create_run(self.other_experiment.id)
        store.create_registered_model("churn-model")
        store.create_registered_model("matrix-model")  # the matrix may delete it
        store.create_registered_model("fraud-model")
        store.close()
        self.server.start()

    def client(self, who: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        return httpx.Client(base_url=self.server.url, headers=headers, timeout=30)

    def token_for(self, user: str, role: str | None = None, scope: str = "*") -> str:
        store = SqlMetadataStore(self.server.uri)
        try:
            store.create_user(user)
            if role:
                store.grant_role(user, role, scope)
            return store.create_token(user).secret
        finally:
            store.close()


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    made = Secured(tmp_path_factory.mktemp("secured"))
    yield made
    made.server.stop()


def _operations(spec: dict[str, Any]) -> list[tuple[str, str]]:
    return sorted((method.upper(), path.removeprefix("/api/v1"))
                  for path, item in spec["paths"].items() for method in item)


def _url(secured: Secured, path: str) -> str:
    values = {"run_id": secured.run.id, "experiment_id": secured.experiment.id,
              "project_id": secured.project.id, "name": "matrix-model", "version": "1",
              "alias": "champion", "path": "notes.txt", "feature": "x",
              "monitor_id": uuid.uuid4().hex, "alert_id": uuid.uuid4().hex,
              "token_id": uuid.uuid4().hex, "request_id": uuid.uuid4().hex}
    filled = re.sub(r"\{(\w+)\}", lambda m: values[m[1]], path)
    return filled if path in ("/health", "/metrics") else "/api/v1" + filled


def test_the_table_covers_every_route_of_the_spec(secured: Secured) -> None:
    with secured.client("admin") as http:
        spec = http.get("/openapi.json").json()
    operations = set(_operations(spec)) - OPEN
    assert operations == set(EXPECTED), (
        f"missing from EXPECTED: {sorted(operations - set(EXPECTED))}; "
        f"no longer served: {sorted(set(EXPECTED) - operations)}")


def test_every_role_against_every_endpoint(secured: Secured) -> None:
    with secured.client("admin") as http:
        operations = _operations(http.get("/openapi.json").json())
    wrong = []
    # Deletions last, so that what they remove does not turn later answers into 404s early.
    operations.sort(key=lambda op: op[0] == "DELETE")
    for who in ("nobody", *ROLES, None):
        with secured.client(who) as http:
            for method, path in operations:
                if (method, path) in OPEN:
                    continue
                needed = EXPECTED[method, path]
                body = {} if method in ("POST", "PUT", "PATCH") else None
                answer = http.request(method, _url(secured, path), json=body)
                if who is None:
                    allowed_status = answer.status_code == 401
                elif needed == SIGNED_IN:
                    allowed_status = answer.status_code != 401
                elif role_rank(who) >= role_rank(needed):
                    allowed_status = answer.status_code not in (401, 403)
                else:
                    allowed_status = (answer.status_code == 403
                                      and answer.json()["error_code"] == "PERMISSION_DENIED"
                                      and needed in answer.json()["message"])
                if not allowed_status:
                    wrong.append(f"{who}: {method} {path} needs {needed}, got "
                                 f"{answer.status_code} {answer.text[:120]}")
    assert not wrong, "\n".join(wrong)


def test_roles_on_a_project_or_a_model_reach_only_it(secured: Secured) -> None:
    token = secured.token_for("churn-dev", "editor", "project:churn")
    model_token = secured.token_for("churn-ops", "deployer", "model:churn-model")
    with httpx.Client(base_url=secured.server.url + "/api/v1", timeout=30,
                      headers={"Authorization": f"Bearer {token}"}) as http:
        made = http.post("/runs", json={"experiment_id": secured.experiment.id})
        assert made.status_code == 201, made.text
        logged = http.post(f"/runs/{made.json()['id']}/batch",
                           json={"metrics": [{"key": "auc", "value": 0.9}]})
        assert logged.status_code < 300, logged.text
        assert http.get(f"/runs/{secured.run.id}").status_code == 200
        mine = secured.experiment.id
        assert [p["name"] for p in http.get("/projects").json()["items"]] == ["churn"]
        assert http.get("/projects:by-name", params={"name": "churn"}).status_code == 200
        listed = http.get("/experiments", params={"project_id": secured.project.id})
        assert [e["id"] for e in listed.json()["items"]] == [mine]
        found = http.post("/runs:search", json={"experiment_ids": [mine]})
        assert found.status_code == 200 and len(found.json()["items"]) == 2, found.text
        for denied in (http.post("/runs", json={"experiment_id": secured.other_experiment.id}),
                       http.get(f"/runs/{secured.other_run.id}"),
                       http.get("/experiments"),  # across projects: a global role
                       http.get("/projects:by-name", params={"name": "fraud"}),
                       http.post("/runs:search", json={"experiment_ids": [
                           mine, secured.other_experiment.id]}),
                       http.post("/experiments", json={"name": "elsewhere"})):
            assert denied.status_code == 403, denied.text
        message = http.get(f"/runs/{secured.other_run.id}").json()["message"]
        assert "churn-dev has no role here" in message and "roles grant" in message
        events = httpx.get(secured.server.url + "/api/v1/audit-events",
                           params={"resource_id": made.json()["id"]},
                           headers={"Authorization": f"Bearer {secured.tokens['admin']}"})
        assert {e["actor"] for e in events.json()["items"]} == {"churn-dev"}
    with httpx.Client(base_url=secured.server.url + "/api/v1", timeout=30,
                      headers={"Authorization": f"Bearer {model_token}"}) as http:
        mine = http.put("/registered-models/churn-model/aliases/live", json={"version": 1})
        assert mine.status_code not in (401, 403), mine.text
        theirs = http.put("/registered-models/fraud-model/aliases/live", json={"version": 1})
        assert theirs.status_code == 403
        assert http.get("/registered-models/churn-model").status_code == 200
        listed = http.get("/registered-models").json()["items"]
        assert [m["name"] for m in listed] == ["churn-model"]


def test_the_user_header_does_not_change_who_is_asking(secured: Secured) -> None:
    with secured.client("editor") as http:
        made = http.post("/api/v1/projects", json={"name": f"p-{uuid.uuid4().hex[:6]}"},
                         headers={"X-Dockyard-User": "as-admin"})
        assert made.status_code == 201
        assert http.get("/api/v1/users").status_code == 403
    with secured.client("admin") as http:
        events = http.get("/api/v1/audit-events",
                          params={"resource_id": made.json()["id"]}).json()["items"]
    assert [e["actor"] for e in events] == ["as-editor"]


def test_tokens_are_self_service(secured: Secured) -> None:
    with secured.client("viewer") as http:
        mine = http.post("/api/v1/tokens", json={"user": "as-viewer", "name": "laptop"})
        assert mine.status_code == 201
        assert http.post("/api/v1/tokens", json={"user": "as-admin"}).status_code == 403
        assert http.get("/api/v1/tokens").status_code == 403
        listed = http.get("/api/v1/tokens", params={"user": "as-viewer"})
        assert mine.json()["id"] in {t["id"] for t in listed.json()["items"]}
    with secured.client("admin") as http:
        theirs = http.post("/api/v1/tokens", json={"user": "as-editor"}).json()
    with secured.client("viewer") as http:
        assert http.post(f"/api/v1/tokens/{theirs['id']}/revoke").status_code == 403
        revoked = http.post(f"/api/v1/tokens/{mine.json()['id']}/revoke")
        assert revoked.status_code == 200 and revoked.json()["revoked_at"]
