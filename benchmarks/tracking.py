"""Tracking benchmark: Dockyard and MLflow side by side, in one run, on one machine.

    .venv/bin/python benchmarks/tracking.py            # full run (about 10 minutes)
    .venv/bin/python benchmarks/tracking.py --quick    # ~10x smaller counts, a smoke run
    .venv/bin/python benchmarks/tracking.py --json results.json

What it does:

1. Makes sure MLflow is installed in its own virtual environment
   (``.bench/mlflow-venv`` at the repository root; created with
   ``python -m venv`` and ``pip install mlflow`` when missing).
2. Starts ``dockyard server`` and ``mlflow server``, each on SQLite in a
   temporary folder, on free loopback ports, one worker process each, with
   access logs off; waits until both answer ``/health``.
3. Runs every workload against both servers. The clients run in separate
   processes: ``_dockyard_worker.py`` with this interpreter and
   ``_mlflow_worker.py`` with MLflow's interpreter. Each worker times its
   workload itself (start-up and imports are not timed) and prints JSON.
4. Prints one table (Dockyard figure, MLflow figure, ratio, goal,
   PASS/BELOW), stops both servers and removes the temporary folder.

A figure BELOW its goal does not fail the script; the exit status is
non-zero only when something crashed (or MLflow could not be installed).
All traffic goes to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _workload import SEARCH_FILTERS, SEARCH_MAX_RESULTS, SEARCH_ORDER

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_MLFLOW_VENV = REPO / ".bench" / "mlflow-venv"
LOOPBACK = "127.0.0.1"

WORKER_TIMEOUT = 45 * 60  # seconds; a bound on any single workload
HEALTH_TIMEOUT = 180  # seconds for a server to answer /health
INSTALL_TIMEOUT = 20 * 60

# Counts per mode. Where MLflow gets a smaller count, rates (per second) are
# compared, so the ratio stays meaningful; the smaller count only bounds the
# benchmark's run time.
CONFIGS: dict[str, dict[str, Any]] = {
    "full": {
        "fluent_metrics": {"dockyard": {"n": 10_000}, "mlflow": {"n": 1_000}},
        "batch_metrics": {"points": 100_000, "batch_size": 1_000},
        "fluent_runs": {"dockyard": {"n": 1_000}, "mlflow": {"n": 200}},
        "search": {"sizes": [1_000, 10_000], "reps": 7},
        "metric_history": {"points": 100_000, "batch_size": 1_000, "reps": 5},
    },
    "quick": {
        "fluent_metrics": {"dockyard": {"n": 1_000}, "mlflow": {"n": 100}},
        "batch_metrics": {"points": 10_000, "batch_size": 1_000},
        "fluent_runs": {"dockyard": {"n": 100}, "mlflow": {"n": 20}},
        "search": {"sizes": [100, 1_000], "reps": 5},
        "metric_history": {"points": 10_000, "batch_size": 1_000, "reps": 5},
    },
}

WORKLOAD_ORDER = ("fluent_metrics", "batch_metrics", "metric_history", "fluent_runs", "search")

GOALS = {  # minimum Dockyard / MLflow ratio (speed-up), per table row
    "fluent_metrics": 100.0,
    "batch_metrics": 10.0,
    "fluent_runs": 10.0,
    "search": 20.0,
    "metric_history": 20.0,
}


def say(msg: str) -> None:
    print(f"[bench] {msg}", flush=True)


# ----------------------------------------------------------------------------- MLflow install
class MlflowUnavailable(Exception):
    pass


def _venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _mlflow_version(python: Path) -> str | None:
    if not python.exists():
        return None
    try:
        out = subprocess.run([str(python), "-c", "import mlflow; print(mlflow.__version__)"],
                             capture_output=True, text=True, timeout=180, env=_mlflow_env(), check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip().splitlines()[-1] if out.returncode == 0 and out.stdout.strip() else None


def probe_versions(python: Path, code: str, env: dict[str, str],
                   timeout: float) -> dict[str, str] | None:
    """Run ``code`` (which prints a JSON object of versions last) in ``python``; None if it fails."""
    if not python.exists():
        return None
    try:
        out = subprocess.run([str(python), "-c", code], capture_output=True, text=True,
                             timeout=timeout, env=env, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0 or not out.stdout.strip():
        return None
    try:
        return json.loads(out.stdout.strip().splitlines()[-1])
    except json.JSONDecodeError:
        return None


def _run_logged(cmd: list[str], log_path: Path, what: str, timeout: float) -> None:
    """Run an install step with its output in ``log_path``; print a line now and then."""
    with open(log_path, "a") as logf:
        logf.write(f"\n$ {' '.join(cmd)}\n")
        logf.flush()
        proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT)
        start = time.monotonic()
        next_note = 20.0
        while True:
            try:
                proc.wait(timeout=2)
                break
            except subprocess.TimeoutExpired:
                elapsed = time.monotonic() - start
                if elapsed > timeout:
                    proc.kill()
                    proc.wait()
                    raise MlflowUnavailable(f"{what} took longer than {timeout:.0f}s (log: {log_path})")
                if elapsed >= next_note:
                    say(f"  ... still {what} ({elapsed:.0f}s)")
                    next_note += 20.0
    if proc.returncode != 0:
        tail = log_path.read_text(errors="replace").strip().splitlines()[-15:]
        raise MlflowUnavailable(f"{what} failed (exit {proc.returncode}); log: {log_path}\n    "
                                + "\n    ".join(tail))


def ensure_mlflow(venv: Path) -> tuple[Path, str]:
    """MLflow's interpreter and version, installing MLflow into ``venv`` when missing."""
    python = _venv_python(venv)
    version = _mlflow_version(python)
    if version:
        say(f"MLflow {version} found in {venv}")
        return python, version
    venv.parent.mkdir(parents=True, exist_ok=True)
    log_path = venv.parent / "mlflow-install.log"
    if not python.exists():
        say(f"creating a virtual environment for MLflow in {venv}")
        _run_logged([sys.executable, "-m", "venv", str(venv)], log_path, "creating the venv", 300)
    say("installing the latest mlflow from PyPI into it (a few minutes; log: "
        f"{log_path.relative_to(REPO) if log_path.is_relative_to(REPO) else log_path})")
    _run_logged([str(python), "-m", "pip", "install", "--disable-pip-version-check",
                 "--progress-bar", "off", "--upgrade", "pip"], log_path, "upgrading pip", 600)
    _run_logged([str(python), "-m", "pip", "install", "--disable-pip-version-check",
                 "--progress-bar", "off", "mlflow"], log_path, "installing mlflow", INSTALL_TIMEOUT)
    version = _mlflow_version(python)
    if not version:
        raise MlflowUnavailable(f"mlflow was installed into {venv} but does not import; see {log_path}")
    say(f"MLflow {version} installed")
    return python, version


# ----------------------------------------------------------------------------- environments
def _base_env() -> dict[str, str]:
    """This process's environment without any tool's own settings, loopback never proxied."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DOCKYARD_", "MLFLOW_")) and k not in ("PYTHONPATH",)}
    env["NO_PROXY"] = env["no_proxy"] = f"{LOOPBACK},localhost"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _mlflow_env(**extra: str) -> dict[str, str]:
    env = _base_env()
    env.update({
        "MLFLOW_DISABLE_TELEMETRY": "true",  # no usage reporting over the network
        "DO_NOT_TRACK": "true",
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",  # no background job runner (huey)
        "GIT_PYTHON_REFRESH": "quiet",
    })
    env.update(extra)
    return env


def _dockyard_env(home: Path, **extra: str) -> dict[str, str]:
    env = _base_env()
    env["DOCKYARD_HOME"] = str(home)
    env.update(extra)
    return env


# ----------------------------------------------------------------------------- servers
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


_NO_PROXY_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class Server:
    name: str
    cmd: list[str]
    env: dict[str, str]
    cwd: Path
    log_path: Path
    port: int
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> None:
        self.cwd.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as logf:
            # A session of its own: stop() ends the server and every process it spawned.
            self.proc = subprocess.Popen(self.cmd, cwd=self.cwd, env=self.env, stdout=logf,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)

    def log_tail(self, lines: int = 25) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.strip().splitlines()[-lines:])

    def wait_healthy(self, timeout: float = HEALTH_TIMEOUT) -> float:
        assert self.proc is not None
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} server exited with {self.proc.returncode}:\n"
                                   f"{self.log_tail()}")
            try:
                with _NO_PROXY_OPENER.open(f"{self.url}/health", timeout=2) as r:
                    if r.status == 200:
                        return time.monotonic() - start
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} server did not answer {self.url}/health within "
                           f"{timeout:.0f}s:\n{self.log_tail()}")

    def stop(self) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None and not _group_alive(proc.pid):
            return
        for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                continue
            deadline = time.monotonic() + wait
            while _group_alive(proc.pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if not _group_alive(proc.pid):
                break
        self.proc = None


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def dockyard_server(tmp: Path, workers: int) -> Server:
    port = free_port()
    script = Path(sys.executable).parent / "dockyard"
    base = [str(script)] if script.exists() else [sys.executable, "-m", "dockyard"]
    db = tmp / "dockyard-server" / "dockyard.db"
    cmd = base + ["server", "--host", LOOPBACK, "--port", str(port), "--uri", f"sqlite:///{db}",
                  "--artifacts", str(tmp / "dockyard-server" / "artifacts"), "--workers", str(workers),
                  "--no-access-log"]
    return Server("dockyard", cmd, _dockyard_env(tmp / "dockyard-server" / "home"),
                  tmp / "dockyard-server", tmp / "dockyard-server.log", port)


def mlflow_server(tmp: Path, python: Path, workers: int) -> Server:
    port = free_port()
    db = tmp / "mlflow-server" / "mlflow.db"
    cmd = [str(python), "-m", "mlflow", "server",
           "--backend-store-uri", f"sqlite:///{db}",
           "--artifacts-destination", str(tmp / "mlflow-server" / "artifacts"),
           "--host", LOOPBACK, "--port", str(port), "--workers", str(workers),
           # the same quiet settings as dockyard's --no-access-log
           "--uvicorn-opts", "--no-access-log --log-level warning"]
    return Server("mlflow", cmd, _mlflow_env(), tmp / "mlflow-server", tmp / "mlflow-server.log", port)


# ----------------------------------------------------------------------------- workers
class WorkerFailed(Exception):
    pass


def run_worker(python: Path | str, script: str, workload: str, url: str, cfg: dict[str, Any],
               env: dict[str, str], cwd: Path) -> dict[str, Any]:
    """Run one workload in a worker process; its progress lines are shown as they come."""
    cmd = [str(python), str(HERE / script), workload, url, json.dumps(cfg)]
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True)
    stdout: list[str] = []
    stderr: deque[str] = deque(maxlen=40)

    def pump_err() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            line = line.rstrip("\n")
            stderr.append(line)
            if line.startswith(("dockyard:", "mlflow:")):
                say(f"    {line}")

    def pump_out() -> None:
        assert proc.stdout is not None
        stdout.extend(proc.stdout)

    threads = [threading.Thread(target=pump_err, daemon=True), threading.Thread(target=pump_out, daemon=True)]
    for t in threads:
        t.start()
    try:
        proc.wait(timeout=WORKER_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        proc.kill()
        proc.wait()
        raise WorkerFailed(f"{script} {workload} took longer than {WORKER_TIMEOUT}s") from exc
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    for t in threads:
        t.join(timeout=10)
    lines = [ln for ln in stdout if ln.strip()]
    if proc.returncode != 0 or not lines:
        raise WorkerFailed(f"{script} {workload} exited with {proc.returncode}:\n" + "\n".join(stderr))
    try:
        return json.loads(lines[-1])
    except json.JSONDecodeError as exc:
        raise WorkerFailed(f"{script} {workload} printed no JSON result: {lines[-1][:200]}") from exc


# ----------------------------------------------------------------------------- report
@dataclass
class Row:
    key: str
    label: str
    unit: str  # "calls/s", "points/s", "runs/s" (higher is better) or "ms" (lower is better)
    goal: float
    dockyard: float | None = None
    mlflow: float | None = None
    error: str | None = None

    @property
    def ratio(self) -> float | None:
        if not self.dockyard or not self.mlflow:
            return None
        return self.mlflow / self.dockyard if self.unit == "ms" else self.dockyard / self.mlflow

    @property
    def status(self) -> str:
        if self.error:
            return "ERROR"
        if self.ratio is None:
            return "n/a"
        return "PASS" if self.ratio >= self.goal else "BELOW"

    def as_dict(self) -> dict[str, Any]:
        return {"workload": self.key, "label": self.label, "unit": self.unit,
                "dockyard": self.dockyard, "mlflow": self.mlflow, "ratio": self.ratio,
                "goal": self.goal, "status": self.status, "error": self.error}


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "ms":
        return f"{value:,.1f} ms" if value < 1000 else f"{value / 1000:,.2f} s"
    return f"{value:,.0f} {unit}"


def print_table(rows: list[Row]) -> None:
    header = ("workload", "Dockyard", "MLflow", "ratio", "goal", "result")
    body = [(r.label, _fmt(r.dockyard, r.unit), _fmt(r.mlflow, r.unit),
             f"{r.ratio:,.1f}x" if r.ratio is not None else "-", f">= {r.goal:g}x", r.status)
            for r in rows]
    widths = [max(len(str(x[i])) for x in [header, *body]) for i in range(len(header))]
    align = ("<", ">", ">", ">", ">", "<")

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
    p.add_argument("--quick", action="store_true", help="~10x smaller counts: a smoke run")
    p.add_argument("--json", metavar="PATH", help="also write the results to this JSON file")
    p.add_argument("--mlflow-venv", metavar="DIR", default=str(DEFAULT_MLFLOW_VENV),
                   help="virtual environment holding MLflow (created when missing; "
                        "default: .bench/mlflow-venv)")
    p.add_argument("--workers", type=int, default=1,
                   help="server worker processes, the same for both servers (default: 1)")
    p.add_argument("--only", metavar="W1,W2",
                   help=f"run only these workloads ({', '.join(WORKLOAD_ORDER)})")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder (databases, logs)")
    return p.parse_args(argv)


def _dockyard_version() -> str:
    out = subprocess.run([sys.executable, "-c", "import dockyard; print(dockyard.__version__)"],
                         capture_output=True, text=True, timeout=120, env=_base_env(), check=False)
    if out.returncode != 0:
        raise RuntimeError(f"cannot import dockyard with {sys.executable}:\n{out.stderr[-2000:]}")
    return out.stdout.strip()


def _source_state() -> str:
    """The commit the Dockyard code under test comes from, and whether the tree differs from it."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                                text=True, timeout=10, check=False).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "src"],
                               cwd=REPO, capture_output=True, text=True, timeout=10, check=False).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if not commit:
        return "unknown"
    return f"{commit}{' + uncommitted changes in src/' if dirty else ''}"


def _tool_cfg(cfg: dict[str, Any], tool: str) -> dict[str, Any]:
    return dict(cfg[tool]) if tool in cfg else dict(cfg)


def _n(x: int) -> str:
    return f"{x:,}"


def build_rows(cfg: dict[str, dict[str, Any]], selected: list[str]) -> dict[str, Row]:
    fm, rn = cfg["fluent_metrics"], cfg["fluent_runs"]
    bm, sr, mh = cfg["batch_metrics"], cfg["search"], cfg["metric_history"]
    rows: dict[str, Row] = {}
    if "fluent_metrics" in selected:
        rows["fluent_metrics"] = Row(
            "fluent_metrics", f"1 fluent log_metric, until durable (Dockyard {_n(fm['dockyard']['n'])}, "
            f"MLflow {_n(fm['mlflow']['n'])} calls)", "calls/s", GOALS["fluent_metrics"])
    if "batch_metrics" in selected:
        rows["batch_metrics"] = Row(
            "batch_metrics", f"2 log_batch: {_n(bm['points'])} points in batches of {_n(bm['batch_size'])}",
            "points/s", GOALS["batch_metrics"])
    if "fluent_runs" in selected:
        rows["fluent_runs"] = Row(
            "fluent_runs", f"3 fluent runs, 5 params + 5 metrics (Dockyard {_n(rn['dockyard']['n'])}, "
            f"MLflow {_n(rn['mlflow']['n'])} runs)", "runs/s", GOALS["fluent_runs"])
    if "search" in selected:
        for size in sr["sizes"]:
            for name in SEARCH_FILTERS:
                rows[f"search_{name}_{size}"] = Row(
                    f"search_{name}_{size}",
                    f"4 search_runs, {name} filter, over {_n(size)} runs (median of {sr['reps']})", "ms",
                    GOALS["search"])
    if "metric_history" in selected:
        rows["metric_history"] = Row(
            "metric_history", f"5 get_metric_history, {_n(mh['points'])} steps (median of {mh['reps']})",
            "ms", GOALS["metric_history"])
    return rows


def fill_rows(rows: dict[str, Row], workload: str, tool: str, result: dict[str, Any]) -> None:
    if workload == "search":
        for size, by_filter in result.items():
            for name in SEARCH_FILTERS:
                r = by_filter.get(name) if isinstance(by_filter, dict) else None
                if r and f"search_{name}_{size}" in rows:
                    setattr(rows[f"search_{name}_{size}"], tool, r["median_ms"])
    elif workload == "metric_history":
        setattr(rows[workload], tool, result["median_ms"])
    else:
        setattr(rows[workload], tool, result["rate"])


def consistency_checks(cfg: dict[str, Any], raw: dict[str, dict[str, Any]]) -> list[str]:
    """Did each tool store what it was given, and do both searches agree?"""
    notes = []
    for workload, expected_key, field_name in (("fluent_metrics", "n", "stored"),
                                               ("batch_metrics", "points", "stored"),
                                               ("fluent_runs", "n", "stored"),
                                               ("metric_history", "points", "points")):
        for tool, res in raw.get(workload, {}).items():
            if not isinstance(res, dict) or field_name not in res:
                continue
            expected = _tool_cfg(cfg[workload], tool)[expected_key]
            if res[field_name] != expected:
                notes.append(f"{tool} {workload}: expected {expected:,}, the server holds {res[field_name]:,}")
    search = raw.get("search", {})
    dy, ml = search.get("dockyard"), search.get("mlflow")
    if isinstance(dy, dict) and isinstance(ml, dict):
        for size in cfg["search"]["sizes"]:
            for name in SEARCH_FILTERS:
                a, b = (dy.get(str(size)) or {}).get(name), (ml.get(str(size)) or {}).get(name)
                if a and b and (a["matched"] != b["matched"] or a["top_auc"] != b["top_auc"]):
                    notes.append(f"search ({name}) over {size:,} runs: Dockyard returned {a['matched']} runs "
                                 f"(top auc {a['top_auc'][:3]}), MLflow {b['matched']} (top auc {b['top_auc'][:3]})")
    return notes


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    mode = "quick" if args.quick else "full"
    cfg = CONFIGS[mode]
    selected = list(WORKLOAD_ORDER)
    if args.only:
        wanted = [w.strip() for w in args.only.split(",") if w.strip()]
        unknown = sorted(set(wanted) - set(WORKLOAD_ORDER))
        if unknown:
            raise SystemExit(f"unknown workload(s): {', '.join(unknown)}; choose from {', '.join(WORKLOAD_ORDER)}")
        selected = [w for w in WORKLOAD_ORDER if w in wanted]

    def _terminate(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _terminate)

    started = time.monotonic()
    say(f"tracking benchmark, {mode} mode; workloads: {', '.join(selected)}")
    dockyard_version = _dockyard_version()
    source = _source_state()
    mlflow_python: Path | None = None
    mlflow_version: str | None = None
    mlflow_problem: str | None = None
    try:
        mlflow_python, mlflow_version = ensure_mlflow(Path(args.mlflow_venv).absolute())
    except MlflowUnavailable as exc:
        mlflow_problem = str(exc)
        say(f"MLflow is unavailable, running Dockyard alone: {exc}")

    rows = build_rows(cfg, selected)
    raw: dict[str, dict[str, Any]] = {}
    crashed: list[str] = []
    tmp = Path(tempfile.mkdtemp(prefix="dockyard-bench-"))
    servers: list[Server] = []
    try:
        dy_server = dockyard_server(tmp, args.workers)
        servers.append(dy_server)
        ml_server = mlflow_server(tmp, mlflow_python, args.workers) if mlflow_python else None
        if ml_server:
            servers.append(ml_server)
        for s in servers:
            say(f"starting {s.name} server on {s.url} (SQLite in {s.cwd})")
            s.start()
        for s in servers:
            took = s.wait_healthy()
            say(f"{s.name} server healthy after {took:.1f}s")

        tools: list[tuple[str, Path | str, str, Server, dict[str, str]]] = [
            ("dockyard", sys.executable, "_dockyard_worker.py", dy_server,
             _dockyard_env(tmp / "dockyard-client", DOCKYARD_URI=dy_server.url))]
        if ml_server and mlflow_python:
            tools.append(("mlflow", mlflow_python, "_mlflow_worker.py", ml_server,
                          _mlflow_env(MLFLOW_TRACKING_URI=ml_server.url)))
        workdir = tmp / "clients"
        workdir.mkdir()

        for workload in selected:
            raw[workload] = {}
            for tool, python, script, server, env in tools:
                wcfg = _tool_cfg(cfg[workload], tool)
                if workload == "metric_history":
                    batch = raw.get("batch_metrics", {}).get(tool)
                    bm = cfg["batch_metrics"]
                    # The batch workload logged exactly this history: fetch that run.
                    if (isinstance(batch, dict) and "run_id" in batch and bm["points"] == wcfg["points"]
                            and batch.get("stored") == wcfg["points"]):
                        wcfg["run_id"] = batch["run_id"]
                say(f"{workload}: {tool} ...")
                t0 = time.monotonic()
                try:
                    result = run_worker(python, script, workload, server.url, wcfg, env, workdir)
                except WorkerFailed as exc:
                    crashed.append(f"{tool} {workload}")
                    say(f"  FAILED: {exc}")
                    raw[workload][tool] = {"error": str(exc)}
                    for row in rows.values():
                        if row.key == workload or row.key.startswith(f"{workload}_"):
                            row.error = (row.error + "; " if row.error else "") + f"{tool} failed"
                    if server.proc is not None and server.proc.poll() is not None:
                        raise RuntimeError(f"{server.name} server died:\n{server.log_tail()}") from exc
                    continue
                raw[workload][tool] = result
                fill_rows(rows, workload, tool, result)
                say(f"  {tool} done in {time.monotonic() - t0:.1f}s")
    except KeyboardInterrupt:
        crashed.append("interrupted")
        say("interrupted; stopping the servers")
    except Exception as exc:  # noqa: BLE001 -- report what we have, then fail
        crashed.append(f"{exc.__class__.__name__}: {exc}")
        say(f"ERROR: {exc}")
    finally:
        for s in servers:
            s.stop()
        if args.keep:
            say(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    checks = consistency_checks(cfg, raw)
    elapsed = time.monotonic() - started
    print()
    print(f"Dockyard {dockyard_version} (git {source}) vs MLflow {mlflow_version or '(unavailable)'} -- "
          f"{mode} mode, {elapsed / 60:.1f} min")
    print(f"Python {platform.python_version()} on {platform.system()} {platform.machine()}, "
          f"{os.cpu_count()} CPUs; both servers: SQLite (temp dir), {args.workers} worker, "
          "access log off, loopback")
    print()
    print_table(list(rows.values()))
    print()
    print("ratio = how many times faster Dockyard is (rates: Dockyard/MLflow; times: MLflow/Dockyard).")
    if "fluent_metrics" in selected or "fluent_runs" in selected:
        print("Where MLflow ran fewer calls or runs (to bound the run time), rates per second are compared.")
    if "search" in selected:
        s = cfg["search"]
        print("search: " + ", ".join(f"{name} filter \"{f}\"" for name, f in SEARCH_FILTERS.items())
              + f"; order by {SEARCH_ORDER}, max_results {SEARCH_MAX_RESULTS}; "
              f"{s['reps']} timed calls after one warm-up.")
        for tool in ("dockyard", "mlflow"):
            res = raw.get("search", {}).get(tool)
            if isinstance(res, dict) and "error" not in res:
                parts = [f"{int(k):,} runs: " + ", ".join(f"{name} matched {v[name]['matched']}"
                                                          for name in SEARCH_FILTERS if name in v)
                         + f", populated in {v['populate_seconds']:.1f}s"
                         for k, v in res.items() if isinstance(v, dict)]
                print(f"  {tool}: " + "; ".join(parts))
    for note in checks:
        print(f"CHECK: {note}")
    if mlflow_problem:
        print(f"MLflow could not be installed: {mlflow_problem}")
    if crashed:
        print(f"FAILED: {', '.join(crashed)}")

    if args.json:
        doc = {
            "mode": mode,
            "versions": {"dockyard": dockyard_version, "dockyard_git": source, "mlflow": mlflow_version,
                         "python": platform.python_version()},
            "machine": {"system": platform.system(), "machine": platform.machine(),
                        "cpus": os.cpu_count(), "platform": platform.platform()},
            "server_workers": args.workers,
            "config": {w: cfg[w] for w in selected},
            "rows": [r.as_dict() for r in rows.values()],
            "raw": raw,
            "checks": checks,
            "mlflow_problem": mlflow_problem,
            "failed": crashed,
            "elapsed_seconds": elapsed,
        }
        Path(args.json).write_text(json.dumps(doc, indent=2) + "\n")
        print(f"results written to {args.json}")
    return 1 if (crashed or mlflow_problem) else 0


if __name__ == "__main__":
    sys.exit(main())
