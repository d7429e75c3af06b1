"""Signing in to the UI on a real server that requires authentication.

The users are made in the server's database before it starts: ``ann`` is a
global viewer, ``quinn`` an approver, ``nemo`` has no role (the server grants
none by default) and ``root`` an administrator, who reads the audit trail.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from playwright.sync_api import Page, expect

from dockyard.store.sql import SqlMetadataStore
from tests.services.browser import screenshot
from tests.services.server import ServerProcess


@dataclass
class AuthServer:
    server: ServerProcess
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.url

    def http(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, follow_redirects=False,
                            **kwargs)  # type: ignore[arg-type]

    def sign_in(self, user: str, **headers: str) -> httpx.Response:
        with self.http() as http:
            return http.post("/login", data={"token": self.tokens[user], "next": "/experiments"},
                             headers=headers)

    def session(self, user: str) -> httpx.Client:
        """A client that carries ``user``'s session cookies."""
        answer = self.sign_in(user)
        assert answer.status_code == 303, answer.text
        return self.http(cookies=dict(answer.cookies))


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    workdir: Path = tmp_path_factory.mktemp("login")
    made = AuthServer(ServerProcess(workdir, args=("--auth", "--default-role", "none")))
    store = SqlMetadataStore(made.server.uri)
    for user, role in (("ann", "viewer"), ("quinn", "approver"), ("nemo", None),
                       ("root", "admin")):
        store.create_user(user)
        if role:
            store.grant_role(user, role)
        made.tokens[user] = store.create_token(user, name="laptop").secret
    store.create_project("churn")
    store.close()
    made.server.start()
    yield made
    made.server.stop()


def _cookies(answer: httpx.Response) -> dict[str, str]:
    """Each Set-Cookie header of ``answer``, by cookie name."""
    return {header.split("=", 1)[0]: header for header in answer.headers.get_list("set-cookie")}


def _csrf(page_html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page_html)
    assert found, "the page has no sign-out form"
    return found[1]


def test_pages_without_a_session_redirect_to_the_login_page(auth_server: AuthServer) -> None:
    with auth_server.http() as http:
        answer = http.get("/experiments", params={"filter": "a = 'b'"})
        assert answer.status_code == 303
        assert answer.headers["location"] == "/login?" + urlencode(
            {"next": "/experiments?" + urlencode({"filter": "a = 'b'"})})
        assert http.get("/runs/x").headers["location"] == "/login?next=%2Fruns%2Fx"
        assert http.get("/").headers["location"] == "/login?next=%2F"
        login = http.get("/login", params={"next": "/runs/x"})
        assert login.status_code == 200
        assert "dockyard tokens create &lt;you&gt;" in login.text
        assert 'name="next" value="/runs/x"' in login.text
        assert http.get("/static/app.css").status_code == 200
        assert http.get("/health").status_code == 200
        assert http.get("/api/v1/projects").status_code == 401


def test_a_refused_token_is_not_echoed(auth_server: AuthServer) -> None:
    wrong = "dky_" + "x" * 43
    with auth_server.http() as http:
        for token in (wrong, "", "not a token"):
            answer = http.post("/login", data={"token": token, "next": "/experiments"})
            assert answer.status_code == 401
            assert "That token was not accepted" in answer.text
            assert "set-cookie" not in answer.headers
        assert wrong not in answer.text and "xxxxxxxx" not in answer.text


def test_sign_in_sets_a_session_cookie(auth_server: AuthServer) -> None:
    answer = auth_server.sign_in("ann")
    assert answer.status_code == 303 and answer.headers["location"] == "/experiments"
    cookie = _cookies(answer)["dockyard_session"]
    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=lax", "path=/", "max-age=43200"} <= flags
    assert "secure" not in flags  # plain http: a Secure cookie would never come back
    secret = answer.cookies["dockyard_session"]
    assert secret.startswith("dky_") and secret != auth_server.tokens["ann"]
    assert "httponly" in _cookies(answer)["dockyard_session_id"].lower()


def test_the_cookie_is_secure_behind_an_https_proxy(auth_server: AuthServer) -> None:
    # uvicorn trusts proxy headers from 127.0.0.1: the request counts as https.
    answer = auth_server.sign_in("ann", **{"X-Forwarded-Proto": "https"})
    assert answer.status_code == 303, answer.text
    for name in ("dockyard_session", "dockyard_session_id"):
        flags = {part.strip().lower() for part in _cookies(answer)[name].split(";")[1:]}
        assert "secure" in flags


def test_the_session_opens_pages_and_the_api(auth_server: AuthServer) -> None:
    with auth_server.session("ann") as http:
        page = http.get("/experiments")
        assert page.status_code == 200
        assert 'id="signed-in-user">ann<' in page.text and "Sign out" in page.text
        projects = http.get("/api/v1/projects")
        assert projects.status_code == 200, projects.text
        assert "churn" in projects.text
        assert http.post("/api/v1/projects", json={"name": "x"}).status_code == 403  # a viewer


def test_sign_out_needs_the_csrf_token_and_revokes_the_session(auth_server: AuthServer) -> None:
    with auth_server.session("ann") as http:
        csrf = _csrf(http.get("/experiments").text)
        for refused in ({}, {"csrf_token": "0" * 40}):
            answer = http.post("/logout", data=refused)
            assert answer.status_code == 403 and "CSRF" in answer.text
        assert http.get("/experiments").status_code == 200  # still signed in
        stolen = dict(http.cookies)
        answer = http.post("/logout", data={"csrf_token": csrf})
        assert answer.status_code == 303 and answer.headers["location"] == "/login"
        assert 'dockyard_session=""' in _cookies(answer)["dockyard_session"]
    with auth_server.http(cookies=stolen) as http:  # the token itself is revoked
        gone = http.get("/experiments")
        assert gone.status_code == 303 and gone.headers["location"].startswith("/login")
        assert http.get("/api/v1/projects").status_code == 401


def test_the_login_page_sends_nobody_elsewhere(auth_server: AuthServer) -> None:
    with auth_server.http() as http:
        for target in ("//evil.example", "https://evil.example/", "/\\evil.example",
                       "javascript:alert(1)", "evil.example", "/\r\nSet-Cookie: x=1"):
            page = http.get("/login", params={"next": target})
            assert 'name="next" value="/"' in page.text, target
            answer = http.post("/login", data={"token": auth_server.tokens["ann"], "next": target})
            assert answer.status_code == 303 and answer.headers["location"] == "/", target


def test_a_login_posted_from_another_site_is_refused(auth_server: AuthServer) -> None:
    for origin in ("https://evil.example", "null", auth_server.url.replace("http:", "https:")):
        refused = auth_server.sign_in("ann", Origin=origin)
        assert refused.status_code == 403 and "set-cookie" not in refused.headers, origin
    assert auth_server.sign_in("ann", Origin=auth_server.url).status_code == 303


def test_pages_need_a_global_role(auth_server: AuthServer) -> None:
    with auth_server.session("nemo") as http:
        page = http.get("/experiments")
        assert page.status_code == 403
        assert "text/html" in page.headers["content-type"]
        assert "nemo has no global role" in page.text and "roles grant nemo viewer" in page.text


def test_the_audit_page_needs_what_its_api_needs(auth_server: AuthServer) -> None:
    with auth_server.session("ann") as http:
        assert http.get("/audit").status_code == 403
        assert 'href="/audit"' not in http.get("/experiments").text  # not offered either
    with auth_server.session("quinn") as http:
        assert http.get("/audit").status_code == 200
        assert 'href="/audit"' in http.get("/experiments").text


def test_signing_in_and_out_is_audited_without_secrets(auth_server: AuthServer) -> None:
    with auth_server.session("quinn") as http:
        secret = http.cookies["dockyard_session"]
        session_id = http.cookies["dockyard_session_id"]
        assert http.post("/logout", data={"csrf_token": _csrf(http.get("/audit").text)}
                         ).status_code == 303
    headers = {"Authorization": f"Bearer {auth_server.tokens['root']}"}
    with auth_server.http(headers=headers) as http:
        answer = http.get("/api/v1/audit-events", params={"resource_id": session_id})
        assert answer.status_code == 200, answer.text
        events = sorted(answer.json()["items"], key=lambda e: e["time"])
    assert [(e["actor"], e["action"], e["resource_type"]) for e in events] == [
        ("quinn", "sign_in", "session"), ("quinn", "sign_out", "session")]
    dumped = json.dumps(events)
    assert secret not in dumped and auth_server.tokens["quinn"] not in dumped
    assert secret[:12] not in dumped


@pytest.mark.browser
def test_sign_in_and_out_in_the_browser(page: Page, auth_server: AuthServer) -> None:
    page.goto(f"{auth_server.url}/experiments")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fexperiments$"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("API token").fill(auth_server.tokens["ann"])
    screenshot(page, "login")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{auth_server.url}/experiments")
    expect(page.locator("#signed-in-user")).to_have_text("ann")
    screenshot(page, "signed-in")
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{auth_server.url}/login")
    page.goto(f"{auth_server.url}/experiments")
    expect(page).to_have_url(re.compile(r"/login\?next="))


def test_an_api_write_on_a_session_needs_its_csrf_token(auth_server: AuthServer) -> None:
    """The browser sends the cookie with a forged request too: writes need the CSRF header."""
    with auth_server.session("root") as http:
        csrf = _csrf(http.get("/experiments").text)
        forged = http.post("/api/v1/projects", json={"name": "forged"})
        assert forged.status_code == 403 and "CSRF" in forged.json()["message"]
        made = http.post("/api/v1/projects", json={"name": "from-the-page"},
                         headers={"X-Dockyard-CSRF": csrf})
        assert made.status_code == 201, made.text
        assert http.get("/api/v1/projects").status_code == 200  # reads need no token
