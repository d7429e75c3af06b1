"""``dockyard roles`` and ``dockyard approvals`` on the embedded store."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from dockyard.client import Client
from tests.cli.test_cli import cli
from tests.services.server import ServerProcess


def test_roles_on_the_command_line() -> None:
    cli("users", "create", "ana")
    cli("roles", "grant", "ana", "admin")
    cli("roles", "grant", "ana", "editor", "--project", "churn")
    listed = json.loads(cli("roles", "list", "--user", "ana", "--json").stdout)
    assert [(b["scope"], b["role"]) for b in listed] == [("*", "admin"), ("project:churn", "editor")]
    assert "project:churn" in cli("roles", "list").stdout
    cli("roles", "revoke", "ana", "--project", "churn")
    assert len(json.loads(cli("roles", "list", "--json").stdout)) == 1
    both = cli("roles", "grant", "ana", "viewer", "--project", "a", "--model", "b", ok=False)
    assert both.returncode == 1 and "not both" in both.stderr
    bad = cli("roles", "grant", "ana", "owner", ok=False)
    assert bad.returncode == 1 and "viewer, editor, deployer, approver, admin" in bad.stderr


def test_approvals_on_the_command_line() -> None:
    with Client() as client:
        run = client.store.create_run(client.store.create_experiment("train").id)
        client.store.create_registered_model("churn")
        client.store.create_model_version("churn", f"runs:/{run.id}/model")
    made = json.loads(cli("approvals", "request", "churn", "1", "-m", "ready",
                          "--json", env={"DOCKYARD_USER": "ana"}).stdout)
    assert (made["target"], made["author"], made["status"]) == (
        "stage:Production", "ana", "pending")
    own = cli("approvals", "approve", made["id"], env={"DOCKYARD_USER": "ana"}, ok=False)
    assert own.returncode == 1 and "cannot approve it" in own.stderr
    early = cli("approvals", "approve", made["id"], env={"DOCKYARD_USER": "bo"}, ok=False)
    assert early.returncode == 1 and "no validation policy" in early.stderr
    shown = cli("approvals", "show", made["id"]).stdout
    assert "[FAIL] validation" in shown and "[FAIL] model card" in shown
    cli("approvals", "reject", made["id"], "-m", "no evidence", env={"DOCKYARD_USER": "bo"})
    table = cli("approvals", "list", "--model", "churn").stdout
    assert "rejected" in table and "bo" in table
    assert cli("approvals", "--help").stdout.count("approve") >= 1


def test_the_server_refuses_the_network_without_authentication() -> None:
    refused = cli("server", "--host", "0.0.0.0", "--port", "1", ok=False)
    assert refused.returncode == 2 and "not a loopback address" in refused.stderr
    assert "--insecure" in refused.stderr
    both = cli("server", "--auth", "--insecure", ok=False)
    assert both.returncode == 2 and "not both" in both.stderr
    from dockyard.cli.main import _is_loopback

    assert all(map(_is_loopback, ("127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost")))
    assert not any(map(_is_loopback, ("0.0.0.0", "::", "10.0.0.7", "example.org")))


def test_an_authenticated_server_says_how_to_make_its_first_admin(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path, args=("--auth",))
    server.start()
    try:
        assert httpx.get(server.url + "/health").status_code == 200  # stays open
        refused = httpx.get(server.url + "/api/v1/projects")
        assert refused.status_code == 401 and "DOCKYARD_TOKEN" in refused.json()["message"]
        assert httpx.get(server.url + "/experiments").status_code == 303  # to the login page
    finally:
        server.stop()
    log = server.log.read_text()
    assert "No administrator yet" in log and "dockyard roles grant NAME admin" in log
