"""``dockyard users`` and ``dockyard tokens``, and the token a client sends a server."""

from __future__ import annotations

import json
import uuid

import pytest

from dockyard.client import Client
from dockyard.entities.identity import User, parse_lifetime
from dockyard.errors import InvalidArgument, Unauthenticated
from dockyard.store.http import HttpSession
from tests.cli.test_cli import cli
from tests.services.server import ServerProcess


def test_users_and_tokens_on_the_command_line() -> None:
    cli("users", "create", "ana", "--display-name", "Ana Lima")
    cli("users", "create", "ci-bot", "--service")
    listed = json.loads(cli("users", "list", "--json").stdout)
    assert [(u["name"], u["kind"]) for u in listed] == [("ana", "user"), ("ci-bot", "service")]
    assert "Ana Lima" in cli("users", "list").stdout

    made = cli("tokens", "create", "ci-bot", "--name", "deploys", "--expires-in", "30d")
    secret = made.stdout.strip()
    assert secret.startswith("dky_") and len(secret) == 47
    assert "will not be shown again" in made.stderr and secret not in made.stderr
    with Client() as client:
        assert client.store.authenticate(secret).name == "ci-bot"
    [token] = json.loads(cli("tokens", "list", "--user", "ci-bot", "--json").stdout)
    assert token["name"] == "deploys" and "secret" not in token and "digest" not in token
    assert token["expires_at"] - token["created_at"] == 30 * 86_400_000
    table = cli("tokens", "list").stdout
    assert secret not in table and secret[:8] in table and "active" in table

    cli("users", "disable", "ci-bot")
    assert json.loads(cli("users", "list", "--json").stdout)[1]["disabled"] is True
    cli("users", "disable", "ci-bot", "--enable")
    cli("tokens", "revoke", token["id"])
    assert "revoked" in cli("tokens", "list").stdout
    with Client() as client, pytest.raises(Unauthenticated):
        client.store.authenticate(secret)


def test_bad_input_is_one_clear_line() -> None:
    for args in (["users", "create", "a b"], ["tokens", "create", "nobody"],
                 ["tokens", "revoke", "nope"], ["users", "disable", "nobody"]):
        out = cli(*args, ok=False)
        assert out.returncode == 1 and "error:" in out.stderr and "Traceback" not in out.stderr
    cli("users", "create", "ana")
    out = cli("tokens", "create", "ana", "--expires-in", "soon", ok=False)
    assert out.returncode == 1 and "not understood" in out.stderr
    assert cli("tokens", "list", "--json").stdout.strip() == "[]"


def test_lifetimes() -> None:
    assert [parse_lifetime(t) for t in ("90", "45m", "12h", "30d", "2w", "5s")] == [
        90, 2700, 43200, 2_592_000, 1_209_600, 5]
    for bad in ("", "0", "-1d", "1y", "1.5h", "d"):
        with pytest.raises(InvalidArgument):
            parse_lifetime(bad)


def test_the_client_sends_dockyard_token(dockyard_server: ServerProcess,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"svc-{uuid.uuid4().hex[:8]}"
    with Client(dockyard_server.url) as admin:
        admin.store.create_user(name, kind="service")
        secret = admin.store.create_token(name).secret
    monkeypatch.setenv("DOCKYARD_TOKEN", secret)
    with Client(dockyard_server.url) as client:
        # /whoami reads the bearer header the session sends with every request.
        answer = client.store.http.request("GET", "/whoami")  # type: ignore[attr-defined]
        assert User.model_validate_json(answer.content).name == name
        assert client.store.http.client.headers["X-Dockyard-User"]  # type: ignore[attr-defined]
    bare = HttpSession(dockyard_server.url)
    with pytest.raises(Unauthenticated):
        bare.request("GET", "/whoami")
    bare.close()
