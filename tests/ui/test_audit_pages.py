"""The audit page over HTTP: newest first, filters, pages, the state a change replaced, and
escaping. The changes are made over REST by users of their own, so the tests see only theirs.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.services.server import ServerProcess

XSS_USER = "<script>alert(1)</script>"


@dataclass
class SeededAudit:
    url: str
    ana: str
    """Twelve deployments created, then the first one updated (the newest event)."""
    bob: str
    """One deployment created."""
    first: str
    """The deployment ana created first and updated last."""
    evil: str
    """A user whose name is markup, who created one experiment."""


def seed_audit(server: ServerProcess) -> SeededAudit:
    tag = uuid.uuid4().hex[:8]
    ana, bob, evil = f"ana-{tag}", f"bob-{tag}", f"{XSS_USER}-{tag}"
    model = f"churn-{tag}"

    def spec(name: str, version: str = "1") -> dict[str, object]:
        return {"name": name, "routes": [{"model_name": model, "version": version}]}

    with httpx.Client(base_url=server.url + "/api/v1", timeout=30) as http:
        names = [f"d{i:02d}-{tag}" for i in range(12)]
        for name in names:
            r = http.post("/deployments", json=spec(name), headers={"X-Dockyard-User": ana})
            assert r.status_code == 201, r.text
        r = http.put(f"/deployments/{names[0]}", json={"spec": spec(names[0], "2")},
                     headers={"X-Dockyard-User": ana})
        assert r.status_code == 200, r.text
        assert http.post("/deployments", json=spec(f"b-{tag}"),
                         headers={"X-Dockyard-User": bob}).status_code == 201
        assert http.post("/experiments", json={"name": f"xss-{tag}"},
                         headers={"X-Dockyard-User": evil}).status_code == 201
    return SeededAudit(server.url, ana, bob, names[0], evil)


@pytest.fixture(scope="module")
def seeded(ui_server: ServerProcess) -> SeededAudit:
    return seed_audit(ui_server)


@pytest.fixture(scope="module")
def http(seeded: SeededAudit) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=seeded.url, timeout=30) as client:
        yield client


def rows(page: str) -> list[tuple[str, str]]:
    """(actor, action) of each row of the audit table."""
    return re.findall(r'<tr data-id="\d+" data-actor="([^"]*)">\s*<td class="num">[^<]*</td>'
                      r'\s*<td>[^<]*</td>\s*<td>([^<]*)</td>', page)


def test_newest_first_with_what_was_replaced(http: httpx.Client, seeded: SeededAudit) -> None:
    page = http.get("/audit", params={"actor": seeded.ana, "resource_id": seeded.first})
    assert page.status_code == 200
    assert rows(page.text) == [(seeded.ana, "update_deployment"),
                               (seeded.ana, "create_deployment")]
    text = page.text
    assert '<code class="before"' in text and "revision=1" in text
    assert f'value="{seeded.ana}"' in text and f'value="{seeded.first}"' in text
    assert 'aria-current="page"' in text and ">Audit</a>" in text


def test_filters_by_user_type_and_time(http: httpx.Client, seeded: SeededAudit) -> None:
    bobs = http.get("/audit", params={"actor": seeded.bob}).text
    assert rows(bobs) == [(seeded.bob, "create_deployment")]
    assert rows(http.get("/audit", params={"actor": seeded.bob,
                                           "resource_type": "experiment"}).text) == []
    assert "No changes match these filters" in http.get(
        "/audit", params={"actor": seeded.bob, "since": "2999-01-01T00:00"}).text
    assert rows(http.get("/audit", params={"actor": seeded.bob,
                                           "until": "2000-01-01"}).text) == []
    wide = http.get("/audit", params={"actor": seeded.bob, "since": "2000-01-01T00:00",
                                      "until": "2999-01-01T00:00"}).text
    assert rows(wide) == [(seeded.bob, "create_deployment")]
    assert 'value="2000-01-01T00:00"' in wide


def test_pages_follow_the_ids(http: httpx.Client, seeded: SeededAudit) -> None:
    first = http.get("/audit", params={"actor": seeded.ana, "size": 10}).text
    assert len(rows(first)) == 10 and rows(first)[0] == (seeded.ana, "update_deployment")
    older = re.search(r'<a href="([^"]+)" rel="next">Older events</a>', first)
    assert older and 'rel="first"' not in first
    second = http.get(older.group(1).replace("&amp;", "&")).text
    assert len(rows(second)) == 3 and 'rel="next"' not in second
    ids = [int(i) for page in (first, second) for i in re.findall(r'data-id="(\d+)"', page)]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 13
    assert f'<a href="/audit?actor={seeded.ana}&amp;size=10" rel="first">Newest</a>' in second


def test_bad_input_is_a_400(http: httpx.Client) -> None:
    for params in ({"since": "yesterday"}, {"until": "05/01/2026"}, {"size": 7},
                   {"after": "x"}):
        r = http.get("/audit", params=params)
        assert r.status_code == 400, params
        assert "<!doctype html>" in r.text.lower()


def test_everything_is_escaped(http: httpx.Client, seeded: SeededAudit) -> None:
    page = http.get("/audit", params={"actor": seeded.evil}).text
    assert XSS_USER not in page
    escaped = seeded.evil.replace("<", "&lt;").replace(">", "&gt;")
    assert rows(page) == [(escaped, "create_experiment")]
    assert page.count(escaped) == 3 and f'value="{escaped}"' in page  # form, row, cell
