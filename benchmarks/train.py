"""Training benchmark: autolog overhead and system-metric sampling, Dockyard against MLflow.

    .venv/bin/python benchmarks/train.py                     # every section, about 4 minutes
    .venv/bin/python benchmarks/train.py --sections system   # some sections (autolog, system)
    .venv/bin/python benchmarks/train.py --quick             # one model, short windows, a smoke run
    .venv/bin/python benchmarks/train.py --json out.json

Sections and goals:

* ``autolog``: a scikit-learn fit of about one second (a RandomForest and a
  GradientBoosting classifier on generated data, the rows calibrated at the
  start), timed plain and under ``dockyard.autolog()`` (embedded SQLite store
  in a temporary ``DOCKYARD_HOME``), and plain and under
  ``mlflow.sklearn.autolog()`` (SQLite and a local artifact folder in the
  temporary folder). Goal: Dockyard's overhead under 5%. The overhead is
  the time ``fit()`` takes longer to return; Dockyard logs the model and the
  training metrics on a background thread after the fit returns, so the time
  until everything is stored (after ``dockyard.flush()``) and the CPU time
  are printed beside it.
* ``system``: the process CPU time that sampling system metrics every second
  costs while the process idles: Dockyard's ``SystemMetricsMonitor`` alone,
  and a run with ``DOCKYARD_SYSTEM_METRICS_INTERVAL=1``; MLflow's run with
  ``log_system_metrics=True`` at a sampling interval of 1 s. Goal: Dockyard
  under 1% of one core.

Every measurement runs in a fresh process (``_train_worker.py``), with the
project's interpreter for Dockyard and with MLflow's virtual environment
(``.bench/mlflow-venv``, created as ``tracking.py`` does; scikit-learn, skops
and psutil are installed into it when missing) for MLflow. A figure BELOW its
goal does not fail the script; the exit status is non-zero only when
something crashed or MLflow could not be installed.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from tracking import (
    DEFAULT_MLFLOW_VENV,
    MlflowUnavailable,
    _dockyard_env,
    _mlflow_env,
    _run_logged,
    _source_state,
    ensure_mlflow,
    say,
)

from models import ensure_mlflow_sklearn, print_table

HERE = Path(__file__).resolve().parent
WORKER = HERE / "_train_worker.py"
WORKER_TIMEOUT = 10 * 60
AUTOLOG_GOAL_PCT = 5.0  # Dockyard's autolog: at most this much longer than the plain fit
SYSTEM_GOAL_PCT = 1.0  # Dockyard's sampling at 1 s: at most this share of one core

CONFIGS: dict[str, dict[str, Any]] = {
    "full": {
        "models": ["random_forest", "gradient_boosting"],
        "target_s": 1.0, "reps": 5,
        "system": {"seconds": 20.0, "interval": 1.0, "baseline_seconds": 5.0, "read_calls": 200},
    },
    "quick": {
        "models": ["random_forest"],
        "target_s": 1.0, "reps": 2,
        "system": {"seconds": 5.0, "interval": 1.0, "baseline_seconds": 2.0, "read_calls": 50},
    },
}
MODEL_LABELS = {"random_forest": "RandomForestClassifier(100 trees)",
                "gradient_boosting": "GradientBoostingClassifier(100 stages)"}
SECTIONS = ("autolog", "system")


class WorkerFailed(Exception):
    pass


# ----------------------------------------------------------------------------- environments
def ensure_psutil(python: Path) -> str:
    """psutil in MLflow's environment (its system metrics need it); its version."""
    probe = "import psutil; print(psutil.__version__)"

    def version() -> str | None:
        out = subprocess.run([str(python), "-c", probe], capture_output=True, text=True,
                             timeout=120, env=_mlflow_env(), check=False)
        return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else None

    found = version()
    if found:
        return found
    try:
        wanted = f"psutil=={importlib.metadata.version('psutil')}"  # the project's version
    except importlib.metadata.PackageNotFoundError:
        wanted = "psutil"
    log_path = python.parent.parent.parent / "mlflow-install.log"
    say(f"installing {wanted} into MLflow's environment (log: {log_path})")
    _run_logged([str(python), "-m", "pip", "install", "--disable-pip-version-check",
                 "--progress-bar", "off", wanted], log_path, "installing psutil", 600)
    found = version()
    if not found:
        raise MlflowUnavailable(f"psutil was installed into MLflow's environment but does not "
                                f"import; see {log_path}")
    return found


def dockyard_worker_env(home: Path, **extra: str) -> dict[str, str]:
    env = _dockyard_env(home, **extra)
    # the Dockyard under test: a checkout run with PYTHONPATH=src keeps it in its workers
    if os.environ.get("PYTHONPATH"):
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return env


def run_worker(python: Path | str, job: str, cfg: dict[str, Any], env: dict[str, str],
               cwd: Path) -> dict[str, Any]:
    """One job in a fresh process; its progress lines are shown as they come."""
    cmd = [str(python), str(WORKER), job, json.dumps(cfg)]
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True)
    stdout: list[str] = []
    stderr: deque[str] = deque(maxlen=40)

    def pump_err() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            stderr.append(line.rstrip("\n"))
            if line.startswith(("dockyard", "mlflow", "calibrate")):
                say(f"    {line.rstrip()}")

    def pump_out() -> None:
        assert proc.stdout is not None
        stdout.extend(proc.stdout)

    threads = [threading.Thread(target=pump_err, daemon=True),
               threading.Thread(target=pump_out, daemon=True)]
    for t in threads:
        t.start()
    try:
        proc.wait(timeout=WORKER_TIMEOUT)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    for t in threads:
        t.join(timeout=10)
    lines = [ln for ln in stdout if ln.strip()]
    if proc.returncode != 0 or not lines:
        raise WorkerFailed(f"{job} exited with {proc.returncode}:\n" + "\n".join(stderr))
    return json.loads(lines[-1])


# ----------------------------------------------------------------------------- sections
class Bench:
    def __init__(self, cfg: dict[str, Any], tmp: Path, mlflow_python: Path | None) -> None:
        self.cfg, self.tmp, self.mlflow_python = cfg, tmp, mlflow_python
        self.results: dict[str, Any] = {}
        self.failed: list[str] = []
        self._n = 0

    def _dir(self, name: str) -> Path:
        self._n += 1
        path = self.tmp / f"{self._n:02d}-{name}"
        path.mkdir()
        return path

    def dockyard(self, job: str, cfg: dict[str, Any], **env: str) -> dict[str, Any] | None:
        work = self._dir(f"dockyard-{job}")
        return self._run("dockyard", sys.executable, job, {**cfg, "tool": "dockyard", "tmp": str(work)},
                         dockyard_worker_env(work / "home", **env), work)

    def mlflow(self, job: str, cfg: dict[str, Any]) -> dict[str, Any] | None:
        if self.mlflow_python is None:
            return None
        work = self._dir(f"mlflow-{job}")
        return self._run("mlflow", self.mlflow_python, job, {**cfg, "tool": "mlflow", "tmp": str(work)},
                         _mlflow_env(), work)

    def _run(self, tool: str, python: Path | str, job: str, cfg: dict[str, Any],
             env: dict[str, str], cwd: Path) -> dict[str, Any] | None:
        try:
            return run_worker(python, job, cfg, env, cwd)
        except (WorkerFailed, subprocess.SubprocessError, json.JSONDecodeError) as exc:
            self.failed.append(f"{tool} {job}")
            say(f"  FAILED: {tool} {job}: {exc}")
            return None


def pct(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:+.{digits}f}%"


def ratio_text(mlflow: float | None, dockyard: float | None) -> str:
    if mlflow is None or dockyard is None:
        return "-"
    if dockyard <= 0:
        return "inf" if mlflow > 0 else "-"
    return f"{mlflow / dockyard:,.1f}x"


def verdict(value: float | None, goal: float) -> str:
    return "n/a" if value is None else ("ok" if value < goal else "BELOW")


def section_autolog(bench: Bench) -> None:
    cfg = bench.cfg
    out: dict[str, Any] = {}
    rows = []
    for model in cfg["models"]:
        say(f"autolog, {model}: calibrating a plain fit of about {cfg['target_s']:.0f} s")
        cal = bench.dockyard("calibrate", {"model": model, "target": cfg["target_s"]})
        if cal is None:
            continue
        job = {"model": model, "rows": cal["rows"], "reps": cfg["reps"]}
        say(f"autolog, {model}: {cal['rows']:,} rows x 20 features; Dockyard ...")
        dy = bench.dockyard("autolog", job)
        say(f"autolog, {model}: MLflow ...")
        ml = bench.mlflow("autolog", job)
        out[model] = {"calibration": cal, "dockyard": dy, "mlflow": ml}
        dy_pct = dy["overhead_pct"] if dy else None
        ml_pct = ml["overhead_pct"] if ml else None
        label = f"{MODEL_LABELS[model]}, {cal['rows']:,} x 20"
        for tool, res in (("Dockyard", dy), ("MLflow", ml)):
            if res is None:
                continue
            rows.append((label if tool == "Dockyard" else "", tool,
                         f"{res['plain_s']:.3f} s", f"{res['autolog_s']:.3f} s",
                         pct(res["overhead_pct"]), pct(res["stored_overhead_pct"]),
                         pct(res["cpu_overhead_pct"]),
                         f"{res['first_autolog_s']:.2f} s",
                         ratio_text(ml_pct, dy_pct) if tool == "Dockyard" else "",
                         verdict(dy_pct, AUTOLOG_GOAL_PCT) if tool == "Dockyard" else ""))
    bench.results["autolog"] = out
    print()
    print_table(f"autolog: one fit, plain and under autolog (median of {cfg['reps']}, interleaved)",
                ("fit", "tool", "plain", "autolog", "overhead", "until stored", "CPU overhead",
                 "first autolog", "MLflow/Dockyard", f"< {AUTOLOG_GOAL_PCT:.0f}%"),
                rows, "llrrrrrrrl")
    print("  plain, autolog: wall clock until fit() returns; overhead: (autolog - plain) / plain, "
          "each tool against its own plain fit, the goal's figure;")
    print("  until stored: the same until the tool's flush() returns (MLflow logs before fit() "
          "returns: the same figure);")
    print("  CPU overhead: the same with CPU time (all threads, and child processes); first autolog: the first "
          "autologged fit of the process (lazy imports, one-time set-up), not in the median;")
    print("  MLflow/Dockyard: MLflow's overhead / Dockyard's (wall clock).")
    for model, res in out.items():
        for tool in ("dockyard", "mlflow"):
            r = res.get(tool)
            if r:
                lg = r["logged"]
                what = (f"{lg['params']} params, {len(lg['metrics'])} metrics, "
                        f"artifacts {', '.join(lg['artifacts'])}")
                if "logged_models" in lg:
                    what += f" ({lg['logged_models']} logged models for {lg['runs']} runs)"
                if lg.get("system_metrics"):
                    what += f", {lg['system_metrics']} system metrics"
                print(f"  {tool} logged per run ({model}): {what}")
                if tool == "dockyard":
                    print(f"  dockyard imported from {r['dockyard_path']}")


def section_system(bench: Bench) -> None:
    cfg = bench.cfg["system"]
    seconds, interval = cfg["seconds"], cfg["interval"]
    say(f"system: Dockyard, {seconds:.0f} s windows at {interval:g} s ...")
    dy = bench.dockyard("system", cfg, DOCKYARD_SYSTEM_METRICS_INTERVAL=f"{interval:g}")
    say(f"system: MLflow, a {seconds:.0f} s run at {interval:g} s ...")
    ml = bench.mlflow("system", cfg)
    bench.results["system"] = {"dockyard": dy, "mlflow": ml}
    ml_run = ml["run"]["core_pct"] if ml else None
    rows = []

    def row(label: str, tool: str, r: dict[str, Any] | None, read_ms: float | None,
            goal: bool) -> None:
        if r is None:
            return
        per = r["cpu_per_sample_ms"]
        rows.append((label, tool, f"{r['cpu_s'] * 1000:,.0f} ms", f"{r['wall_s']:.1f} s",
                     str(r["samples"]), "-" if per is None else f"{per:.2f} ms",
                     "-" if read_ms is None else f"{read_ms:.2f} ms", f"{r['core_pct']:.3f}%",
                     ratio_text(ml_run, r["core_pct"]) if goal and ml_run is not None else "",
                     verdict(r["core_pct"], SYSTEM_GOAL_PCT) if goal else ""))

    if dy:
        row("idle process, no sampling (baseline)", "Dockyard", dy["baseline"], None, False)
        row("SystemMetricsMonitor alone, samples kept in a list", "Dockyard", dy["monitor"],
            dy["read_cpu_ms"], True)
        row("run, DOCKYARD_SYSTEM_METRICS_INTERVAL=1, idling", "Dockyard", dy["run"], None, True)
    if ml:
        row("idle process, no sampling (baseline)", "MLflow", ml["baseline"], None, False)
        row("run, log_system_metrics=True, interval 1 s, idling", "MLflow", ml["run"],
            ml["read_cpu_ms"], False)
    print()
    print_table(f"system: process CPU time while sampling every {interval:g} s "
                f"({seconds:.0f} s windows, the main thread asleep)",
                ("measurement", "tool", "CPU", "wall", "samples", "CPU/sample", "one read",
                 "of a core", "MLflow run/this", f"< {SYSTEM_GOAL_PCT:.0f}%"),
                rows, "llrrrrrrrl")
    print("  CPU: time.process_time() (all threads) over the window; CPU/sample: CPU / samples stored; "
          "one read: CPU of one direct call of the sampler's read (Dockyard SystemMetricsMonitor.read, "
          "MLflow SystemMetricsMonitor.collect_metrics), the mean of "
          f"{cfg['read_calls']} calls.")
    if dy:
        print(f"  dockyard imported from {dy['dockyard_path']}")
        print(f"  dockyard: {dy['monitor']['metrics_per_sample']} metrics per sample; run start "
              f"{dy['run']['start_run_s'] * 1000:.0f} ms, end {dy['run']['end_run_s'] * 1000:.0f} ms "
              "(outside the window)")
    if ml:
        print(f"  mlflow: run start {ml['run']['start_run_s'] * 1000:.0f} ms, end "
              f"{ml['run']['end_run_s'] * 1000:.0f} ms (outside the window)")


SECTION_FUNCS = {"autolog": section_autolog, "system": section_system}


# ----------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sections", default=",".join(SECTIONS),
                   help=f"comma-separated, from: {', '.join(SECTIONS)} (default: all)")
    p.add_argument("--quick", action="store_true", help="one model, two repetitions, 5 s windows")
    p.add_argument("--json", type=Path, help="write every figure to this file")
    p.add_argument("--mlflow-venv", metavar="DIR", default=str(DEFAULT_MLFLOW_VENV),
                   help="MLflow's virtual environment (created when missing; default: .bench/mlflow-venv)")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = p.parse_args(argv)
    chosen = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in SECTIONS]
    if unknown:
        p.error(f"unknown section(s) {unknown}; choose from {', '.join(SECTIONS)}")
    mode = "quick" if args.quick else "full"

    def _terminate(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _terminate)
    started = time.monotonic()
    say(f"training benchmark, {mode} mode; sections: {', '.join(chosen)}")
    mlflow_python: Path | None = None
    mlflow_version = mlflow_problem = sklearn_versions = psutil_version = None
    try:
        mlflow_python, mlflow_version = ensure_mlflow(Path(args.mlflow_venv).absolute())
        sklearn_versions = ensure_mlflow_sklearn(mlflow_python)
        psutil_version = ensure_psutil(mlflow_python)
    except MlflowUnavailable as exc:
        mlflow_python, mlflow_problem = None, str(exc)
        say(f"MLflow is unavailable, running Dockyard alone: {exc}")

    tmp = Path(tempfile.mkdtemp(prefix="dockyard-bench-train-"))
    bench = Bench(CONFIGS[mode], tmp, mlflow_python)
    try:
        for name in chosen:
            SECTION_FUNCS[name](bench)
    except KeyboardInterrupt:
        bench.failed.append("interrupted")
    finally:
        if args.keep:
            say(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    elapsed = time.monotonic() - started
    dockyard_version = next((r["version"] for sec in bench.results.values() for r in _tool_results(sec, "dockyard")),
                            "(not run)")
    print()
    print(f"Dockyard {dockyard_version} (git {_source_state()}) vs MLflow {mlflow_version or '(unavailable)'} "
          f"-- {mode} mode, {elapsed / 60:.1f} min")
    print(f"Python {platform.python_version()} on {platform.system()} {platform.machine()}, "
          f"{os.cpu_count()} CPUs; MLflow's environment: scikit-learn and skops {sklearn_versions or '-'}, "
          f"psutil {psutil_version or '-'}")
    if mlflow_problem:
        print(f"MLflow could not be installed: {mlflow_problem}")
    if bench.failed:
        print(f"FAILED: {', '.join(bench.failed)}")
    if args.json:
        doc = {"mode": mode, "config": bench.cfg, "sections": chosen, "results": bench.results,
               "versions": {"dockyard": dockyard_version, "dockyard_git": _source_state(),
                            "mlflow": mlflow_version, "mlflow_env_sklearn_skops": sklearn_versions,
                            "mlflow_env_psutil": psutil_version, "python": platform.python_version()},
               "machine": {"system": platform.system(), "machine": platform.machine(),
                           "cpus": os.cpu_count()},
               "goals": {"autolog_overhead_pct_below": AUTOLOG_GOAL_PCT,
                         "system_core_pct_below": SYSTEM_GOAL_PCT},
               "failed": bench.failed, "mlflow_problem": mlflow_problem, "elapsed_seconds": elapsed}
        args.json.write_text(json.dumps(doc, indent=2) + "\n")
        print(f"results written to {args.json}")
    return 1 if (bench.failed or mlflow_problem) else 0


def _tool_results(section: dict[str, Any], tool: str) -> list[dict[str, Any]]:
    found = []
    for value in section.values():
        if isinstance(value, dict):
            if value.get("tool") == tool and "version" in value:
                found.append(value)
            elif isinstance(value.get(tool), dict):
                found.append(value[tool])
    return found


if __name__ == "__main__":
    sys.exit(main())
