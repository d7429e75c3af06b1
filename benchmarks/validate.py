"""Validation benchmark: Dockyard's whole check suite against ``mlflow.evaluate``, same data, same run.

    .venv/bin/python benchmarks/validate.py                  # 100,000 rows, 7 to 11 minutes
    .venv/bin/python benchmarks/validate.py --quick          # 10,000 rows, about 2 minutes
    .venv/bin/python benchmarks/validate.py --quick --mlflow-no-shap   # under a minute
    .venv/bin/python benchmarks/validate.py --rows 50000 --json out.json

Goal: ``run_checks`` (every check: holdout, cohorts, backtest, robustness,
explain with SHAP when installed, fairness, calibration, compare) on 100,000
rows and 30 features with a random forest in under 60 seconds on 2 cores,
and its metrics side by side with those of ``mlflow.evaluate`` on the same
data.

Both workers (``_validate_worker.py``, a fresh process each) generate the
same data from the same seed: ``make_classification`` with 30 features, plus
a cohort column, a binary sensitive column and a time column that are not
features; they train ``RandomForestClassifier(n_estimators=100, n_jobs=2,
random_state=0)`` on a separate training slice (not timed) and validate the
test rows. Dockyard runs with the project's interpreter, MLflow with
``.bench/mlflow-venv`` (created with MLflow as ``tracking.py`` does;
scikit-learn, skops and shap are installed into it when missing, at this
environment's versions) on a SQLite store in a temporary folder. Most of
a run is MLflow's SHAP explainer (``--mlflow-no-shap`` turns it off). Only
``run_checks`` and ``mlflow.evaluate`` are timed; data, training, logging
and loading the model, and imports are not.

A figure BELOW its goal does not fail the script; the exit status is
non-zero only when something crashed or MLflow could not be installed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _validate_worker import N_FEATURES, OVERLAP, SEED, WINDOWS
from tracking import (
    DEFAULT_MLFLOW_VENV,
    MlflowUnavailable,
    WorkerFailed,
    _mlflow_env,
    _source_state,
    ensure_mlflow,
    run_worker,
    say,
)

from models import ensure_in_mlflow, ensure_mlflow_sklearn, print_table, verdict
from train import dockyard_worker_env

WORKER = "_validate_worker.py"
GOAL_S = 60.0  # run_checks with every check, 100,000 rows x 30 features, random forest, 2 cores
MODES = {"full": {"rows": 100_000}, "quick": {"rows": 10_000}}
TRAIN_SHARE = 0.5  # training rows per test row (a separate slice of the same generated set)
SAME = 1e-9  # metrics within this of each other agree
DOCKYARD_LOG_LOSS_FLOOR = 1e-15  # dockyard.monitor.quality clips probabilities here for log_loss
FLOAT64_EPS = 2.0 ** -52  # scikit-learn's log_loss clips at the dtype's epsilon


# ----------------------------------------------------------------------------- environments
def ensure_mlflow_shap(python: Path) -> str:
    """shap (and matplotlib, for its plots) in MLflow's environment; shap's version.

    MLflow's default evaluator skips explainability without them, so shap is
    installed at this environment's version when missing: Dockyard and MLflow then
    explain with the same library.
    """
    return ensure_in_mlflow(python, ("shap", "matplotlib"),
                            "import shap, matplotlib; print(shap.__version__)", "shap")


# ----------------------------------------------------------------------------- report
def seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:,.2f} s"


def number(value: float | None) -> str:
    return "-" if value is None else f"{value:.6f}"


def report_dockyard(dy: dict[str, Any]) -> None:
    total = dy["total_s"]
    rows = [(c["name"], seconds(c["seconds"]), f"{100 * c['seconds'] / total:.0f}%",
             str(c["metrics"]), f"ERROR: {c['error']}" if c["error"] else "ok")
            for c in sorted(dy["checks"], key=lambda c: -c["seconds"])]
    rows.append(("total (run_checks)", seconds(total), "100%", str(dy["metric_count"]), ""))
    print()
    print_table(f"Dockyard run_checks: {dy['rows']:,} rows x {N_FEATURES} features, every check "
                f"(slowest first)", ("check", "seconds", "share", "metrics", "result"),
                rows, "lrrrl")
    for c in dy["checks"]:
        print(f"  {c['name']}: {c['summary'] or c['error']}")
    print(f"  for scale: one predict_proba of the forest over the {dy['rows']:,} rows takes "
          f"{seconds(dy['predict_proba_s'])}; SHAP {'computed' if dy['shap'] else 'not computed'}"
          f"{'' if dy['shap_installed'] else ' (shap is not installed)'}")


def report_totals(dy: dict[str, Any] | None, ml: dict[str, Any] | None) -> None:
    rows = []
    if dy:
        rows.append(("Dockyard run_checks, every check", seconds(dy["total_s"]),
                     f"< {GOAL_S:.0f} s", verdict(dy["total_s"], GOAL_S)))
    if ml:
        how = "with" if ml["explainability"] else "without"
        rows.append((f"MLflow mlflow.evaluate, default evaluator, {how} SHAP",
                     seconds(ml["total_s"]), "", ""))
    print()
    print_table("time of one validation (wall clock, fresh process, imports not counted)",
                ("measurement", "time", "goal", "result"), rows, "lrrl")
    if dy and ml:
        print(f"  MLflow / Dockyard: {ml['total_s'] / dy['total_s']:.2f}x. The two do different "
              "amounts of work, so this ratio is context, not a like-for-like race:")
        print(f"  Dockyard's run_checks scores cohorts, a {WINDOWS}-window backtest, noisy, "
              "holed and outlying copies of the data and each column perturbed alone")
        print(f"  (robustness), permutation importance{' and SHAP' if dy['shap'] else ''} "
              "(explain), fairness, calibration and a baseline comparison, and keeps the "
              "report in memory;")
        print("  MLflow's default evaluator computes the classifier metrics, draws ROC, "
              "precision-recall, lift, calibration and confusion-matrix plots")
        print(f"  {'and SHAP plots ' if ml['explainability'] else ''}and logs them to the run "
              "in the SQLite store; it does no cohorts, backtest, robustness, fairness or "
              "comparison.")
        method = dockyard_shap(dy)
        if method and ml["explainability"]:
            print(f"  SHAP differs in kind too: Dockyard's explain computed it as '{method}' "
                  "(its cost budget picks the method for the forest's size), MLflow as exact "
                  "Tree SHAP on its sample (below).")
    if ml:
        parts = ", ".join(f"{name} evaluator {seconds(s)}" for name, s in ml["evaluators_s"].items())
        rest = ml["total_s"] - sum(ml["evaluators_s"].values())
        without = (f"; without the shap evaluator {seconds(ml['total_s'] - ml['evaluators_s']['shap'])}"
                   if "shap" in ml["evaluators_s"] else "")
        print(f"  MLflow's time by evaluator: {parts}, the rest {seconds(rest)} (dataset hash, "
              f"run and dataset logging){without}")
        print(f"  MLflow's model was logged (cloudpickle) in {seconds(ml['log_model_s'])} and "
              f"loaded as a pyfunc in {seconds(ml['load_model_s'])} before the call, not counted")
        print(f"  MLflow explainability: {mlflow_explain_text(ml)}")
        print(f"  MLflow artifacts: {', '.join(ml['artifacts']) or '-'}")


def dockyard_shap(dy: dict[str, Any]) -> str | None:
    """How Dockyard's explain computed SHAP values, from its summary ("tree, Saabas
    approximation, 500 rows")."""
    explain = next((c for c in dy["checks"] if c["name"] == "explain"), None)
    found = re.search(r"SHAP \(([^)]*)\)", explain["summary"]) if explain else None
    return found.group(1) if found else None


def mlflow_explain_text(ml: dict[str, Any]) -> str:
    if not ml["explainability"]:
        return ("off (evaluator_config " + json.dumps(ml["evaluator_config"]) + ")")
    used = next((m for m in ml["shap_log"] if m.startswith("Shap explainer")), None)
    if ml["shap_logged"]:
        text = (f"on, MLflow's defaults: shap.Explainer(forest, a {ml['shap_rows']:,}-row "
                f"sample) explains that sample")
        if used and "Tree" in used:
            text += (" with shap's TreeExplainer: exact interventional Tree SHAP against a "
                     "100-row background (shap's default for data given as a DataFrame)")
        elif used:
            text += f" ({used.rstrip('.')})"
        return text
    return "on, but MLflow logged no SHAP plot (see the worker's log with --keep)"


def compare_metrics(dy: dict[str, Any], ml: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for ours, theirs in OVERLAP.items():
        a, b = dy["holdout"].get(ours), ml["metrics"].get(theirs)
        diff = None if a is None or b is None else a - b
        out.append({"metric": ours, "mlflow_name": theirs, "dockyard": a, "mlflow": b,
                    "difference": diff,
                    "agree": None if diff is None else abs(diff) <= SAME})
    return out


def report_metrics(side: list[dict[str, Any]], dy: dict[str, Any], ml: dict[str, Any]) -> None:
    rows = [(r["metric"], r["mlflow_name"], number(r["dockyard"]), number(r["mlflow"]),
             "-" if r["difference"] is None else f"{r['difference']:+.2e}",
             "-" if r["agree"] is None else ("yes" if r["agree"] else "NO"))
            for r in side]
    print()
    print_table(f"holdout metrics on the same {dy['rows']:,} rows (positive class 1)",
                ("Dockyard", "MLflow", "Dockyard value", "MLflow value", "difference",
                 f"within {SAME:g}"), rows, "llrrrl")
    differ = [r for r in side if r["agree"] is False]
    if not differ:
        print("  every overlapping metric agrees.")
    for r in differ:
        print(f"  {r['metric']} differs: {why_differ(r, dy)}")
    extra = sorted(set(ml["metrics"]) - set(OVERLAP.values()))
    print(f"  MLflow also reports: {', '.join(extra)}")
    print(f"  Dockyard reports {dy['metric_count']} metrics over its checks (holdout: "
          f"{', '.join(dy['holdout'])}).")


def why_differ(row: dict[str, Any], dy: dict[str, Any]) -> str:
    if row["metric"] == "log_loss":
        zero = dy["zero_probability_rows"]
        expected = -zero * math.log(DOCKYARD_LOG_LOSS_FLOOR / FLOAT64_EPS) / dy["rows"]
        text = (f"both clip the probabilities before the log, Dockyard at "
                f"{DOCKYARD_LOG_LOSS_FLOOR:g} and scikit-learn's log_loss (MLflow) at the float64 "
                f"epsilon ({FLOAT64_EPS:.3g}), so a row with a probability of exactly 0 for its "
                f"true class costs {-math.log(DOCKYARD_LOG_LOSS_FLOOR):.2f} in Dockyard and "
                f"{-math.log(FLOAT64_EPS):.2f} in MLflow; the forest gives {zero:,} of the "
                f"{dy['rows']:,} rows such a 0, which makes {expected:+.2e}")
        if zero and abs(expected - row["difference"]) <= 1e-9:
            return text + ": the whole difference."
        return text + f", against the {row['difference']:+.2e} observed."
    if row["metric"] in ("precision", "recall", "f1"):
        return ("Dockyard scores the positive class (1) and MLflow's binary metrics use "
                "pos_label 1 as well, so only an averaging difference (MLflow averages "
                "'weighted' over the classes of a multiclass target) would explain it")
    return "unexpected: both score the same predictions of the same forest"


def same_inputs(dy: dict[str, Any], ml: dict[str, Any]) -> list[str]:
    problems = []
    for key, what in (("data_sha256", "data"), ("predictions_sha256", "forest's predictions"),
                      ("forest_nodes", "forest's node count")):
        if dy[key] != ml[key]:
            problems.append(f"CHECK: the {what} differ between the workers: "
                            f"{dy[key]} (Dockyard) and {ml[key]} (MLflow)")
    return problems


# ----------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, help="test rows to validate (default 100000; --quick: 10000)")
    p.add_argument("--train-rows", type=int,
                   help=f"training rows, not timed (default: {TRAIN_SHARE:g} x the test rows)")
    p.add_argument("--quick", action="store_true", help="10,000 rows, a smoke run")
    p.add_argument("--mlflow-no-shap", action="store_true",
                   help="run mlflow.evaluate without explainability (log_model_explainability "
                        "and log_explainer off) instead of installing shap into its environment")
    p.add_argument("--json", type=Path, help="write every figure to this file")
    p.add_argument("--mlflow-venv", metavar="DIR", default=str(DEFAULT_MLFLOW_VENV),
                   help="MLflow's virtual environment (created when missing; default: "
                        ".bench/mlflow-venv)")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = p.parse_args(argv)
    for name in ("rows", "train_rows"):
        value = getattr(args, name)
        if value is not None and value < 1000:
            p.error(f"--{name.replace('_', '-')} must be at least 1000")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    mode = "quick" if args.quick else "full"
    rows = args.rows or MODES[mode]["rows"]
    train_rows = args.train_rows or math.ceil(rows * TRAIN_SHARE)

    def _terminate(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _terminate)
    started = time.monotonic()
    say(f"validation benchmark, {mode} mode: {rows:,} test rows, {train_rows:,} training rows")
    mlflow_python: Path | None = None
    mlflow_version = mlflow_problem = sklearn_versions = shap_version = None
    explain_note = ""
    try:
        mlflow_python, mlflow_version = ensure_mlflow(Path(args.mlflow_venv).absolute())
        sklearn_versions = ensure_mlflow_sklearn(mlflow_python)
    except MlflowUnavailable as exc:
        mlflow_python, mlflow_problem = None, str(exc)
        say(f"MLflow is unavailable, running Dockyard alone: {exc}")
    mlflow_explain = mlflow_python is not None and not args.mlflow_no_shap
    if mlflow_explain:
        try:
            shap_version = ensure_mlflow_shap(mlflow_python)  # type: ignore[arg-type]
        except MlflowUnavailable as exc:
            mlflow_explain = False
            explain_note = f"shap could not be installed into MLflow's environment: {exc}"
            say(f"{explain_note}; MLflow runs without explainability")

    tmp = Path(tempfile.mkdtemp(prefix="dockyard-bench-validate-"))
    cfg = {"rows": rows, "train_rows": train_rows}
    results: dict[str, Any] = {}
    failed: list[str] = []

    def run(side: str, python: Path | str, uri: str, env: dict[str, str]) -> None:
        work = tmp / side
        work.mkdir()
        job = {**cfg, "tmp": str(work), "mlflow_explain": mlflow_explain}
        try:
            results[side] = run_worker(python, WORKER, side, uri, job, env, work)
        except (WorkerFailed, subprocess.SubprocessError) as exc:
            failed.append(side)
            say(f"  FAILED: {side}: {exc}")

    try:
        say("Dockyard: run_checks ...")
        run("dockyard", sys.executable, "-", dockyard_worker_env(tmp / "dockyard-home"))
        if mlflow_python is not None:
            say("MLflow: mlflow.evaluate ...")
            run("mlflow", mlflow_python, f"sqlite:///{tmp / 'mlflow' / 'mlflow.db'}",
                _mlflow_env())
    except KeyboardInterrupt:
        failed.append("interrupted")
    finally:
        if args.keep:
            say(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    dy, ml = results.get("dockyard"), results.get("mlflow")
    side = compare_metrics(dy, ml) if dy and ml else []
    problems = same_inputs(dy, ml) if dy and ml else []
    if dy:
        report_dockyard(dy)
    report_totals(dy, ml)
    if dy and ml:
        report_metrics(side, dy, ml)
    for line in problems:
        print(line)
    info = dy or ml
    elapsed = time.monotonic() - started
    print()
    print(f"Dockyard {dy['version'] if dy else '(not run)'} (git {_source_state()}) vs MLflow "
          f"{mlflow_version or '(unavailable)'} -- {mode} mode, {elapsed / 60:.1f} min")
    if info:
        print(f"data: make_classification, {info['rows']:,} test rows + {info['train_rows']:,} "
              f"training rows x {N_FEATURES} features, seed {SEED}, plus region (cohorts), group "
              f"(sensitive) and event_time (backtest, {WINDOWS} windows), not model features")
        print(f"model: RandomForestClassifier(n_estimators=100, n_jobs=2, random_state=0), "
              f"{info['forest_nodes']:,} nodes, max depth {info['forest_max_depth']}, fitted in "
              f"{info['fit_s']:.1f} s (not timed); baseline LogisticRegression on the same rows"
              f"{'; the same data and predictions in both workers' if dy and ml and not problems else ''}")
    print(f"Python {platform.python_version()} on {platform.system()} {platform.machine()}, "
          f"{os.cpu_count()} CPUs; MLflow's environment: scikit-learn and skops "
          f"{sklearn_versions or '-'}, shap {shap_version or ('not used' if args.mlflow_no_shap else '-')}")
    if explain_note:
        print(explain_note)
    if mlflow_problem:
        print(f"MLflow could not be installed: {mlflow_problem}")
    if failed:
        print(f"FAILED: {', '.join(failed)}")
    if args.json:
        doc = {"mode": mode, "config": cfg, "goal_seconds": GOAL_S, "dockyard": dy, "mlflow": ml,
               "metrics_side_by_side": side, "checks": problems,
               "versions": {"dockyard": dy["version"] if dy else None,
                            "dockyard_git": _source_state(), "mlflow": mlflow_version,
                            "mlflow_env_sklearn_skops": sklearn_versions,
                            "mlflow_env_shap": shap_version,
                            "python": platform.python_version()},
               "machine": {"system": platform.system(), "machine": platform.machine(),
                           "cpus": os.cpu_count()},
               "failed": failed, "mlflow_problem": mlflow_problem,
               "mlflow_explain_note": explain_note or None, "elapsed_seconds": elapsed}
        args.json.write_text(json.dumps(doc, indent=2) + "\n")
        print(f"results written to {args.json}")
    return 1 if (failed or mlflow_problem) else 0


if __name__ == "__main__":
    sys.exit(main())
