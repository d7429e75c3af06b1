"""``dockyard audit list`` and ``dockyard audit export``, on the embedded store and a server."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx

from dockyard.client import Client
from dockyard.entities import AuditEvent
from tests.cli.test_cli import cli
from tests.services.server import ServerProcess

T0 = 1_777_593_600_000  # 2026-05-01T00:00:00Z


def _seed() -> list[AuditEvent]:
    with Client() as client:
        return [client.store.record_audit_event(AuditEvent(
            time=T0 + i * 3_600_000, actor=actor, action=action, resource_type="deployment",
            resource_id=rid, request={"revision": i + 1}, before=before))
            for i, (actor, action, rid, before) in enumerate([
                ("ana", "create_deployment", "churn", None),
                ("bob", "update_deployment", "churn", {"revision": 1, "status": "healthy"}),
                ("ana", "create_deployment", "fraud", None),
                ("ana", "delete_deployment", "churn", {"revision": 2}),
            ])]


def test_list_newest_first_with_filters() -> None:
    events = _seed()
    listed = json.loads(cli("audit", "list", "--json").stdout)
    assert [e["id"] for e in listed] == [e.id for e in reversed(events)]
    mine = json.loads(cli("audit", "list", "--user", "ana", "--resource-id", "churn",
                          "--json").stdout)
    assert [e["action"] for e in mine] == ["delete_deployment", "create_deployment"]
    assert json.loads(cli("audit", "list", "-n", "1", "--json").stdout)[0]["id"] == events[-1].id
    shown = cli("audit", "list", "--user", "bob").stdout
    assert "update_deployment" in shown and "deployment churn" in shown
    assert 'status="healthy"' in shown and "ana" not in shown


def test_export_to_a_file_and_standard_output(tmp_path: Path) -> None:
    events = _seed()
    out = tmp_path / "trail.jsonl"
    done = cli("audit", "export", "--since", "2026-05-01T01:00", "--until", str(T0 + 3 * 3_600_000),
               "-o", str(out))
    assert "Wrote 2 audit events" in done.stderr
    lines = [AuditEvent.model_validate_json(line) for line in out.read_text().splitlines()]
    assert lines == events[1:3]
    assert lines[0].before == {"revision": 1, "status": "healthy"}
    whole = cli("audit", "export", "--resource-type", "deployment").stdout.splitlines()
    assert [AuditEvent.model_validate_json(line) for line in whole] == events
    assert cli("audit", "export", "--since", "2026-05-02").stdout == ""


def test_bad_times_are_one_clear_line() -> None:
    for args in (["list", "--since", "yesterday"], ["export", "--until", "05/01/2026"]):
        out = cli("audit", *args, ok=False)
        assert out.returncode == 2 and "ISO date or time" in out.stderr
        assert "Traceback" not in out.stderr
    assert "--resource-type" in cli("audit", "export", "--help").stdout


def test_export_from_a_server_in_pages(dockyard_server: ServerProcess) -> None:
    user = f"exporter-{uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=dockyard_server.url + "/api/v1",
                      headers={"X-Dockyard-User": user}) as http:
        for i in range(5):
            assert http.post("/experiments", json={"name": f"{user}-{i}"}).status_code == 201
    with Client(dockyard_server.url) as client:
        paged = list(client.iter_audit_events(actor=user, page_size=2))
        assert [e.request["name"] for e in paged] == [f"{user}-{i}" for i in range(5)]
    out = cli("audit", "export", "--user", user, "--uri", dockyard_server.url).stdout
    assert [json.loads(line)["id"] for line in out.splitlines()] == [e.id for e in paged]
