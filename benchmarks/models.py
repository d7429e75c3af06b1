"""Model benchmark: Dockyard's model packages against joblib and MLflow, in one run, on one machine.

    .venv/bin/python benchmarks/models.py            # full run (about 3 minutes)
    .venv/bin/python benchmarks/models.py --quick    # small models only, under a minute
    .venv/bin/python benchmarks/models.py --json results.json

What it measures, on the same models for every tool:

1. Loading a package against ``joblib.load`` of the same model: a
   scikit-learn RandomForest (100 trees on breast cancer, and one of a few
   tens of MB on generated data), ``joblib.load(file)`` against
   ``dockyard.models.load(path)`` (defaults), ``load(path, trust=True)`` and
   ``Client.load_model("models:/<name>/<v>")`` from the warm model cache.
   Goal: at most 1.2 times ``joblib.load``.
2. ``start_run`` + ``log_model`` + ``register_model`` + ``load_model``
   (cold), Dockyard on its embedded store against MLflow on SQLite and a
   local folder; a fresh process per repetition, imports not timed.
3. The peak memory of ``log_model`` of a ~200 MB model (k-nearest
   neighbours on 200 MiB of floats), to the embedded store and to a
   ``dockyard server`` over HTTP, and MLflow's for the same model. Goal:
   under twice the model's size.

MLflow lives in its own virtual environment (``.bench/mlflow-venv``,
created with MLflow, scikit-learn and skops when missing). A figure BELOW
its goal does not fail the script; the exit status is non-zero only when
something crashed or MLflow could not be installed. All traffic goes to
127.0.0.1.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from _model_workload import FORESTS, hwm_bytes, reset_hwm, rss_bytes
from tracking import (
    DEFAULT_MLFLOW_VENV,
    MlflowUnavailable,
    WorkerFailed,
    _dockyard_env,
    _dockyard_version,
    _mlflow_env,
    _run_logged,
    _source_state,
    dockyard_server,
    ensure_mlflow,
    run_worker,
    say,
)

HERE = Path(__file__).resolve().parent
DOCKYARD_WORKER = "_models_dockyard_worker.py"
MLFLOW_WORKER = "_mlflow_models_worker.py"

CONFIGS: dict[str, dict[str, Any]] = {
    "full": {
        "forests": ["small", "large"],
        "load_reps": {"small": 21, "large": 7},  # timed loads per case
        "lifecycle_reps": 3,
        "mlflow_formats": ["skops"],
        "memory": {"rows": 262_144, "features": 100},  # 200 MiB of float64
        "memory_concurrent": False,
    },
    "quick": {
        "forests": ["small"],
        "load_reps": {"small": 11},
        "lifecycle_reps": 1,
        "mlflow_formats": ["skops"],
        "memory": {"rows": 65_536, "features": 100},  # 50 MiB
        "memory_concurrent": True,
    },
}
LOAD_GOAL = 1.2  # at most this many times joblib.load
MEMORY_GOAL = 2.0  # peak extra memory under this many times the model's size

LOAD_CASES = {
    "load_skops": "models.load(skops-only package, trust=True)",
    "load_trusted": "dockyard.models.load(path, trust=True)",
    "client_warm": "Client.load_model(models:/...), warm cache",
}


# ----------------------------------------------------------------------------- MLflow's sklearn
def ensure_in_mlflow(python: Path, dists: tuple[str, ...], probe: str, what: str) -> str:
    """``dists`` in MLflow's venv: the last line ``probe`` prints there.

    When the probe fails, the distributions are installed at this
    environment's versions (so both tools use the same library), and probed
    again; raises MlflowUnavailable when they still do not import.
    """
    def probed() -> str | None:
        out = subprocess.run([str(python), "-c", probe], capture_output=True, text=True,
                             timeout=300, env=_mlflow_env(), check=False)
        return out.stdout.strip().splitlines()[-1] if out.returncode == 0 and out.stdout.strip() \
            else None

    found = probed()
    if found:
        return found
    wanted = []
    for dist in dists:
        try:
            wanted.append(f"{dist}=={importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            wanted.append(dist)
    log_path = python.parent.parent.parent / "mlflow-install.log"
    say(f"installing {' '.join(wanted)} into MLflow's environment (log: {log_path})")
    _run_logged([str(python), "-m", "pip", "install", "--disable-pip-version-check",
                 "--progress-bar", "off", *wanted], log_path, f"installing {what}", 900)
    found = probed()
    if not found:
        raise MlflowUnavailable(f"{what} was installed into MLflow's environment but does not "
                                f"import; see {log_path}")
    return found


def ensure_mlflow_sklearn(python: Path) -> str:
    """scikit-learn (and skops, MLflow's default sklearn format) in MLflow's venv; their versions.

    When missing, scikit-learn is installed at the project's version, so both
    tools read the same joblib files with the same library.
    """
    return ensure_in_mlflow(python, ("scikit-learn", "skops"),
                            "import sklearn, skops; print(sklearn.__version__, skops.__version__)",
                            "scikit-learn")


# ----------------------------------------------------------------------------- formatting
def fmt_ms(ms: float | None) -> str:
    if ms is None:
        return "-"
    return f"{ms:,.1f} ms" if ms < 1000 else f"{ms / 1000:,.2f} s"


def fmt_mb(n: float | None) -> str:
    if n is None:
        return "-"
    return f"{n / 1e6:,.1f} MB" if n < 10e6 else f"{n / 1e6:,.0f} MB"


def print_table(title: str, header: tuple[str, ...], rows: list[tuple[str, ...]], align: str) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(f"{c:{'<' if a == 'l' else '>'}{w}}" for c, a, w in zip(cells, align, widths)).rstrip()

    print(title)
    print(line(header))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print(line(r))


def verdict(value: float | None, goal: float, lower_is_better: bool = True) -> str:
    if value is None:
        return "n/a"
    return "ok" if (value <= goal if lower_is_better else value >= goal) else "BELOW"


# ----------------------------------------------------------------------------- workloads
class Runner:
    def __init__(self, tmp: Path, mlflow_python: Path | None) -> None:
        self.tmp = tmp
        self.mlflow_python = mlflow_python
        self.crashed: list[str] = []
        self.workdir = tmp / "cwd"
        self.workdir.mkdir()

    def dockyard(self, workload: str, store: str, cfg: dict[str, Any], env: dict[str, str]
                 ) -> dict[str, Any] | None:
        return self._run(sys.executable, DOCKYARD_WORKER, workload, store, cfg, env, "dockyard")

    def mlflow(self, workload: str, store: str, cfg: dict[str, Any]) -> dict[str, Any] | None:
        if self.mlflow_python is None:
            return None
        return self._run(self.mlflow_python, MLFLOW_WORKER, workload, store, cfg, _mlflow_env(), "mlflow")

    def _run(self, python: Path | str, script: str, workload: str, store: str, cfg: dict[str, Any],
             env: dict[str, str], tool: str) -> dict[str, Any] | None:
        start = time.monotonic()
        try:
            result = run_worker(python, script, workload, store, cfg, env, self.workdir)
            say(f"  {tool} {workload} done in {time.monotonic() - start:.1f}s")
            return result
        except WorkerFailed as exc:
            self.crashed.append(f"{tool} {workload}")
            say(f"  FAILED: {exc}")
            return None


def train_and_load(runner: Runner, cfg: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Fit the forests (written as joblib files for both tools), then workload 1 on each."""
    out = runner.tmp / "models"
    out.mkdir()
    say(f"training {', '.join(FORESTS[f]['label'] for f in cfg['forests'])}, then workload 1 "
        "(package loads) on each ...")
    result = runner.dockyard("train", "local", {"forests": cfg["forests"], "dir": str(out),
                                                "load_reps": cfg["load_reps"]},
                             _dockyard_env(runner.tmp / "load-home"))
    if result is None:
        raise RuntimeError("training the models failed")
    return result["models"], result["load"]


def _mlflow_store(runner: Runner) -> str:
    root = runner.tmp / "mlflow"
    root.mkdir(exist_ok=True)
    return f"sqlite:///{root / 'mlflow.db'}"


def _mlflow_experiment(runner: Runner, name: str) -> dict[str, str]:
    return {"experiment": name, "artifacts": str(runner.tmp / "mlflow" / "artifacts" / name)}


def lifecycle_workload(runner: Runner, cfg: dict[str, Any], trained: dict[str, Any]) -> dict[str, Any]:
    dy_root = runner.tmp / "lifecycle-dockyard"
    dy_root.mkdir()
    ml_uri = _mlflow_store(runner)
    formats = cfg["mlflow_formats"] if runner.mlflow_python else []
    results: dict[str, Any] = {name: {"dockyard": [], **{f"mlflow_{f}": [] for f in formats}}
                               for name in cfg["forests"]}
    for rep in range(cfg["lifecycle_reps"]):
        for name in cfg["forests"]:
            t = trained[name]
            base = {"model_file": t["model_file"], "x5_file": t["x5_file"]}
            say(f"2 lifecycle: {t['label']}, repetition {rep + 1}/{cfg['lifecycle_reps']} ...")
            # One store for every repetition; DOCKYARD_HOME (and so the model cache) is new each time.
            env = _dockyard_env(dy_root / f"home-{name}-{rep}",
                                DOCKYARD_URI=f"sqlite:///{dy_root / 'dockyard.db'}",
                                DOCKYARD_ARTIFACTS=str(dy_root / "artifacts"))
            res = runner.dockyard("lifecycle", "local", {**base, "model_name": f"bench-{name}"}, env)
            if res is not None:
                results[name]["dockyard"].append(res)
            for fmt in formats:
                # The first MLflow process creates the store (schema migrations) before timing.
                res = runner.mlflow("lifecycle", ml_uri, {
                    **base, **_mlflow_experiment(runner, "bench-models"), "model_name": f"bench-{name}-{fmt}",
                    "serialization": fmt, "skops_trusted_types": t.get("skops_untrusted_types", [])})
                if res is not None:
                    results[name][f"mlflow_{fmt}"].append(res)
    return results


def memory_workload(runner: Runner, cfg: dict[str, Any]) -> dict[str, Any]:
    mem = cfg["memory"]
    results: dict[str, Any] = {}
    pool = ThreadPoolExecutor(max_workers=1)
    mlflow_job = None
    if runner.mlflow_python is not None:
        ml_cfg = {**mem, **_mlflow_experiment(runner, "bench-models-memory")}
        if cfg["memory_concurrent"]:
            # Peak memory is per process, so it does not care what runs beside it; times do.
            say("3 memory: MLflow, SQLite + local folder (beside Dockyard's) ...")
            mlflow_job = pool.submit(runner.mlflow, "memory", _mlflow_store(runner), ml_cfg)
    server = dockyard_server(runner.tmp, 1)
    say(f"3 memory: starting dockyard server on {server.url}")
    server.start()
    try:
        say(f"3 memory: Dockyard, embedded store ({mem['rows']:,} x {mem['features']} float64) ...")
        res = runner.dockyard("memory", "local", mem, _dockyard_env(runner.tmp / "memory-local-home"))
        if res is not None:
            results["dockyard_local"] = res
        server.wait_healthy()
        assert server.proc is not None
        pid = server.proc.pid
        say("3 memory: Dockyard, to the server over HTTP ...")
        before = rss_bytes(pid)
        can_reset = reset_hwm(pid)
        res = runner.dockyard("memory", server.url, mem,
                              _dockyard_env(runner.tmp / "memory-http-home", DOCKYARD_URI=server.url))
        peak = hwm_bytes(pid)
        if res is not None:
            results["dockyard_http"] = res
            if before is not None and peak is not None and can_reset:
                results["server"] = {"rss_before_bytes": before, "peak_bytes": peak,
                                     "peak_extra_bytes": max(0, peak - before),
                                     "model_bytes": res["model_bytes"], "method": "VmHWM"}
    finally:
        server.stop()
    if runner.mlflow_python is not None and mlflow_job is None:
        say("3 memory: MLflow, SQLite + local folder ...")
        mlflow_job = pool.submit(runner.mlflow, "memory", _mlflow_store(runner), ml_cfg)
    if mlflow_job is not None:
        res = mlflow_job.result()
        if res is not None:
            results["mlflow_local"] = res
    pool.shutdown()
    return results


# ----------------------------------------------------------------------------- report
def report_load(cfg: dict[str, Any], trained: dict[str, Any], load: dict[str, Any]) -> list[dict[str, Any]]:
    rows, table = [], []
    for name in cfg["forests"]:
        res = load.get(name)
        if not res:
            continue
        label = f"{trained[name]['label']} ({trained[name]['joblib_bytes'] / 1e6:,.1f} MB)"
        base = res["joblib"]["median_ms"]
        table.append((label, "joblib.load(file)", res["joblib"]["read"], fmt_ms(base), "1.00x", "", ""))
        for case, text in LOAD_CASES.items():
            ms = res[case]["median_ms"]
            ratio = ms / base
            status = verdict(ratio, LOAD_GOAL)
            table.append(("", text, res[case]["read"], fmt_ms(ms), f"{ratio:.2f}x", f"<= {LOAD_GOAL}x", status))
            rows.append({"workload": "load", "model": name, "case": case, "median_ms": ms,
                         "joblib_ms": base, "ratio": ratio, "goal": LOAD_GOAL, "status": status,
                         "read": res[case]["read"]})
    reps = " and ".join(str(cfg["load_reps"][name]) for name in cfg["forests"] if name in load)
    print_table(f"1 package load vs joblib.load (median of {reps} loads, after one warm-up; "
                "cases interleaved; warm file cache)",
                ("model", "load", "reads", "median", "x joblib", "goal", "result"), table, "lllrrrl")
    for name in cfg["forests"]:
        res = load.get(name)
        if not res:
            continue
        loader = res["manifest_loader"]
        options = {k: v for k, v in (loader.get("options") or {}).items() if k != "untrusted_types"}
        sizes = ", ".join(f"{f} {n / 1e6:,.1f} MB" for f, n in res["package_files"].items() if n > 1e5)
        print(f"  {name}: dockyard-model.yaml says format {loader.get('format')!r}, model_files "
              f"{res['model_files']}{', options ' + json.dumps(options) if options else ''}; files: {sizes}")
        print(f"  {name}: untrusted dockyard.models.load(path) of the default package: "
              f"{res['untrusted_load']}")
        print(f"  {name}: first Client.load_model (download into the cache): "
              f"{fmt_ms(res['client_cold_ms'])}, read {res['client_cold_read']}")
    return rows


def _median(results: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in results if r.get(key) is not None]
    return statistics.median(values) if values else None


def report_lifecycle(cfg: dict[str, Any], trained: dict[str, Any], life: dict[str, Any]) -> list[dict[str, Any]]:
    rows, table = [], []
    formats = cfg["mlflow_formats"]
    header = ("model", "call", "Dockyard", *[x for f in formats for x in (f"MLflow ({f})", "ratio")])
    calls = (("log_ms", "log_model(input_example=X[:5])"), ("register_ms", "register_model"),
             ("load_ms", "load_model(models:/...), cold"))
    for name in cfg["forests"]:
        res = life.get(name) or {}
        for i, (key, text) in enumerate(calls):
            dy = _median(res.get("dockyard", []), key)
            cells = [trained[name]["label"] if i == 0 else "", text, fmt_ms(dy)]
            for fmt in formats:
                ml = _median(res.get(f"mlflow_{fmt}", []), key)
                ratio = ml / dy if ml and dy else None
                cells += [fmt_ms(ml), f"{ratio:,.1f}x" if ratio else "-"]
                rows.append({"workload": "lifecycle", "model": name, "call": key, "mlflow_format": fmt,
                             "dockyard_ms": dy, "mlflow_ms": ml, "ratio": ratio})
            table.append(tuple(cells))
        for fmt in formats:
            ml = _median(res.get(f"mlflow_{fmt}", []), "sklearn_load_ms")
            if ml is not None:
                table.append(("", f"  mlflow.sklearn.load_model ({fmt})", "", *(
                    x for f in formats for x in ((fmt_ms(ml), "") if f == fmt else ("", "")))))
    reps = cfg["lifecycle_reps"]
    print_table(f"2 log_model + register_model + load_model, Dockyard (embedded store) vs MLflow (sqlite + "
                f"local folder); median of {reps} fresh process{'es' if reps > 1 else ''}; no goal set",
                header, table, "llr" + "rr" * len(formats))
    print("  ratio = MLflow / Dockyard (how many times faster Dockyard is). MLflow's load is "
          "mlflow.pyfunc.load_model (signature-checked, like Dockyard's); mlflow.sklearn.load_model "
          "runs after it in the same process.")
    for name in cfg["forests"]:
        res = life.get(name) or {}
        parts = []
        for tool, results in res.items():
            if not results:
                continue
            r = results[0]
            files = r.get("files") or [r.get("file")]
            text = (f"{'Dockyard' if tool == 'dockyard' else 'MLflow'} package "
                    f"{fmt_mb(r.get('package_bytes'))}, {' + '.join(f for f in files if f)} "
                    f"(format {r.get('format')})")
            if not all(x.get("same_predictions") for x in results):
                text += ", PREDICTIONS DIFFER from the original model's"
            if tool.startswith("mlflow") and r.get("children_max_rss_bytes"):
                text += (f"; log_model's requirement inference ran a child process of up to "
                         f"{fmt_mb(r['children_max_rss_bytes'])}")
            parts.append(text)
        if parts:
            print(f"  {name}: " + "; ".join(parts))
    return rows


def report_memory(cfg: dict[str, Any], mem: dict[str, Any]) -> list[dict[str, Any]]:
    rows, table = [], []
    spec = cfg["memory"]
    model_bytes = next((r["model_bytes"] for r in mem.values() if r.get("model_bytes")), None)
    entries = (("dockyard_local", "Dockyard log_model, embedded store", True),
               ("dockyard_http", "Dockyard log_model to dockyard server (client)", True),
               ("server", "  dockyard server process, same upload", True),
               ("mlflow_local", "MLflow log_model, sqlite + local folder", False))
    for key, text, goal in entries:
        r = mem.get(key)
        if not r:
            continue
        ratio = r["peak_extra_bytes"] / r["model_bytes"]
        status = verdict(ratio, MEMORY_GOAL) if goal else "(peer)"
        files = r.get("files")
        table.append((text, f"{r.get('format', '')}{' ' + '+'.join(files) if files else ''}".strip(),
                       fmt_mb(r.get("package_bytes")), fmt_ms(r["seconds"] * 1000) if "seconds" in r else "",
                       fmt_mb(r["peak_extra_bytes"]), f"{ratio:.2f}x", f"< {MEMORY_GOAL:g}x" if goal else "",
                       status))
        rows.append({"workload": "memory", "case": key, "peak_extra_bytes": r["peak_extra_bytes"],
                     "model_bytes": r["model_bytes"], "ratio": ratio, "goal": MEMORY_GOAL if goal else None,
                     "status": status, "seconds": r.get("seconds")})
    print_table(f"3 peak memory while logging a {fmt_mb(model_bytes)} model (KNeighborsClassifier on "
                f"{spec['rows']:,} x {spec['features']} float64), fresh process each; extra = peak RSS "
                "during the call - RSS before it",
                ("log", "format, files", "package", "time", "peak extra", "x model", "goal", "result"),
                table, "llrrrrrl")
    r = mem.get("mlflow_local")
    if r and r.get("children_max_rss_bytes"):
        print(f"  MLflow's log_model also started a child process (it infers the requirements by loading "
              f"the model) that peaked at {fmt_mb(r['children_max_rss_bytes'])} RSS, not counted above.")
    if cfg["memory_concurrent"]:
        print("  (quick mode: MLflow's run went beside Dockyard's, so the times are indicative only)")
    methods = {r.get("method") for r in mem.values() if r}
    print(f"  peak from {', '.join(sorted(m for m in methods if m))}; model size = nbytes of its arrays.")
    return rows


# ----------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small models and one repetition: a smoke run")
    p.add_argument("--json", metavar="PATH", help="also write the results to this JSON file")
    p.add_argument("--mlflow-venv", metavar="DIR", default=str(DEFAULT_MLFLOW_VENV),
                   help="virtual environment holding MLflow (created when missing; "
                        "default: .bench/mlflow-venv)")
    p.add_argument("--mlflow-formats", metavar="F1,F2",
                   help="MLflow's sklearn formats in workload 2: skops (its default), cloudpickle, "
                        "pickle (default: skops)")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder (stores, packages, logs)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    mode = "quick" if args.quick else "full"
    cfg = dict(CONFIGS[mode])
    if args.mlflow_formats:
        formats = [f.strip() for f in args.mlflow_formats.split(",") if f.strip()]
        unknown = sorted(set(formats) - {"skops", "cloudpickle", "pickle"})
        if unknown or not formats:
            raise SystemExit(f"unknown MLflow format(s): {', '.join(unknown)}; choose from skops, cloudpickle, pickle")
        cfg["mlflow_formats"] = formats

    def _terminate(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _terminate)
    started = time.monotonic()
    say(f"models benchmark, {mode} mode")
    dockyard_version = _dockyard_version()
    source = _source_state()
    mlflow_python: Path | None = None
    mlflow_version = sklearn_versions = mlflow_problem = None
    try:
        mlflow_python, mlflow_version = ensure_mlflow(Path(args.mlflow_venv).absolute())
        sklearn_versions = ensure_mlflow_sklearn(mlflow_python)
    except MlflowUnavailable as exc:
        mlflow_python, mlflow_problem = None, str(exc)
        say(f"MLflow is unavailable, running Dockyard alone: {exc}")

    tmp = Path(tempfile.mkdtemp(prefix="dockyard-bench-models-"))
    runner = Runner(tmp, mlflow_python)
    trained: dict[str, Any] = {}
    load: dict[str, Any] = {}
    life: dict[str, Any] = {}
    mem: dict[str, Any] = {}
    try:
        trained, load = train_and_load(runner, cfg)
        life = lifecycle_workload(runner, cfg, trained)
        mem = memory_workload(runner, cfg)
    except KeyboardInterrupt:
        runner.crashed.append("interrupted")
    except Exception as exc:  # noqa: BLE001 -- report what we have, then fail
        runner.crashed.append(f"{exc.__class__.__name__}: {exc}")
        say(f"ERROR: {exc}")
    finally:
        if args.keep:
            say(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    elapsed = time.monotonic() - started
    sk_local = importlib.metadata.version("scikit-learn")
    print()
    print(f"Dockyard {dockyard_version} (git {source}) vs MLflow {mlflow_version or '(unavailable)'} -- "
          f"{mode} mode, {elapsed / 60:.1f} min")
    print(f"Python {platform.python_version()} on {platform.system()} {platform.machine()}, "
          f"{os.cpu_count()} CPUs; scikit-learn {sk_local}"
          + (f"; MLflow's venv: scikit-learn {sklearn_versions.split()[0]}, skops {sklearn_versions.split()[1]}"
             if sklearn_versions else ""))
    print()
    rows: list[dict[str, Any]] = []
    if trained:
        for name in cfg["forests"]:
            t = trained[name]
            print(f"model {name}: {t['label']}, {t['nodes']:,} nodes, joblib file {t['joblib_bytes'] / 1e6:,.1f} MB "
                  f"(fit in {t['fit_seconds']:.1f}s, not timed)")
        print()
    if load:
        rows += report_load(cfg, trained, load)
        print()
    if life:
        rows += report_lifecycle(cfg, trained, life)
        print()
    if mem:
        rows += report_memory(cfg, mem)
        print()
    if sklearn_versions and sklearn_versions.split()[0] != sk_local:
        print(f"NOTE: MLflow's venv has scikit-learn {sklearn_versions.split()[0]}, this one {sk_local}: "
              "the MLflow side reads the same joblib files with another scikit-learn.")
    if mlflow_problem:
        print(f"MLflow could not be installed: {mlflow_problem}")
    if runner.crashed:
        print(f"FAILED: {', '.join(runner.crashed)}")

    if args.json:
        doc = {
            "mode": mode,
            "versions": {"dockyard": dockyard_version, "dockyard_git": source, "mlflow": mlflow_version,
                         "python": platform.python_version(), "scikit-learn": sk_local,
                         "mlflow_venv_sklearn_skops": sklearn_versions},
            "machine": {"system": platform.system(), "machine": platform.machine(),
                        "cpus": os.cpu_count(), "platform": platform.platform()},
            "config": cfg,
            "goals": {"load_vs_joblib_at_most": LOAD_GOAL, "memory_vs_model_under": MEMORY_GOAL},
            "rows": rows,
            "raw": {"models": trained, "load": load, "lifecycle": life, "memory": mem},
            "mlflow_problem": mlflow_problem,
            "failed": runner.crashed,
            "elapsed_seconds": elapsed,
        }
        Path(args.json).write_text(json.dumps(doc, indent=2) + "\n")
        print(f"results written to {args.json}")
    return 1 if (runner.crashed or mlflow_problem) else 0


if __name__ == "__main__":
    sys.exit(main())
