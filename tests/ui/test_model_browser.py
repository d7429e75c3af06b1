"""The model registry's pages in Chromium: a seeded registry, clicked through.

Each test saves a screenshot under ``test-artifacts/screenshots``.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest
from playwright.sync_api import Page, expect

from tests.services.browser import allow_page_errors, record_dialogs, screenshot
from tests.ui.conftest import XSS_NAME, SeededModels

pytestmark = pytest.mark.browser


def test_models_list_to_model_to_version(page: Page, seeded_models: SeededModels) -> None:
    _, second = seeded_models.runs
    page.goto(f"{seeded_models.url}/experiments")
    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Models").click()
    expect(page.locator('nav a[aria-current="page"]')).to_have_text("Models")
    page.get_by_label("Name").fill("churn")
    page.get_by_role("button", name="Search").click()
    rows = page.locator("#models-table tbody tr")
    expect(rows).to_have_count(2)
    assert "filter=churn" in page.url  # the state is in the link
    churn = rows.filter(has=page.get_by_role("link", name="churn", exact=True))
    expect(churn.locator(".badge.alias")).to_have_text(["@challenger v1", "@champion v2"])
    screenshot(page, "models-list")

    page.get_by_role("link", name="churn", exact=True).click()
    expect(page.locator("h1")).to_have_text("churn")
    versions = page.locator("#versions-table tbody tr")
    expect(versions).to_have_count(2)
    v2 = versions.first
    expect(v2.locator("td").first).to_have_text("v2")
    expect(v2.locator(".stage")).to_have_text("Production")
    expect(v2.locator(".badge.alias")).to_have_text("@champion")
    expect(versions.nth(1).locator(".stage")).to_have_text("None")
    expect(page.locator("#aliases-table tbody tr")).to_have_count(2)
    screenshot(page, "model-page")

    page.locator("#stage").select_option("Production")  # applies itself
    expect(versions).to_have_count(1)
    assert "stage=Production" in page.url

    v2.get_by_role("link", name="v2", exact=True).click()
    expect(page.locator("h1")).to_contain_text("churn v2")
    expect(page.locator("h1 .stage")).to_have_text("Production")
    expect(page.locator("h1 .badge.alias")).to_have_text("@champion")
    inputs = page.locator("#signature-inputs tbody tr")
    expect(inputs).to_have_count(2)
    expect(inputs.first.locator("td")).to_have_text(["tenure_months", "int64", "no"])
    expect(page.locator("#model-card h3")).to_have_text("Churn v2")
    expect(page.locator("#model-card em")).to_have_text("monthly charges")
    expect(page.locator("#requirements")).to_contain_text("scikit-learn==")
    expect(page.get_by_text("matches the manifest in the artifact store")).to_be_visible()

    graph = page.locator("#lineage-graph")
    expect(graph).to_be_visible()
    expect(graph.locator("g.node")).to_have_count(6)
    assert graph.locator("path.edge").count() == 5
    box = graph.locator("path.edge").first.bounding_box()
    assert box and box["width"] > 20  # drawn, not collapsed
    expect(graph.locator("g.node.root")).to_have_attribute("data-id", "models:/churn/2")
    screenshot(page, "model-version")

    # the run node of the graph leads to the run, which lists what it registered
    graph.locator(f'g.node-run[data-id="runs:/{second.id}"] a').click()
    expect(page.locator("h1")).to_contain_text("train-2024-06")
    registered = page.locator("#registered-versions tbody tr")
    expect(registered).to_have_count(2)
    registered.get_by_role("link", name="churn v2", exact=True).click()
    expect(page.locator("h1")).to_contain_text("churn v2")


def test_version_card_and_signature(page: Page, seeded_models: SeededModels) -> None:
    page.goto(f"{seeded_models.url}/models/churn/versions/1")
    card = page.locator("#model-card")
    expect(card.locator("h3")).to_have_text("Churn model")
    expect(card.locator("table td")).to_have_text(["auc", "0.91"])
    expect(card.locator("script")).to_have_count(0)
    expect(card).to_contain_text('<script>alert("card")</script>')  # shown as text
    expect(card.locator("a")).to_have_count(0)  # the javascript: link is not a link
    outputs = page.locator("#signature-outputs tbody td")
    expect(outputs).to_have_text(["(unnamed)", "float64", "(any)"])
    expect(page.locator("#package-note")).to_contain_text("not in the artifact store")
    screenshot(page, "model-version-card")


def test_hostile_text_does_not_run(page: Page, seeded_models: SeededModels) -> None:
    dialogs = record_dialogs(page)
    page.goto(f"{seeded_models.url}/models")
    link = page.get_by_role("link", name=XSS_NAME, exact=True)
    expect(link).to_be_visible()
    link.click()
    expect(page.locator("h1")).to_have_text(XSS_NAME)
    expect(page.locator(".lead")).to_have_text('<script>alert("description")</script>')
    page.get_by_role("link", name="v1", exact=True).first.click()
    expect(page.locator("#model-card")).to_have_text("<script>alert(1)</script>")
    assert page.url.endswith(f"/models/{quote(XSS_NAME, safe='')}/versions/1")
    assert page.locator("img").count() == 0
    assert dialogs == []


def test_unknown_model_page(page: Page, seeded_models: SeededModels) -> None:
    allow_page_errors(page, r"status of 404")
    response = page.goto(f"{seeded_models.url}/models/no-such-model")
    assert response is not None and response.status == 404
    expect(page.locator(".error-page h1")).to_have_text("Not found")
    page.get_by_role("link", name="Back to the models").click()
    expect(page.locator("h1")).to_have_text("Models")
