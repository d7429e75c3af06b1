"""UI benchmark: server time of the web UI's pages with 100,000 runs in the store.

    .venv/bin/python benchmarks/ui.py                # 100,000 runs (a few minutes to populate)
    .venv/bin/python benchmarks/ui.py --quick        # 10,000 runs, a smoke run
    .venv/bin/python benchmarks/ui.py --json results.json

The goal: with 100,000 runs in the store, the server answers each of these
in under 300 ms (median of the timed requests):

1. the first page of an experiment's runs table, ``GET /experiments/{id}``;
2. a filtered and ordered page of it, ``GET /experiments/{id}?filter=...&order=...``
   with the filter ``metrics.auc > 0.5 and params.max_depth = '8'`` and the
   order ``metrics.auc DESC`` (URL-encoded);
3. the page of a run with a 100,000-point metric, ``GET /runs/{id}``, with and
   without the chart data that page fetches,
   ``GET /api/v1/runs/{id}/metric-history?key=loss&max_points=2000``.

No peer tool is named for this goal, so the script measures Dockyard alone.

What it does:

1. Fills a fresh SQLite store in a temporary folder (its own DOCKYARD_HOME)
   in this process, through the public store API: one ``log_batch`` per run
   that creates it, logs params ``max_depth`` in {2, 4, 8, 16},
   ``n_estimators``, ``learning_rate`` and metrics ``auc`` (uniform) and
   ``loss``, and finishes it. One more run gets a 100,000-step ``loss``,
   logged in batches of 10,000 points.
2. Starts ``dockyard server`` on that store, on a free loopback port, one
   worker, access log off; waits until it answers ``/health``.
3. Requests every page once untimed, then ``--reps`` times (default 7) timed,
   with one keep-alive HTTP client; a figure is the client's wall time of a
   request, body read.
4. Prints one table (median, p95, goal, PASS/BELOW), stops the server and
   removes the temporary folder.

A response other than 200 is a failure: it is printed with the start of its
body and the exit status is non-zero. A figure BELOW its goal does not fail
the script. All traffic goes to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import signal
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx
from _workload import BASE_TS, HISTORY_KEY, SEARCH_FILTERS, SEARCH_ORDER, search_run_data
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from tracking import LOOPBACK, Server, _dockyard_env, _source_state, free_port, say

GOAL_MS = 300.0
RUNS = {"full": 100_000, "quick": 10_000}
HISTORY_POINTS = 100_000
HISTORY_BATCH = 10_000
MAX_POINTS = 2_000
DEFAULT_REPS = 7
EXPERIMENT = "ui-bench"
FILTER = SEARCH_FILTERS["selective"]


# ----------------------------------------------------------------------------- population
@dataclass
class Store:
    uri: str
    artifacts: Path
    experiment_id: str
    history_run_id: str
    runs: int
    seconds: float


def populate(root: Path, n_runs: int) -> Store:
    """Fill a fresh SQLite store under ``root``: ``n_runs`` runs and one long history."""
    os.environ["DOCKYARD_HOME"] = str(root / "home")
    for var in ("DOCKYARD_URI", "DOCKYARD_ARTIFACTS", "DOCKYARD_SPOOL"):
        os.environ.pop(var, None)
    from dockyard.entities import Batch, Metric, NewRun, Param, RunStatus
    from dockyard.store import open_metadata_store

    uri = f"sqlite:///{root / 'dockyard.db'}"
    store = open_metadata_store(uri)
    started = time.monotonic()
    columns = (TextColumn("[bench] {task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TimeRemainingColumn())
    try:
        experiment_id = store.create_experiment(EXPERIMENT).id
        with Progress(*columns) as progress:
            task = progress.add_task("runs", total=n_runs)
            for i, (params, metrics) in enumerate(search_run_data(0, n_runs)):
                start = BASE_TS + i * 1_000
                store.log_batch(Batch(
                    run_id=uuid.uuid4().hex,
                    create=NewRun(experiment_id=experiment_id, name=f"run-{i:06d}",
                                  start_time=start),
                    params=[Param(key=k, value=val) for k, val in params.items()],
                    metrics=[Metric(key=k, value=val, timestamp=start)
                             for k, val in metrics.items()],
                    end_status=RunStatus.FINISHED, end_time=start + 500,
                ))
                if i % 100 == 99:
                    progress.update(task, completed=i + 1)
            progress.update(task, completed=n_runs)

            history = progress.add_task(f"{HISTORY_POINTS:,}-step {HISTORY_KEY}",
                                        total=HISTORY_POINTS)
            run_id = uuid.uuid4().hex
            start = BASE_TS + n_runs * 1_000
            store.log_batch(Batch(
                run_id=run_id,
                create=NewRun(experiment_id=experiment_id, name="long-history", start_time=start),
                params=[Param(key="max_depth", value="8"), Param(key="n_estimators", value="400"),
                        Param(key="learning_rate", value="0.01")],
                metrics=[Metric(key="auc", value=0.9, timestamp=start)],
            ))
            for first in range(0, HISTORY_POINTS, HISTORY_BATCH):
                last = min(first + HISTORY_BATCH, HISTORY_POINTS)
                store.log_batch(Batch(
                    run_id=run_id,
                    metrics=[Metric(key=HISTORY_KEY, value=_loss(step), step=step,
                                    timestamp=start + step) for step in range(first, last)],
                    **({"end_status": RunStatus.FINISHED, "end_time": start + HISTORY_POINTS}
                       if last == HISTORY_POINTS else {}),
                ))
                progress.update(history, completed=last)
    finally:
        store.close()
    return Store(uri=uri, artifacts=root / "artifacts", experiment_id=experiment_id,
                 history_run_id=run_id, runs=n_runs + 1, seconds=time.monotonic() - started)


def _loss(step: int) -> float:
    return 0.05 + 2.0 * math.exp(-step / 20_000) + 0.02 * math.sin(step / 50)


# ----------------------------------------------------------------------------- timing
class PageFailed(Exception):
    pass


@dataclass
class Row:
    key: str
    label: str
    path: str
    samples_ms: list[float] = field(default_factory=list)
    error: str | None = None
    size: int | None = None  # bytes of the last response body
    derived: bool = False  # summed from other rows, which report its failures

    @property
    def median_ms(self) -> float | None:
        return statistics.median(self.samples_ms) if self.samples_ms else None

    @property
    def p95_ms(self) -> float | None:
        if len(self.samples_ms) < 2:
            return self.median_ms
        return statistics.quantiles(self.samples_ms, n=20, method="inclusive")[-1]

    @property
    def status(self) -> str:
        if self.error:
            return "ERROR"
        if self.median_ms is None:
            return "n/a"
        return "PASS" if self.median_ms < GOAL_MS else "BELOW"

    def as_dict(self) -> dict[str, Any]:
        return {"page": self.key, "label": self.label, "path": self.path, "bytes": self.size,
                "median_ms": self.median_ms, "p95_ms": self.p95_ms, "samples_ms": self.samples_ms,
                "goal_ms": GOAL_MS, "status": self.status, "error": self.error}


def _get(client: httpx.Client, path: str) -> tuple[float, httpx.Response]:
    t0 = time.perf_counter()
    response = client.get(path)
    elapsed = (time.perf_counter() - t0) * 1000
    if response.status_code != 200:
        raise PageFailed(f"GET {path} answered {response.status_code}: {response.text[:300]!r}")
    if 'class="parse-error"' in response.text:  # a rejected filter renders an inline error
        raise PageFailed(f"GET {path} showed a filter error instead of runs")
    return elapsed, response


def measure(client: httpx.Client, rows: list[Row], reps: int) -> None:
    """Request the rows' paths in turn, once untimed, then ``reps`` times timed.

    A row whose request fails keeps the error and no figure; the others go on.
    """
    for rep in range(reps + 1):
        for row in rows:
            if row.error:
                continue
            try:
                ms, response = _get(client, row.path)
            except PageFailed as exc:
                row.error, row.samples_ms = str(exc), []
                continue
            except httpx.HTTPError as exc:
                row.error, row.samples_ms = f"GET {row.path}: {exc!r}", []
                continue
            row.size = len(response.content)
            if rep > 0:
                row.samples_ms.append(ms)


def history_note(client: httpx.Client, path: str) -> str:
    """How many points the chart data holds (the server thins it to ``max_points``)."""
    try:
        _, response = _get(client, path)
        points = len(response.json()["steps"])
    except (PageFailed, httpx.HTTPError, ValueError, KeyError, TypeError):
        return ""
    if points > MAX_POINTS:
        return (f"metric-history returned {points:,} points for max_points={MAX_POINTS:,} "
                "(not thinned)")
    return f"metric-history returned {points:,} points (max_points={MAX_POINTS:,})"


def build_rows(store: Store) -> tuple[list[Row], list[Row]]:
    """The experiment pages, and the run page with its chart data."""
    exp = f"/experiments/{store.experiment_id}"
    query = urlencode({"filter": FILTER, "order": SEARCH_ORDER}, quote_via=quote)
    run = store.history_run_id
    history = urlencode({"key": HISTORY_KEY, "max_points": MAX_POINTS})
    return (
        [Row("runs_table", "1 experiment runs table, first page", exp),
         Row("runs_table_filtered", "2 runs table, filtered and ordered", f"{exp}?{query}")],
        [Row("run_page", f"3 run page, {HISTORY_POINTS:,}-point metric (HTML)", f"/runs/{run}"),
         Row("run_chart_data", f"4 its chart data, metric-history max_points={MAX_POINTS:,}",
             f"/api/v1/runs/{run}/metric-history?{history}")],
    )


def combined(page: Row, data: Row) -> Row:
    """The run page and its chart data as one figure, summed per repetition."""
    error = "; ".join(e for e in (page.error, data.error) if e) or None
    return Row("run_page_with_chart_data", "3+4 run page and its chart data",
               f"{page.path} + {data.path}",
               [] if error else [a + b for a, b in zip(page.samples_ms, data.samples_ms)], error,
               derived=True)


# ----------------------------------------------------------------------------- report
def _fmt(ms: float | None) -> str:
    if ms is None:
        return "-"
    return f"{ms:,.1f} ms" if ms < 1000 else f"{ms / 1000:,.2f} s"


def print_table(rows: list[Row]) -> None:
    header = ("page", "median", "p95", "goal", "result")
    body = [(r.label, _fmt(r.median_ms), _fmt(r.p95_ms), f"< {GOAL_MS:g} ms", r.status)
            for r in rows]
    widths = [max(len(x[i]) for x in [header, *body]) for i in range(len(header))]
    align = ("<", ">", ">", ">", "<")

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(f"{c:{a}{w}}" for c, a, w in zip(cells, align, widths))

    print(line(header))
    print("  ".join("-" * w for w in widths))
    for cells in body:
        print(line(cells))


# ----------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help=f"{RUNS['quick']:,} runs instead of "
                   f"{RUNS['full']:,}: a smoke run")
    p.add_argument("--runs", type=int, metavar="N",
                   help="runs in the experiment (overrides --quick)")
    p.add_argument("--reps", type=int, default=DEFAULT_REPS,
                   help=f"timed requests per page, after one warm-up (default: {DEFAULT_REPS})")
    p.add_argument("--json", metavar="PATH", help="also write the results to this JSON file")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder (database, log)")
    args = p.parse_args(argv)
    if args.runs is not None and args.runs < 1:
        p.error("--runs must be at least 1")
    if args.reps < 1:
        p.error("--reps must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    mode = "custom" if args.runs else "quick" if args.quick else "full"
    n_runs = args.runs or RUNS[mode]

    def _terminate(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _terminate)

    import dockyard

    started = time.monotonic()
    say(f"UI benchmark, {mode} mode: {n_runs:,} runs, {args.reps} timed requests per page")
    rows: list[Row] = []
    store: Store | None = None
    notes: list[str] = []
    crashed: list[str] = []
    tmp = Path(tempfile.mkdtemp(prefix="dockyard-ui-bench-"))
    server: Server | None = None
    try:
        say(f"populating a SQLite store in {tmp}")
        store = populate(tmp, n_runs)
        say(f"populated {store.runs:,} runs in {store.seconds:.1f}s")
        port = free_port()
        cmd = [sys.executable, "-m", "dockyard", "server", "--host", LOOPBACK, "--port", str(port),
               "--uri", store.uri, "--artifacts", str(store.artifacts), "--no-access-log"]
        server = Server("dockyard", cmd, _dockyard_env(tmp / "home"), tmp, tmp / "server.log", port)
        say(f"starting dockyard server on {server.url}")
        server.start()
        say(f"dockyard server healthy after {server.wait_healthy():.1f}s")

        experiment_rows, run_rows = build_rows(store)
        with httpx.Client(base_url=server.url, trust_env=False, timeout=120) as client:
            for row in experiment_rows:
                say(f"timing {row.path}")
                measure(client, [row], args.reps)
            say(f"timing {' then '.join(r.path for r in run_rows)}")
            measure(client, run_rows, args.reps)
            notes.append(history_note(client, run_rows[1].path))
        rows = [*experiment_rows, *run_rows, combined(*run_rows)]
        if server.proc is not None and server.proc.poll() is not None:
            raise RuntimeError(f"dockyard server died:\n{server.log_tail()}")
    except KeyboardInterrupt:
        crashed.append("interrupted")
        say("interrupted; stopping the server")
    except Exception as exc:  # noqa: BLE001 -- report what we have, then fail
        crashed.append(f"{exc.__class__.__name__}: {exc}")
        say(f"ERROR: {exc}")
    finally:
        if server is not None:
            server.stop()
        if args.keep:
            say(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    elapsed = time.monotonic() - started
    failed = [r for r in rows if r.error and not r.derived]
    print()
    print(f"Dockyard {dockyard.__version__} (git {_source_state()}) -- UI pages over "
          f"{store.runs if store else n_runs:,} runs, {mode} mode, {elapsed / 60:.1f} min")
    print(f"Python {platform.python_version()} on {platform.system()} {platform.machine()}, "
          f"{os.cpu_count()} CPUs; server: SQLite (temp dir), 1 worker, access log off, loopback")
    print("Dockyard alone: no peer tool is named for this goal.")
    print()
    print_table(rows)
    print()
    print(f"median and p95 of {args.reps} timed requests after one warm-up; "
          "client wall time, body read.")
    print(f"filter \"{FILTER}\", order {SEARCH_ORDER}; run pages: the run with a "
          f"{HISTORY_POINTS:,}-step {HISTORY_KEY}.")
    for note in filter(None, notes):
        print(note)
    for row in failed:
        print(f"FAILED: {row.label}: {row.error}")
    if crashed:
        print(f"FAILED: {', '.join(crashed)}")

    if args.json:
        doc = {
            "mode": mode,
            "runs": store.runs if store else None,
            "reps": args.reps,
            "goal_ms": GOAL_MS,
            "versions": {"dockyard": dockyard.__version__, "dockyard_git": _source_state(),
                         "python": platform.python_version()},
            "machine": {"system": platform.system(), "machine": platform.machine(),
                        "cpus": os.cpu_count(), "platform": platform.platform()},
            "populate_seconds": store.seconds if store else None,
            "rows": [r.as_dict() for r in rows],
            "notes": [n for n in notes if n],
            "failed": [f"{r.label}: {r.error}" for r in failed] + crashed,
            "elapsed_seconds": elapsed,
        }
        Path(args.json).write_text(json.dumps(doc, indent=2) + "\n")
        print(f"results written to {args.json}")
    return 1 if (failed or crashed) else 0


if __name__ == "__main__":
    sys.exit(main())
