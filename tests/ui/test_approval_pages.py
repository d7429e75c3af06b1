"""The approvals page on a real server that requires sign-in, and on a single-user one.

The users are made in the server's database before it starts: ``ed`` an
editor who opens requests, ``apu`` and ``cy`` approvers, ``vi`` a viewer and
``root`` an administrator, who reads the audit trail. Model ``churn`` is
gated by the release policy; versions 1 to 6 passed a validation under it
and have a card, version 7 has neither. Each test opens its own requests
through the API, as ``ed``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from dockyard.store.sql import SqlMetadataStore
from dockyard.validation.policy import Policy
from tests.contract.test_validation_gate import judged
from tests.services.browser import screenshot
from tests.services.server import ServerProcess
from tests.ui.test_login import AuthServer

RELEASE = Policy.parse({"name": "release", "rules": ["accuracy >= 0.85"]})
PEOPLE = {"ed": "editor", "apu": "approver", "cy": "approver", "vi": "viewer", "root": "admin"}
MODEL = "churn"
READY = 6
"""Versions 1 to READY have the evidence; version READY + 1 has none."""
BARE = READY + 1
CARD = "# churn\n\nIntended use: retention offers."


def seed(store: SqlMetadataStore, model: str) -> None:
    """``model`` with versions 1 to READY validated and carded, and version BARE bare."""
    run = store.create_run(store.create_experiment(f"train-{model}").id)
    store.create_registered_model(model)
    for _ in range(BARE):
        store.create_model_version(model, f"runs:/{run.id}/model")
    store.set_model_policy(model, RELEASE.to_dict(), RELEASE.digest, ["champion"])
    for version in range(1, READY + 1):
        store.record_validation(model, version, judged(RELEASE, accuracy=0.91))
        store.update_model_version(model, version, card=CARD)


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    workdir: Path = tmp_path_factory.mktemp("approval-pages")
    made = AuthServer(ServerProcess(workdir, args=("--auth", "--default-role", "none")))
    store = SqlMetadataStore(made.server.uri)
    for user, role in PEOPLE.items():
        store.create_user(user)
        store.grant_role(user, role)
        made.tokens[user] = store.create_token(user, name="laptop").secret
    seed(store, MODEL)
    store.close()
    made.server.start()
    yield made
    made.server.stop()


def api(team: AuthServer, user: str) -> httpx.Client:
    return httpx.Client(base_url=team.url + "/api/v1", timeout=30,
                        headers={"Authorization": f"Bearer {team.tokens[user]}"})


def open_request(team: AuthServer, version: int, user: str = "ed",
                 target: str = "stage:Production") -> str:
    with api(team, user) as http:
        opened = http.post("/approval-requests", json={
            "model": MODEL, "version": version, "target": target, "comment": "please"})
        assert opened.status_code == 201, opened.text
        return str(opened.json()["id"])


def request_of(team: AuthServer, request_id: str) -> dict[str, Any]:
    with api(team, "root") as http:
        return dict(http.get(f"/approval-requests/{request_id}").json())


def stage(team: AuthServer, version: int) -> str:
    with api(team, "root") as http:
        return str(http.get(f"/registered-models/{MODEL}/versions/{version}").json()["stage"])


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no form with a CSRF token"
    return found[1]


def row_of(html: str, request_id: str) -> str:
    found = re.search(rf'<tr id="request-{request_id}".*?</tr>', html, re.S)
    assert found, f"request {request_id} is not on the page"
    return found[0]


def decide(http: httpx.Client, request_id: str, verb: str, **fields: str) -> httpx.Response:
    return http.post(f"/approvals/{request_id}/{verb}", data=fields)


def test_a_viewer_sees_the_requests_but_cannot_decide(team: AuthServer) -> None:
    request_id = open_request(team, 1)
    with team.session("vi") as http:
        page = http.get("/approvals")
        assert page.status_code == 200
        assert 'href="/approvals" aria-current="page"' in page.text
        row = row_of(page.text, request_id)
        assert 'href="/models/churn/versions/1"' in row and ">ed<" in row
        assert "awaiting an approver" in row and "please" in row
        assert "<form" not in row and "/approve" not in page.text
        forged = decide(http, request_id, "approve", csrf_token=csrf_of(page.text))
        assert forged.status_code == 403, forged.text
        assert "vi has the viewer role" in forged.text and "roles grant vi approver" in forged.text
        assert decide(http, request_id, "reject",
                      csrf_token=csrf_of(page.text)).status_code == 403
    assert request_of(team, request_id)["status"] == "pending"
    assert stage(team, 1) == "None"


def test_the_author_cannot_decide_their_own_request(team: AuthServer) -> None:
    request_id = open_request(team, 2)
    with team.session("ed") as http:
        page = http.get("/approvals")
        row = row_of(page.text, request_id)
        assert "you opened this request" in row and "<form" not in row
        refused = decide(http, request_id, "approve", csrf_token=csrf_of(page.text))
        assert refused.status_code == 403
    own = open_request(team, 2, user="cy", target="alias:champion")  # an approver, author too
    with team.session("cy") as http:
        page = http.get("/approvals")
        assert "you opened this request" in row_of(page.text, own)
        assert "<form" in row_of(page.text, request_id)  # ed's: cy may decide it
        refused = decide(http, own, "approve", csrf_token=csrf_of(page.text))
        assert refused.status_code == 403 and "cannot approve it" in refused.text
    assert request_of(team, request_id)["status"] == "pending"
    assert request_of(team, own)["status"] == "pending"


def test_a_decision_needs_the_csrf_token_and_this_site(team: AuthServer) -> None:
    request_id = open_request(team, 3)
    with team.session("apu") as http:
        csrf = csrf_of(http.get("/approvals").text)
        for fields in ({}, {"csrf_token": "0" * 40}):
            refused = decide(http, request_id, "approve", **fields)
            assert refused.status_code == 403 and "CSRF" in refused.text
        cross_site = http.post(f"/approvals/{request_id}/approve", data={"csrf_token": csrf},
                               headers={"Origin": "https://evil.example"})
        assert cross_site.status_code == 403
        as_json = http.post(f"/approvals/{request_id}/approve", json={"csrf_token": csrf})
        assert as_json.status_code == 403  # not a form: no token
    with team.http() as anonymous:
        answer = decide(anonymous, request_id, "approve", csrf_token=csrf)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
    assert request_of(team, request_id)["status"] == "pending"


def test_an_approver_approves_and_the_change_is_audited(team: AuthServer) -> None:
    request_id = open_request(team, 4)
    with team.session("apu") as http:
        page = http.get("/approvals", params={"model": MODEL})
        row = row_of(page.text, request_id)
        assert f'action="/approvals/{request_id}/approve"' in row
        assert f'formaction="/approvals/{request_id}/reject"' in row
        assert "not evaluated yet" in row
        done = decide(http, request_id, "approve", csrf_token=csrf_of(page.text),
                      comment="evidence is in", status="pending", model=MODEL)
        assert done.status_code == 303, done.text
        assert done.headers["location"] == (
            f"/approvals?status=approved&model={MODEL}#request-{request_id}")
        shown = row_of(http.get(done.headers["location"]).text, request_id)
        assert 'data-status="approved"' in shown and "evidence is in" in shown
        assert ">apu<" in shown and "validation: passed" in shown
        assert "<form" not in shown
    found = request_of(team, request_id)
    assert (found["status"], found["decided_by"], found["decision_comment"]) == (
        "approved", "apu", "evidence is in")
    assert stage(team, 4) == "Production"
    with api(team, "root") as http:
        trail = http.get("/audit-events", params={
            "resource_type": "model-version", "resource_id": f"{MODEL}/4"}).json()["items"]
    event = next(e for e in trail if e["action"] == "approve_request")
    assert event["actor"] == "apu" and event["status"] == 200
    assert event["request"] == {"approval_request": request_id, "target": "stage:Production",
                                "author": "ed", "status": "approved",
                                "checks": {"validation": True, "model card": True}}


def test_failing_checks_keep_the_request_pending(team: AuthServer) -> None:
    request_id = open_request(team, BARE)
    with team.session("apu") as http:
        page = http.get("/approvals")
        refused = decide(http, request_id, "approve", csrf_token=csrf_of(page.text),
                         comment="looks fine", status="pending")
        assert refused.status_code == 409, refused.text
        assert "text/html" in refused.headers["content-type"]
        assert 'id="decision-error"' in refused.text and "cannot be committed" in refused.text
        row = row_of(refused.text, request_id)
        assert 'data-status="pending"' in row and "<form" in row  # may try again
        assert 'data-check="model card" data-passed="false"' in row
        assert "the version has no model card" in row
        assert 'data-check="validation" data-passed="false"' in row
    assert request_of(team, request_id)["status"] == "pending"
    assert stage(team, BARE) == "None"


def test_an_approver_rejects(team: AuthServer) -> None:
    request_id = open_request(team, 5, target="alias:champion")
    with team.session("apu") as http:
        page = http.get("/approvals")
        done = decide(http, request_id, "reject", csrf_token=csrf_of(page.text),
                      comment="not this one")
        assert done.status_code == 303
        assert done.headers["location"] == f"/approvals?status=rejected#request-{request_id}"
        again = decide(http, request_id, "approve", csrf_token=csrf_of(page.text))
        assert again.status_code == 409 and "already rejected" in again.text
    found = request_of(team, request_id)
    assert (found["status"], found["decision_comment"]) == ("rejected", "not this one")
    with api(team, "root") as http:
        assert http.get(f"/registered-models/{MODEL}/aliases/champion").status_code == 404
        trail = http.get("/audit-events", params={
            "resource_type": "model-version", "resource_id": f"{MODEL}/5"}).json()["items"]
    event = next(e for e in trail if e["action"] == "reject_request")
    assert event["actor"] == "apu" and event["request"]["status"] == "rejected"


def test_the_filters_and_the_version_page(team: AuthServer) -> None:
    request_id = open_request(team, 6)
    with team.session("vi") as http:
        version = http.get(f"/models/{MODEL}/versions/6")
        assert version.status_code == 200
        assert f'data-id="{request_id}"' in version.text
        assert 'href="/approvals?model=churn"' in version.text
        assert "pending-approvals" not in http.get(f"/models/{MODEL}/versions/{READY - 2}").text
        assert request_id in http.get("/approvals", params={"status": "all"}).text
        assert request_id not in http.get("/approvals", params={"status": "approved"}).text
        assert "No approval requests for other" in http.get(
            "/approvals", params={"model": "other", "status": "all"}).text
        assert http.get("/approvals", params={"status": "maybe"}).status_code == 400
        assert decide(http, "nope", "approve").status_code == 403  # CSRF first
    with team.session("apu") as http:
        csrf = csrf_of(http.get("/approvals").text)
        assert decide(http, "nope", "approve", csrf_token=csrf).status_code == 400
        assert decide(http, "0" * 32, "approve", csrf_token=csrf).status_code == 404


@pytest.mark.browser
def test_an_approver_approves_in_the_browser(page: Page, team: AuthServer) -> None:
    request_id = open_request(team, READY - 1, target="alias:champion")
    page.goto(f"{team.url}/approvals")
    page.get_by_label("API token").fill(team.tokens["apu"])
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{team.url}/approvals")
    row = page.locator(f"#request-{request_id}")
    row.get_by_label("Comment").fill("validated on October data")
    screenshot(page, "approvals")
    row.get_by_role("button", name="Approve").click()
    expect(page).to_have_url(re.compile(rf"/approvals\?status=approved#request-{request_id}$"))
    done = page.locator(f"#request-{request_id}")
    expect(done).to_have_attribute("data-status", "approved")
    expect(done).to_contain_text("validated on October data")
    expect(done.get_by_role("button")).to_have_count(0)
    assert request_of(team, request_id)["decided_by"] == "apu"


def test_single_user_mode_needs_no_csrf_token(dockyard_server: ServerProcess) -> None:
    model = f"approvals-{uuid.uuid4().hex[:8]}"
    store = SqlMetadataStore(dockyard_server.uri)
    seed(store, model)
    store.close()
    with httpx.Client(base_url=dockyard_server.url, timeout=30) as http:
        opened = [http.post("/api/v1/approval-requests", json={"model": model, "version": v})
                  for v in (1, 2)]
        assert all(o.status_code == 201 for o in opened), opened[0].text
        first, second = (o.json()["id"] for o in opened)
        page = http.get("/approvals", params={"model": model})
        assert page.status_code == 200 and 'href="/login"' not in page.text
        assert f'action="/approvals/{first}/approve"' in row_of(page.text, first)
        done = decide(http, first, "approve", comment="ship it", model=model)
        assert done.status_code == 303, done.text
        assert http.get(f"/api/v1/registered-models/{model}/versions/1").json()[
            "stage"] == "Production"
        assert decide(http, second, "reject").status_code == 303
        assert http.get(f"/api/v1/approval-requests/{second}").json()["status"] == "rejected"
        trail = http.get("/api/v1/audit-events", params={
            "resource_type": "model-version", "resource_id": f"{model}/1"}).json()["items"]
        assert any(e["action"] == "approve_request" for e in trail)
