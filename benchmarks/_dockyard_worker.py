"""Dockyard side of benchmarks/tracking.py: runs one workload against a server.

    python benchmarks/_dockyard_worker.py WORKLOAD http://127.0.0.1:PORT '{"n": 1000}'

Progress goes to stderr; the result is one JSON line on stdout. The fluent
API finds the server through ``DOCKYARD_URI``, which the caller sets.
"""

from __future__ import annotations

import sys
from typing import Any

from _workload import (
    BASE_TS,
    HISTORY_KEY,
    SEARCH_FILTERS,
    SEARCH_MAX_RESULTS,
    SEARCH_ORDER,
    emit,
    history_point,
    log,
    median_ms,
    parse_args,
    run_metrics,
    run_params,
    search_run_data,
    timed,
)

import dockyard
from dockyard import Client
from dockyard.entities import Metric, Param


def fluent_metrics(client: Client, cfg: dict[str, Any]) -> dict[str, Any]:
    n = int(cfg["n"])
    dockyard.set_experiment("bench-fluent")
    with dockyard.start_run(name="fluent-metrics") as run:
        def work() -> None:
            for step in range(n):
                dockyard.log_metric(HISTORY_KEY, history_point(step)[0], step=step)
            dockyard.flush()

        seconds, _ = timed(work)
    stored = len(client.get_metric_history(run.id, HISTORY_KEY))
    return {"calls": n, "seconds": seconds, "rate": n / seconds, "stored": stored}


def _log_history(client: Client, run_id: str, points: int, batch_size: int) -> None:
    for start in range(0, points, batch_size):
        metrics = []
        for step in range(start, min(start + batch_size, points)):
            value, ts = history_point(step)
            metrics.append(Metric(key=HISTORY_KEY, value=value, step=step, timestamp=ts))
        client.log_batch(run_id, metrics=metrics)


def batch_metrics(client: Client, cfg: dict[str, Any]) -> dict[str, Any]:
    points, batch_size = int(cfg["points"]), int(cfg["batch_size"])
    exp = client.get_or_create_experiment("bench-batch")
    run = client.create_run(exp.id, "batch-metrics")
    seconds, _ = timed(lambda: _log_history(client, run.id, points, batch_size))
    stored = len(client.get_metric_history(run.id, HISTORY_KEY))
    return {"points": points, "seconds": seconds, "rate": points / seconds, "stored": stored,
            "run_id": run.id}


def metric_history(client: Client, cfg: dict[str, Any]) -> dict[str, Any]:
    points, reps = int(cfg["points"]), int(cfg["reps"])
    run_id = cfg.get("run_id")
    if not run_id:
        exp = client.get_or_create_experiment("bench-history")
        run_id = client.create_run(exp.id, "metric-history").id
        log(f"dockyard: logging {points:,} points for the history workload")
        _log_history(client, run_id, points, int(cfg["batch_size"]))
    med, samples, hist = median_ms(lambda: client.get_metric_history(run_id, HISTORY_KEY), reps)
    return {"points": len(hist), "median_ms": med, "samples_ms": samples}


def fluent_runs(client: Client, cfg: dict[str, Any]) -> dict[str, Any]:
    n = int(cfg["n"])
    dockyard.set_experiment("bench-runs")

    def work() -> None:
        for i in range(n):
            dockyard.start_run(name=f"run-{i}")
            dockyard.log_params(run_params(i))
            dockyard.log_metrics(run_metrics(i))
            dockyard.end_run()

    seconds, _ = timed(work)
    exp = client.get_experiment_by_name("bench-runs")
    stored = sum(1 for _ in client.search_all_runs(exp.id))
    return {"runs": n, "seconds": seconds, "rate": n / seconds, "stored": stored}


def search(client: Client, cfg: dict[str, Any]) -> dict[str, Any]:
    sizes, reps = [int(s) for s in cfg["sizes"]], int(cfg["reps"])
    exp = client.create_experiment("bench-search")
    out: dict[str, Any] = {}
    have = 0
    for size in sizes:
        log(f"dockyard: populating runs {have:,}..{size:,} for search")

        def populate(lo: int = have, hi: int = size) -> None:
            for i, (params, metrics) in enumerate(search_run_data(lo, hi), start=lo):
                if i > lo and i % 2000 == 0:
                    log(f"dockyard:   ... {i:,} runs")
                run = client.create_run(exp.id, f"r{i}")
                client.log_batch(
                    run.id,
                    metrics=[Metric(key=k, value=val, step=0, timestamp=BASE_TS) for k, val in metrics.items()],
                    params=[Param(key=k, value=val) for k, val in params.items()])

        pop_seconds, _ = timed(populate)
        have = size

        out[str(size)] = {"populate_seconds": pop_seconds}
        for name, filter_ in SEARCH_FILTERS.items():

            def query(f: str = filter_) -> list[Any]:
                return client.search_runs(exp.id, f, [SEARCH_ORDER], SEARCH_MAX_RESULTS).items

            med, samples, found = median_ms(query, reps)
            out[str(size)][name] = {
                "median_ms": med, "samples_ms": samples, "matched": len(found),
                "top_auc": [round(r.metrics["auc"].value, 9) for r in found[:5]],
            }
    return out


WORKLOADS = {
    "fluent_metrics": fluent_metrics,
    "batch_metrics": batch_metrics,
    "metric_history": metric_history,
    "fluent_runs": fluent_runs,
    "search": search,
}


def main() -> None:
    workload, url, cfg = parse_args(sys.argv)
    client = Client(url)
    try:
        result = WORKLOADS[workload](client, cfg)
    finally:
        client.close()
    result["tool_version"] = dockyard.__version__
    emit(result)


if __name__ == "__main__":
    main()
