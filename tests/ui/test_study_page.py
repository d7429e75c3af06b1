"""The study page over HTTP and in Chromium: a study made by ``dockyard.tune`` on a quadratic.

Trial 3 is pruned after reporting a value and trial 5 fails, so the page shows
six completed trials in its history, importances and parallel coordinates,
and all eight, with their states, in its table.
"""

from __future__ import annotations

import html
import json
import re
import sys
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import optuna
import pytest
from playwright.sync_api import Page, expect

import dockyard
from dockyard.server.ui_study import Trial, importances
from dockyard.train.tune import report
from tests.services.browser import screenshot
from tests.services.server import ServerProcess
from tests.ui.conftest import Seeded

SPACE = {"x": ("float", -5.0, 5.0), "n": ("int", 1, 4), "kind": ["a", "b"]}
PRUNED, FAILED = 3, 5


def quadratic(params: dict[str, Any], trial: optuna.Trial) -> float:
    value = (params["x"] - 1) ** 2 + 0.1 * params["n"] + (0.0 if params["kind"] == "a" else 0.5)
    if trial.number == PRUNED:
        report(trial, value + 1, step=0, prune=False)
        raise optuna.TrialPruned("stopped early")
    if trial.number == FAILED:
        raise ValueError("the objective broke")
    return value


@dataclass
class Study:
    url: str
    name: str
    run_id: str
    best_run_id: str
    trials: list[dockyard.Run]
    lone_run_id: str  # a study with one trial: too few for importances


@pytest.fixture(scope="module")
def study(ui_server: ServerProcess) -> Study:
    name = f"quadratic-{uuid.uuid4().hex[:8]}"
    dockyard.set_tracking_uri(ui_server.url)
    try:
        dockyard.set_experiment(f"study-{name}")
        result = dockyard.tune(quadratic, SPACE, n_trials=8, seed=0, study_name=name)
        lone = dockyard.tune(quadratic, SPACE, n_trials=1, seed=0, study_name=f"{name}-lone")
        trials = dockyard.search_runs(f"study-{name}",
                                      filter=f"parent_id = '{result.run_id}'")
    finally:
        dockyard.set_tracking_uri(None)
    assert result.best_run_id is not None
    return Study(ui_server.url, name, result.run_id, result.best_run_id, trials, lone.run_id)


def page_of(study: Study, run_id: str) -> httpx.Response:
    return httpx.get(f"{study.url}/studies/{run_id}", timeout=30)


def test_the_study_page_shows_the_study_and_its_best_trial(study: Study) -> None:
    answer = page_of(study, study.run_id)
    assert answer.status_code == 200
    page = answer.text
    assert f"Study {study.name}" in page
    assert "minimize objective" in page
    assert "float from -5.0 to 5.0" in page and "int from 1 to 4" in page
    assert "one of a, b" in page
    best = re.search(r'id="best-trial"><a href="/runs/([0-9a-f]+)">trial (\d+)</a>', page)
    assert best and best.group(1) == study.best_run_id
    assert "6 complete" in page and "1 pruned" in page and "1 failed" in page


def test_the_history_has_a_point_per_completed_trial_and_the_best_so_far(study: Study) -> None:
    page = page_of(study, study.run_id).text
    history = page[page.index('id="history"'):page.index('id="importances"')]
    assert len(re.findall(r'class="point complete"', history)) == 6
    assert len(re.findall(r'class="point pruned"', history)) == 1  # its last reported value
    line = re.search(r'<polyline class="best" points="([^"]+)"', history)
    assert line is not None
    ys = [float(p.split(",")[1]) for p in line.group(1).split()]
    # a minimised best so far only goes down, and SVG's y grows downwards
    assert ys == sorted(ys) and len(ys) >= 2


def test_the_importances_are_bars_over_the_params(study: Study) -> None:
    page = page_of(study, study.run_id).text
    section = page[page.index('id="importances"'):page.index('id="parallel"')]
    bars = re.findall(r'<th scope="row">(\w+)</th>\s*<td class="bar-cell"><span class="bar" '
                      r'style="width: ([\d.]+)%"', section)
    assert {name for name, _ in bars} == {"x", "n", "kind"}
    widths = [float(w) for _, w in bars]
    assert widths == sorted(widths, reverse=True) and sum(widths) == pytest.approx(100, abs=0.5)


def test_a_study_with_one_completed_trial_says_importances_need_more(study: Study) -> None:
    page = page_of(study, study.lone_run_id).text
    assert "Importances need at least 2 completed trials; this study has 1." in page
    assert 'class="bar"' not in page


def test_without_optuna_the_page_says_so(monkeypatch: pytest.MonkeyPatch,
                                         study: Study) -> None:
    trials = [Trial(int(r.tags["dockyard.trial"]), r.tags["dockyard.trial_state"],
                    r.metrics["objective"].value if "objective" in r.metrics else None, r)
              for r in study.trials]
    assert importances(trials, "minimize", "").values  # the space guessed from the params
    monkeypatch.setitem(sys.modules, "optuna", None)
    found = importances(trials, "minimize", "")
    assert not found.values and "pip install 'dockyard[tune]'" in found.message


def test_parallel_coordinates_draw_the_completed_trials(study: Study) -> None:
    page = page_of(study, study.run_id).text
    box = re.search(r'<div id="parcoords" class="parcoords"[^>]*data-metric="objective"\s*'
                    r"data-rows='([^']*)' data-params='([^']*)'", page)
    assert box is not None
    rows = json.loads(html.unescape(box.group(1)))
    assert json.loads(html.unescape(box.group(2))) == ["kind", "n", "x"]
    assert len(rows) == 6 and all(r["value"] is not None for r in rows)
    assert {r["name"] for r in rows}.isdisjoint({f"trial-{PRUNED}", f"trial-{FAILED}"})


def test_the_trials_table_lists_every_trial_with_its_state(study: Study) -> None:
    page = page_of(study, study.run_id).text
    table = page[page.index('id="trials-table"'):]
    rows = re.findall(r'<tr class="trial-(\w+)[^"]*">\s*<td class="num">(\d+)</td>', table)
    assert [int(n) for _, n in rows] == list(range(8))
    states = {int(n): s for s, n in rows}
    assert states[PRUNED] == "pruned" and states[FAILED] == "failed"
    assert sum(s == "complete" for s in states.values()) == 6
    assert '<span class="trial-state state-pruned">pruned</span>' in table
    assert len(re.findall(r'<a href="/runs/[0-9a-f]+">trial-\d+</a>', table)) == 8


def test_a_trial_run_leads_to_its_study(study: Study) -> None:
    trial = next(r for r in study.trials if r.tags["dockyard.trial"] == "0")
    answer = page_of(study, trial.id)
    assert answer.status_code == 307
    assert answer.headers["location"] == f"/studies/{study.run_id}"


def test_a_run_that_is_not_a_study_gets_a_clear_404(study: Study, seeded: Seeded) -> None:
    answer = page_of(study, seeded.runs[0].id)
    assert answer.status_code == 404
    assert "is not a study" in html.unescape(answer.text)
    assert page_of(study, "0" * 32).status_code == 404
    run_page = httpx.get(f"{study.url}/runs/{seeded.runs[0].id}", timeout=30).text
    assert 'id="study-link"' not in run_page


@pytest.mark.browser
def test_the_run_page_links_to_the_study_page(page: Page, study: Study) -> None:
    page.goto(f"{study.url}/runs/{study.run_id}")
    page.locator("#study-link").click()
    expect(page.locator("h1")).to_contain_text(f"Study {study.name}")
    expect(page.locator(".study-history circle.point.complete")).to_have_count(6)
    expect(page.locator("#importances .bar")).to_have_count(3)
    expect(page.locator("#parcoords")).to_have_attribute("data-lines", "6")
    expect(page.locator("#trials-table tbody tr")).to_have_count(8)
    screenshot(page, "study-page")
    page.locator("#trials-table").get_by_role("link", name="trial-0").click()
    page.locator("#study-link").click()  # a trial's page leads back to its study
    expect(page).to_have_url(f"{study.url}/studies/{study.run_id}")
