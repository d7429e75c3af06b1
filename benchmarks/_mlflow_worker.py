"""MLflow side of benchmarks/tracking.py: runs one workload against an MLflow server.

Executed with the interpreter of MLflow's own virtual environment:

    .bench/mlflow-venv/bin/python benchmarks/_mlflow_worker.py WORKLOAD http://127.0.0.1:PORT '{...}'

Progress goes to stderr; the result is one JSON line on stdout. The fluent
API finds the server through ``MLFLOW_TRACKING_URI``, which the caller sets.
"""

from __future__ import annotations

import sys
from typing import Any

import mlflow
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
from mlflow import MlflowClient
from mlflow.entities import Metric, Param


def _experiment(client: MlflowClient, name: str) -> str:
    exp = client.get_experiment_by_name(name)
    return exp.experiment_id if exp is not None else client.create_experiment(name)


def fluent_metrics(client: MlflowClient, cfg: dict[str, Any]) -> dict[str, Any]:
    n = int(cfg["n"])
    mlflow.set_experiment("bench-fluent")
    with mlflow.start_run(run_name="fluent-metrics") as run:
        def work() -> None:
            for step in range(n):
                mlflow.log_metric(HISTORY_KEY, history_point(step)[0], step=step)

        seconds, _ = timed(work)
    stored = len(client.get_metric_history(run.info.run_id, HISTORY_KEY))
    return {"calls": n, "seconds": seconds, "rate": n / seconds, "stored": stored}


def _log_history(client: MlflowClient, run_id: str, points: int, batch_size: int) -> None:
    for start in range(0, points, batch_size):
        metrics = []
        for step in range(start, min(start + batch_size, points)):
            value, ts = history_point(step)
            metrics.append(Metric(key=HISTORY_KEY, value=value, timestamp=ts, step=step))
        client.log_batch(run_id, metrics=metrics)


def batch_metrics(client: MlflowClient, cfg: dict[str, Any]) -> dict[str, Any]:
    points, batch_size = int(cfg["points"]), int(cfg["batch_size"])
    exp_id = _experiment(client, "bench-batch")
    run_id = client.create_run(exp_id, run_name="batch-metrics").info.run_id
    seconds, _ = timed(lambda: _log_history(client, run_id, points, batch_size))
    stored = len(client.get_metric_history(run_id, HISTORY_KEY))
    return {"points": points, "seconds": seconds, "rate": points / seconds, "stored": stored,
            "run_id": run_id}


def metric_history(client: MlflowClient, cfg: dict[str, Any]) -> dict[str, Any]:
    points, reps = int(cfg["points"]), int(cfg["reps"])
    run_id = cfg.get("run_id")
    if not run_id:
        exp_id = _experiment(client, "bench-history")
        run_id = client.create_run(exp_id, run_name="metric-history").info.run_id
        log(f"mlflow: logging {points:,} points for the history workload")
        _log_history(client, run_id, points, int(cfg["batch_size"]))
    med, samples, hist = median_ms(lambda: client.get_metric_history(run_id, HISTORY_KEY), reps)
    return {"points": len(hist), "median_ms": med, "samples_ms": samples}


def fluent_runs(client: MlflowClient, cfg: dict[str, Any]) -> dict[str, Any]:
    n = int(cfg["n"])
    exp = mlflow.set_experiment("bench-runs")

    def work() -> None:
        for i in range(n):
            mlflow.start_run(run_name=f"run-{i}")
            mlflow.log_params(run_params(i))
            mlflow.log_metrics(run_metrics(i))
            mlflow.end_run()

    seconds, _ = timed(work)
    stored = len(client.search_runs([exp.experiment_id], max_results=50_000))
    return {"runs": n, "seconds": seconds, "rate": n / seconds, "stored": stored}


def search(client: MlflowClient, cfg: dict[str, Any]) -> dict[str, Any]:
    sizes, reps = [int(s) for s in cfg["sizes"]], int(cfg["reps"])
    exp_id = client.create_experiment("bench-search")
    out: dict[str, Any] = {}
    have = 0
    for size in sizes:
        log(f"mlflow: populating runs {have:,}..{size:,} for search")

        def populate(lo: int = have, hi: int = size) -> None:
            for i, (params, metrics) in enumerate(search_run_data(lo, hi), start=lo):
                if i > lo and i % 2000 == 0:
                    log(f"mlflow:   ... {i:,} runs")
                run_id = client.create_run(exp_id, run_name=f"r{i}").info.run_id
                client.log_batch(
                    run_id,
                    metrics=[Metric(key=k, value=val, timestamp=BASE_TS, step=0) for k, val in metrics.items()],
                    params=[Param(key=k, value=val) for k, val in params.items()])

        pop_seconds, _ = timed(populate)
        have = size

        out[str(size)] = {"populate_seconds": pop_seconds}
        for name, filter_ in SEARCH_FILTERS.items():

            def query(f: str = filter_) -> list[Any]:
                return client.search_runs([exp_id], f, max_results=SEARCH_MAX_RESULTS,
                                          order_by=[SEARCH_ORDER])

            med, samples, found = median_ms(query, reps)
            out[str(size)][name] = {
                "median_ms": med, "samples_ms": samples, "matched": len(found),
                "top_auc": [round(r.data.metrics["auc"], 9) for r in found[:5]],
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
    mlflow.set_tracking_uri(url)
    client = MlflowClient(url)
    result = WORKLOADS[workload](client, cfg)
    result["tool_version"] = mlflow.__version__
    emit(result)


if __name__ == "__main__":
    main()
