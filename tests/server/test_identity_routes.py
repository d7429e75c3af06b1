"""The users and tokens routes: audit events, and what never leaves the server."""

from __future__ import annotations

import uuid

import httpx

from tests.services.server import ServerProcess


def test_token_routes_are_audited_without_the_secret(dockyard_server: ServerProcess) -> None:
    name = f"ci-{uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=dockyard_server.url + "/api/v1") as http:
        assert http.post("/users", json={"name": name, "kind": "service"},
                         headers={"X-Dockyard-User": "admin"}).status_code == 201
        made = http.post("/tokens", json={"user": name, "name": "deploys"})
        assert made.status_code == 201
        secret, token_id = made.json()["secret"], made.json()["id"]
        listed = http.get("/tokens", params={"user": name}).text
        assert secret not in listed and "digest" not in listed
        who = http.get("/whoami", headers={"Authorization": f"Bearer {secret}"})
        assert who.status_code == 200 and who.json()["name"] == name
        assert http.post(f"/tokens/{token_id}/revoke").status_code == 200
        refused = http.get("/whoami", headers={"Authorization": f"Bearer {secret}"})
        assert refused.status_code == 401
        assert refused.json()["error_code"] == "UNAUTHENTICATED"
        assert http.get("/whoami").status_code == 401
        bad = http.post("/tokens", json={"user": name, "expires_in_seconds": "soon"})
        assert bad.status_code == 400
        events = [e for rid in (name, token_id) for e in http.get(
            "/audit-events", params={"resource_id": rid}).json()["items"]]
        assert secret not in str(events)
        actions = {(e["action"], e["resource_type"], e["resource_id"]) for e in events}
        assert actions == {("create_user", "user", name), ("create_token", "token", token_id),
                           ("revoke_token", "token", token_id)}
