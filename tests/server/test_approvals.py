"""The approval workflow end to end, on a server that requires authentication.

An editor asks for Production; the author cannot approve their own request;
an approver's approval waits for the checks (a passing validation under the
model's policy, a model card); then it commits, and every step is on the
version's audit trail. A protected alias goes the same way; a rejection
changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from dockyard.errors import ApprovalPending
from dockyard.store.rest import RestMetadataStore
from dockyard.store.sql import SqlMetadataStore
from dockyard.validation.policy import Policy
from tests.contract.test_validation_gate import GOOD, judged
from tests.services.server import ServerProcess

RELEASE = Policy.parse({"name": "release", "rules": ["accuracy >= 0.85", "auc > 0.9"]})
PEOPLE = {"ana": "editor", "dee": "deployer", "bo": "approver", "cy": "approver",
          "root": "admin"}


class Team:
    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        store = SqlMetadataStore(server.uri)
        self.tokens = {}
        for name, role in PEOPLE.items():
            store.create_user(name)
            store.grant_role(name, role)
            self.tokens[name] = store.create_token(name).secret
        run = store.create_run(store.create_experiment("train").id)
        store.create_registered_model("churn")
        for _ in range(2):
            store.create_model_version("churn", f"runs:/{run.id}/model")
        store.set_model_policy("churn", RELEASE.to_dict(), RELEASE.digest, ["champion"])
        store.close()

    def http(self, who: str) -> httpx.Client:
        return httpx.Client(base_url=self.server.url + "/api/v1", timeout=30,
                            headers={"Authorization": f"Bearer {self.tokens[who]}"})


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Team]:
    server = ServerProcess(tmp_path_factory.mktemp("approvals"), args=("--auth",))
    made = Team(server)
    server.start()
    yield made
    server.stop()


def _stage(http: httpx.Client, version: int) -> str:
    return str(http.get(f"/registered-models/churn/versions/{version}").json()["stage"])


def test_production_needs_another_approver_and_passing_checks(team: Team) -> None:
    with team.http("ana") as ana, team.http("bo") as bo:
        asked = ana.post("/registered-models/churn/versions/1:transition",
                         json={"stage": "Production", "archive_existing": True})
        assert asked.status_code == 202, asked.text
        request = asked.json()
        assert (request["status"], request["author"], request["target"]) == (
            "pending", "ana", "stage:Production")
        assert _stage(ana, 1) == "None"  # nothing committed yet

        own = ana.post(f"/approval-requests/{request['id']}:approve", json={})
        assert own.status_code == 403  # an editor is no approver
        with team.http("cy") as cy:  # an approver who opens a request cannot approve it either
            cy_asked = cy.post("/approval-requests", json={"model": "churn", "version": 2})
            assert cy_asked.status_code == 201
            mine = cy.post(f"/approval-requests/{cy_asked.json()['id']}:approve", json={})
            assert mine.status_code == 403 and "cannot approve it" in mine.json()["message"]

        early = bo.post(f"/approval-requests/{request['id']}:approve", json={"comment": "ok"})
        assert early.status_code == 409, early.text
        assert "validation" in early.json()["message"] and "model card" in early.json()["message"]
        waiting = bo.get(f"/approval-requests/{request['id']}").json()
        assert waiting["status"] == "pending"
        assert {c["name"]: c["passed"] for c in waiting["checks"]} == {
            "validation": False, "model card": False}
        assert _stage(ana, 1) == "None"

        store = RestMetadataStore(team.server.url, token=team.tokens["ana"])
        store.record_validation("churn", 1, judged(RELEASE, **GOOD))
        store.update_model_version("churn", 1, card="# churn v1\nIntended use: retention.")
        approved = bo.post(f"/approval-requests/{request['id']}:approve",
                           json={"comment": "evidence is in"})
        assert approved.status_code == 200, approved.text
        done = approved.json()
        assert (done["status"], done["decided_by"], done["decision_comment"]) == (
            "approved", "bo", "evidence is in")
        assert all(c["passed"] for c in done["checks"])
        assert _stage(ana, 1) == "Production"
        again = bo.post(f"/approval-requests/{request['id']}:approve", json={})
        assert again.status_code == 409  # decided once

    with team.http("root") as root:
        trail = root.get("/audit-events", params={"resource_type": "model-version",
                                                  "resource_id": "churn/1"}).json()["items"]
    steps = [(e["actor"], e["action"]) for e in trail]
    assert ("ana", "transition_stage") in steps and ("bo", "approve_request") in steps
    approval = next(e for e in trail if e["action"] == "approve_request")
    assert approval["request"]["approval_request"] == request["id"]
    assert approval["request"]["author"] == "ana"


def test_a_protected_alias_opens_a_request_and_a_rejection_changes_nothing(team: Team) -> None:
    store = RestMetadataStore(team.server.url, token=team.tokens["dee"])
    with pytest.raises(ApprovalPending, match="needs an approval") as caught:
        store.set_alias("churn", "champion", 2)
    request_id = caught.value.details["request_id"]
    store.set_alias("churn", "candidate", 2)  # not protected: moves at once
    with team.http("bo") as bo:
        rejected = bo.post(f"/approval-requests/{request_id}:reject",
                           json={"comment": "not validated"})
        assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
        assert bo.get("/registered-models/churn/aliases/champion").status_code == 404
        listed = bo.get("/approval-requests", params={"model": "churn",
                                                      "status": "rejected"}).json()["items"]
        assert [r["id"] for r in listed] == [request_id]


def test_only_an_admin_overrides_the_gate(team: Team) -> None:
    body = {"stage": "Staging", "override_reason": "hotfix"}
    with team.http("bo") as bo:
        refused = bo.post("/registered-models/churn/versions/2:transition", json=body)
        assert refused.status_code == 403 and "administrator" in refused.json()["message"]
    with team.http("root") as root:
        assert root.post("/registered-models/churn/versions/2:transition",
                         json=body).status_code == 200
