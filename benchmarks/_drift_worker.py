"""One measurement of drift.py, in a fresh process: ``python _drift_worker.py TASK FOLDER OUT``.

Reads ``reference.parquet`` and ``current.parquet`` from FOLDER (written by
``_drift_data.write``), runs TASK and writes its results as JSON to OUT.
Imports happen before anything is timed; reading the data is timed on its
own. Runs with the project's interpreter (tasks ``read``, ``scipy``,
``dockyard-raw``, ``dockyard-profiles``, ``throughput``) or Evidently's
(``read``, ``evidently``); the parent measures the process's peak memory.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import _drift_data as data
import numpy as np

FLOOR = 1e-4  # the share PSI gives an empty bin


def _read(folder: Path) -> tuple[Any, Any, float]:
    start = time.perf_counter()
    ref, cur = data.read(folder / "reference.parquet"), data.read(folder / "current.parquet")
    return ref, cur, time.perf_counter() - start


def _warm(call: Any, ref: Any, cur: Any) -> None:
    """One untimed call on the first 2,000 rows: lazy imports and first-call set-up."""
    call(ref.iloc[:2000], cur.iloc[:2000])


def _timed(runs: int, call: Any) -> tuple[list[float], list[float], Any]:
    """Wall and CPU seconds of ``runs`` calls, and the last result."""
    walls, cpus, result = [], [], None
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        result = call()
        cpus.append(time.process_time() - cpu)
        walls.append(time.perf_counter() - wall)
    return walls, cpus, result


def task_read(folder: Path, runs: int) -> dict[str, Any]:
    import pandas as pd

    ref, cur, seconds = _read(folder)
    return {"read_s": seconds, "pandas": pd.__version__, "rows": [len(ref), len(cur)]}


def task_evidently(folder: Path, runs: int) -> dict[str, Any]:
    import evidently
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    ref, cur, seconds = _read(folder)
    definition = DataDefinition(numerical_columns=data.NUMERIC,
                                categorical_columns=data.CATEGORICAL)

    def run(ref: Any, cur: Any) -> Any:
        return Report([DataDriftPreset()]).run(
            Dataset.from_pandas(cur, data_definition=definition),
            Dataset.from_pandas(ref, data_definition=definition))

    _warm(run, ref, cur)
    walls, cpus, snapshot = _timed(runs, lambda: run(ref, cur))
    columns, count = {}, None
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if config.get("type", "").endswith("DriftedColumnsCount"):
            count = metric["value"]["count"]
        elif config.get("type", "").endswith("ValueDrift"):
            method, value, threshold = config["method"], metric["value"], config["threshold"]
            # Evidently's rule: a p-value drifts at or below its threshold, a distance at or above
            drifted = value <= threshold if "p_value" in method else value >= threshold
            columns[config["column"]] = {"method": method, "value": value,
                                         "threshold": threshold, "drifted": bool(drifted)}
    return {"read_s": seconds, "walls": walls, "cpus": cpus, "columns": columns,
            "drifted_count": count, "versions": {"evidently": evidently.__version__,
                                                 "pandas": pd.__version__}}


def _numpy_psi(ref: np.ndarray, cur: np.ndarray) -> float:
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, 11)[1:-1]))
    p = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=edges.size + 1)
    q = np.bincount(np.searchsorted(edges, cur, side="right"), minlength=edges.size + 1)
    return _psi(p, q)


def _psi(p: np.ndarray, q: np.ndarray) -> float:
    ps, qs = np.maximum(p / p.sum(), FLOOR), np.maximum(q / q.sum(), FLOOR)
    return float(np.sum((qs - ps) * np.log(qs / ps)))


def task_scipy(folder: Path, runs: int) -> dict[str, Any]:
    """The straightforward computation: ks_2samp, a chi-square test, PSI with numpy."""
    import scipy
    from scipy.stats import chi2_contingency, ks_2samp

    ref, cur, seconds = _read(folder)

    def run(ref: Any, cur: Any) -> dict[str, Any]:
        out = {}
        for name in data.NUMERIC:
            a, b = ref[name].dropna().to_numpy(), cur[name].dropna().to_numpy()
            test = ks_2samp(a, b)
            out[name] = {"ks": float(test.statistic), "p_value": float(test.pvalue),
                         "psi": _numpy_psi(a, b)}
        for name in data.CATEGORICAL:
            counts = (ref[name].value_counts().to_frame("reference")
                      .join(cur[name].value_counts().to_frame("current"), how="outer")
                      .fillna(0).sort_index())
            p, q = counts["reference"].to_numpy(), counts["current"].to_numpy()
            out[name] = {"p_value": float(chi2_contingency(np.vstack([p, q]))[1]),
                         "psi": _psi(p, q)}
        for result in out.values():
            result["drifted"] = result["p_value"] < 0.05
        return out

    _warm(run, ref, cur)
    walls, cpus, columns = _timed(runs, lambda: run(ref, cur))
    return {"read_s": seconds, "walls": walls, "cpus": cpus, "columns": columns,
            "versions": {"scipy": scipy.__version__}}


def _table(frame: Any) -> dict[str, Any]:
    keep = ["method", "statistic", "threshold", "drifted", "psi", "ks", "ks_error",
            "wasserstein", "jensen_shannon"]
    rows = frame.set_index("column")[keep].astype(object)
    return {name: {k: (None if v is None or (isinstance(v, float) and np.isnan(v)) else
                       bool(v) if k == "drifted" else v) for k, v in row.items()}
            for name, row in rows.iterrows()}


def task_dockyard_raw(folder: Path, runs: int) -> dict[str, Any]:
    import dockyard

    ref, cur, seconds = _read(folder)
    def run(ref: Any, cur: Any) -> Any:
        return dockyard.drift_report(ref, cur, categorical=data.CATEGORICAL)

    _warm(run, ref, cur)
    walls, cpus, report = _timed(runs, lambda: run(ref, cur))
    return {"read_s": seconds, "walls": walls, "cpus": cpus, "columns": _table(report.table)}


def task_dockyard_profiles(folder: Path, runs: int) -> dict[str, Any]:
    from dockyard.monitor.profile import Profile, compare, profile, quality

    ref, cur, seconds = _read(folder)

    def run(ref: Any, cur: Any) -> tuple[Any, ...]:
        times = [time.perf_counter()]
        reference = profile(ref, categorical=data.CATEGORICAL)
        times.append(time.perf_counter())
        current = profile(cur, reference=reference)
        times.append(time.perf_counter())
        table = compare(reference, current)
        quality(reference, current)
        times.append(time.perf_counter())
        return reference, current, table, np.diff(times).tolist()

    _warm(run, ref, cur)
    walls, cpus, (reference, current, table, parts) = _timed(runs, lambda: run(ref, cur))
    stored = (Profile.from_bytes(reference.to_bytes()), Profile.from_bytes(current.to_bytes()))
    compare_walls, _, _ = _timed(max(runs, 5), lambda: (compare(*stored), quality(*stored)))
    return {"read_s": seconds, "walls": walls, "cpus": cpus, "columns": _table(table),
            "last_parts": parts, "compare_walls": compare_walls,
            "bytes": [len(reference.to_bytes()), len(current.to_bytes())]}


def task_throughput(folder: Path, runs: int) -> dict[str, Any]:
    """Profiling alone: the current table against the reference's profile, one thread and all."""
    import os

    from dockyard.monitor.profile import profile

    ref, cur, seconds = _read(folder)
    reference = profile(ref, categorical=data.CATEGORICAL)
    profile(cur.iloc[:2000], reference=reference)  # warm-up, untimed
    out: dict[str, Any] = {"read_s": seconds, "rows": len(cur), "cores": os.cpu_count()}
    for threads in (1, os.cpu_count() or 1):
        walls, cpus, _ = _timed(runs, lambda n=threads: profile(cur, reference=reference,
                                                                threads=n))
        out[f"threads_{threads}"] = {"walls": walls, "cpus": cpus}
    return out


TASKS = {"read": task_read, "evidently": task_evidently, "scipy": task_scipy,
         "dockyard-raw": task_dockyard_raw, "dockyard-profiles": task_dockyard_profiles,
         "throughput": task_throughput}


def main() -> None:
    task, folder, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    runs = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    result = TASKS[task](folder, runs)
    for key in ("walls", "cpus"):
        if key in result:
            result[key.removesuffix("s") + "_median"] = statistics.median(result[key])
    out.write_text(json.dumps(result, default=float))


if __name__ == "__main__":
    main()
