"""The UI's pages over HTTP: what they show, and how they answer bad input."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest

from tests.ui.conftest import Seeded


@pytest.fixture(scope="module")
def http(seeded: Seeded) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=seeded.url, timeout=30) as client:
        yield client


def run_names(html: str) -> list[str]:
    return re.findall(r'<a href="/runs/[0-9a-f]{32}">([^<]+)</a>', html)


def test_home_goes_to_the_experiments(http: httpx.Client, seeded: Seeded) -> None:
    r = http.get("/", follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"] == "/experiments"
    page = http.get("/experiments").text
    assert f'href="/experiments/{seeded.experiment_id}">{seeded.experiment_name}</a>' in page
    for section in ("Experiments", "Models", "Deployments", "Monitoring", "Data", "Audit"):
        assert f">{section}</a>" in page


def test_runs_table_lists_every_run_with_columns(http: httpx.Client, seeded: Seeded) -> None:
    page = http.get(f"/experiments/{seeded.experiment_id}").text
    assert sorted(run_names(page)) == sorted([r.name for r in seeded.runs] + ["long-history"])
    for column in ("metrics.auc", "metrics.loss", "params.lr", "params.max_depth"):
        assert f">{column}</a></th>" in page
    assert "FAILED" in page and "FINISHED" in page


def test_filter_with_the_grammar(http: httpx.Client, seeded: Seeded) -> None:
    text = "metrics.auc > 0.8 and params.max_depth = '8'"
    page = http.get(f"/experiments/{seeded.experiment_id}", params={"filter": text}).text
    expected = {r.name for r in seeded.runs
                if r.metrics["auc"].value > 0.8 and r.params["max_depth"] == "8"}
    assert expected and set(run_names(page)) == expected
    assert 'value="metrics.auc &gt; 0.8 and params.max_depth = &#39;8&#39;"' in page


def test_bad_filter_points_at_the_token(http: httpx.Client, seeded: Seeded) -> None:
    # the page itself is fine: it shows the error where the filter was typed
    r = http.get(f"/experiments/{seeded.experiment_id}", params={"filter": "metrics.auc >> 0.5"})
    assert r.status_code == 200
    assert 'aria-invalid="true"' in r.text and 'role="alert"' in r.text
    assert "at position 13" in r.text
    assert "metrics.auc &gt;<mark>&gt;</mark> 0.5" in r.text
    r = http.get(f"/experiments/{seeded.experiment_id}", params={"order": "metrics.auc sideways"})
    assert r.status_code == 200 and "<mark>sideways</mark>" in r.text


def test_sort_by_a_metric_both_ways(http: httpx.Client, seeded: Seeded) -> None:
    by_auc = sorted(seeded.runs, key=lambda r: r.metrics["auc"].value)
    page = http.get(f"/experiments/{seeded.experiment_id}", params={"order": "metrics.auc DESC"}).text
    assert run_names(page)[:12] == [r.name for r in reversed(by_auc)]
    assert 'aria-sort="descending"><a href="/experiments/' in page
    # the header link turns the order around
    link = re.search(r'aria-sort="descending"><a href="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    page = http.get(link.replace("&amp;", "&")).text
    assert run_names(page)[:12] == [r.name for r in by_auc]


def test_sort_by_duration_and_status(http: httpx.Client, seeded: Seeded) -> None:
    page = http.get(f"/experiments/{seeded.experiment_id}", params={"order": "duration DESC"}).text
    assert len(run_names(page)) == 13
    page = http.get(f"/experiments/{seeded.experiment_id}", params={"order": "status"}).text
    assert run_names(page)[0] == "run-05"  # FAILED sorts before FINISHED


def test_column_chooser(http: httpx.Client, seeded: Seeded) -> None:
    page = http.get(f"/experiments/{seeded.experiment_id}", params=[("col", "params.lr"), ("col", "tags.team")]).text
    headers = re.findall(r">((?:metrics|params|tags)\.[^<]+)</a></th>", page)
    assert headers == ["params.lr", "tags.team"]
    assert 'value="metrics.auc">' in page  # still offered in the chooser


def test_paging(http: httpx.Client, seeded: Seeded) -> None:
    first = http.get(f"/experiments/{seeded.experiment_id}", params={"size": 10}).text
    assert len(run_names(first)) == 10
    next_url = re.search(r'<a href="([^"]+)" rel="next">', first).group(1)  # type: ignore[union-attr]
    second = http.get(next_url.replace("&amp;", "&")).text
    assert len(run_names(second)) == 3
    assert not set(run_names(first)) & set(run_names(second))
    assert 'rel="next"' not in second and ">First page</a>" in second


@pytest.mark.parametrize("params, message", [
    ({"size": "7"}, "size must be one of 10, 25, 50, 100, 200"),
    ({"size": "many"}, "size"),
    ({"col": "auc"}, "is not metrics.&lt;key&gt;"),
])
def test_runs_table_bad_input(http: httpx.Client, seeded: Seeded, params: dict[str, str], message: str) -> None:
    r = http.get(f"/experiments/{seeded.experiment_id}", params=params)
    assert r.status_code == 400 and r.headers["content-type"].startswith("text/html")
    assert message in r.text and "Traceback" not in r.text


def test_empty_states(http: httpx.Client, seeded: Seeded) -> None:
    page = http.get(f"/experiments/{seeded.empty_experiment_id}").text
    assert "No runs yet." in page and "dockyard.start_run()" in page
    page = http.get(f"/experiments/{seeded.experiment_id}", params={"filter": "params.lr = 'none'"}).text
    assert "No run matches this filter." in page


def test_run_page(http: httpx.Client, seeded: Seeded) -> None:
    run = seeded.run("run-00")
    page = http.get(f"/runs/{run.id}").text
    assert run.id in page and "run-00" in page
    for text in ("max_depth", "optimizer", "adam", "team", "core", "auc", "loss", run.python_version):
        assert text in page
    assert 'id="run-charts"' in page and 'value="auc" checked' in page
    for name in ("notes.txt", "config.json", "table.csv", "plot.png", "data.parquet", "sub/"):
        assert f">{name}</a>" in page


@pytest.mark.parametrize("path, expect", [
    ("notes.txt", ["first line\nsecond line"]),
    ("config.json", ['"model": "forest"', '  "nested": {']),
    ("table.csv", ["<th>name</th><th>score</th>", "<td>alpha</td><td>0.91</td>"]),
    ("data.parquet", ["<th>id</th><th>label</th>", "all 100 rows, 2 columns"]),
    ("plot.png", ['<img src="/api/v1/runs/']),
    ("sub/inner.txt", ["inside a folder"]),
])
def test_artifact_previews(http: httpx.Client, seeded: Seeded, path: str, expect: list[str]) -> None:
    run = seeded.run("run-00")
    page = html.unescape(http.get(f"/runs/{run.id}", params={"artifact": path}).text)
    assert 'id="preview"' in page
    for text in expect:
        assert text in page, text
    download = http.get(f"/api/v1/runs/{run.id}/artifacts/{quote(path)}")
    assert download.status_code == 200 and len(download.content) > 0


def test_artifact_folder_navigation(http: httpx.Client, seeded: Seeded) -> None:
    run = seeded.run("run-00")
    page = http.get(f"/runs/{run.id}", params={"dir": "sub"}).text
    assert ">inner.txt</a>" in page and ">notes.txt</a>" not in page


@pytest.mark.parametrize("url, status, message", [
    ("/runs/0123456789abcdef0123456789abcdef", 404, "does not exist"),
    ("/experiments/nope", 404, "does not exist"),
    ("/no/such/page", 404, "Not found"),
])
def test_not_found_pages_are_html(http: httpx.Client, url: str, status: int, message: str) -> None:
    r = http.get(url)
    assert r.status_code == status and r.headers["content-type"].startswith("text/html")
    assert message in r.text and "Back to the experiments" in r.text


def test_bad_artifact_path_is_a_clear_error(http: httpx.Client, seeded: Seeded) -> None:
    run = seeded.run("run-00")
    for params in ({"artifact": "../../etc/passwd"}, {"dir": "/etc"}, {"artifact": "missing.txt"}):
        r = http.get(f"/runs/{run.id}", params=params)
        assert r.status_code in (400, 404), params
        assert r.headers["content-type"].startswith("text/html") and "Traceback" not in r.text


def test_api_errors_stay_json(http: httpx.Client) -> None:
    r = http.get("/api/v1/runs/0123456789abcdef0123456789abcdef")
    assert r.status_code == 404 and r.json()["error_code"] == "NOT_FOUND"


def test_compare_highlights_differing_params(http: httpx.Client, seeded: Seeded) -> None:
    a, b = seeded.run("run-00"), seeded.run("run-01")
    page = http.get("/compare", params=[("run", a.id), ("run", b.id)]).text
    rows = {key.strip(): kind
            for kind, key in re.findall(r'<tr class="(diff|same)"><th scope="row">([^<]+)', page)}
    assert rows == {"lr": "diff", "max_depth": "diff", "optimizer": "same"}
    assert 'id="compare-chart"' in page and 'id="parcoords"' in page


@pytest.mark.parametrize("count", [1, 11])
def test_compare_needs_two_to_ten_runs(http: httpx.Client, seeded: Seeded, count: int) -> None:
    ids = [r.id for r in seeded.runs][:count]
    r = http.get("/compare", params=[("run", i) for i in ids])
    assert r.status_code == 400 and "compare 2 to 10 runs" in r.text


def test_sections_and_audit(http: httpx.Client, seeded: Seeded) -> None:
    r = http.get("/data")
    assert r.status_code == 200 and "<h1>Datasets</h1>" in r.text
    page = http.get("/audit", params={"resource_type": "experiment"}).text
    assert "create_experiment" in page and seeded.experiment_id in page


def test_static_files_are_served(http: httpx.Client) -> None:
    js = http.get("/static/vendor/uPlot.iife.min.js")
    assert js.status_code == 200 and "uPlot" in js.text
    assert http.get("/static/app.js").status_code == 200
