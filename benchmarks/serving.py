"""Serving benchmark: Dockyard, ``mlflow models serve`` and MLServer on one model, in one run.

    .venv/bin/python benchmarks/serving.py            # full run: 15 s per point (about 8 minutes)
    .venv/bin/python benchmarks/serving.py --quick    # 3 s per point, a smoke run (about 2 minutes)
    .venv/bin/python benchmarks/serving.py --json results.json

What it does:

1. Makes sure the tools are there: wrk (Debian's package, installed with
   apt-get when missing), MLflow in ``.bench/mlflow-venv`` and MLServer in
   ``.bench/mlserver-venv`` (each created when missing, with scikit-learn at
   this environment's version; MLServer with ``uvloop==0.21.0``).
2. Fits one scikit-learn LogisticRegression on 20 numeric features and
   writes it for each server: a Dockyard package (``dockyard.models.save``),
   an MLflow model (``mlflow.sklearn.save_model``, in MLflow's environment)
   and a joblib file for MLServer's ``mlserver_sklearn.SKLearnModel``.
3. Starts one server at a time on a free port of 127.0.0.1, with the same
   number of worker processes (``--workers``, default 1): ``mlflow models
   serve``; MLServer with its defaults, with adaptive batching, with
   ``parallel_workers: 0`` (its best) and with both; ``dockyard serve`` with
   the prediction log off and on. Checks one request's answer, then drives
   each endpoint with wrk (single-row JSON requests, one fixed body) at
   concurrency 1 (``-t1 -c1``) and 32 (``-t2 -c32``), each point after a
   short warm-up, and stops the server.
4. Prints one table per concurrency (req/s, p50, p99, errors, ratios to
   MLflow and to MLServer's best configurations) and the goals with
   ``ok``/``BELOW``.

When ``dockyard serve --help`` fails, Dockyard's rows print ``SKIPPED:
dockyard serve is not available`` and the peers still run. A figure BELOW its
goal does not fail the script; the exit status is non-zero only when
something crashed or a peer could not be installed. All traffic goes to
127.0.0.1, and every point is bounded in time.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _serving_envs import (
    DEFAULT_MLSERVER_VENV,
    Unavailable,
    ensure_mlflow_with_sklearn,
    ensure_mlserver,
    ensure_wrk,
    wrk_version,
)
from tracking import (
    DEFAULT_MLFLOW_VENV,
    LOOPBACK,
    Server,
    _base_env,
    _dockyard_env,
    _dockyard_version,
    _mlflow_env,
    _source_state,
    free_port,
    say,
)

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
LUA_SCRIPT = HERE / "_serving_wrk.lua"
MODEL_NAME = "logreg"  # the model's name in V2 paths, and the Dockyard package's folder

CONFIGS: dict[str, dict[str, int]] = {  # wrk takes whole seconds
    "full": {"duration": 15, "warmup": 3},
    "quick": {"duration": 3, "warmup": 1},
}
# (concurrency, wrk threads, wrk connections)
POINTS: tuple[tuple[int, int, int], ...] = ((1, 1, 1), (32, 2, 32))
WRK_REQUEST_TIMEOUT = 10  # seconds; wrk's default (2 s) would drop slow requests from the latency figures
READY_TIMEOUT = 180  # seconds for a server to answer its readiness path
POINT_GRACE = 30  # seconds past a wrk run's duration before it is killed
BUSY_SHARE = 0.05  # a server process that used at least 5% of a core during a point counts as busy

GOALS = {
    "c32_rps_vs_mlflow": 10.0,  # Dockyard req/s >= 10x MLflow's, concurrency 32
    "c32_rps_vs_mlserver": 2.0,  # Dockyard req/s >= 2x MLServer's best configuration's, concurrency 32
    "c1_p50_vs_mlserver": 0.5,  # Dockyard p50 <= half of MLServer's best, concurrency 1
    "log_on_vs_off": 0.9,  # req/s with the prediction log on >= 90% of it off, concurrency 32
}

# Dockyard's command; {dockyard} is the console script beside this interpreter.
DEFAULT_DOCKYARD_CMD = "{dockyard} serve {model} --port {port} --workers {workers}"
DOCKYARD_LOG_OFF_FLAG = "--no-prediction-log"
SKIPPED_DOCKYARD = "SKIPPED: dockyard serve is not available"

ENDPOINTS = {  # key: (label, path template, body file)
    "invocations": ("/invocations {inputs}", "/invocations", "inputs.json"),
    "invocations_df": ("/invocations {dataframe_split}", "/invocations", "dataframe_split.json"),
    "v2": (f"/v2/models/{MODEL_NAME}/infer", "/v2/models/{name}/infer", "v2.json"),
}
DOCKYARD_ENDPOINTS = ("invocations", "v2")
MLFLOW_VARIANTS = {  # row key: (label, how the model is saved, endpoint)
    # The same body as Dockyard's /invocations rows: the like-for-like comparison.
    "mlflow": ("MLflow models serve, tensor signature", "tensor", "invocations"),
    # A DataFrame example (20 named columns) and dataframe_split bodies: MLflow's slower
    # pandas path, where the goal's reference figures for MLflow were taken.
    "mlflow_columns": ("MLflow models serve, column signature", "columns", "invocations_df"),
}
MLSERVER_CONFIGS = {  # key: (label, parallel_workers 0?, adaptive batching?)
    "defaults": ("MLServer defaults", False, False),
    "defaults_batching": ("MLServer defaults + adaptive batching", False, True),
    "best": ("MLServer best (parallel_workers 0)", True, False),
    "best_batching": ("MLServer best + adaptive batching", True, True),
}
ADAPTIVE_BATCHING = {"max_batch_size": 32, "max_batch_time": 0.005}
TOOLS = ("mlflow", "mlserver", "dockyard")


# ----------------------------------------------------------------------------- servers
@dataclass
class ReadyServer(Server):
    """A server of tracking.py's kind whose readiness is answered on ``ready_path``."""

    ready_path: str = "/health"

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> float:
        assert self.proc is not None
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with opener.open(f"{self.url}{self.ready_path}", timeout=2) as r:
                    if r.status == 200:
                        return time.monotonic() - start
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not answer {self.url}{self.ready_path} within "
                           f"{timeout:.0f}s:\n{self.log_tail()}")


def _with_path(env: dict[str, str], venv_bin: Path) -> dict[str, str]:
    # `mlflow models serve` runs `uvicorn` from PATH: it must be the one of MLflow's venv.
    env = dict(env)
    env["PATH"] = f"{venv_bin}{os.pathsep}{env.get('PATH', '')}"
    return env


def mlflow_server(tmp: Path, python: Path, variant: str, workers: int) -> ReadyServer:
    port = free_port()
    kind = MLFLOW_VARIANTS[variant][1]
    cmd = [str(python), "-m", "mlflow", "models", "serve", "-m", str(tmp / "model" / f"mlflow-{kind}"),
           "--env-manager", "local", "-h", LOOPBACK, "-p", str(port), "-w", str(workers)]
    env = _with_path(_mlflow_env(), python.parent)
    return ReadyServer(f"mlflow models serve ({kind.removesuffix('s')} signature)", cmd, env,
                       tmp / f"mlflow-serve-{kind}", tmp / f"mlflow-serve-{kind}.log", port, ready_path="/ping")


def mlserver_server(tmp: Path, python: Path, joblib_file: Path, config: str, workers: int) -> ReadyServer:
    _label, best, batching = MLSERVER_CONFIGS[config]
    folder = tmp / f"mlserver-{config}"
    folder.mkdir(parents=True)
    shutil.copy(joblib_file, folder / "model.joblib")
    port = free_port()
    settings: dict[str, Any] = {"host": LOOPBACK, "http_port": port, "grpc_port": free_port(),
                                "metrics_port": free_port()}
    if best:
        settings["parallel_workers"] = 0  # inference in the server's own process
    elif workers != 1:
        settings["parallel_workers"] = workers  # its default is 1 inference worker process
    model_settings: dict[str, Any] = {"name": MODEL_NAME, "implementation": "mlserver_sklearn.SKLearnModel",
                                      "parameters": {"uri": "./model.joblib"}}
    if batching:
        model_settings.update(ADAPTIVE_BATCHING)
    (folder / "settings.json").write_text(json.dumps(settings, indent=2) + "\n")
    (folder / "model-settings.json").write_text(json.dumps(model_settings, indent=2) + "\n")
    env = {k: v for k, v in _mlflow_env().items() if not k.startswith("MLSERVER_")}
    cmd = [str(python.parent / "mlserver"), "start", str(folder)]
    return ReadyServer(f"MLServer ({config})", cmd, _with_path(env, python.parent), folder,
                       tmp / f"mlserver-{config}.log", port, ready_path="/v2/health/ready")


@dataclass
class DockyardCommand:
    """How this run starts ``dockyard serve``: the command template and what its --help offers."""

    template: str
    available: bool
    reason: str | None
    has_host: bool = False
    has_log_flag: bool = False

    def argv(self, model: str, port: int | str, workers: int, log: bool) -> list[str]:
        script = Path(sys.executable).parent / "dockyard"
        values = {"dockyard": str(script), "python": sys.executable, "model": model, "port": str(port),
                  "workers": str(workers), "host": LOOPBACK}
        argv = [part.format(**values) for part in shlex.split(self.template)]
        if self.has_host and "{host}" not in self.template:
            argv += ["--host", LOOPBACK]
        if not log:
            argv.append(DOCKYARD_LOG_OFF_FLAG)
        return argv


def probe_dockyard(template: str) -> DockyardCommand:
    """Does ``dockyard serve --help`` answer? (the command up to ``{model}``, plus --help)"""
    parts = shlex.split(template)
    head = parts[:parts.index("{model}")] if "{model}" in parts else parts[:2]
    script = Path(sys.executable).parent / "dockyard"
    argv = [p.format(dockyard=str(script), python=sys.executable) for p in head] + ["--help"]
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=_base_env(),
                             stdin=subprocess.DEVNULL, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        return DockyardCommand(template, False, f"{' '.join(argv)}: {exc}")
    text = out.stdout + out.stderr
    if out.returncode != 0:
        lines = [ln.strip(" │╭╰╮╯─") for ln in text.splitlines()]
        lines = [ln for ln in lines if ln]
        why = next((ln for ln in lines if "No such command" in ln), lines[-1] if lines else "")
        return DockyardCommand(template, False, f"'{' '.join(argv)}' exited with {out.returncode}: {why}")
    return DockyardCommand(template, True, None, has_host="--host" in text,
                           has_log_flag=DOCKYARD_LOG_OFF_FLAG in text)


# ----------------------------------------------------------------------------- load generator
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def _ms(value: str, unit: str) -> float:
    return float(value) * _UNITS[unit]


def parse_wrk(text: str) -> dict[str, Any]:
    """The figures of wrk's ``--latency`` report (times in ms)."""
    out: dict[str, Any] = {}
    for pct, value, unit in re.findall(r"^\s*(50|75|90|99)%\s+([\d.]+)(us|ms|s|m|h)\s*$", text, re.MULTILINE):
        out[f"p{pct}_ms"] = _ms(value, unit)
    m = re.search(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h)", text, re.MULTILINE)
    if m:
        out["requests"] = int(m.group(1))
        out["duration_s"] = _ms(m.group(2), m.group(3)) / 1e3
    m = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.MULTILINE)
    if m:
        out["rps"] = float(m.group(1))
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    out["non_2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    out["socket_errors"] = dict(zip(("connect", "read", "write", "timeout"),
                                    (int(g) for g in m.groups()))) if m else \
        {"connect": 0, "read": 0, "write": 0, "timeout": 0}
    return out


class PointFailed(Exception):
    pass


def run_wrk(wrk: str, url: str, body_file: Path, threads: int, connections: int, seconds: int
            ) -> dict[str, Any]:
    """One wrk run against ``url``; its report parsed, with the script's exact figures beside it."""
    if not url.startswith(f"http://{LOOPBACK}:"):
        raise PointFailed(f"refusing to send load anywhere but {LOOPBACK}: {url}")
    cmd = [wrk, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency",
           "--timeout", f"{WRK_REQUEST_TIMEOUT}s", "-s", str(LUA_SCRIPT), url]
    env = {**_base_env(), "SERVING_BODY_FILE": str(body_file)}
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL,
                             timeout=seconds + POINT_GRACE, check=False)
    except subprocess.TimeoutExpired as exc:
        raise PointFailed(f"wrk did not finish within {seconds + POINT_GRACE:.0f}s") from exc
    if out.returncode != 0:
        raise PointFailed(f"wrk exited with {out.returncode}: {(out.stderr or out.stdout).strip()[-500:]}")
    parsed = parse_wrk(out.stdout)
    exact = None
    for line in out.stdout.splitlines():
        if line.startswith("SERVING_RESULT "):
            exact = json.loads(line.split(" ", 1)[1])
    if "rps" not in parsed or "p50_ms" not in parsed or "p99_ms" not in parsed:
        raise PointFailed(f"could not read wrk's report:\n{out.stdout[-1500:]}")
    result = {**parsed, "wrk_command": " ".join(shlex.quote(c) for c in cmd),
              "wrk_report": "\n".join(ln for ln in out.stdout.splitlines() if not ln.startswith("SERVING_RESULT"))}
    if exact:
        lat = exact["latency_us"]
        result["exact"] = exact
        result["p99_9_ms"] = lat["p99.9"] / 1e3
        result["max_ms"] = lat["max"] / 1e3
        result["mean_ms"] = lat["mean"] / 1e3
        if exact["requests"] != parsed.get("requests"):
            result["note"] = f"wrk's report says {parsed.get('requests')} requests, its script {exact['requests']}"
    result["errors"] = result["non_2xx"] + sum(result["socket_errors"].values())
    return result


# ----------------------------------------------------------------------------- process accounting
def _group_pids(pgid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if int(fields[2]) == pgid:  # field 5 of stat: the process group
            pids.append(int(entry))
    return pids


def _cpu_ticks(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2:].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def _rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class GroupCpu:
    """CPU time used by every process of a server's process group over an interval."""

    def __init__(self, pgid: int) -> None:
        self.pgid = pgid
        self.before = {pid: _cpu_ticks(pid) for pid in _group_pids(pgid)}
        self.t0 = time.monotonic()

    def finish(self) -> dict[str, Any]:
        elapsed = time.monotonic() - self.t0
        hz = os.sysconf("SC_CLK_TCK")
        pids = _group_pids(self.pgid)
        per_pid = {}
        for pid in set(pids) | set(self.before):
            after = _cpu_ticks(pid)
            if after is None:
                continue
            per_pid[pid] = (after - (self.before.get(pid) or 0)) / hz
        busy = sum(1 for s in per_pid.values() if s >= BUSY_SHARE * elapsed)
        return {"processes": len(pids), "busy_processes": busy,
                "cpu_seconds": sum(per_pid.values()), "cpu_share": sum(per_pid.values()) / elapsed,
                "rss_bytes": sum(_rss_bytes(p) for p in pids)}


# ----------------------------------------------------------------------------- rows
@dataclass
class Row:
    key: str
    tool: str
    label: str
    endpoint: str  # key of ENDPOINTS
    config: dict[str, Any] = field(default_factory=dict)
    results: dict[int, dict[str, Any]] = field(default_factory=dict)  # by concurrency
    skipped: str | None = None
    error: str | None = None
    answer: str | None = None  # the body of the checked request
    check: str | None = None

    @property
    def endpoint_label(self) -> str:
        return ENDPOINTS[self.endpoint][0]

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "tool": self.tool, "label": self.label,
                "endpoint": self.endpoint_label, "config": self.config,
                "results": {str(c): r for c, r in self.results.items()}, "skipped": self.skipped,
                "error": self.error, "answer": self.answer, "check": self.check}


def build_rows(tools: list[str], dockyard: DockyardCommand | None, workers: int) -> list[Row]:
    rows: list[Row] = []
    if "mlflow" in tools:
        for key, (label, kind, endpoint) in MLFLOW_VARIANTS.items():
            rows.append(Row(key, "mlflow", label, endpoint,
                            {"workers": workers, "env_manager": "local", "input_example": kind}))
    if "mlserver" in tools:
        for key, (label, best, batching) in MLSERVER_CONFIGS.items():
            rows.append(Row(f"mlserver_{key}", "mlserver", label, "v2", {
                "parallel_workers": 0 if best else workers,
                **({"adaptive_batching": ADAPTIVE_BATCHING} if batching else {})}))
    if "dockyard" in tools:
        for log in (False, True):
            for endpoint in DOCKYARD_ENDPOINTS:
                row = Row(f"dockyard_log_{'on' if log else 'off'}_{endpoint}", "dockyard",
                          f"Dockyard, prediction log {'on' if log else 'off'}", endpoint,
                          {"workers": workers, "prediction_log": log})
                if dockyard is None or not dockyard.available:
                    row.skipped = SKIPPED_DOCKYARD
                elif not log and not dockyard.has_log_flag:
                    row.skipped = f"SKIPPED: dockyard serve --help does not list {DOCKYARD_LOG_OFF_FLAG}"
                rows.append(row)
    return rows


def _prediction_in(answer: Any) -> list[Any] | None:
    """The predicted labels in an answer: MLflow's {"predictions": [...]}, V2's outputs[0].data."""
    if isinstance(answer, dict):
        if "predictions" in answer:
            return _flat(answer["predictions"])
        outputs = answer.get("outputs")
        if isinstance(outputs, list) and outputs and isinstance(outputs[0], dict) and "data" in outputs[0]:
            return _flat(outputs[0]["data"])
    if isinstance(answer, list):
        return _flat(answer)
    return None


def _flat(x: Any) -> list[Any]:
    if isinstance(x, list):
        return [v for item in x for v in _flat(item)]
    if isinstance(x, dict):
        return [v for item in x.values() for v in _flat(item)]
    return [x]


def check_answer(url: str, body_file: Path, expected: list[int]) -> tuple[str | None, str, str | None]:
    """POST the body once: (error, the answer's first 300 characters, a CHECK note when it is off)."""
    req = urllib.request.Request(url, data=body_file.read_bytes(), method="POST",
                                 headers={"Content-Type": "application/json"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(req, timeout=30) as r:
            status, text = r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        status, text = exc.code, exc.read().decode(errors="replace")
    except (urllib.error.URLError, OSError) as exc:
        return f"request failed: {exc}", "", None
    if status != 200:
        return f"HTTP {status}: {text[:300]}", text[:300], None
    try:
        labels = _prediction_in(json.loads(text))
    except json.JSONDecodeError:
        return None, text[:300], "the answer is not JSON"
    if labels is None:
        return None, text[:300], "no prediction found in the answer"
    if [int(v) for v in labels if isinstance(v, (int, float))][:len(expected)] != expected:
        return None, text[:300], f"predicted {labels}, expected {expected}"
    return None, text[:300], None


# ----------------------------------------------------------------------------- the run
class Bench:
    def __init__(self, args: argparse.Namespace, tmp: Path, wrk: str, model: dict[str, Any]) -> None:
        self.args = args
        self.tmp = tmp
        self.wrk = wrk
        self.model = model
        self.bodies = tmp / "model" / "bodies"
        self.crashed: list[str] = []
        self.servers: list[ReadyServer] = []
        self.server_info: dict[str, Any] = {}

    def measure(self, plan: list[tuple[ReadyServer, list[Row]]]) -> None:
        """Start the servers, check each row's endpoint once, load them point by point, stop them.

        With several servers (Dockyard with the prediction log off and on), all
        are started first and their rows alternate at each point, so a drift of
        the machine during the run does not fall on one side of the comparison;
        the idle server only waits.
        """
        live: list[tuple[ReadyServer, Row, str, Path]] = []
        try:
            for server, rows in plan:
                self.servers.append(server)
                say(f"starting {server.name} on {server.url} (log: {server.log_path.name})")
                try:
                    server.start()
                    took = server.wait_ready()
                except (RuntimeError, OSError) as exc:
                    for row in rows:
                        row.error = f"did not start: {str(exc).splitlines()[0]}"
                    self.crashed.append(f"{server.name} did not start")
                    say(f"  FAILED: {exc}")
                    continue
                say(f"  ready after {took:.1f}s")
                self.server_info[server.name] = {"command": server.cmd, "ready_seconds": took}
                for row in rows:
                    name = self.args.dockyard_model_name if row.tool == "dockyard" else MODEL_NAME
                    url = server.url + ENDPOINTS[row.endpoint][1].format(name=name)
                    body = self.bodies / ENDPOINTS[row.endpoint][2]
                    error, answer, note = check_answer(url, body, self.model["predict"])
                    row.answer, row.check = answer, note
                    if error:
                        row.error = f"first request: {error}"
                        self.crashed.append(f"{row.label} {row.endpoint_label}: {error[:120]}")
                        say(f"  FAILED: {row.label} {row.endpoint_label}: {error}")
                        continue
                    if note:
                        say(f"  CHECK: {row.label} {row.endpoint_label}: {note}")
                    live.append((server, row, url, body))
            # Rows in order of endpoint, then server: log off, log on, log off, ...
            order = {row.endpoint: i for i, (_s, row, _u, _b) in reversed(list(enumerate(live)))}
            live.sort(key=lambda item: order[item[1].endpoint])
            for concurrency, threads, connections in POINTS:
                for server, row, url, body in live:
                    self._point(server, row, url, body, concurrency, threads, connections)
            for server, _rows in plan:
                if server.proc is not None and server.proc.poll() is not None:
                    say(f"  {server.name} exited during the run:\n{server.log_tail()}")
                    self.crashed.append(f"{server.name} exited during the run")
        finally:
            for server, _rows in plan:
                server.stop()
                if server in self.servers:
                    self.servers.remove(server)

    def _point(self, server: ReadyServer, row: Row, url: str, body: Path, concurrency: int, threads: int,
               connections: int) -> None:
        assert server.proc is not None
        if server.proc.poll() is not None:
            row.error = f"server exited with {server.proc.returncode}"
            return
        say(f"  c={concurrency}: {row.label}, {row.endpoint_label}: {self.args.warmup}s warm-up, "
            f"{self.args.duration}s measured ...")
        try:
            if self.args.warmup:
                run_wrk(self.wrk, url, body, threads, connections, self.args.warmup)
            cpu = GroupCpu(server.proc.pid)
            res = run_wrk(self.wrk, url, body, threads, connections, self.args.duration)
            res.update(cpu.finish())
        except PointFailed as exc:
            row.error = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
            self.crashed.append(f"{row.label} {row.endpoint_label} c={concurrency}")
            say(f"  FAILED: {exc}")
            return
        res.update({"threads": threads, "connections": connections})
        row.results[concurrency] = res
        say(f"    {res['rps']:,.0f} req/s, p50 {fmt_ms(res['p50_ms'])}, p99 {fmt_ms(res['p99_ms'])}, "
            f"errors {res['errors']}, server CPU {res['cpu_share']:.0%} in {res['processes']} processes "
            f"({res['busy_processes']} busy)")

    def stop_all(self) -> None:
        for server in list(self.servers):
            server.stop()
        self.servers.clear()


def prepare_model(tmp: Path, mlflow_python: Path | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Fit and write the model (project interpreter), then MLflow's copies (MLflow's interpreter)."""
    out = tmp / "model"
    say("fitting the LogisticRegression and writing it for each server ...")
    proc = subprocess.run([sys.executable, str(HERE / "_serving_train.py"), str(out), MODEL_NAME],
                          capture_output=True, text=True, timeout=600, env=_base_env(), check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"_serving_train.py exited with {proc.returncode}:\n{proc.stderr[-2000:]}")
    model = json.loads(proc.stdout.strip().splitlines()[-1])
    if model.get("dockyard_error"):
        say(f"  the Dockyard package could not be written: {model['dockyard_error']}")
    mlflow_models: dict[str, Any] = {}
    for kind in ("tensor", "columns") if mlflow_python is not None else ():
        proc = subprocess.run([str(mlflow_python), str(HERE / "_serving_mlflow_save.py"), model["joblib_file"],
                               str(out / "row.json"), str(out / f"mlflow-{kind}"), kind],
                              capture_output=True, text=True, timeout=600, env=_mlflow_env(), check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"_serving_mlflow_save.py {kind} exited with {proc.returncode}:\n"
                               f"{proc.stderr[-2000:]}")
        mlflow_models[kind] = json.loads(proc.stdout.strip().splitlines()[-1])
    return model, mlflow_models


# ----------------------------------------------------------------------------- report
def fmt_ms(ms: float | None) -> str:
    if ms is None:
        return "-"
    if ms < 10:
        return f"{ms:.2f} ms"
    return f"{ms:,.1f} ms" if ms < 1000 else f"{ms / 1000:,.2f} s"


def fmt_rps(rps: float | None) -> str:
    return "-" if rps is None else f"{rps:,.0f}"


def _res(rows: list[Row], key: str, concurrency: int) -> dict[str, Any] | None:
    row = next((r for r in rows if r.key == key), None)
    return row.results.get(concurrency) if row else None


def mlserver_best(rows: list[Row], concurrency: int, metric: str) -> tuple[Row, dict[str, Any]] | None:
    """MLServer's best configuration at this point: highest req/s, or lowest p50/p99."""
    cands = [(r, r.results[concurrency]) for r in rows if r.tool == "mlserver" and concurrency in r.results]
    if not cands:
        return None
    if metric == "rps":
        return max(cands, key=lambda c: c[1]["rps"])
    return min(cands, key=lambda c: c[1][metric])


def print_table(title: str, header: tuple[str, ...], body: list[tuple[str, ...]], align: str) -> None:
    # A shorter row spans: its last cell runs on over the remaining columns.
    widths = [max(len(str(r[i])) for r in [header, *body] if i < len(r) - (len(r) < len(header)))
              for i in range(len(header))]

    def line(cells: tuple[str, ...]) -> str:
        if len(cells) < len(header):
            return "  ".join([*(f"{c:<{w}}" for c, w in zip(cells[:-1], widths)), cells[-1]]).rstrip()
        return "  ".join(f"{c:{'<' if a == 'l' else '>'}{w}}" for c, a, w in zip(cells, align, widths)).rstrip()

    print(title)
    print(line(header))
    print("  ".join("-" * w for w in widths))
    for r in body:
        print(line(r))


def report_point(rows: list[Row], concurrency: int, threads: int, connections: int, cfg: argparse.Namespace
                 ) -> None:
    base = _res(rows, "mlflow", concurrency)
    best = _res(rows, "mlserver_best", concurrency)
    best_b = _res(rows, "mlserver_best_batching", concurrency)
    header = ("server", "endpoint", "procs (busy)", "server CPU", "req/s", "p50", "p99", "errors",
              "x MLflow", "x MLServer best", "x best+batching")
    body: list[tuple[str, ...]] = []
    for row in rows:
        res = row.results.get(concurrency)
        if row.skipped or (res is None and row.error):
            body.append((row.label, row.endpoint_label, row.skipped or f"ERROR: {' '.join(row.error.split())[:100]}"))
            continue
        if res is None:
            body.append((row.label, row.endpoint_label, "not measured"))
            continue

        def ratio(peer: dict[str, Any] | None, res: dict[str, Any] = res) -> str:
            return f"{res['rps'] / peer['rps']:.2f}x" if peer and peer["rps"] else "-"

        body.append((row.label, row.endpoint_label, f"{res['processes']} ({res['busy_processes']})",
                     f"{res['cpu_share']:.0%}", fmt_rps(res["rps"]), fmt_ms(res["p50_ms"]),
                     fmt_ms(res["p99_ms"]), f"{res['errors']:,}", ratio(base), ratio(best), ratio(best_b)))
    print_table(f"concurrency {concurrency} (wrk -t{threads} -c{connections} --latency: {cfg.duration:g} s "
                f"after a {cfg.warmup:g} s warm-up; single-row requests)",
                header, body, "llrrrrrrrrr")


@dataclass
class Goal:
    key: str
    text: str
    dockyard: str
    peer: str
    value: float | None
    target: str
    passed: bool | None
    note: str | None = None

    @property
    def status(self) -> str:
        return "n/a" if self.passed is None else ("ok" if self.passed else "BELOW")

    def as_dict(self) -> dict[str, Any]:
        return {"goal": self.key, "text": self.text, "dockyard": self.dockyard, "peer": self.peer,
                "value": self.value, "target": self.target, "status": self.status, "note": self.note}


def evaluate_goals(rows: list[Row]) -> list[Goal]:
    """The goals, with Dockyard in its default configuration (prediction log on)."""
    goals: list[Goal] = []
    by_key = {r.key: r for r in rows}
    skipped = next((r.skipped for r in rows if r.tool == "dockyard" and r.skipped == SKIPPED_DOCKYARD), None)

    def dock(endpoint: str, concurrency: int, log: bool = True) -> dict[str, Any] | None:
        return _res(rows, f"dockyard_log_{'on' if log else 'off'}_{endpoint}", concurrency)

    def compare(key: str, text: str, dy: dict[str, Any] | None, peer: tuple[Row, dict[str, Any]] | None,
                metric: str, goal: float, name_peer: bool = False) -> None:
        """One goal line: Dockyard's figure / the peer's, against ``goal``."""
        fmt = fmt_rps if metric == "rps" else fmt_ms
        unit = " req/s" if metric == "rps" else ""
        value = dy[metric] / peer[1][metric] if dy and peer and peer[1][metric] else None
        if metric == "rps":
            passed, target = (None if value is None else value >= goal), f">= {goal:g}x"
        elif metric == "p99_ms":  # strictly lower
            passed, target = (None if value is None else value < goal), f"< {goal:g}x"
        else:
            passed, target = (None if value is None else value <= goal), f"<= {goal:g}x"
        peer_text = "not measured"
        if peer:
            peer_text = f"{fmt(peer[1][metric])}{unit}" + (f" ({peer[0].label})" if name_peer else "")
        goals.append(Goal(key, text, f"{fmt(dy[metric])}{unit}" if dy else (skipped or "not measured"),
                          peer_text, value, target, passed))

    def peer_row(key: str, concurrency: int) -> tuple[Row, dict[str, Any]] | None:
        row = by_key.get(key)
        return (row, row.results[concurrency]) if row and concurrency in row.results else None

    inv32, v2_32 = dock("invocations", 32), dock("v2", 32)
    ml32, mlc32 = peer_row("mlflow", 32), peer_row("mlflow_columns", 32)
    ms32 = mlserver_best(rows, 32, "rps")
    # Concurrency 32: throughput and p99 against MLflow (same body) and MLServer's best (V2 both).
    compare("c32_rps_vs_mlflow", "c=32 req/s vs MLflow, tensor signature (same body)", inv32, ml32, "rps",
            GOALS["c32_rps_vs_mlflow"])
    compare("c32_rps_vs_mlflow_columns", "c=32 req/s vs MLflow, column signature (dataframe_split)", inv32,
            mlc32, "rps", GOALS["c32_rps_vs_mlflow"])
    compare("c32_rps_vs_mlserver", "c=32 req/s vs MLServer's best configuration (V2)", v2_32, ms32, "rps",
            GOALS["c32_rps_vs_mlserver"], name_peer=True)
    compare("c32_p99_vs_mlflow", "c=32 p99 vs MLflow, tensor signature (same body)", inv32, ml32, "p99_ms", 1.0)
    compare("c32_p99_vs_mlflow_columns", "c=32 p99 vs MLflow, column signature (dataframe_split)", inv32, mlc32,
            "p99_ms", 1.0)
    compare("c32_p99_vs_mlserver", "c=32 p99 vs MLServer's best configuration (V2)", v2_32, ms32, "p99_ms",
            1.0, name_peer=True)
    # Concurrency 1: p50 at most half of MLServer's best (its lowest p50).
    compare("c1_p50_vs_mlserver", "c=1 p50 vs MLServer's best configuration (V2)", dock("v2", 1),
            mlserver_best(rows, 1, "p50_ms"), "p50_ms", GOALS["c1_p50_vs_mlserver"], name_peer=True)
    # The prediction log: req/s with it on against off, concurrency 32, each endpoint.
    for endpoint in DOCKYARD_ENDPOINTS:
        off_row = by_key.get(f"dockyard_log_off_{endpoint}")
        off = peer_row(f"dockyard_log_off_{endpoint}", 32)
        compare(f"log_on_vs_off_{endpoint}",
                f"c=32 req/s, prediction log on / off ({ENDPOINTS[endpoint][0].split()[0]})",
                dock(endpoint, 32), off, "rps", GOALS["log_on_vs_off"])
        if off is None and off_row is not None and off_row.skipped:
            goals[-1].peer = off_row.skipped
    return goals


def print_goals(goals: list[Goal]) -> None:
    body = [(g.text, g.dockyard, g.peer, f"{g.value:.2f}x" if g.value is not None else "-", g.target, g.status)
            for g in goals]
    print_table("goals (Dockyard as it starts by default: prediction log on)",
                ("goal", "Dockyard", "peer", "ratio", "goal", "result"), body, "lllrrl")
    print("  ratio: Dockyard / peer (req/s: higher is better; latency: lower is better). The log lines "
          "compare Dockyard with itself (peer: the prediction log off).\n  MLServer's best configuration: "
          "the highest req/s of its four at c=32, the lowest p50 at c=1. Dockyard's /invocations rows send "
          "the body of MLflow's tensor-signature rows.")


def print_log_ratio(rows: list[Row]) -> None:
    parts = []
    for endpoint in DOCKYARD_ENDPOINTS:
        for concurrency, _t, _c in POINTS:
            on = _res(rows, f"dockyard_log_on_{endpoint}", concurrency)
            off = _res(rows, f"dockyard_log_off_{endpoint}", concurrency)
            if on and off:
                parts.append(f"{ENDPOINTS[endpoint][0].split()[0]} c={concurrency}: req/s {on['rps'] / off['rps']:.2f}x, "
                             f"p50 {fmt_ms(off['p50_ms'])} -> {fmt_ms(on['p50_ms'])}, "
                             f"p99 {fmt_ms(off['p99_ms'])} -> {fmt_ms(on['p99_ms'])}")
    if parts:
        print("prediction log on vs off (Dockyard): " + "; ".join(parts))


# ----------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="3 s per point after a 1 s warm-up: a smoke run")
    p.add_argument("--json", metavar="PATH", help="also write the results to this JSON file")
    p.add_argument("--workers", type=int, default=1,
                   help="server processes, the same for every server: mlflow -w, dockyard --workers, "
                        "MLServer's parallel_workers in its default configurations (default: 1)")
    p.add_argument("--duration", type=int, help="whole seconds per measured point (default: 15, --quick: 3)")
    p.add_argument("--warmup", type=int,
                   help="whole seconds of warm-up before each point, 0 for none (default: 3, --quick: 1)")
    p.add_argument("--only", metavar="T1,T2", help=f"run only these servers ({', '.join(TOOLS)})")
    p.add_argument("--mlflow-venv", metavar="DIR", default=str(DEFAULT_MLFLOW_VENV),
                   help="virtual environment holding MLflow (created when missing; default: .bench/mlflow-venv)")
    p.add_argument("--mlserver-venv", metavar="DIR", default=str(DEFAULT_MLSERVER_VENV),
                   help="virtual environment holding MLServer (created when missing; "
                        "default: .bench/mlserver-venv)")
    p.add_argument("--dockyard-cmd", metavar="TEMPLATE", default=DEFAULT_DOCKYARD_CMD,
                   help="how to start Dockyard's model server; {dockyard} (the console script), {python}, "
                        "{model}, {port}, {workers}, {host} are filled in; --host 127.0.0.1 is added when "
                        f"--help lists it, {DOCKYARD_LOG_OFF_FLAG} for the log-off rows "
                        f"(default: \"{DEFAULT_DOCKYARD_CMD}\")")
    p.add_argument("--dockyard-model", metavar="PATH_OR_URI",
                   help="what Dockyard serves (default: the package this run writes, a folder named "
                        f"'{MODEL_NAME}')")
    p.add_argument("--dockyard-model-name", default=MODEL_NAME,
                   help=f"the model's name in Dockyard's V2 path (default: {MODEL_NAME})")
    p.add_argument("--wrk", metavar="PATH", help="the wrk binary (default: wrk on PATH, installed when missing)")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder (models, settings, server logs)")
    args = p.parse_args(argv)
    mode = CONFIGS["quick" if args.quick else "full"]
    args.duration = args.duration if args.duration is not None else mode["duration"]
    args.warmup = args.warmup if args.warmup is not None else mode["warmup"]
    if args.duration <= 0 or args.warmup < 0 or args.workers < 1:
        p.error("--duration must be > 0, --warmup >= 0 and --workers >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    mode = "quick" if args.quick else "full"
    tools = list(TOOLS)
    if args.only:
        wanted = [t.strip() for t in args.only.split(",") if t.strip()]
        unknown = sorted(set(wanted) - set(TOOLS))
        if unknown:
            raise SystemExit(f"unknown server(s): {', '.join(unknown)}; choose from {', '.join(TOOLS)}")
        tools = [t for t in TOOLS if t in wanted]

    def _terminate(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt  # like Ctrl-C: stop the servers, report what was measured

    signal.signal(signal.SIGTERM, _terminate)
    started = time.monotonic()
    say(f"serving benchmark, {mode} mode: {args.duration:g} s per point after {args.warmup:g} s warm-up; "
        f"servers: {', '.join(tools)}; {args.workers} worker(s) each")

    problems: list[str] = []
    try:
        wrk = ensure_wrk(args.wrk)
    except Unavailable as exc:
        print(f"FAILED: wrk is needed to drive the servers: {exc}")
        return 1
    versions: dict[str, Any] = {"wrk": wrk_version(wrk), "python": platform.python_version(),
                                "scikit-learn": importlib.metadata.version("scikit-learn"),
                                "dockyard": _dockyard_version(), "dockyard_git": _source_state()}
    say(f"wrk {versions['wrk']} at {wrk}")

    mlflow_python = mlserver_python = None
    if "mlflow" in tools:
        try:
            mlflow_python, versions["mlflow_venv"] = ensure_mlflow_with_sklearn(Path(args.mlflow_venv).absolute())
        except Unavailable as exc:
            problems.append(f"MLflow could not be installed: {exc}")
            say(f"MLflow is unavailable: {exc}")
            tools.remove("mlflow")
    if "mlserver" in tools:
        try:
            mlserver_python, versions["mlserver_venv"] = ensure_mlserver(Path(args.mlserver_venv).absolute())
        except Unavailable as exc:
            problems.append(f"MLServer could not be installed: {exc}")
            say(f"MLServer is unavailable: {exc}")
            tools.remove("mlserver")

    dockyard_cmd = None
    if "dockyard" in tools:
        dockyard_cmd = probe_dockyard(args.dockyard_cmd)
        if dockyard_cmd.available:
            say(f"dockyard serve is available (--host {'listed' if dockyard_cmd.has_host else 'not listed'}, "
                f"{DOCKYARD_LOG_OFF_FLAG} {'listed' if dockyard_cmd.has_log_flag else 'not listed'})")
        else:
            say(f"{SKIPPED_DOCKYARD} ({dockyard_cmd.reason}); the peers still run")

    rows = build_rows(tools, dockyard_cmd, args.workers)
    tmp = Path(tempfile.mkdtemp(prefix="dockyard-bench-serving-"))
    model: dict[str, Any] = {}
    mlflow_models: dict[str, Any] = {}
    bench: Bench | None = None
    crashed: list[str] = []
    try:
        model, mlflow_models = prepare_model(tmp, mlflow_python)
        bench = Bench(args, tmp, wrk, model)
        if mlflow_python is not None:
            for variant in MLFLOW_VARIANTS:
                bench.measure([(mlflow_server(tmp, mlflow_python, variant, args.workers),
                                [r for r in rows if r.key == variant])])
        if mlserver_python is not None:
            for config in MLSERVER_CONFIGS:
                bench.measure([(mlserver_server(tmp, mlserver_python, Path(model["joblib_file"]), config,
                                                args.workers),
                                [r for r in rows if r.key == f"mlserver_{config}"])])
        if dockyard_cmd is not None and dockyard_cmd.available:
            target = args.dockyard_model or model.get("dockyard_package")
            if not target:
                for r in rows:
                    if r.tool == "dockyard" and not r.skipped:
                        r.error = f"no Dockyard package: {model.get('dockyard_error')}"
                crashed.append("the Dockyard package could not be written")
            else:
                plan = []
                for log in (False, True):
                    dy_rows = [r for r in rows if r.tool == "dockyard" and r.config["prediction_log"] == log
                               and not r.skipped]
                    if not dy_rows:
                        continue
                    side = "on" if log else "off"
                    port = free_port()
                    plan.append((ReadyServer(
                        f"dockyard serve (prediction log {side})",
                        dockyard_cmd.argv(str(target), port, args.workers, log),
                        _dockyard_env(tmp / f"dockyard-home-log-{side}"), tmp / f"dockyard-log-{side}",
                        tmp / f"dockyard-log-{side}.log", port, ready_path="/v2/health/ready"), dy_rows))
                bench.measure(plan)
    except KeyboardInterrupt:
        crashed.append("interrupted")
        say("interrupted; stopping the servers")
    except Exception as exc:  # noqa: BLE001 -- report what we have, then fail
        crashed.append(f"{exc.__class__.__name__}: {exc}")
        say(f"ERROR: {exc}")
    finally:
        if bench is not None:
            bench.stop_all()
            crashed = bench.crashed + crashed
        if args.keep:
            say(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    elapsed = time.monotonic() - started
    goals = evaluate_goals(rows) if "dockyard" in tools else []
    ml_v = (versions.get("mlflow_venv") or {}).get("mlflow")
    ms_v = (versions.get("mlserver_venv") or {}).get("mlserver")
    print()
    print(f"Dockyard {versions['dockyard']} (git {versions['dockyard_git']}) vs MLflow {ml_v or '(not run)'} "
          f"(mlflow models serve) and MLServer {ms_v or '(not run)'} -- {mode} mode, {elapsed / 60:.1f} min")
    sk = {versions["scikit-learn"]} | {v.get("scikit-learn") for k, v in versions.items()
                                       if k.endswith("_venv") and isinstance(v, dict)}
    extra = f"; MLServer's uvloop {versions['mlserver_venv']['uvloop']}" if "mlserver_venv" in versions else ""
    print(f"Python {versions['python']} on {platform.system()} {platform.machine()}, {os.cpu_count()} CPUs; "
          f"wrk {versions['wrk']}; scikit-learn {', '.join(sorted(s for s in sk if s))}{extra}; "
          f"server processes: --workers {args.workers} for each; 127.0.0.1 only")
    if model:
        print(f"model: {model['model']} on {model['data']}, joblib file {model['joblib_bytes']:,} bytes; every "
              f"request sends one row (the answer is {model['predict']})")
    if mlflow_models:
        print(f"MLflow: mlflow.sklearn.save_model(model, path, input_example=X[:1]) (format "
              f"{mlflow_models['tensor']['serialization_format']}), served with --env-manager local; tensor "
              "signature: X[:1] as a numpy array, body {\"inputs\": [[20 floats]]} (the body of Dockyard's "
              "/invocations rows); column signature: X[:1] as a DataFrame of 20 named columns, body "
              "{\"dataframe_split\": {\"columns\": [...], \"data\": [[...]]}}")
    if "mlserver" in tools:
        print(f"MLServer: mlserver_sklearn.SKLearnModel on the joblib file; body V2 FP64 [1, 20]; adaptive "
              f"batching = max_batch_size {ADAPTIVE_BATCHING['max_batch_size']}, max_batch_time "
              f"{ADAPTIVE_BATCHING['max_batch_time']}; defaults = 1 inference worker process beside the "
              "HTTP one" + (f" ({args.workers} with --workers {args.workers}; parallel_workers 0 is one "
                            "process whatever --workers says)" if args.workers != 1 else ""))
    if dockyard_cmd is not None:
        if dockyard_cmd.available:
            example = dockyard_cmd.argv("MODEL", "PORT", args.workers, True)
            print(f"Dockyard: {' '.join(example[1:] if example[0].endswith('dockyard') else example)} "
                  f"[{DOCKYARD_LOG_OFF_FLAG}]; package from dockyard.models.save(input_example=X[:1])")
        else:
            print(f"{SKIPPED_DOCKYARD}: {dockyard_cmd.reason}")
    print()
    for concurrency, threads, connections in POINTS:
        report_point(rows, concurrency, threads, connections, args)
        print()
    print("  procs (busy): processes in the server's process group (those that used >= 5% of a core). "
          "server CPU: their CPU time / wall time (200% = both cores).")
    print("  x MLflow, x MLServer best, x best+batching: req/s of the row / req/s at the same concurrency of "
          "MLflow (tensor signature), MLServer best (parallel_workers 0), MLServer best + adaptive batching.")
    print()
    if goals:
        print_goals(goals)
        print_log_ratio(rows)
        print()
    for row in rows:
        if row.check:
            print(f"CHECK: {row.label} {row.endpoint_label}: {row.check}; answer: {row.answer}")
        for concurrency, res in row.results.items():
            if res.get("errors"):
                print(f"NOTE: {row.label} {row.endpoint_label} c={concurrency}: {res['non_2xx']} non-2xx "
                      f"responses, socket errors {res['socket_errors']}")
            if res.get("note"):
                print(f"NOTE: {row.label} c={concurrency}: {res['note']}")
    for p in problems:
        print(p)
    if crashed:
        print(f"FAILED: {', '.join(crashed)}")

    if args.json:
        doc = {
            "mode": mode,
            "versions": versions,
            "machine": {"system": platform.system(), "machine": platform.machine(), "cpus": os.cpu_count(),
                        "platform": platform.platform()},
            "config": {"duration_s": args.duration, "warmup_s": args.warmup, "workers": args.workers,
                       "points": [{"concurrency": c, "threads": t, "connections": n} for c, t, n in POINTS],
                       "wrk_request_timeout_s": WRK_REQUEST_TIMEOUT, "adaptive_batching": ADAPTIVE_BATCHING,
                       "dockyard_cmd": args.dockyard_cmd, "goals": GOALS},
            "model": model,
            "mlflow_models": mlflow_models,
            "dockyard": None if dockyard_cmd is None else {
                "available": dockyard_cmd.available, "reason": dockyard_cmd.reason,
                "has_host": dockyard_cmd.has_host, "has_log_flag": dockyard_cmd.has_log_flag},
            "servers": bench.server_info if bench else {},
            "rows": [r.as_dict() for r in rows],
            "goals": [g.as_dict() for g in goals],
            "problems": problems,
            "failed": crashed,
            "elapsed_seconds": elapsed,
        }
        Path(args.json).write_text(json.dumps(doc, indent=2) + "\n")
        print(f"results written to {args.json}")
    return 1 if (crashed or problems) else 0


if __name__ == "__main__":
    sys.exit(main())
