"""The model registry's pages over HTTP: models, a model, a version, and bad input."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from tests.services.server import ServerProcess
from tests.ui.conftest import DIGEST, PAGING_MODELS, URL_NAME, XSS_NAME, SeededModels


@pytest.fixture(scope="module")
def http(seeded_models: SeededModels) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=seeded_models.url, timeout=30) as client:
        yield client


def model_path(name: str) -> str:
    return "/models/" + quote(name, safe="")


def model_names(page: str) -> list[str]:
    found = re.findall(r'<td><a href="/models/[^"/]+">([^<]+)</a></td>', page)
    return [html.unescape(n) for n in found]


def table(page: str, table_id: str) -> str:
    match = re.search(rf'<table[^>]*id="{table_id}".*?</table>', page, re.DOTALL)
    assert match, f"no table {table_id}"
    return match.group(0)


def rows(fragment: str) -> list[str]:
    return re.findall(r"<tr>(.*?)</tr>", fragment, re.DOTALL)[1:]  # without the header


def grab(pattern: str, page: str, group: int = 1) -> str:
    """The first match of ``pattern`` (across lines) in ``page``."""
    match = re.search(pattern, page, re.DOTALL)
    assert match, f"no match for {pattern}"
    return match.group(group)


def text(fragment: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", fragment))).strip()


# the models ------------------------------------------------------------------------------
def test_models_list(http: httpx.Client, seeded_models: SeededModels) -> None:
    r = http.get("/models")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert '<a href="/models" aria-current="page">Models</a>' in r.text
    names = model_names(r.text)
    assert names == sorted(names) and {"churn", "churn-uplift", "fraud-detector"} <= set(names)
    churn = next(row for row in rows(table(r.text, "models-table")) if ">churn</a>" in row)
    assert text(churn).split(" 20")[0] == (
        "churn Predicts which customers cancel in the next 30 days ann classification v2 "
        "@challenger v1 @champion v2 2")
    assert 'href="/models/churn/versions/2">v2</a>' in churn
    assert re.search(r'<td class="num">\d{4}-\d\d-\d\d \d\d:\d\d:\d\d</td>', churn)
    empty = next(row for row in rows(table(r.text, "models-table")) if ">fraud-detector</a>" in row)
    assert "none" in empty and '<td class="num">0</td>' in empty


def test_models_filter(http: httpx.Client, seeded_models: SeededModels) -> None:
    page = http.get("/models", params={"filter": "churn"}).text
    assert model_names(page) == ["churn", "churn-uplift"]
    assert 'value="churn"' in page and ">Clear</a>" in page
    page = http.get("/models", params={"filter": "no-such-model"}).text
    assert "No model name contains “no-such-model”." in page and 'id="models-table"' not in page


def test_models_paging(http: httpx.Client, seeded_models: SeededModels) -> None:
    first = http.get("/models", params={"filter": seeded_models.paging_prefix, "size": 10}).text
    assert len(model_names(first)) == 10 and ">First page</a>" not in first
    next_url = grab(r'<a href="([^"]+)" rel="next">', first)
    assert "size=10" in next_url and "page=" in next_url
    second = http.get(html.unescape(next_url)).text
    assert len(model_names(second)) == PAGING_MODELS - 10
    assert not set(model_names(first)) & set(model_names(second))
    assert 'rel="next"' not in second and ">First page</a>" in second


def test_models_empty_state(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path)
    server.start()
    try:
        page = httpx.get(server.url + "/models", timeout=30).text
    finally:
        server.stop()
    assert "No registered models yet." in page and "dockyard.register_model(" in page
    assert f"DOCKYARD_URI={server.url}" in page


# one model -------------------------------------------------------------------------------
def test_model_page(http: httpx.Client, seeded_models: SeededModels) -> None:
    first, second = seeded_models.runs
    page = http.get("/models/churn").text
    assert "<h1>churn</h1>" in page and "Predicts which customers cancel" in page
    assert '<a href="/models" aria-current="page">Models</a>' in page
    for fact in ("<dt>Owner</dt><dd>ann</dd>", "<dt>Task</dt><dd>classification</dd>",
                 "<tr><td>team</td><td>growth</td></tr>"):
        assert fact in page
    stages = text(grab(r'id="model-stages">(.*?)</dl>', page))
    assert stages.startswith("Production v2 Staging no version")
    aliases = [text(r) for r in rows(table(page, "aliases-table"))]
    assert aliases == ["@champion v2 models:/churn@champion",
                       "@challenger v1 models:/churn@challenger"]
    versions = rows(table(page, "versions-table"))
    assert [grab(r">v(\d+)</a>", r) for r in versions] == ["2", "1"]
    v2, v1 = versions
    assert 'class="stage stage-production">Production<' in v2 and "@champion" in v2
    assert 'class="stage stage-none">None<' in v1 and "@challenger" in v1
    assert f'<a href="/runs/{second.id}">train-2024-06</a>' in v2
    assert f'<a href="/runs/{first.id}">train-2024-05</a>' in v1
    assert "more features" in v2 and "READY" in v2 and "baseline logistic regression" in v1


def test_model_page_stage_filter(http: httpx.Client, seeded_models: SeededModels) -> None:
    page = http.get("/models/churn", params={"stage": "production"}).text
    assert len(rows(table(page, "versions-table"))) == 1
    assert '<option value="Production" selected>' in page
    page = http.get("/models/churn", params={"stage": "Staging"}).text
    assert "No version is in Staging." in page and 'id="versions-table"' not in page
    page = http.get("/models/churn", params={"size": 10}).text
    assert '<option value="10" selected>' in page


def test_model_without_versions(http: httpx.Client, seeded_models: SeededModels) -> None:
    page = http.get(model_path(seeded_models.no_versions)).text
    assert "No versions yet." in page and "No aliases." in page and "No tags." in page
    assert "none yet" in page


# one version -----------------------------------------------------------------------------
def test_version_overview(http: httpx.Client, seeded_models: SeededModels) -> None:
    first, _ = seeded_models.runs
    page = http.get("/models/churn/versions/1").text
    assert '<a href="/models/churn">churn</a> /</p>' in page  # the crumbs
    overview = text(grab(r'id="version-overview">(.*?)</dl>', page))
    assert overview.startswith(f"URI models:/churn/1 Source run train-2024-05 finished "
                               f"Package runs:/{first.id}/model Package digest {DIGEST}")
    assert f'<a href="/runs/{first.id}">train-2024-05</a>' in page
    assert "Stage None" in overview
    assert "@challenger" in page and "<dt>Status</dt><dd>READY</dd>" in page
    assert "baseline logistic regression" in page
    assert "<tr><td>data</td><td>2024-05</td></tr>" in table(page, "version-tags")


def test_signature_tables(http: httpx.Client, seeded_models: SeededModels) -> None:
    page = http.get("/models/churn/versions/1").text
    inputs = [text(r) for r in rows(table(page, "signature-inputs"))]
    assert inputs == ["tenure_months int64 no", "plan string yes"]
    assert "Inputs: 2 columns" in page
    assert [text(r) for r in rows(table(page, "signature-outputs"))] == ["(unnamed) float64 (any)"]
    page = http.get("/models/churn/versions/2").text  # the signature of a real package
    assert [text(r).split()[0] for r in rows(table(page, "signature-inputs"))] == [
        "tenure_months", "monthly_charges"]


def test_other_signatures_are_shown_as_json(http: httpx.Client,
                                            seeded_models: SeededModels) -> None:
    page = http.get(model_path(URL_NAME) + "/versions/1").text
    assert "Inputs in a form this page does not draw as a table:" in page
    assert re.search(r'<pre id="signature-inputs">\{\s+&#34;features&#34;: 3\s+\}</pre>', page)
    assert "No outputs recorded." in page and "&#34;note&#34;: &#34;hand-made&#34;" in page
    page = http.get(model_path(URL_NAME) + "/versions/2").text
    assert "No signature was recorded." in page and "No model card." in page


def test_model_card_is_markdown_without_raw_html(http: httpx.Client,
                                                 seeded_models: SeededModels) -> None:
    page = http.get("/models/churn/versions/1").text
    card = grab(r'<article class="markdown" id="model-card">(.*?)</article>', page)
    assert "<h3>Churn model</h3>" in card and "<strong>30 days</strong>" in card
    assert "<li>trained on May 2024 accounts</li>" in card
    assert "<th>metric</th>" in card and "<td>0.91</td>" in card
    assert "<script" not in card and "&lt;script&gt;alert(&quot;card&quot;)&lt;/script&gt;" in card
    assert "javascript:" not in card.replace("[a bad link](javascript:alert(1))", "")
    assert "href=\"javascript" not in card


def test_card_images_become_links() -> None:
    from dockyard.server.ui_models import render_markdown

    html = str(render_markdown("![pixel](http://tracker.example/p.png)"))
    assert "<img" not in html and '<a href="http://tracker.example/p.png">pixel</a>' in html


def test_package_requirements(http: httpx.Client, seeded_models: SeededModels) -> None:
    page = http.get("/models/churn/versions/2").text
    requirements = grab(r'<pre id="requirements">(.*?)</pre>', page)
    assert re.search(r"^scikit-learn==\S+$", requirements, re.MULTILINE)
    assert "<dt>Flavor</dt><dd>sklearn" in page
    assert seeded_models.digest in page and "matches the manifest in the artifact store" in page


def test_missing_package_is_a_note(http: httpx.Client, seeded_models: SeededModels) -> None:
    first, _ = seeded_models.runs
    r = http.get("/models/churn/versions/1")
    assert r.status_code == 200
    note = grab(r'<p class="muted" id="package-note">(.*?)</p>', r.text)
    assert note == (f"The package is not in the artifact store: run {first.id} has no "
                    "model/dockyard-model.yaml.")


def test_lineage_svg(http: httpx.Client, seeded_models: SeededModels) -> None:
    first, second = seeded_models.runs
    page = http.get("/models/churn/versions/2").text
    svg = grab(r'<svg id="lineage-graph".*?</svg>', page, 0)
    nodes = re.findall(r'<g class="node node-([a-z_]+)( root)?" data-id="([^"]+)"', svg)
    assert sorted(kind for kind, _, _ in nodes) == [
        "code", "environment", "experiment", "model_version", "registered_model", "run"]
    assert [node_id for _, root, node_id in nodes if root] == ["models:/churn/2"]
    assert re.search(r'data-nodes="6" data-edges="5"', svg)
    relations = sorted(re.findall(r'<path class="edge" d="M[^"]+" [^>]*data-relation="(\w+)"', svg))
    assert relations == ["contains", "has_version", "produced", "used_by", "used_by"]
    for href in (f"/runs/{second.id}", "/models/churn", "/models/churn/versions/2"):
        assert f'<a href="{href}">' in svg
    assert re.search(r'<a href="/experiments/[0-9a-f]+">', svg)
    assert "train-2024-06 (run) produced churn v2 (model version)" in page  # the list for readers
    # layered left to right: upstream, then the run, then the version
    x = {node_id: int(pos)
         for node_id, pos in re.findall(r'data-id="([^"]+)" transform="translate\((\d+),', svg)}
    assert x[f"code:{'3e1f' * 10}"] < x[f"runs:/{second.id}"] < x["models:/churn/2"]
    assert first.id not in svg


# errors and escaping ---------------------------------------------------------------------
@pytest.mark.parametrize("url, status, message", [
    ("/models/no-such-model", 404, "registered model &#39;no-such-model&#39; does not exist"),
    ("/models/no-such-model/versions/1", 404, "does not exist"),
    ("/models/churn/versions/abc", 400, "model version must be an integer"),
    ("/models/churn/versions/0", 400, "model version must be an integer"),
    ("/models/churn/versions/-1", 400, "model version must be an integer"),
    ("/models/churn/versions/99999999999999", 400, "model version must be an integer"),
    ("/models/churn/versions/999", 404, "registered model &#39;churn&#39; has no version 999"),
    ("/models/churn?stage=shipped", 400, "stage &#39;shipped&#39; is not one of"),
    ("/models/churn?size=7", 400, "size must be one of 10, 25, 50, 100, 200"),
    ("/models?size=many", 400, "size"),
    ("/models?page=garbage", 400, "page_token is not valid"),
    ("/models/churn?page=garbage", 400, "page_token is not valid"),
    ("/models/churn/versions/1/more", 404, "Not found"),
])
def test_bad_input_is_an_html_page(http: httpx.Client, seeded_models: SeededModels, url: str,
                                   status: int, message: str) -> None:
    r = http.get(url)
    assert r.status_code == status and r.headers["content-type"].startswith("text/html")
    assert message in r.text and "Traceback" not in r.text
    assert '<a href="/models">Back to the models</a>' in r.text
    assert '<a href="/models" aria-current="page">Models</a>' in r.text


def test_versions_folder_goes_to_the_model(http: httpx.Client, seeded_models: SeededModels) -> None:
    r = http.get("/models/churn/versions", follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"] == "/models/churn"


def test_names_and_text_are_escaped(http: httpx.Client, seeded_models: SeededModels) -> None:
    pages = [http.get("/models").text, http.get(model_path(XSS_NAME)).text,
             http.get(model_path(XSS_NAME) + "/versions/1").text]
    for page in pages:
        assert "<img src=x" not in page and "<script>alert" not in page
        assert "xss &lt;img src=x onerror=alert(1)&gt;" in page
    assert "&lt;script&gt;alert(&#34;description&#34;)&lt;/script&gt;" in pages[1]
    version = pages[2]
    assert "&lt;i&gt;version&lt;/i&gt;" in version
    assert "<tr><td>k</td><td>&lt;v&gt;</td></tr>" in version
    assert "<td>&lt;b&gt;col&lt;/b&gt;</td>" in version
    assert "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>" in version
    assert 'href="/models/xss%20%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E"' in pages[0]


def test_names_with_url_characters_round_trip(http: httpx.Client,
                                              seeded_models: SeededModels) -> None:
    listing = http.get("/models").text
    link = re.search(r'<a href="([^"]+)">' + re.escape(html.escape(URL_NAME)) + "</a>", listing)
    assert link and link.group(1) == model_path(URL_NAME)
    page = http.get(html.unescape(link.group(1))).text
    assert f"<h1>{html.escape(URL_NAME)}</h1>" in page
    version = grab(r'<a href="([^"]+/versions/1)">v1</a>', page)
    r = http.get(html.unescape(version))
    assert r.status_code == 200 and f"models:/{html.escape(URL_NAME)}/1" in r.text


def test_run_page_lists_its_versions(http: httpx.Client, seeded_models: SeededModels) -> None:
    _, second = seeded_models.runs
    page = http.get(f"/runs/{second.id}").text
    section = grab(r'<section id="registered-versions">(.*?)</section>', page)
    assert '<a href="/models/churn/versions/2">churn v2</a>' in section
    assert '<a href="/models/churn-uplift/versions/1">churn-uplift v1</a>' in section
    assert "Production" in section and "Staging" in section and "@champion" in section
