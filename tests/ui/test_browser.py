"""The UI in a real browser: seeded runs, looked at and clicked through in Chromium.

Each test saves a screenshot under ``test-artifacts/screenshots``.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.services.browser import screenshot
from tests.ui.conftest import Seeded

pytestmark = pytest.mark.browser

# Non-background pixels of a chart's canvas: an empty chart has axes only.
CANVAS_INK = """(el) => {
  const c = el.querySelector('canvas');
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let ink = 0;
  for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0) ink++;
  return ink;
}"""

# Pixels drawn in a series colour (the first series is #1f5fbf).
SERIES_INK = """(el) => {
  const c = el.querySelector('canvas');
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 0; i < d.length; i += 4)
    if (d[i + 3] > 128 && Math.abs(d[i] - 0x1f) < 40 && Math.abs(d[i + 1] - 0x5f) < 40 && Math.abs(d[i + 2] - 0xbf) < 40) n++;
  return n;
}"""


def test_runs_table_filter_sort_and_error(page: Page, seeded: Seeded) -> None:
    page.goto(f"{seeded.url}/experiments")
    page.get_by_role("link", name=seeded.experiment_name, exact=True).click()
    rows = page.locator("#runs-table tbody tr")
    expect(rows).to_have_count(13)
    screenshot(page, "runs-table")

    page.get_by_label("Filter").fill("metrics.auc > 0.8 and params.max_depth = '8'")
    page.get_by_role("button", name="Search").click()
    expected = sorted(r.name for r in seeded.runs
                      if r.metrics["auc"].value > 0.8 and r.params["max_depth"] == "8")
    expect(rows).to_have_count(len(expected))
    assert sorted(rows.locator("td:nth-child(2) a").all_text_contents()) == expected
    assert "filter=metrics.auc" in page.url  # the state is in the link

    page.get_by_label("Filter").fill("metrics.auc >> 0.5")
    page.keyboard.press("Enter")
    alert = page.locator("#filter-error")
    expect(alert).to_contain_text("at position 13")
    expect(alert.locator("mark")).to_have_text(">")
    expect(page.get_by_label("Filter")).to_have_attribute("aria-invalid", "true")
    screenshot(page, "runs-table-bad-filter")

    page.goto(f"{seeded.url}/experiments/{seeded.experiment_id}")
    page.get_by_role("link", name="metrics.auc", exact=True).click()  # first click: highest first
    names = rows.locator("td:nth-child(2) a").all_text_contents()
    best = max(seeded.runs, key=lambda r: r.metrics["auc"].value)
    assert names[0] == best.name
    expect(page.locator('th[aria-sort="descending"]')).to_have_text("metrics.auc")


def test_column_chooser(page: Page, seeded: Seeded) -> None:
    page.goto(f"{seeded.url}/experiments/{seeded.experiment_id}")
    page.locator(".chooser summary").click()
    for box in page.locator('.chooser input[name="col"]').all():
        box.uncheck()
    page.locator('.chooser input[value="tags.team"]').check()
    page.get_by_role("button", name="Apply").click()
    headers = page.locator("#runs-table thead th").all_text_contents()
    assert [h.strip() for h in headers][-1] == "tags.team" and "metrics.auc" not in " ".join(headers)


def test_run_page_chart_and_artifacts(page: Page, seeded: Seeded) -> None:
    page.goto(f"{seeded.url}/experiments/{seeded.experiment_id}")
    page.get_by_role("link", name="run-00", exact=True).click()
    chart = page.locator("#run-charts .chart")
    expect(chart).to_have_attribute("data-points", "60")  # auc and loss, 30 steps each
    assert chart.evaluate(SERIES_INK) > 200
    page.locator('#run-charts input[name="log"]').check()
    expect(chart.locator("canvas")).to_have_count(1)
    page.locator('#run-charts select[name="x"]').select_option("time")
    expect(chart).to_have_attribute("data-series", "2")
    screenshot(page, "run-page")

    page.get_by_role("link", name="config.json", exact=True).click()
    expect(page.locator("#preview pre")).to_contain_text('"model": "forest"')
    page.get_by_role("link", name="plot.png", exact=True).click()
    image = page.locator("#preview img")
    expect(image).to_be_visible()
    assert image.evaluate("img => img.naturalWidth") == 8
    page.get_by_role("link", name="data.parquet", exact=True).click()
    expect(page.locator("#preview table tbody tr")).to_have_count(100)
    screenshot(page, "run-page-artifact")


def test_long_history_is_downsampled_and_keeps_its_spike(page: Page, seeded: Seeded) -> None:
    page.goto(f"{seeded.url}/runs/{seeded.long_run.id}")
    chart = page.locator("#run-charts .chart")
    expect(chart).to_have_attribute("data-series", "1")
    points = int(chart.get_attribute("data-points") or 0)
    assert 100 < points <= 2000
    expect(page.locator("#run-charts .chart-note")).to_contain_text("of 100,000")
    # the spike of 50, logged at one step out of 100,000, is drawn
    expect(chart).to_have_attribute("data-y-max", "50")
    screenshot(page, "run-page-long-history")


def test_compare_two_runs(page: Page, seeded: Seeded) -> None:
    page.goto(f"{seeded.url}/experiments/{seeded.experiment_id}")
    button = page.locator("#compare-button")
    expect(button).to_be_disabled()
    page.get_by_label("Select run-00").check()
    page.get_by_label("Select run-01").check()
    expect(button).to_be_enabled()
    button.click()
    expect(page.locator("h1")).to_have_text("Compare 2 runs")
    diff = page.locator("#compare-params tr.diff th")
    assert sorted(t.split(" ")[0].strip() for t in diff.all_text_contents()) == ["lr", "max_depth"]
    background = diff.first.evaluate("el => getComputedStyle(el.parentElement).backgroundColor")
    assert background not in ("rgba(0, 0, 0, 0)", "rgb(255, 255, 255)")  # highlighted
    page.get_by_label("only params that differ").check()
    expect(page.locator("#compare-params tr.same")).to_be_hidden()

    chart = page.locator("#compare-chart .chart")
    expect(chart).to_have_attribute("data-series", "2")
    assert chart.evaluate(CANVAS_INK) > 0
    expect(page.locator("#parcoords")).to_have_attribute("data-lines", "2")
    screenshot(page, "compare")

    page.get_by_label("Metric").select_option("loss")
    expect(page.locator("h3").first).to_have_text("loss over time")


def test_keyboard_reaches_the_filter(page: Page, seeded: Seeded) -> None:
    page.goto(f"{seeded.url}/experiments/{seeded.experiment_id}")
    page.get_by_label("Filter").focus()
    page.keyboard.type("params.lr = '0.01'")
    page.keyboard.press("Enter")
    expect(page.locator("#runs-table tbody tr")).to_have_count(
        sum(1 for r in seeded.runs if r.params["lr"] == "0.01"))
