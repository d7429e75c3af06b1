"""Worker of benchmarks/train.py: one measurement of one tool in a fresh process.

    python benchmarks/_train_worker.py JOB '{"tool": "dockyard" | "mlflow", ...}'

Run with the project's interpreter for Dockyard and with the interpreter of
MLflow's virtual environment for MLflow. It imports only the side it is
asked for (Dockyard or MLflow, lazily inside the functions), so each
environment needs nothing of the other. Both sides generate the same data
from the same seed. Progress goes to stderr; the result is one JSON line on
stdout. Imports and set-up are never timed.

Jobs:

* ``calibrate``: plain fits of growing size; the rows for a fit of ``target`` seconds.
* ``autolog``: ``reps`` plain fits and ``reps`` fits under the tool's autolog,
  interleaved, after one untimed plain fit; the first autologged fit (lazy
  imports, one-time set-up) is reported apart from the timed ones.
* ``system``: process CPU time while the tool samples system metrics for
  ``seconds`` at ``interval``, with an idle baseline and the cost of one sample.
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import sys
import time
from typing import Any

N_FEATURES = 20
SEED = 42


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- the fit
def make_data(rows: int) -> tuple[Any, Any]:
    from sklearn.datasets import make_classification

    return make_classification(n_samples=rows, n_features=N_FEATURES, n_informative=10,
                               n_redundant=4, flip_y=0.05, random_state=SEED)


def make_model(name: str) -> Any:
    # one core each: the benchmark is about the cost around the fit, not its parallelism
    if name == "random_forest":
        from sklearn.ensemble import RandomForestClassifier

        return RandomForestClassifier(n_estimators=100, n_jobs=1, random_state=0)
    if name == "gradient_boosting":
        from sklearn.ensemble import GradientBoostingClassifier

        return GradientBoostingClassifier(n_estimators=100, random_state=0)
    raise SystemExit(f"unknown model {name!r}")


def time_fit(model_name: str, x: Any, y: Any,
             after: Any = None) -> tuple[float, float, float]:
    """(wall seconds until the fit returns, wall seconds until ``after`` (the tool's flush)
    returns, CPU seconds of both) of one fit. CPU counts every thread of the process (the
    tool's background ones included) and the child processes it waited for, and is less
    disturbed than the wall clock by other load on the machine."""
    model = make_model(model_name)
    gc.collect()
    start, cpu = time.perf_counter(), cpu_seconds()
    model.fit(x, y)
    returned = time.perf_counter() - start
    if after is not None:
        after()
    return returned, time.perf_counter() - start, cpu_seconds() - cpu


def cpu_seconds() -> float:
    import resource

    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def calibrate(cfg: dict[str, Any]) -> dict[str, Any]:
    """Rows of the data set for a plain fit of about ``target`` seconds."""
    model, target = cfg["model"], float(cfg["target"])
    rows = int(cfg.get("start_rows", 2_000))
    time_fit(model, *make_data(500))  # warm-up: the first fit of a process is slower
    tried = []
    for _ in range(4):
        x, y = make_data(rows)
        seconds = min(time_fit(model, x, y)[0] for _ in range(2))
        tried.append({"rows": rows, "seconds": seconds})
        log(f"calibrate {model}: {rows:,} rows fit in {seconds:.3f}s")
        if abs(seconds - target) / target < 0.1:
            break
        # fit time grows a little faster than the rows (n log n): aim slightly below
        rows = max(500, round(rows * (target / seconds) ** 0.95 / 100) * 100)
    return {"rows": tried[-1]["rows"], "seconds": tried[-1]["seconds"], "tried": tried}


# ----------------------------------------------------------------------------- autolog
class Dockyard:
    def __init__(self) -> None:
        import dockyard

        self.dockyard = dockyard
        self.version = dockyard.__version__

    def enable(self) -> None:
        self.dockyard.autolog()

    def disable(self) -> None:
        self.dockyard.autolog(disable=True)

    def after_fit(self) -> None:
        self.dockyard.flush()  # waits for the background logging: the run is stored

    def check(self) -> dict[str, Any]:
        from dockyard import Client

        client = Client()
        runs = self.dockyard.search_runs(max_results=1000)
        last = client.get_run(runs[0].id)
        return {"runs": len(runs), "params": len(last.params),
                "metrics": sorted(k for k in last.metrics if not k.startswith("system/")),
                "system_metrics": sum(k.startswith("system/") for k in last.metrics),
                "artifacts": sorted(a.path for a in client.list_artifacts(last.id))}


class Mlflow:
    def __init__(self, tmp: str) -> None:
        import mlflow

        self.mlflow = mlflow
        self.version = mlflow.__version__
        mlflow.set_tracking_uri(f"sqlite:///{os.path.join(tmp, 'mlflow.db')}")
        name = "bench-train"
        if mlflow.get_experiment_by_name(name) is None:  # creates the database (untimed)
            mlflow.create_experiment(name, artifact_location=os.path.join(tmp, "mlflow-artifacts"))
        self.experiment = mlflow.set_experiment(name)

    def enable(self) -> None:
        self.mlflow.sklearn.autolog(silent=True)

    def disable(self) -> None:
        self.mlflow.sklearn.autolog(disable=True)

    def after_fit(self) -> None:
        pass  # MLflow's fluent API logs synchronously

    def check(self) -> dict[str, Any]:
        from mlflow import MlflowClient

        client = MlflowClient()
        runs = client.search_runs([self.experiment.experiment_id], max_results=1000,
                                  order_by=["attributes.start_time DESC"])
        last = runs[0]
        return {"runs": len(runs), "params": len(last.data.params),
                "metrics": sorted(last.data.metrics),
                "artifacts": sorted(a.path for a in client.list_artifacts(last.info.run_id)),
                "logged_models": len(self.mlflow.search_logged_models(
                    experiment_ids=[self.experiment.experiment_id], output_format="list"))}


def autolog(cfg: dict[str, Any]) -> dict[str, Any]:
    model, rows, reps = cfg["model"], int(cfg["rows"]), int(cfg["reps"])
    tool = Dockyard() if cfg["tool"] == "dockyard" else Mlflow(cfg["tmp"])
    x, y = make_data(rows)
    time_fit(model, x, y)  # warm-up: caches, allocator, lazy imports of the fit itself
    tool.enable()
    first = time_fit(model, x, y, tool.after_fit)[0]
    log(f"{cfg['tool']} {model}: first autologged fit {first:.3f}s")
    plain, logged = [], []
    for i in range(reps):
        tool.disable()
        plain.append(time_fit(model, x, y))
        tool.enable()
        logged.append(time_fit(model, x, y, tool.after_fit))
        log(f"{cfg['tool']} {model}: rep {i + 1}/{reps}: plain {plain[-1][0]:.3f}s, "
            f"autolog {logged[-1][0]:.3f}s, stored after {logged[-1][1]:.3f}s "
            f"(CPU {plain[-1][2]:.3f}s, {logged[-1][2]:.3f}s)")
    tool.disable()

    def median(samples: list[tuple[float, float, float]], i: int) -> float:
        return statistics.median(sample[i] for sample in samples)

    p, a, done = median(plain, 0), median(logged, 0), median(logged, 1)
    pc, ac = median(plain, 2), median(logged, 2)
    return {"tool": cfg["tool"], "version": tool.version, "model": model, "rows": rows,
            "plain_s": p, "autolog_s": a, "overhead_pct": 100.0 * (a - p) / p,
            "stored_s": done, "stored_overhead_pct": 100.0 * (done - p) / p,
            "plain_cpu_s": pc, "autolog_cpu_s": ac, "cpu_overhead_pct": 100.0 * (ac - pc) / pc,
            "first_autolog_s": first, "plain_samples": plain, "autolog_samples": logged,
            "logged": tool.check(),
            **({"dockyard_path": tool.dockyard.__file__} if isinstance(tool, Dockyard) else {})}


# ----------------------------------------------------------------------------- system metrics
def cpu_window(seconds: float) -> tuple[float, float]:
    """(process CPU seconds, wall seconds) while this thread sleeps ``seconds``."""
    c0, w0 = time.process_time(), time.perf_counter()
    time.sleep(seconds)
    return time.process_time() - c0, time.perf_counter() - w0


def per_call_cpu(fn: Any, calls: int) -> float:
    fn()
    c0 = time.process_time()
    for _ in range(calls):
        fn()
    return (time.process_time() - c0) / calls


def _share(cpu: float, wall: float, samples: int, **extra: Any) -> dict[str, Any]:
    return {"cpu_s": cpu, "wall_s": wall, "core_pct": 100.0 * cpu / wall, "samples": samples,
            "cpu_per_sample_ms": 1000.0 * cpu / samples if samples else None, **extra}


def system_dockyard(cfg: dict[str, Any]) -> dict[str, Any]:
    import dockyard
    from dockyard import Client
    from dockyard.train.system import SystemMetricsMonitor

    seconds, interval = float(cfg["seconds"]), float(cfg["interval"])
    out: dict[str, Any] = {"tool": "dockyard", "version": dockyard.__version__,
                           "dockyard_path": dockyard.__file__}
    cpu, wall = cpu_window(float(cfg["baseline_seconds"]))
    out["baseline"] = _share(cpu, wall, 0)

    probe = SystemMetricsMonitor(lambda *a: None, interval=interval)
    out["read_cpu_ms"] = 1000.0 * per_call_cpu(probe.read, int(cfg["read_calls"]))

    # the sampler alone, its samples kept in a list
    samples: list[dict[str, float]] = []
    monitor = SystemMetricsMonitor(lambda metrics, step, ts: samples.append(metrics),
                                   interval=interval)
    c0, w0 = time.process_time(), time.perf_counter()
    monitor.start()
    time.sleep(seconds)
    monitor.stop()
    out["monitor"] = _share(time.process_time() - c0, time.perf_counter() - w0, len(samples),
                            metrics_per_sample=len(samples[0]) if samples else 0)
    log(f"dockyard: monitor alone {out['monitor']['core_pct']:.3f}% of a core")

    # a real run on the embedded store; DOCKYARD_SYSTEM_METRICS_INTERVAL is set by the caller
    dockyard.set_experiment("bench-system")
    t0 = time.perf_counter()
    run = dockyard.start_run(log_system_metrics=True)
    started = time.perf_counter() - t0
    cpu, wall = cpu_window(seconds)
    t0 = time.perf_counter()
    dockyard.end_run()
    ended = time.perf_counter() - t0
    history = Client().get_metric_history(run.info.id, "system/cpu_percent")
    out["run"] = _share(cpu, wall, len(history), start_run_s=started, end_run_s=ended)
    log(f"dockyard: run {out['run']['core_pct']:.3f}% of a core, {len(history)} samples stored")
    return out


def system_mlflow(cfg: dict[str, Any]) -> dict[str, Any]:
    import mlflow
    from mlflow import MlflowClient
    from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

    seconds, interval = float(cfg["seconds"]), float(cfg["interval"])
    mlflow.set_tracking_uri(f"sqlite:///{os.path.join(cfg['tmp'], 'mlflow-system.db')}")
    exp_id = mlflow.create_experiment(
        "bench-system", artifact_location=os.path.join(cfg["tmp"], "mlflow-system-artifacts"))
    mlflow.set_experiment(experiment_id=exp_id)
    mlflow.set_system_metrics_sampling_interval(interval)
    with mlflow.start_run():  # a first run creates the tables and warms the store (untimed)
        pass
    out: dict[str, Any] = {"tool": "mlflow", "version": mlflow.__version__}
    cpu, wall = cpu_window(float(cfg["baseline_seconds"]))
    out["baseline"] = _share(cpu, wall, 0)

    probe = SystemMetricsMonitor("unused", sampling_interval=interval)
    out["read_cpu_ms"] = 1000.0 * per_call_cpu(probe.collect_metrics, int(cfg["read_calls"]))

    t0 = time.perf_counter()
    run = mlflow.start_run(log_system_metrics=True)
    started = time.perf_counter() - t0
    cpu, wall = cpu_window(seconds)
    t0 = time.perf_counter()
    mlflow.end_run()
    ended = time.perf_counter() - t0
    history = MlflowClient().get_metric_history(run.info.run_id, "system/cpu_utilization_percentage")
    out["run"] = _share(cpu, wall, len(history), start_run_s=started, end_run_s=ended)
    log(f"mlflow: run {out['run']['core_pct']:.3f}% of a core, {len(history)} samples stored")
    return out


def main() -> None:
    if len(sys.argv) != 3:
        raise SystemExit(f"usage: {sys.argv[0]} calibrate|autolog|system CONFIG_JSON")
    job, cfg = sys.argv[1], json.loads(sys.argv[2])
    if job == "calibrate":
        result = calibrate(cfg)
    elif job == "autolog":
        result = autolog(cfg)
    elif job == "system":
        result = system_dockyard(cfg) if cfg["tool"] == "dockyard" else system_mlflow(cfg)
    else:
        raise SystemExit(f"unknown job {job!r}")
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
