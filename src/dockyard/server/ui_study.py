"""The study page: what a ``dockyard.tune`` search tried and what it found.

``/studies/<run id>`` takes the study's run (tagged ``dockyard.study``) and
reads its trials back from its child runs: the optimisation history (each
completed trial's value by trial number, with the best so far), the
parameter importances (Optuna's default evaluator over an in-memory study
rebuilt from the trials), parallel coordinates of the params against the
value, and the table of trials with their states.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from dockyard.client import Client
from dockyard.entities import Run
from dockyard.errors import NotFound
from dockyard.server.deps import client_of
from dockyard.server.ui import parcoords_rows, render, templates

router = APIRouter(include_in_schema=False)

DEFAULT_METRIC = "objective"
WIDTH, HEIGHT = 720, 280
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 16, 40


def study_url(run_id: str) -> str:
    """The study page of the study's run ``run_id``."""
    return f"/studies/{quote(run_id, safe='')}"


@dataclass
class Trial:
    """One trial, as its child run records it."""

    number: int
    state: str  # complete, pruned, failed, killed or running
    value: float | None  # the objective; for a pruned trial its last reported value
    run: Run

    @property
    def params(self) -> dict[str, str]:
        return self.run.params


@dataclass
class History:
    """The optimisation history as an SVG drawing, in the drawing's coordinates."""

    points: list[dict[str, Any]] = field(default_factory=list)
    best_line: str = ""
    x_ticks: list[tuple[float, str]] = field(default_factory=list)
    y_ticks: list[tuple[float, str]] = field(default_factory=list)
    width: int = WIDTH
    height: int = HEIGHT


@dataclass
class Importances:
    """Each param's share of the value's variance, largest first; or why there are none."""

    values: list[tuple[str, float]] = field(default_factory=list)
    message: str = ""


def trials_of(children: list[Run], metric: str) -> list[Trial]:
    """The trials among a study run's children, by number."""
    trials = []
    for run in children:
        number = run.tags.get("dockyard.trial")
        if number is None or not number.isdigit():
            continue
        state = run.tags.get("dockyard.trial_state", "running")
        point = run.metrics.get(metric)
        trials.append(Trial(int(number), state, None if point is None else point.value, run))
    return sorted(trials, key=lambda t: t.number)


def _metric_of(study: Run, children: list[Run]) -> str:
    named = study.tags.get("dockyard.study.metric")
    if named:
        return named
    keys = {k for r in children for k in r.metrics}
    return DEFAULT_METRIC if DEFAULT_METRIC in keys or len(keys) != 1 else keys.pop()


def describe_space(space: dict[str, str]) -> dict[str, str]:
    """Each param's range in words (``float from 0.01 to 0.3, log scale``), from the JSON of
    its Optuna distribution."""
    out = {}
    for name, text in space.items():
        try:
            d = json.loads(text)
            kind, a = d["name"], d["attributes"]
        except (TypeError, ValueError, KeyError):
            out[name] = str(text)
            continue
        if kind == "CategoricalDistribution":
            out[name] = "one of " + ", ".join(map(str, a.get("choices", [])))
            continue
        words = f"{'int' if kind.startswith('Int') else 'float'} from {a.get('low')} to " \
                f"{a.get('high')}"
        if a.get("log"):
            words += ", log scale"
        elif a.get("step") not in (None, 1):
            words += f", step {a['step']}"
        out[name] = words
    return out


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def history(trials: list[Trial], maximize: bool) -> History:
    """Completed trials as points by trial number, pruned trials (at their last reported
    value) apart, and the best so far as a step line over the completed ones only."""
    shown = [t for t in trials if t.value is not None and math.isfinite(t.value)
             and t.state in ("complete", "pruned")]
    drawing = History()
    if not shown:
        return drawing
    xs = [t.number for t in shown]
    ys = [t.value for t in shown]
    x_lo, x_hi = min(xs), max(xs)
    y_lo, y_hi = min(ys), max(ys)  # type: ignore[type-var]

    def x(n: float) -> float:
        span = WIDTH - LEFT - RIGHT
        return LEFT + (span / 2 if x_hi == x_lo else (n - x_lo) * span / (x_hi - x_lo))

    def y(v: float) -> float:
        span = HEIGHT - TOP - BOTTOM
        return TOP + (span / 2 if y_hi == y_lo else (y_hi - v) * span / (y_hi - y_lo))

    best: float | None = None
    last = x_lo
    line: list[str] = []
    for t in shown:
        assert t.value is not None
        drawing.points.append({"x": round(x(t.number), 1), "y": round(y(t.value), 1),
                               "state": t.state, "number": t.number, "value": t.value})
        if t.state != "complete":
            continue
        last = t.number
        if best is None or (t.value > best if maximize else t.value < best):
            if best is not None:  # a step: the old best holds until this trial
                line.append(f"{x(t.number):.1f},{y(best):.1f}")
            best = t.value
            line.append(f"{x(t.number):.1f},{y(best):.1f}")
    if best is not None:
        end = x(last) if len(line) > 1 or x(last) > float(line[0].split(",")[0]) \
            else WIDTH - RIGHT
        line.append(f"{end:.1f},{y(best):.1f}")
    drawing.best_line = " ".join(line)
    drawing.x_ticks = [(x(n), str(n)) for n in sorted({x_lo, x_hi})]
    drawing.y_ticks = [(y(v), _fmt(v)) for v in sorted({y_lo, y_hi})]  # type: ignore[arg-type]
    return drawing


def _distribution(optuna: Any, name: str, space: dict[str, Any], values: list[str]) -> Any:
    """The param's distribution from the study's space; guessed from the values logged when
    the objective sampled its params itself."""
    dist = optuna.distributions
    if name in space:
        return dist.json_to_distribution(space[name])
    try:
        numbers = [float(s) for s in values]
    except ValueError:
        return dist.CategoricalDistribution(sorted(set(values)))
    return dist.FloatDistribution(min(numbers), max(numbers))


def _internal(optuna: Any, distribution: Any, text: str) -> Any:
    """A param logged as text, back as the value its distribution holds."""
    dist = optuna.distributions
    if isinstance(distribution, dist.IntDistribution):
        return int(float(text))
    if isinstance(distribution, dist.FloatDistribution):
        return float(text)
    for choice in distribution.choices:
        if str(choice) == text:
            return choice
    raise ValueError(f"{text!r} is not one of the choices")


def importances(trials: list[Trial], direction: str, space_json: str) -> Importances:
    """Optuna's parameter importances (its default evaluator) over the completed trials."""
    done = [t for t in trials if t.state == "complete" and t.value is not None and t.params]
    if len(done) < 2:
        return Importances(message=f"Importances need at least 2 completed trials; this study "
                                   f"has {len(done)}.")
    try:
        import optuna
    except ImportError:
        return Importances(message="Importances are computed with Optuna, which this server "
                                   "does not have: pip install 'dockyard[tune]'.")
    space = json.loads(space_json) if space_json else {}
    names = sorted({k for t in done for k in t.params})
    dists = {k: _distribution(optuna, k, space, [t.params[k] for t in done if k in t.params])
             for k in names}
    study = optuna.create_study(direction=direction)
    try:
        for t in done:
            params = {k: _internal(optuna, dists[k], s) for k, s in t.params.items() if k in dists}
            study.add_trial(optuna.trial.create_trial(
                params=params, distributions={k: dists[k] for k in params}, value=t.value))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            found = optuna.importance.get_param_importances(study)
    except (ValueError, RuntimeError) as exc:  # params outside the space, a single value...
        return Importances(message=f"Importances could not be computed: {exc}")
    return Importances(values=sorted(found.items(), key=lambda kv: -kv[1]))


def _study_page(client: Client, run_id: str) -> dict[str, Any] | str:
    run = client.get_run(run_id)
    name = run.tags.get("dockyard.study")
    if name is None:
        raise NotFound(f"run {run.name!r} ({run.id}) is not a study: a study's run is tagged "
                       f"dockyard.study by dockyard.tune")
    if "dockyard.trial" in run.tags and run.parent_id:
        return run.parent_id  # a trial: its study is its parent
    experiment = client.get_experiment(run.experiment_id)
    direction = run.tags.get("dockyard.study.direction", "minimize")
    children = list(client.search_all_runs(run.experiment_id,
                                           f"attributes.parent_id = '{run.id}'"))
    metric = _metric_of(run, children)
    trials = trials_of(children, metric)
    space = run.tags.get("dockyard.study.space", "")
    best_run = run.tags.get("dockyard.best_trial_run")
    best = next((t for t in trials if t.run.id == best_run), None)
    param_keys = sorted({k for t in trials for k in t.params})
    plotted = [t for t in trials if t.state == "complete"]
    states: dict[str, int] = {}
    for t in trials:
        states[t.state] = states.get(t.state, 0) + 1
    return {
        "run": run, "experiment": experiment, "study_name": name, "direction": direction,
        "metric": metric, "trials": trials, "states": states, "best": best,
        "best_value": run.metrics["best_value"].value if "best_value" in run.metrics else None,
        "space": describe_space(json.loads(space)) if space else {}, "param_keys": param_keys,
        "history": history(trials, direction == "maximize"),
        "importances": importances(trials, direction, space),
        "parcoords": parcoords_rows([t.run for t in plotted], metric),
    }


@router.get("/studies/{run_id}")
async def study_page(request: Request, run_id: str) -> Response:
    """A study: its history, parameter importances, parallel coordinates and trials."""
    found = await run_in_threadpool(_study_page, client_of(request), run_id)
    if isinstance(found, str):
        return RedirectResponse(study_url(found), status_code=307)
    return render(request, "study.html", "experiments", **found)


templates.env.globals.update(study_url=study_url)
