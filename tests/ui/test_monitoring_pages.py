"""The monitoring pages over HTTP: what needs attention, a monitor, a feature, bad input.

The data is made by the real code: prediction-log rows written with
``PredictionLog`` into the server's artifact root (as ``dockyard serve``
does), monitors created with a reference through the server, labels posted
with ``log_ground_truth`` and windows run with ``run_monitor``; the last
window of ``churn-prod`` has shifted inputs and a guessing model, so its
alerts fire and are delivered to a webhook (and fail on an SMTP port that
nobody listens on).
"""

from __future__ import annotations

import html
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar
from urllib.parse import quote

import httpx
import numpy as np
import pandas as pd
import pytest

from dockyard import Client
from dockyard.entities.monitoring import Monitor, MonitorSpec
from dockyard.monitor.monitors import create_monitor, run_monitor
from dockyard.serve.predlog import PredictionBatch, PredictionLog
from dockyard.server.ui import fmt_time
from dockyard.store.artifacts import artifact_store_for
from tests.services.server import ServerProcess, free_port

HOUR = 3_600_000
N = 400
HOOK_SECRET = "hook-token-s3cr3t"
SMTP_PASSWORD = "hunter2-pw-s3cr3t"
IDLE = "idle <img src=x onerror=alert(1)>"
ODD_FEATURE = "a/b <i>c</i>"


@dataclass
class SeededMonitoring:
    url: str
    prod: Monitor
    """Classification; windows: empty, normal, normal, shifted (its alerts fire)."""
    canary: Monitor
    """Regression; two normal windows, the second without labels."""
    idle: Monitor
    """No reference and no predictions: one window of no data."""
    windows: list[tuple[int, int]]
    """The windows of ``prod``, oldest first."""
    hook_port: int
    smtp_port: int
    hook_bodies: list[bytes] = field(default_factory=list)


def frame(rng: np.random.Generator, n: int, *, shifted: bool = False) -> pd.DataFrame:
    age = rng.normal(60 if shifted else 40, 8, n)
    plan = rng.choice(["basic", "pro", "team"], n,
                      p=[0.2, 0.2, 0.6] if shifted else [0.6, 0.3, 0.1])
    income = rng.normal(50, 10, n)
    target = (age + rng.normal(0, 5, n) > 45).astype(int)
    return pd.DataFrame({"age": age, "plan": plan, "income": income, "target": target})


def log_rows(log: PredictionLog, data: pd.DataFrame, outputs: np.ndarray, start: int,
             version: int, deployment: str, rng: np.random.Generator) -> list[str]:
    """One hour of predictions, evenly spread; returns their ids."""
    ids = [f"{deployment}-{start}-{i}" for i in range(len(data))]
    log.append(PredictionBatch(
        ids, "churn", version, deployment=deployment,
        inputs={"age": data["age"].to_numpy(), "plan": data["plan"].to_numpy(dtype=object),
                "income": data["income"].to_numpy()},
        outputs=outputs, latency_ms=rng.uniform(1, 5, len(data)),
        time_ms=start + np.arange(len(data)) * (HOUR // len(data))))
    return ids


class _Hook(BaseHTTPRequestHandler):
    bodies: ClassVar[list[bytes]] = []

    def do_POST(self) -> None:
        self.bodies.append(self.rfile.read(int(self.headers.get("content-length", 0))))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


_SEEDED: dict[str, SeededMonitoring] = {}


def seed_monitoring(server: ServerProcess, workdir: Path) -> SeededMonitoring:
    """Seed the monitors once per server (both page modules use them)."""
    if server.url not in _SEEDED:
        _SEEDED[server.url] = _seed(server, workdir)
    return _SEEDED[server.url]


def _seed(server: ServerProcess, workdir: Path) -> SeededMonitoring:
    rng = np.random.default_rng(7)
    now = int(time.time() * 1000)
    end = now - now % HOUR
    prod_windows = [(end - i * HOUR, end - (i - 1) * HOUR) for i in (4, 3, 2, 1)]
    log = PredictionLog(artifact_store_for(server.artifacts), spool_dir=workdir / "spool")
    batches = {}
    for (start, _), kind in zip(prod_windows[1:], ("normal", "normal", "shifted")):
        data = frame(rng, N, shifted=kind == "shifted")
        score = (np.where(data["target"] == 1, 0.8, 0.2) if kind == "normal"
                 else rng.random(len(data)))
        batches[start] = (log_rows(log, data, score, start, 1, "prod", rng), data)
    canary = {}
    for start, _ in prod_windows[2:]:
        data = frame(rng, N)
        guess = data["age"].to_numpy() + rng.normal(0, 2, N)
        canary[start] = (log_rows(log, data, guess, start, 2, "canary", rng), data)
    assert log.close()

    hook = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    hook_port, smtp_port = hook.server_address[1], free_port()
    client = Client(server.url)
    try:
        reference = frame(rng, 2000)
        reference["score"] = np.where(reference["target"] == 1, 0.8, 0.2)
        prod = create_monitor(client, MonitorSpec(
            name="churn-prod", model_name="churn", deployment="prod", task="classification",
            categorical=["plan"], cohorts=[{"column": "plan"}], interval_seconds=0,
            channels=[{"type": "webhook", "url": f"http://127.0.0.1:{hook_port}/{HOOK_SECRET}"},
                      {"type": "email", "host": "127.0.0.1", "port": smtp_port,
                       "sender": "dockyard@example.org", "recipients": ["oncall@example.org"],
                       "username": "alerts", "password": SMTP_PASSWORD, "timeout": 2}]),
            reference, target="target", prediction="score")
        for start, until in prod_windows:
            if start in batches:
                ids, data = batches[start]
                client.log_ground_truth(ids[:N // 2], data["target"].to_numpy()[:N // 2].tolist())
            run_monitor(client, prod, since=start, until=until)

        ref = reference.assign(target=reference["age"],
                               score=reference["age"] + rng.normal(0, 2, len(reference)))
        canary_monitor = create_monitor(client, MonitorSpec(
            name="churn-canary", model_name="churn", model_version="2", deployment="canary",
            task="regression", categorical=["plan"], interval_seconds=0),
            ref[["plan", "income", "target", "score"]], target="target", prediction="score")
        first = prod_windows[2][0]
        ids, data = canary[first]
        client.log_ground_truth(ids, data["age"].to_numpy().tolist())
        for start, until in prod_windows[2:]:
            run_monitor(client, canary_monitor, since=start, until=until)

        idle = client.create_monitor(MonitorSpec(
            name=IDLE, model_name="edge <b>model", deployment="<b>edge</b>",
            features=[ODD_FEATURE, "x"], interval_seconds=0))
        run_monitor(client, idle, since=prod_windows[-1][0], until=prod_windows[-1][1])
        return SeededMonitoring(
            server.url, client.get_monitor(prod.id), client.get_monitor(canary_monitor.id),
            client.get_monitor(idle.id), prod_windows, hook_port, smtp_port, list(_Hook.bodies))
    finally:
        client.close()
        hook.shutdown()
        hook.server_close()


@pytest.fixture(scope="module")
def seeded_monitoring(ui_server: ServerProcess,
                      tmp_path_factory: pytest.TempPathFactory) -> SeededMonitoring:
    return seed_monitoring(ui_server, tmp_path_factory.mktemp("monitoring"))


@pytest.fixture(scope="module")
def http(seeded_monitoring: SeededMonitoring) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=seeded_monitoring.url, timeout=30) as client:
        yield client


def monitor_path(name: str) -> str:
    return "/monitoring/" + quote(name, safe="")


def feature_path(name: str, feature: str) -> str:
    return f"{monitor_path(name)}/features/{quote(feature, safe='')}"


def grab(pattern: str, page: str, group: int = 1) -> str:
    match = re.search(pattern, page, re.DOTALL)
    assert match, f"no match for {pattern}"
    return match.group(group)


def table(page: str, table_id: str) -> str:
    return grab(rf'<table[^>]*id="{table_id}".*?</table>', page, 0)


def body_rows(fragment: str) -> list[str]:
    return re.findall(r"<tr[^>]*>(.*?)</tr>", grab(r"<tbody>(.*)</tbody>", fragment), re.DOTALL)


def text(fragment: str) -> str:
    words = html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", fragment))).strip()
    return re.sub(r" ([,:])", r"\1", words)


def chart(page: str, chart_id: str) -> dict:
    return json.loads(html.unescape(grab(rf'id="{chart_id}"[^>]*data-chart=\'([^\']*)\'', page)))


# needs attention -------------------------------------------------------------------------
def test_nav_leads_to_the_monitoring_page(http: httpx.Client) -> None:
    assert '<a href="/monitoring">Monitoring</a>' in http.get("/experiments").text
    r = http.get("/monitoring")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert '<a href="/monitoring" aria-current="page">Monitoring</a>' in r.text
    assert "does not have this part yet" not in r.text


def test_needs_attention_worst_first(http: httpx.Client,
                                     seeded_monitoring: SeededMonitoring) -> None:
    page = http.get("/monitoring").text
    rows = re.findall(r'<tr data-status="(\w+)" data-monitor="([^"]*)">(.*?)</tr>',
                      table(page, "attention-table"), re.DOTALL)
    statuses = [s for s, _, _ in rows]
    rank = ["firing", "degraded", "no_data", "ok"]
    assert statuses == sorted(statuses, key=rank.index)
    by_name = {html.unescape(name): cells for _, name, cells in rows}
    assert html.unescape(rows[0][1]) == "churn-prod"
    assert {html.unescape(n): s for s, n, _ in rows} == {
        "churn-prod": "firing", "churn-canary": "ok", IDLE: "no_data"}
    counts = dict(re.findall(r'data-status="(\w+)"><span class="n">(\d+)</span>', page))
    assert counts == {s: str(statuses.count(s)) for s in rank}

    prod = by_name["churn-prod"]
    assert '<span class="mstatus mstatus-firing">firing</span>' in prod
    assert '<span class="severity severity-critical">critical</span>' in prod.split("</td>")[0]
    cells = [text(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", prod, re.DOTALL)]
    assert cells[1:5] == ["churn-prod", "churn", "any", "prod"]
    assert "feature drift: age drifted" in cells[5] and "accuracy drop: accuracy is" in cells[5]
    assert cells[6] == "age, plan, prediction"
    assert f'href="{feature_path("churn-prod", "age")}"' in prod
    assert cells[7:9] == [str(N), "50.0%"]
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$", cells[10])

    idle = [text(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", by_name[IDLE], re.DOTALL)]
    assert idle[0] == "no data" and idle[5:9] == ["none", "none", "0", "no data"]


def test_needs_attention_empty_state(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path)
    server.start()
    try:
        page = httpx.get(server.url + "/monitoring", timeout=30).text
    finally:
        server.stop()
    assert 'id="monitoring-empty"' in page and "No monitors yet." in page
    assert "dockyard monitor create churn-prod --model churn" in page
    assert 'id="attention-table"' not in page


# a monitor -------------------------------------------------------------------------------
def test_monitor_settings_show_channels_by_type_only(http: httpx.Client,
                                                     seeded_monitoring: SeededMonitoring) -> None:
    page = http.get("/monitoring/churn-prod").text
    assert '<a href="/monitoring" aria-current="page">Monitoring</a>' in page
    settings = dict(re.findall(r"<dt>([^<]+)</dt><dd[^>]*>(.*?)</dd>",
                               grab(r'<dl class="overview" id="monitor-settings">(.*?)</dl>',
                                    page)))
    assert text(settings["Model"]) == "churn" and 'href="/models/churn"' in settings["Model"]
    assert [text(settings[k]) for k in ("Version", "Deployment", "Task", "Window")] == [
        "any", "prod", "classification", "1h, at least 30 rows"]
    assert text(settings["Features"]) == "age, plan, income (categorical: plan)"
    assert text(settings["Channels"]) == "webhook, email"
    assert text(settings["Schedule"]) == "off"
    for secret in (HOOK_SECRET, SMTP_PASSWORD, f":{seeded_monitoring.hook_port}",
                   f":{seeded_monitoring.smtp_port}", "127.0.0.1", "oncall@example.org"):
        assert secret not in page
    rules = {text(r).split(" ")[0] + " " + text(r).split(" ")[1]: text(r)
             for r in body_rows(table(page, "rules-table"))}
    assert rules["feature drift"] == ("feature drift drifted every feature drifted >= 1 "
                                      "at once warning no")
    assert rules["accuracy drop"].startswith(
        "accuracy drop accuracy accuracy < reference − 0.05 at once critical")


def test_monitor_open_alerts_and_history(http: httpx.Client,
                                         seeded_monitoring: SeededMonitoring) -> None:
    page = http.get("/monitoring/churn-prod").text
    assert grab(r"<h1>(.*?)</h1>", page).count("mstatus-firing") == 1
    alerts = [text(r) for r in body_rows(table(page, "open-alerts-table"))]
    assert any(a.startswith("firing warning feature drift age ") and "age drifted" in a
               for a in alerts)
    assert any(a.startswith("firing critical accuracy drop ") for a in alerts)
    history = body_rows(table(page, "history-table"))
    firing = [text(r) for r in history if ">firing</span>" in r]
    assert len(firing) >= 3 and all(r.endswith("webhook ok, email failed") for r in firing)
    assert any("age drifted" in r for r in firing)
    assert len(seeded_monitoring.hook_bodies) >= len(firing)  # the deliveries did happen


def test_monitor_charts_carry_values_per_window(http: httpx.Client,
                                               seeded_monitoring: SeededMonitoring) -> None:
    page = http.get("/monitoring/churn-prod").text
    drift = chart(page, "chart-drift")
    assert drift["x"] == [s / 1000 for s, _ in seeded_monitoring.windows]
    series = {s["label"]: s["values"] for s in drift["series"]}
    assert list(series) == ["age", "plan", "income", "prediction"]
    assert series["age"][0] is None  # the empty window is a gap, not a zero
    assert series["age"][3] > 2 * series["age"][1]
    accuracy = chart(page, "chart-accuracy")
    assert [s["label"] for s in accuracy["series"]] == [
        "overall", "plan=basic", "plan=pro", "plan=team"]
    overall = accuracy["series"][0]["values"]
    assert overall[0] is None and overall[1] > 0.8 and overall[3] < 0.7
    assert 'id="chart-f1"' in page and 'id="chart-mae"' not in page
    coverage = chart(page, "chart-coverage")
    assert coverage["unit"] == "share" and coverage["series"][0]["values"][1:] == [0.5] * 3
    latency = chart(page, "chart-latency")
    assert latency["unit"] == "ms"
    assert [s["label"] for s in latency["series"]] == ["p50", "p95", "p99"]
    assert all(1 <= v <= 5 for v in latency["series"][2]["values"][1:])
    assert chart(page, "chart-throughput")["unit"] == "per_second"


def test_regression_monitor_charts_mae_and_r2(http: httpx.Client,
                                              seeded_monitoring: SeededMonitoring) -> None:
    page = http.get("/monitoring/churn-canary").text
    assert 'id="chart-mae"' in page and 'id="chart-r2"' in page
    assert 'id="chart-accuracy"' not in page
    mae = chart(page, "chart-mae")["series"][0]["values"]
    assert mae[0] is not None and mae[0] < 3 and mae[1] is None  # no labels yet
    latest = dict(re.findall(r"<dt>([^<]+)</dt><dd>(.*?)</dd>",
                             grab(r'<dl class="overview" id="monitor-latest">(.*?)</dl>', page)))
    assert text(latest["Label coverage"]) == "0.0%"
    assert text(latest["MAE"]) == "no_data: no labels yet"
    assert text(latest["Rows"]) == str(N)


def test_latest_window_table(http: httpx.Client, seeded_monitoring: SeededMonitoring) -> None:
    page = http.get("/monitoring/churn-prod").text
    start, end = (fmt_time(t) for t in seeded_monitoring.windows[-1])
    assert f"Latest window <small>{start} to {end} UTC</small>" in page
    rows = {f: text(r) for f, r in re.findall(r'<tr data-feature="([^"]+)">(.*?)</tr>',
                                              table(page, "features-table"), re.DOTALL)}
    assert list(rows) == ["age", "plan", "income", "prediction"]
    assert rows["age"].split(" ")[:3] == ["age", rows["age"].split(" ")[1], "yes"]
    assert rows["income"].split(" ")[2] == "no"
    assert f'href="{feature_path("churn-prod", "plan")}"' in page
    cohorts = [text(r) for r in body_rows(table(page, "cohorts-table"))]
    assert [c.split(" ")[0] for c in cohorts] == ["plan=basic", "plan=pro", "plan=team"]


def test_values_without_data_show_their_status(http: httpx.Client,
                                               seeded_monitoring: SeededMonitoring) -> None:
    page = http.get(monitor_path(IDLE)).text
    rows = {html.unescape(f): text(r) for f, r in re.findall(
        r'<tr data-feature="([^"]+)">(.*?)</tr>', table(page, "features-table"), re.DOTALL)}
    assert list(rows) == [ODD_FEATURE, "x", "prediction"]
    assert "no_reference: set the monitor's reference to compute drift" in rows["x"]
    latest = grab(r'<dl class="overview" id="monitor-latest">(.*?)</dl>', page)
    assert "no_data: no predictions" in text(latest)
    assert "No values in these windows." in page  # the drift chart has nothing to draw
    assert 'id="chart-drift"' not in page
    assert "none: drift needs a reference" in page and "not set: no model quality" in page


def test_windows_choice(http: httpx.Client, seeded_monitoring: SeededMonitoring) -> None:
    page = http.get("/monitoring/churn-prod", params={"windows": 72}).text
    assert '<option value="72" selected>72 windows</option>' in page
    assert len(chart(page, "chart-drift")["x"]) == 4
    r = http.get("/monitoring/churn-prod", params={"windows": 5})
    assert r.status_code == 400 and "windows must be one of 24, 72, 168, 720; got 5" in r.text


# a feature -------------------------------------------------------------------------------
def test_feature_histograms_side_by_side(http: httpx.Client,
                                         seeded_monitoring: SeededMonitoring) -> None:
    page = http.get(feature_path("churn-prod", "age")).text
    assert grab(r"<h1>(.*?)</h1>", page) == "age"
    latest = seeded_monitoring.windows[-1][0]
    assert f'<option value="{latest}" selected>' in page
    reference = grab(r'(<svg id="hist-reference".*?</svg>)', page)
    current = grab(r'(<svg id="hist-current".*?</svg>)', page)
    bars = int(grab(r'data-bars="(\d+)"', reference))
    assert bars >= 5 and reference.count('<rect class="bar') == bars
    assert current.count('<rect class="bar') == bars
    bins = [text(r).split(" ") for r in body_rows(table(page, "bins-table"))]
    assert len(bins) == bars and bins[0][0] == "[-inf,"
    assert sum(int(b[-4]) for b in bins) == 2000 and sum(int(b[-2]) for b in bins) == N
    # shifted up by 20 years: the last (open) bin holds most of the current window
    assert float(bins[-1][-1].rstrip("%")) > 50
    history = body_rows(table(page, "feature-windows-table"))
    assert len(history) == 4 and 'class="selected"' in table(page, "feature-windows-table")
    assert "no_data: 0 rows, 30 needed" in text(history[-1])
    assert chart(page, "chart-feature-drift")["series"][0]["label"] == "drift score"


def test_feature_window_choice(http: httpx.Client, seeded_monitoring: SeededMonitoring) -> None:
    first, second = seeded_monitoring.windows[:2]
    page = http.get(feature_path("churn-prod", "age"), params={"window": second[0]}).text
    assert f'<option value="{second[0]}" selected>' in page
    bins = [text(r).split(" ") for r in body_rows(table(page, "bins-table"))]
    assert float(bins[-1][-1].rstrip("%")) < 30  # a normal window looks like the reference

    empty = http.get(feature_path("churn-prod", "age"), params={"window": first[0]}).text
    assert 'data-state="no_data"' in empty and "No data in this window." in empty
    assert 'id="hist-reference"' in empty and 'id="hist-current"' not in empty

    r = http.get(feature_path("churn-prod", "age"), params={"window": first[0] + 1})
    assert r.status_code == 400 and "has no window starting at" in r.text


def test_categorical_feature(http: httpx.Client, seeded_monitoring: SeededMonitoring) -> None:
    page = http.get(feature_path("churn-prod", "plan")).text
    bins = [text(r).split(" ")[0] for r in body_rows(table(page, "bins-table"))]
    assert bins == ["basic", "pro", "team", "(other)"]
    assert re.search(r'<text x="[\d.]+" y="\d+" text-anchor="middle">basic</text>', page)
    prediction = http.get(feature_path("churn-prod", "prediction")).text
    assert "the model's output" in prediction and 'id="hist-current"' in prediction


def test_feature_without_reference(http: httpx.Client,
                                   seeded_monitoring: SeededMonitoring) -> None:
    r = http.get(feature_path(IDLE, ODD_FEATURE))
    assert r.status_code == 200
    assert 'data-state="no_reference"' in r.text and "No reference." in r.text
    assert "<h1>a/b &lt;i&gt;c&lt;/i&gt;</h1>" in r.text
    assert "<i>c</i>" not in r.text
    assert "no_reference: set the monitor&#39;s reference" in r.text


@pytest.mark.parametrize("path, status, message", [
    ("/monitoring/no-such-monitor", 404, "no monitor is named &#39;no-such-monitor&#39;"),
    ("/monitoring/no-such-monitor/features/age", 404, "no monitor is named"),
    ("/monitoring/churn-prod/features/nope", 404,
     "monitor &#39;churn-prod&#39; does not watch &#39;nope&#39;; it watches age, plan, income"),
    ("/monitoring/churn-prod/features/age?window=soon", 400, "is not a window start"),
    ("/monitoring/churn-prod/features/age?windows=0", 400, "windows must be one of"),
])
def test_bad_input_is_an_html_page(http: httpx.Client, seeded_monitoring: SeededMonitoring,
                                   path: str, status: int, message: str) -> None:
    r = http.get(path)
    assert r.status_code == status and r.headers["content-type"].startswith("text/html")
    assert message in r.text
    assert '<a href="/monitoring">Back to the monitoring</a>' in r.text


def test_hostile_names_are_escaped(http: httpx.Client,
                                   seeded_monitoring: SeededMonitoring) -> None:
    for path in ("/monitoring", monitor_path(IDLE), feature_path(IDLE, "x")):
        page = http.get(path).text
        assert "<img" not in page and "<b>" not in page, path
        assert html.escape(IDLE, quote=False) in page
    page = http.get(monitor_path(IDLE)).text
    assert "&lt;b&gt;edge&lt;/b&gt;" in page and "edge &lt;b&gt;model" in page
    assert f'href="{feature_path(IDLE, ODD_FEATURE)}"' in page
