"""The deployment pages over HTTP, and deployments in the lineage graph."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from playwright.sync_api import Page, expect
from sklearn.linear_model import LinearRegression

import dockyard
from dockyard.client import Client
from dockyard.deploy import deployments as ops
from dockyard.entities.deployment import DeploymentSpec, Route
from dockyard.entities.monitoring import MonitorSpec
from tests.services.browser import screenshot
from tests.services.server import ServerProcess


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Client, httpx.Client]]:
    """A server whose record has model ``churn`` (v1, v2) deployed twice, and a monitor."""
    workdir: Path = tmp_path_factory.mktemp("deployment-pages")
    server = ServerProcess(workdir)
    server.start()
    client = Client(server.url)
    dockyard.set_tracking_uri(server.url)
    X = np.random.default_rng(0).normal(size=(30, 2))
    for _ in range(2):
        with dockyard.start_run():
            info = dockyard.log_model(LinearRegression().fit(X, X[:, 0]), "model",
                                      input_example=X[:2])
        dockyard.register_model(info.uri, "churn")
    dockyard.set_tracking_uri(None)
    ops.deploy(client, DeploymentSpec(name="churn-prod", environment="prod", target="kubernetes",
                                      routes=[Route(model_name="churn", version="1")]))
    ops.canary(client, "churn-prod", "models:/churn/2", 20)
    ops.deploy(client, DeploymentSpec(name="churn-dev", routes=[
        Route(model_name="churn", version="2")]))
    client.store.set_deployment_status("churn-dev", "healthy", "serving churn/2",
                                       observed_revision=1, endpoint="http://127.0.0.1:9999")
    client.create_monitor(MonitorSpec(name="churn-prod-watch", model_name="churn",
                                      deployment="churn-prod"))
    with httpx.Client(base_url=server.url, timeout=30) as http:
        yield client, http
    client.close()
    server.stop()


def text(fragment: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", fragment))).strip()


def test_inventory_lists_what_runs_where(served: tuple[Client, httpx.Client]) -> None:
    _, http = served
    r = http.get("/deployments")
    assert r.status_code == 200
    assert '<a href="/deployments" aria-current="page">Deployments</a>' in r.text
    rows = re.findall(r'<tr data-deployment="([^"]+)" data-status="([^"]+)">(.*?)</tr>', r.text,
                      re.DOTALL)
    assert [(name, status) for name, status, _ in rows] == [
        ("churn-dev", "healthy"), ("churn-prod", "pending")]
    prod = text(rows[1][2])
    assert "churn v1 stable 80%" in prod and "churn v2 canary 20%" in prod
    assert "kubernetes" in prod and "prod" in prod
    assert 'href="/models/churn/versions/1"' in rows[1][2]
    only_prod = http.get("/deployments", params={"environment": "prod"}).text
    assert 'data-deployment="churn-prod"' in only_prod
    assert 'data-deployment="churn-dev"' not in only_prod
    none = http.get("/deployments", params={"model": "fraud"}).text
    assert "No deployment matches these filters" in none


def test_a_deployment_page_tells_its_story(served: tuple[Client, httpx.Client]) -> None:
    _, http = served
    r = http.get("/deployments/churn-prod")
    assert r.status_code == 200
    history = re.search(r'<table[^>]*id="history-table".*?</table>', r.text, re.DOTALL)
    assert history
    actions = re.findall(r'<tr data-action="([^"]+)">', history.group(0))
    assert actions == ["canary", "create"]
    assert "canary churn/2 at 20%" in text(history.group(0))
    routes = text(re.search(r'id="routes-table".*?</table>', r.text, re.DOTALL).group(0))
    assert "churn v1 stable 80%" in routes and "churn v2 canary 20%" in routes


def test_bad_deployment_urls(served: tuple[Client, httpx.Client]) -> None:
    _, http = served
    missing = http.get("/deployments/nope")
    assert missing.status_code == 404 and "no deployment is named" in missing.text
    bad = http.get("/deployments/Not_A_Name")
    assert bad.status_code == 400 and "deployment name" in html.unescape(bad.text)
    env = http.get("/deployments", params={"environment": "qa"})
    assert env.status_code == 400 and "not one of dev, staging, prod" in html.unescape(env.text)


def test_lineage_goes_down_to_deployments_and_monitors(
        served: tuple[Client, httpx.Client]) -> None:
    client, http = served
    graph = client.get_lineage("models:/churn/2")
    nodes = {n.id: n for n in graph.nodes}
    assert {"deployment:churn-prod", "deployment:churn-dev"} <= set(nodes)
    edges = {(e.source, e.target, e.relation) for e in graph.edges}
    assert ("models:/churn/2", "deployment:churn-prod", "deployed_to") in edges
    monitor = next(n for n in graph.nodes if n.type == "monitor")
    assert ("deployment:churn-prod", monitor.id, "watched_by") in edges
    first = {n.id for n in client.get_lineage("models:/churn/1").nodes}
    assert "deployment:churn-prod" in first and "deployment:churn-dev" not in first
    page = http.get("/models/churn/versions/2").text
    assert 'href="/deployments/churn-prod"' in page and 'href="/monitoring/churn-prod-watch"' in page


@pytest.mark.browser
def test_deployments_in_the_browser(page: Page, served: tuple[Client, httpx.Client]) -> None:
    url = str(served[1].base_url).rstrip("/")
    page.goto(f"{url}/experiments")
    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Deployments").click()
    expect(page.locator('nav a[aria-current="page"]')).to_have_text("Deployments")
    rows = page.locator("#deployments-table tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(1).locator(".traffic span")).to_have_text(["80%", "20%"])
    width = rows.nth(1).locator(".traffic .canary").bounding_box()
    total = rows.nth(1).locator(".traffic").bounding_box()
    assert width and total and 0.1 < width["width"] / total["width"] < 0.3
    screenshot(page, "deployments")
    page.locator("#deployment-filters select").select_option("prod")
    page.locator("#deployment-filters button").click()
    expect(rows).to_have_count(1)
    rows.first.get_by_role("link", name="churn-prod").click()
    expect(page.locator("h1")).to_contain_text("churn-prod")
    expect(page.locator("#routes-table tbody tr")).to_have_count(2)
    expect(page.locator("#history-table tbody tr").first).to_contain_text("canary churn/2 at 20%")
    screenshot(page, "deployment")
    page.locator("#routes-table").get_by_role("link", name="churn v2").click()
    expect(page.locator("h1")).to_contain_text("churn")
