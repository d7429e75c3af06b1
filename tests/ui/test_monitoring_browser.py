"""The monitoring pages in Chromium: the charts draw, the drill-down works, nothing runs
that should not.

The monitors are those of :mod:`tests.ui.test_monitoring_pages`, made once per server.
Each test saves a screenshot under ``test-artifacts/screenshots``.
"""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Page, expect

from tests.services.browser import allow_page_errors, record_dialogs, screenshot
from tests.services.server import ServerProcess
from tests.ui.test_monitoring_pages import (
    IDLE,
    ODD_FEATURE,
    SeededMonitoring,
    feature_path,
    monitor_path,
    seed_monitoring,
)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def seeded(ui_server: ServerProcess,
           tmp_path_factory: pytest.TempPathFactory) -> SeededMonitoring:
    return seed_monitoring(ui_server, tmp_path_factory.mktemp("monitoring"))


def expect_charts_drawn(page: Page) -> int:
    """Every chart of the page has a canvas, and as many series as its data."""
    charts = page.locator(".mchart")
    count = charts.count()
    assert count > 0
    expect(page.locator(".mchart canvas")).to_have_count(count)
    for i in range(count):
        box = charts.nth(i)
        data = json.loads(box.get_attribute("data-chart") or "{}")
        expect(box).to_have_attribute("data-series", str(len(data["series"])))
        assert box.locator(".u-legend .u-series").count() == len(data["series"]) + 1
    return count


def test_needs_attention_to_monitor(page: Page, seeded: SeededMonitoring) -> None:
    page.goto(f"{seeded.url}/experiments")
    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Monitoring").click()
    expect(page.locator('nav a[aria-current="page"]')).to_have_text("Monitoring")
    expect(page.locator("h1")).to_have_text("Monitoring")
    rows = page.locator("#attention-table tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.first.locator(".mstatus")).to_have_text("firing")
    expect(page.locator('#status-counts [data-status="firing"] .n')).to_have_text("1")
    screenshot(page, "monitoring-needs-attention")

    rows.first.get_by_role("link", name="churn-prod", exact=True).click()
    expect(page.locator("h1")).to_contain_text("churn-prod")
    expect(page.locator("h1 .mstatus")).to_have_text("firing")
    charts = expect_charts_drawn(page)
    assert charts == 6  # drift, accuracy, F1, label coverage, latency, throughput
    drift = page.locator("#chart-drift")
    expect(drift).to_have_attribute("data-series", "4")
    expect(drift.locator(".u-legend")).to_contain_text("prediction")
    box = drift.locator("canvas").bounding_box()
    assert box and box["width"] > 300 and box["height"] > 100
    expect(page.locator("#history-table tbody tr").first).to_contain_text("email failed")
    screenshot(page, "monitoring-monitor")

    page.locator("#windows").select_option("72")  # applies itself
    expect(page).to_have_url(f"{seeded.url}/monitoring/churn-prod?windows=72#over-time")
    expect_charts_drawn(page)


def test_feature_drill_down(page: Page, seeded: SeededMonitoring) -> None:
    page.goto(f"{seeded.url}/monitoring/churn-prod")
    page.locator("#features-table").get_by_role("link", name="age", exact=True).click()
    expect(page.locator("h1")).to_have_text("age")
    reference, current = page.locator("#hist-reference"), page.locator("#hist-current")
    expect(reference).to_be_visible()
    expect(current).to_be_visible()
    bars = int(reference.get_attribute("data-bars") or 0)
    expect(reference.locator("rect.bar")).to_have_count(bars)
    expect(current.locator("rect.bar")).to_have_count(bars)
    ref_box, cur_box = reference.bounding_box(), current.bounding_box()
    assert ref_box and cur_box and abs(ref_box["y"] - cur_box["y"]) < 5  # side by side
    assert expect_charts_drawn(page) == 3
    screenshot(page, "monitoring-feature")

    second = seeded.windows[1][0]
    page.locator("#window").select_option(str(second))
    expect(page).to_have_url(f"{seeded.url}{feature_path('churn-prod', 'age')}?window={second}")
    expect(page.locator("#feature-windows-table tr.selected")).to_have_count(1)
    expect(page.locator("#hist-current rect.bar")).to_have_count(bars)

    page.locator("#window").select_option(str(seeded.windows[0][0]))
    expect(page.locator("#hist-state")).to_contain_text("No data in this window.")
    expect(page.locator("#hist-current")).to_have_count(0)
    screenshot(page, "monitoring-feature-no-data")


def test_no_reference_and_hostile_names(page: Page, seeded: SeededMonitoring) -> None:
    dialogs = record_dialogs(page)
    page.goto(f"{seeded.url}/monitoring")
    link = page.get_by_role("link", name=IDLE, exact=True)
    expect(link).to_be_visible()
    link.click()
    expect(page.locator("h1")).to_contain_text(IDLE)
    expect(page.locator("h1 .mstatus")).to_have_text("no data")
    # no predictions: a throughput of 0 is drawn; drift and latency have none, said in words
    expect(page.locator(".mchart")).to_have_count(1)
    expect(page.locator("#chart-throughput canvas")).to_have_count(1)
    expect(page.locator("#chart-drift-panel")).to_contain_text("No values in these windows.")
    expect(page.locator("#chart-latency-panel")).to_contain_text("No values in these windows.")
    page.locator("#features-table").get_by_role("link", name=ODD_FEATURE, exact=True).click()
    assert page.url.endswith(feature_path(IDLE, ODD_FEATURE))
    expect(page.locator("h1")).to_have_text(ODD_FEATURE)
    expect(page.locator("#hist-state")).to_contain_text("No reference.")
    assert page.locator("img").count() == 0 and page.locator("h1 i").count() == 0
    screenshot(page, "monitoring-no-reference")
    assert dialogs == []


def test_unknown_monitor_page(page: Page, seeded: SeededMonitoring) -> None:
    allow_page_errors(page, r"status of 404")
    response = page.goto(f"{seeded.url}{monitor_path('no-such-monitor')}")
    assert response is not None and response.status == 404
    expect(page.locator(".error-page h1")).to_have_text("Not found")
    page.get_by_role("link", name="Back to the monitoring").click()
    expect(page.locator("h1")).to_have_text("Monitoring")
