"""Shared by the two benchmark workers: the data every workload logs, and timing helpers.

Standard library only: this module is imported by the Dockyard worker (the
project's interpreter) and by the MLflow worker (MLflow's own virtual
environment), so both tools log exactly the same values.
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

EXPERIMENT_PREFIX = "bench"
MAX_DEPTHS = ("2", "4", "8", "16")
# Two filters over the same runs: one matching about 1 run in 8, one about 3 in 5
# (so at 1,000 runs it returns some 600 of them, at 10,000 a full page).
SEARCH_FILTERS = {
    "selective": "metrics.auc > 0.5 and params.max_depth = '8'",
    "broad": "metrics.auc > 0.2 and params.max_depth != '16'",
}
SEARCH_ORDER = "metrics.auc DESC"
SEARCH_MAX_RESULTS = 1000
HISTORY_KEY = "loss"
BASE_TS = 1_700_000_000_000  # fixed timestamps: both stores get identical rows


def search_run_data(start: int, stop: int, seed: int = 7) -> Iterator[tuple[dict[str, str], dict[str, float]]]:
    """Params and metrics of the runs ``start`` .. ``stop - 1`` of the search workload.

    Deterministic per index, so a store grown from 1,000 to 10,000 runs holds
    the same runs as one filled with 10,000 at once.
    """
    for i in range(start, stop):
        rng = random.Random(seed * 1_000_003 + i)
        params = {
            "max_depth": rng.choice(MAX_DEPTHS),
            "n_estimators": str(rng.choice((50, 100, 200, 400))),
            "learning_rate": f"{rng.choice((0.01, 0.03, 0.1, 0.3))}",
        }
        metrics = {"auc": rng.random(), "loss": rng.random() * 2}
        yield params, metrics


def run_params(i: int) -> dict[str, str]:
    """The five params of run ``i`` of the fluent-runs workload."""
    return {"alpha": str(0.1 * (i % 10)), "max_depth": str(2 + i % 8), "optimizer": "adam",
            "batch_size": str(32 << (i % 4)), "seed": str(i)}


def run_metrics(i: int) -> dict[str, float]:
    """The five metrics of run ``i`` of the fluent-runs workload."""
    return {"auc": (i % 97) / 97, "loss": 1.0 / (1 + i), "accuracy": (i % 89) / 89,
            "precision": (i % 83) / 83, "recall": (i % 79) / 79}


def history_point(step: int) -> tuple[float, int]:
    """(value, timestamp) of one step of the history and batch workloads."""
    return 1.0 / (1.0 + step) + (step % 7) * 1e-3, BASE_TS + step


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def median_ms(fn: Callable[[], Any], reps: int, warmup: int = 1) -> tuple[float, list[float], Any]:
    """Median wall time of ``reps`` calls in milliseconds (after ``warmup`` untimed calls)."""
    result = None
    for _ in range(warmup):
        result = fn()
    samples = []
    for _ in range(reps):
        seconds, result = timed(fn)
        samples.append(seconds * 1000)
    return statistics.median(samples), samples, result


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def emit(result: dict[str, Any]) -> None:
    """The worker's answer: one JSON line, the last line of stdout."""
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()


def parse_args(argv: list[str]) -> tuple[str, str, dict[str, Any]]:
    if len(argv) != 4:
        raise SystemExit(f"usage: {argv[0]} WORKLOAD SERVER_URL CONFIG_JSON")
    return argv[1], argv[2], json.loads(argv[3])
