"""Drift benchmark: Dockyard, Evidently and a straightforward scipy computation, in one run.

    .venv/bin/python benchmarks/drift.py             # 1,000,000 rows each side (about 5 minutes)
    .venv/bin/python benchmarks/drift.py --quick     # 100,000 rows (about 1 minute)
    .venv/bin/python benchmarks/drift.py --rows 300000 --json results.json

What it does:

1. Makes sure Evidently 0.7.23 is installed in its own virtual environment
   (``.bench/evidently-venv``, created when missing with ``evidently==0.7.23``
   and ``pandas<3``: Evidently 0.7.23 does not import with pandas 3).
2. Writes a reference and a current table (``_drift_data.py``, seeded): 20
   numeric and 5 categorical columns, ``--rows`` rows each, the current one
   with a known shift in 5 columns; as Parquet in a temporary folder.
3. Runs each measurement in a fresh process (``_drift_worker.py``) that reads
   both tables and times its work (imports and reading not timed): Evidently's
   ``DataDriftPreset`` (in Evidently's environment); ``ks_2samp`` per numeric
   column, a chi-square test per categorical column and PSI with numpy;
   ``dockyard.drift_report`` on the raw tables; profiling both tables and
   comparing the profiles (and the comparison alone, from stored profiles);
   profiling alone, with one thread and with all cores; and reading the data
   alone, in both environments. The parent takes each process's peak memory
   (``ru_maxrss``) from ``os.wait4``; the parent generates no data itself,
   since a child's ``ru_maxrss`` starts at its parent's resident size.
4. Prints the times, peak memory and ratios, the columns each flags, the
   agreement checks (KS against scipy, PSI against numpy) and the goals.

A figure that misses its goal prints ``BELOW`` and does not fail the script;
the exit status is non-zero only when something crashed or Evidently could
not be installed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import _drift_data as data
from tracking import (
    MlflowUnavailable,
    _base_env,
    _dockyard_version,
    _run_logged,
    _source_state,
    _venv_python,
    probe_versions,
    say,
)

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_EVIDENTLY_VENV = REPO / ".bench" / "evidently-venv"
EVIDENTLY_PINS = ["evidently==0.7.23", "pandas<3"]
INSTALL_TIMEOUT = 20 * 60
WORKER_TIMEOUT = 60 * 60
GOAL_EVIDENTLY = 30.0  # drift for all columns at least this many times faster than Evidently
GOAL_MEMORY = 1 / 3  # peak memory at most this share of Evidently's
GOAL_ROWS_PER_CORE = 1_000_000
KS_RAW = 1e-6
PSI_TOLERANCE = 1e-3


class Unavailable(Exception):
    """Evidently could not be found or installed."""


# ----------------------------------------------------------------------------- Evidently
_PROBE = ("import importlib.metadata as m, json, evidently, pandas\n"
          "print(json.dumps({d: m.version(d) for d in ('evidently', 'pandas', 'numpy', 'scipy')}))")


def _evidently_env() -> dict[str, str]:
    env = _base_env()
    env.update({"DO_NOT_TRACK": "1", "EVIDENTLY_DISABLE_TELEMETRY": "1"})
    return env


def _evidently_versions(python: Path) -> dict[str, str] | None:
    return probe_versions(python, _PROBE, _evidently_env(), 300)


def ensure_evidently(venv: Path) -> tuple[Path, dict[str, str]]:
    """Evidently's interpreter and versions, installing the pinned set into ``venv`` if needed."""
    python = _venv_python(venv)
    found = _evidently_versions(python)
    if found and found["evidently"] == "0.7.23" and int(found["pandas"].split(".")[0]) < 3:
        say(f"Evidently {found['evidently']} found in {venv} (pandas {found['pandas']})")
        return python, found
    venv.parent.mkdir(parents=True, exist_ok=True)
    log_path = venv.parent / "evidently-install.log"
    try:
        if not python.exists():
            say(f"creating a virtual environment for Evidently in {venv}")
            _run_logged([sys.executable, "-m", "venv", str(venv)], log_path,
                        "creating the venv", 300)
            _run_logged([str(python), "-m", "pip", "install", "--disable-pip-version-check",
                         "--progress-bar", "off", "--upgrade", "pip"], log_path,
                        "upgrading pip", 600)
        rel = log_path.relative_to(REPO) if log_path.is_relative_to(REPO) else log_path
        say(f"installing {' '.join(EVIDENTLY_PINS)} into it (a few minutes; log: {rel})")
        _run_logged([str(python), "-m", "pip", "install", "--disable-pip-version-check",
                     "--progress-bar", "off", *EVIDENTLY_PINS], log_path, "installing evidently",
                    INSTALL_TIMEOUT)
    except MlflowUnavailable as exc:  # _run_logged's error, whatever it installs
        raise Unavailable(str(exc)) from exc
    found = _evidently_versions(python)
    if not found:
        raise Unavailable(f"Evidently was installed into {venv} but does not import; "
                          f"see {log_path}")
    say(f"Evidently {found['evidently']} installed (pandas {found['pandas']})")
    return python, found


# ----------------------------------------------------------------------------- workers
def run_worker(python: Path, task: str, folder: Path, runs: int, env: dict[str, str]
               ) -> dict[str, Any]:
    """Run one measurement in a fresh process; its JSON and its peak memory in bytes."""
    out = folder / f"{task}-{python.parent.parent.name}.json"
    log = folder / f"{task}-{python.parent.parent.name}.log"
    started = time.monotonic()
    with open(log, "w") as logf:
        proc = subprocess.Popen([str(python), str(HERE / "_drift_worker.py"), task, str(folder),
                                 str(out), str(runs)], stdout=logf, stderr=subprocess.STDOUT,
                                env=env, cwd=HERE)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        tail = "\n    ".join(log.read_text(errors="replace").strip().splitlines()[-20:])
        raise RuntimeError(f"worker {task} failed (exit {proc.returncode}):\n    {tail}")
    result = json.loads(out.read_text())
    result["peak_bytes"] = usage.ru_maxrss * 1024  # kilobytes on Linux
    result["process_s"] = time.monotonic() - started
    return result


# ----------------------------------------------------------------------------- formatting
def _secs(value: float) -> str:
    if value >= 10:
        return f"{value:.1f} s"
    if value >= 1:
        return f"{value:.2f} s"
    return f"{value * 1000:.0f} ms" if value >= 0.01 else f"{value * 1000:.1f} ms"


def _mb(value: float) -> str:
    return f"{value / 1e9:.2f} GB" if value >= 1e9 else f"{value / 1e6:.0f} MB"


def _ratio(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}x" if value < 100 else f"{value:.0f}x"


def _print_table(headers: list[str], rows: list[list[str]], right: set[int]) -> None:
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]

    def line(cells: list[str]) -> str:
        return "  ".join(str(c).rjust(w) if i in right else str(c).ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()

    print(line(headers))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(line(row))


def flagged(columns: dict[str, Any]) -> list[str]:
    order = data.NUMERIC + data.CATEGORICAL
    return sorted((name for name, c in columns.items() if c.get("drifted")), key=order.index)


# ----------------------------------------------------------------------------- main
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000,
                        help="rows of the reference and of the current table (default 1,000,000)")
    parser.add_argument("--quick", action="store_true", help="100,000 rows each")
    parser.add_argument("--runs", type=int, default=3,
                        help="timed runs of the scipy and Dockyard measurements (median; "
                             "Evidently runs once); default 3")
    parser.add_argument("--evidently-venv", type=Path, default=DEFAULT_EVIDENTLY_VENV)
    parser.add_argument("--json", type=Path, help="write every figure to this file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    rows = 100_000 if args.quick else args.rows
    if rows < 2000:
        parser.error("--rows must be at least 2000")
    started = time.monotonic()
    try:
        evidently_python, evidently_versions = ensure_evidently(args.evidently_venv)
    except Unavailable as exc:
        print(f"Evidently is not available: {exc}", file=sys.stderr)
        return 2
    version, source = _dockyard_version(), _source_state()
    folder = Path(tempfile.mkdtemp(prefix="dockyard-drift-bench-"))
    ours, env, ev_env = Path(sys.executable), _base_env(), _evidently_env()
    try:
        say(f"writing {rows:,} + {rows:,} rows x {len(data.COLUMNS)} columns to {folder}")
        # In a process of its own: a child's ru_maxrss starts at its parent's resident size.
        subprocess.run([str(ours), str(HERE / "_drift_data.py"), str(folder), str(rows)],
                       env=env, check=True, timeout=WORKER_TIMEOUT)
        results: dict[str, Any] = {}
        plan = [("read (pandas 3)", ours, "read", 1, env),
                ("read (pandas 2)", evidently_python, "read", 1, ev_env),
                ("evidently", evidently_python, "evidently", 1, ev_env),
                ("scipy", ours, "scipy", args.runs, env),
                ("dockyard-raw", ours, "dockyard-raw", args.runs, env),
                ("dockyard-profiles", ours, "dockyard-profiles", args.runs, env),
                ("throughput", ours, "throughput", args.runs, env)]
        for key, python, task, runs, task_env in plan:
            say(f"measuring {key} ...")
            results[key] = run_worker(python, task, folder, runs, task_env)
    finally:
        if args.keep:
            say(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    report(results, rows, version, source, evidently_versions, time.monotonic() - started)
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "results": results}, indent=2,
                                        default=float))
    return 0


def report(results: dict[str, Any], rows: int, version: str, source: str,
           evidently_versions: dict[str, str], elapsed: float) -> None:
    ev, sc = results["evidently"], results["scipy"]
    raw, prof, thr = results["dockyard-raw"], results["dockyard-profiles"], results["throughput"]
    import numpy
    import pandas
    import scipy

    print()
    print(f"Dockyard {version} (git {source}) vs Evidently {evidently_versions['evidently']} "
          f"and scipy {scipy.__version__} -- {rows:,} rows each side, {elapsed / 60:.1f} min")
    print(f"Python {platform.python_version()} on {platform.system()} {platform.machine()}, "
          f"{os.cpu_count()} CPUs; Dockyard and scipy with pandas {pandas.__version__}, numpy "
          f"{numpy.__version__}; Evidently with pandas {evidently_versions['pandas']}, numpy "
          f"{evidently_versions['numpy']}")
    print(f"data: {len(data.NUMERIC)} numeric + {len(data.CATEGORICAL)} categorical columns, "
          f"shifted in the current table: {', '.join(data.SHIFTED)}")
    print()
    ev_time, sc_time = ev["wall_median"], sc["wall_median"]
    entries = [
        ("Evidently DataDriftPreset (Dataset.from_pandas + Report.run)", ev, ev["columns"]),
        ("scipy: ks_2samp, chi2_contingency, PSI with numpy", sc, sc["columns"]),
        ("Dockyard drift_report (raw data, exact)", raw, raw["columns"]),
        ("Dockyard profile both + compare + quality", prof, prof["columns"]),
    ]
    table = []
    for label, result, columns in entries:
        seconds = result["wall_median"]
        table.append([label, _secs(seconds), _secs(result["cpu_median"]),
                      _mb(result["peak_bytes"]), _ratio(ev_time / seconds),
                      _ratio(sc_time / seconds),
                      f"{result['peak_bytes'] / ev['peak_bytes']:.2f}",
                      ", ".join(flagged(columns))])
    compare_s = statistics.median(prof["compare_walls"])
    table.append(["Dockyard compare + quality of stored profiles", _secs(compare_s), "", "",
                  _ratio(ev_time / compare_s), _ratio(sc_time / compare_s), "", ""])
    for key in ("read (pandas 3)", "read (pandas 2)"):
        table.append([f"reading the two tables only, {key[6:-1]}",
                      _secs(results[key]["read_s"]), "", _mb(results[key]["peak_bytes"]), "", "",
                      f"{results[key]['peak_bytes'] / ev['peak_bytes']:.2f}", ""])
    _print_table(["measurement", "time", "CPU", "peak memory", "x Evidently", "x scipy",
                  "memory / Evidently", "columns flagged"], table, {1, 2, 3, 4, 5, 6})
    runs = len(raw["walls"])
    print(f"  time: wall clock, median of {runs} runs (Evidently: one run), imports and reading "
          "not timed; CPU: process CPU time (both cores count). x Evidently, x scipy: how many "
          "times faster. peak memory: the process's ru_maxrss, reading included.")
    parts = prof["last_parts"]
    print(f"  profile both + compare: reference {_secs(parts[0])}, current {_secs(parts[1])}, "
          f"compare + quality {_secs(parts[2])}; profiles of {prof['bytes'][0] / 1024:.0f} KB and "
          f"{prof['bytes'][1] / 1024:.0f} KB as bytes")
    print(f"  scipy flags with p < 0.05 (KS, chi-square): at {rows:,} rows a test flags shifts "
          "too small to matter, which is why Evidently and Dockyard judge large samples by a "
          "distance")
    print()

    # profiling throughput
    one, every = thr["threads_1"], thr[f"threads_{thr['cores']}"]
    per_core = thr["rows"] / statistics.median(one["cpus"])
    rows_table = [
        ["profile the current table against the reference, 1 thread",
         _secs(statistics.median(one["walls"])), _secs(statistics.median(one["cpus"])),
         f"{thr['rows'] / statistics.median(one['walls']):,.0f}", f"{per_core:,.0f}"],
        [f"the same, {thr['cores']} threads", _secs(statistics.median(every["walls"])),
         _secs(statistics.median(every["cpus"])),
         f"{thr['rows'] / statistics.median(every['walls']):,.0f}",
         f"{thr['rows'] / statistics.median(every['cpus']):,.0f}"],
    ]
    _print_table(["profiling alone (25 columns)", "time", "CPU", "rows/s", "rows/s per core"],
                 rows_table, {1, 2, 3, 4})
    print("  rows/s per core: rows / CPU seconds of the process.")
    print()

    # agreement
    checks = []
    expected = data.SHIFTED
    for label, columns in (("Evidently", ev["columns"]), ("scipy (p < 0.05)", sc["columns"]),
                           ("Dockyard drift_report", raw["columns"]),
                           ("Dockyard profiles", prof["columns"])):
        got = flagged(columns)
        checks.append([f"columns flagged: {label}", ", ".join(got),
                       "the shifted 5" if got == expected else "differs",
                       "ok" if got == expected or label.startswith("scipy") else "BELOW"])
    ks_raw = max(abs(raw["columns"][c]["ks"] - sc["columns"][c]["ks"]) for c in data.NUMERIC)
    checks.append(["KS, drift_report vs scipy ks_2samp (max |diff|)", f"{ks_raw:.1e}",
                   f"<= {KS_RAW:g}", "ok" if ks_raw <= KS_RAW else "BELOW"])
    over = [(abs(prof["columns"][c]["ks"] - sc["columns"][c]["ks"]), prof["columns"][c]["ks_error"])
            for c in data.NUMERIC]
    worst = max(d for d, _ in over)
    checks.append(["KS, profiles vs scipy ks_2samp (max |diff|)", f"{worst:.1e}",
                   f"<= ks_error ({over[0][1]:.4f})",
                   "ok" if all(d <= bound for d, bound in over) else "BELOW"])
    for label, columns in (("drift_report", raw["columns"]), ("profiles", prof["columns"])):
        diff = max(abs(columns[c]["psi"] - sc["columns"][c]["psi"]) for c in columns)
        checks.append([f"PSI, {label} vs numpy (max |diff|, 25 columns)", f"{diff:.1e}",
                       f"<= {PSI_TOLERANCE:g}", "ok" if diff <= PSI_TOLERANCE else "BELOW"])
    w = max(abs(prof["columns"][c]["wasserstein"] - raw["columns"][c]["wasserstein"])
            for c in data.NUMERIC)
    checks.append(["Wasserstein (normalised), profiles vs exact (max |diff|)", f"{w:.4f}",
                   "(no goal)", ""])
    _print_table(["check", "value", "goal", "result"], checks, set())
    print()

    # goals
    goals = []
    for label, seconds in (("drift_report", raw["wall_median"]),
                           ("profile both + compare", prof["wall_median"])):
        speed = ev_time / seconds
        goals.append([f"drift, 25 columns, {label} vs Evidently", _secs(seconds), _secs(ev_time),
                      _ratio(speed), f">= {GOAL_EVIDENTLY:.0f}x",
                      "ok" if speed >= GOAL_EVIDENTLY else "BELOW"])
        goals.append([f"drift, 25 columns, {label} vs scipy", _secs(seconds), _secs(sc_time),
                      _ratio(sc_time / seconds), "> 1x", "ok" if seconds < sc_time else "BELOW"])
    for label, result in (("drift_report", raw), ("profile both + compare", prof)):
        share = result["peak_bytes"] / ev["peak_bytes"]
        goals.append([f"peak memory, {label} / Evidently", _mb(result["peak_bytes"]),
                      _mb(ev["peak_bytes"]), f"{share:.2f}", f"<= {GOAL_MEMORY:.2f}",
                      "ok" if share <= GOAL_MEMORY else "BELOW"])
    goals.append(["profiling, rows/s per core (1 thread)", f"{per_core:,.0f}", "", "",
                  f">= {GOAL_ROWS_PER_CORE:,}",
                  "ok" if per_core >= GOAL_ROWS_PER_CORE else "BELOW"])
    _print_table(["goal", "Dockyard", "peer", "ratio", "goal", "result"], goals, {1, 2, 3})
    if ev.get("drifted_count") is not None and ev["drifted_count"] != len(flagged(ev["columns"])):
        print(f"CHECK: Evidently's DriftedColumnsCount is {ev['drifted_count']}, its per-column "
              f"values flag {len(flagged(ev['columns']))}")


if __name__ == "__main__":
    sys.exit(main())
