"""The dataset pages over HTTP and in Chromium: the list, a dataset's versions, one version
(schema, profile, histograms, checks, runs) and the diff of two versions."""

from __future__ import annotations

import html
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import numpy as np
import pandas as pd
import pytest
from playwright.sync_api import Page, expect

import dockyard
from dockyard.client import Client
from dockyard.entities.dataset import DatasetCheck
from tests.services.browser import screenshot
from tests.services.server import ServerProcess

NAME = "churn-data"
N = 400


@dataclass
class SeededData:
    url: str
    run_id: str


def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Version 1, and version 2: ages 20 years older and a new column ``region``."""
    rng = np.random.default_rng(7)
    first = pd.DataFrame({"age": rng.normal(40, 8, N),
                          "plan": rng.choice(["basic", "pro", "team"], N, p=[0.6, 0.3, 0.1]),
                          "income": rng.normal(50, 10, N)})
    second = first.copy()
    second["age"] = second["age"] + 20
    second["region"] = rng.choice(["eu", "us"], N)
    return first, second


@pytest.fixture(scope="module")
def seeded_data(ui_server: ServerProcess) -> SeededData:
    first, second = frames()
    dockyard.set_tracking_uri(ui_server.url)
    try:
        dockyard.log_dataset(first, NAME, description="accounts of May")
        v2 = dockyard.log_dataset(second, NAME, tags={"month": "2024-06"})
        with dockyard.start_run("train-on-v2") as run:
            dockyard.log_input(v2, context="training")
    finally:
        dockyard.set_tracking_uri(None)
    client = Client(ui_server.url)
    # an older result whose report lacks most fields: the page reads what is there
    client.store.save_dataset_check(DatasetCheck(
        name=NAME, version=2, suite="legacy", passed=False, failed=2, report={"results": [
            {"passed": False}, "not a result",
            {"passed": False, "sample": "not rows", "error": "column 'zip' not found"}]}))
    time.sleep(0.01)
    client.store.save_dataset_check(DatasetCheck(
        name=NAME, version=2, suite="accounts", passed=False, failed=1, report={
            "suite": "accounts", "passed": False, "rows": N, "results": [
                {"description": "age is between 0 and 60", "passed": False, "failing": 211,
                 "checked": N, "sample": [{"age": 77.25, "plan": "pro"}, {"age": 61.5,
                                                                          "plan": None}],
                 "observed": {}, "error": None},
                {"description": "plan is not null", "passed": True, "failing": 0,
                 "checked": N}]}))
    client.close()
    return SeededData(ui_server.url, run.id)


@pytest.fixture(scope="module")
def http(seeded_data: SeededData) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=seeded_data.url, timeout=30) as client:
        yield client


def text(fragment: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", fragment))).strip()


def grab(pattern: str, page: str) -> str:
    found = re.search(pattern, page, re.DOTALL)
    assert found, pattern
    return found.group(1)


def rows_of(page: str, table_id: str, attr: str) -> dict[str, str]:
    """The body rows of a table by the value of their ``data-<attr>``."""
    table = grab(rf'(<table[^>]*id="{table_id}".*?</table>)', page)
    return {html.unescape(key): row for key, row in
            re.findall(rf'<tr[^>]* data-{attr}="([^"]+)"[^>]*>(.*?)</tr>', table, re.DOTALL)}


def test_the_list_shows_each_dataset_with_its_latest_version(http: httpx.Client) -> None:
    r = http.get("/data")
    assert r.status_code == 200
    assert '<a href="/data" aria-current="page">Data</a>' in r.text
    row = rows_of(r.text, "datasets-table", "dataset")[NAME]
    assert text(row).split()[-6:-2] == ["v2", f"{N}", "4", "stored"]
    assert f'href="/data/{NAME}/2"' in row and f'href="/data/{NAME}"' in row
    assert NAME in rows_of(http.get("/data", params={"q": "CHURN"}).text, "datasets-table",
                           "dataset")
    none = http.get("/data", params={"q": "no-such"}).text
    assert "datasets-table" not in none and "No dataset name contains “no-such”" in none


def test_a_dataset_lists_its_versions_newest_first(http: httpx.Client) -> None:
    page = http.get(f"/data/{NAME}").text
    versions = rows_of(page, "versions-table", "version")
    assert list(versions) == ["2", "1"]
    assert 'data-check="failed"' in versions["2"] and "accounts, 1 failing" in text(versions["2"])
    assert "not checked" in text(versions["1"])
    assert text(versions["1"]).split()[1:4] == [f"{N}", "3", "stored"]
    form = grab(r'(<form[^>]*id="diff-form".*?</form>)', page)
    assert f'action="/data/{NAME}/diff"' in form
    assert '<option value="1" selected>' in grab(r'(<select id="diff-a".*?</select>)', form)
    assert '<option value="2" selected>' in grab(r'(<select id="diff-b".*?</select>)', form)


def test_a_version_page_shows_schema_profile_checks_and_runs(
        http: httpx.Client, seeded_data: SeededData) -> None:
    page = http.get(f"/data/{NAME}/2").text
    overview = text(grab(r'(<dl class="overview" id="dataset-overview">.*?</dl>)', page))
    assert f"datasets:/{NAME}/2" in overview and f"{N} × 4 columns" in overview
    load = html.unescape(grab(r'<pre id="load-code">(.*?)</pre>', page))
    assert f'frame = dockyard.load_dataset("{NAME}@2")' in load
    schema = rows_of(page, "schema-table", "column")
    assert list(schema) == ["age", "plan", "income", "region"]
    age = text(schema["age"]).split()
    assert age[:4] == ["age", "double", "yes", "numeric"] and age[4] == "0.0%"
    assert 55 < float(age[6]) < 65  # the mean, 20 years older than in v1
    assert "basic" in text(schema["plan"]) and "categorical" in text(schema["plan"])

    svgs = re.findall(r'(<svg id="hist-\d+".*?</svg>)', page, re.DOTALL)
    assert len(svgs) == 4
    for svg in svgs:
        bars = int(grab(r'data-bars="(\d+)"', svg))
        assert bars >= 2 and svg.count('<rect class="bar') == bars
        assert f'data-rows="{N}"' in svg
    plan = grab(r'<figure data-column="plan">(.*?)</figure>', page)
    assert plan.count('<rect class="bar') == 4  # basic, pro, team and (other)

    check = grab(r'(<article class="check" data-passed="false".*?</article>)', page)
    assert "age is between 0 and 60" in text(check) and "211 of 400 failing" in text(check)
    sample = grab(r'(<table class="grid compact sample">.*?</table>)', check)
    assert text(sample).split() == ["2", "failing", "rows", "age", "plan", "77.25", "pro",
                                    "61.5", "null"]
    assert "plan is not null" not in check  # only the failing checks are spelled out
    suites = re.findall(r'<article class="check" data-passed="false" data-suite="([^"]+)">',
                        page)
    assert suites == ["accounts", "legacy"]  # latest first
    legacy = text(grab(r'(<article[^>]*data-suite="legacy">.*?</article>)', page))
    assert "failed a check" in legacy and "error a check : column 'zip' not found" in legacy

    runs = rows_of(page, "runs-table", "run")
    assert list(runs) == [seeded_data.run_id]
    assert f'href="/runs/{seeded_data.run_id}"' in runs[seeded_data.run_id]
    assert "train-on-v2" in text(runs[seeded_data.run_id])
    assert "training" in text(runs[seeded_data.run_id])
    lineage = grab(r'(<svg id="lineage-graph".*?</svg>)', page)
    assert f'data-id="datasets:/{NAME}/2"' in lineage and 'data-id="runs:/' in lineage


def test_a_version_without_checks_or_runs(http: httpx.Client) -> None:
    page = http.get(f"/data/{NAME}/1").text
    assert 'id="checks-empty"' in page and 'id="runs-empty"' in page
    assert "accounts of May" in page
    assert len(re.findall(r'<svg id="hist-\d+"', page)) == 3
    latest = http.get(f"/data/{NAME}/latest", follow_redirects=False)
    assert latest.status_code == 307 and latest.headers["location"] == f"/data/{NAME}/2"


def test_the_diff_shows_rows_schema_and_drift(http: httpx.Client) -> None:
    page = http.get(f"/data/{NAME}/diff", params={"a": 1, "b": 2}).text
    assert grab(r"<h1>(.*?)</h1>", page) == f"{NAME}: v1 → v2"
    counts = text(grab(r'(<dl class="overview" id="diff-rows">.*?</dl>)', page))
    assert f"Rows {N} → {N} (+0, +0.0%)" in counts and "Columns 3 → 4" in counts
    assert "1 of 3 columns" in counts
    changes = rows_of(page, "schema-table", "column")
    assert list(changes) == ["region"] and 'data-change="added"' in page
    drift = re.findall(r'<tr data-column="([^"]+)" data-drifted="([^"]+)">(.*?)</tr>',
                       grab(r'(<table[^>]*id="drift-table".*?</table>)', page), re.DOTALL)
    assert drift[0][:2] == ("age", "yes")
    assert {c: d for c, d, _ in drift} == {"age": "yes", "plan": "no", "income": "no"}
    means = text(drift[0][2]).split()
    assert 35 < float(means[-3]) < 45 and 55 < float(means[-1]) < 65
    pairs = re.findall(r'<div class="hist-pair" id="diff-hist-\d+" data-column="([^"]+)">(.*?)'
                       r'(?=<div class="hist-pair"|</section>)', page, re.DOTALL)
    assert [c for c, _ in pairs] == [c for c, _, _ in drift]
    for _, pair in pairs:
        a = grab(r'(<svg id="diff-hist-a-\d+".*?</svg>)', pair)
        b = grab(r'(<svg id="diff-hist-b-\d+".*?</svg>)', pair)
        assert a.count('<rect class="bar') == b.count('<rect class="bar') >= 2
    # a version against itself: nothing changed, nothing drifted
    same = http.get(f"/data/{NAME}/diff", params={"a": 2, "b": 2}).text
    assert 'id="schema-same"' in same and 'data-drifted="yes"' not in same


@pytest.mark.parametrize("path, status, message", [
    ("/data/no-such-data", 404, "dataset 'no-such-data' does not exist"),
    (f"/data/{NAME}/9", 404, f"dataset '{NAME}' has no version 9"),
    (f"/data/{NAME}/first", 400, f"'first' is not a version of dataset '{NAME}'"),
    (f"/data/{NAME}/0", 400, "versions are numbered 1, 2, 3"),
    ("/data/no-such-data/1", 404, "dataset 'no-such-data' does not exist"),
    (f"/data/{NAME}/diff?a=1&b=7", 404, f"dataset '{NAME}' has no version 7"),
    (f"/data/{NAME}/diff?a=1&b=two", 400, f"b='two' is not a version of dataset '{NAME}'"),
    (f"/data/{NAME}/diff", 400, "choose two versions"),
    ("/data/no-such-data/diff?a=1&b=2", 404, "dataset 'no-such-data' does not exist"),
])
def test_bad_urls_are_html_error_pages(http: httpx.Client, path: str, status: int,
                                       message: str) -> None:
    r = http.get(path)
    assert r.status_code == status and r.headers["content-type"].startswith("text/html")
    assert message in html.unescape(r.text)
    assert '<a href="/data">Back to the data</a>' in r.text


@pytest.mark.browser
def test_from_the_list_to_a_version_and_its_diff(page: Page, seeded_data: SeededData) -> None:
    page.goto(f"{seeded_data.url}/experiments")
    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Data").click()
    expect(page.locator("h1")).to_have_text("Datasets")
    page.locator("#q").fill("churn-d")
    page.locator("#dataset-filter button").click()
    row = page.locator(f'#datasets-table tr[data-dataset="{NAME}"]')
    expect(row).to_contain_text("v2")
    row.get_by_role("link", name=NAME).click()
    expect(page.locator("#versions-table tbody tr")).to_have_count(2)
    page.locator("#versions-table").get_by_role("link", name="v2").click()
    expect(page.locator("h1")).to_contain_text(f"{NAME} v2")
    expect(page.locator("#schema-table tbody tr")).to_have_count(4)
    expect(page.locator("#histograms svg.hist")).to_have_count(4)
    bars = page.locator('#histograms figure[data-column="plan"] rect.bar')
    expect(bars).to_have_count(4)
    tallest = max(bars.nth(i).bounding_box()["height"] for i in range(4))  # type: ignore[index]
    assert tallest > 50  # drawn to scale, not flat
    expect(page.locator('.check[data-passed="false"] .sample tbody tr')).to_have_count(2)
    expect(page.locator("#runs-table")).to_contain_text("train-on-v2")
    screenshot(page, "dataset-version")

    page.locator("h1").scroll_into_view_if_needed()
    page.get_by_role("link", name=NAME, exact=True).first.click()
    page.locator("#diff-a").select_option("1")
    page.locator("#diff-b").select_option("2")
    page.locator("#diff-form button").click()
    expect(page).to_have_url(re.compile(rf"/data/{NAME}/diff\?a=1&b=2$"))
    expect(page.locator("h1")).to_have_text(f"{NAME}: v1 → v2")
    expect(page.locator('#schema-table tr[data-change="added"]')).to_contain_text("region")
    expect(page.locator("#drift-table tbody tr").first).to_have_attribute("data-drifted", "yes")
    expect(page.locator(".hist-pair")).to_have_count(3)
    first = page.locator(".hist-pair").first
    expect(first.locator("svg.hist")).to_have_count(2)
    boxes = [first.locator("svg.hist").nth(i).bounding_box() for i in range(2)]
    assert boxes[0] and boxes[1] and boxes[0]["y"] == boxes[1]["y"]  # side by side
    screenshot(page, "dataset-diff")
