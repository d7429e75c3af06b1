"""Validations in the UI: a version's page lists its validation runs, and the report opens
as a sandboxed page; over HTTP and in Chromium."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import httpx
import pytest
from playwright.sync_api import Page, expect
from sklearn.datasets import load_breast_cancer
from sklearn.tree import DecisionTreeClassifier

import dockyard
from tests.services.browser import screenshot
from tests.services.server import ServerProcess


@dataclass
class Validated:
    url: str
    name: str
    run_id: str


@pytest.fixture(scope="module")
def validated(ui_server: ServerProcess) -> Validated:
    name = f"cancer-{uuid.uuid4().hex[:8]}"
    x, y = load_breast_cancer(return_X_y=True, as_frame=True)
    dockyard.set_tracking_uri(ui_server.url)
    try:
        dockyard.set_experiment(f"validate-{name}")
        with dockyard.start_run():
            info = dockyard.log_model(DecisionTreeClassifier(max_depth=2).fit(x[:400], y[:400]),
                                      "model", input_example=x[:5])
        dockyard.register_model(info.uri, name)
        dockyard.Client(ui_server.url).set_model_policy(name, ["accuracy >= 0.99"])
        report = dockyard.validate(f"models:/{name}/1", x[400:].assign(label=y[400:]), "label",
                                   cohorts=[{"column": "mean radius", "bins": 3}],
                                   explain={"n_repeats": 2, "shap": False},
                                   policy=["accuracy >= 0.99"])
    finally:
        dockyard.set_tracking_uri(None)
    assert report.passed is False and report.run_id
    return Validated(ui_server.url, name, report.run_id)


def test_the_report_is_served_sandboxed(validated: Validated) -> None:
    answer = httpx.get(f"{validated.url}/runs/{validated.run_id}/validation", timeout=30)
    assert answer.status_code == 200
    assert answer.headers["content-security-policy"].startswith("sandbox;")
    assert "script-src" not in answer.headers["content-security-policy"]
    assert 'id="verdict">failed' in answer.text and "accuracy &gt;= 0.99" in answer.text
    other = httpx.get(f"{validated.url}/runs/{'0' * 32}/validation", timeout=30)
    assert other.status_code == 404


@pytest.mark.browser
def test_the_version_page_lists_the_validation_and_opens_its_report(
        page: Page, validated: Validated) -> None:
    page.goto(f"{validated.url}/models/{validated.name}/versions/1")
    rows = page.locator("#validation-runs tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("failed")
    expect(rows.first).to_contain_text("holdout, cohorts")
    expect(page.locator("#gate")).to_contain_text("This version failed it")
    screenshot(page, "version-validations")
    with page.context.expect_page() as opened:
        rows.first.get_by_role("link", name="open the report").click()
    report = opened.value
    expect(report.locator("#verdict")).to_have_text("failed")
    expect(report.locator("#check-cohorts")).to_be_visible()
    screenshot(report, "validation-report")
