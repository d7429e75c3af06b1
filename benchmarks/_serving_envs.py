"""What serving.py needs besides the project: wrk, MLflow's and MLServer's environments.

Each ``ensure_*`` function checks what is there and installs only what is
missing: wrk from Debian's packages (``apt-get``, through ``sudo`` when not
root), MLflow into ``.bench/mlflow-venv`` (shared with tracking.py and
models.py) and MLServer into ``.bench/mlserver-venv``, both with
scikit-learn at this environment's version, so every server reads the same
model files with the same library.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tracking import (
    MlflowUnavailable,
    _mlflow_env,
    _run_logged,
    _venv_python,
    ensure_mlflow,
    probe_versions,
    say,
)

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_MLSERVER_VENV = REPO / ".bench" / "mlserver-venv"

# MLServer 1.7.1 crashes beside uvloop 0.23 (the latest its requirements allow), so
# its environment pins the last uvloop it runs with.
MLSERVER_PINS = {"mlserver": "1.7.1", "mlserver-sklearn": "1.7.1", "uvloop": "0.21.0"}
INSTALL_TIMEOUT = 20 * 60


class Unavailable(Exception):
    """A tool the benchmark needs could not be found or installed."""


def _sklearn_version() -> str:
    return importlib.metadata.version("scikit-learn")


# ----------------------------------------------------------------------------- wrk
def wrk_version(wrk: str) -> str:
    out = subprocess.run([wrk, "-v"], capture_output=True, text=True, timeout=30, check=False)
    text = (out.stdout + out.stderr).strip()
    match = re.search(r"wrk\s+(\S+)", text)
    return match.group(1) if match else (text.splitlines()[0] if text else "unknown")


def ensure_wrk(explicit: str | None) -> str:
    """The path of wrk; installs Debian's package ``wrk`` when it is not on PATH."""
    if explicit:
        if not (os.path.isfile(explicit) and os.access(explicit, os.X_OK)):
            raise Unavailable(f"--wrk {explicit}: not an executable file")
        return explicit
    found = shutil.which("wrk")
    if found:
        return found
    if not shutil.which("apt-get"):
        raise Unavailable("wrk is not installed and there is no apt-get to install it with; "
                          "install wrk and pass --wrk PATH")
    prefix: list[str] = []
    if os.geteuid() != 0:
        if not shutil.which("sudo"):
            raise Unavailable("wrk is not installed and installing it needs root (no sudo found): "
                              "run 'apt-get install wrk' as root")
        prefix = ["sudo"]
    say("installing wrk (Debian package 'wrk') with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (prefix + ["apt-get", "update", "-qq"],
                prefix + ["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-qq", "wrk"]):
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env, check=False)
        except subprocess.TimeoutExpired as exc:
            raise Unavailable(f"{' '.join(cmd)} took longer than 900s") from exc
        if out.returncode != 0:
            tail = "\n    ".join((out.stdout + out.stderr).strip().splitlines()[-10:])
            raise Unavailable(f"{' '.join(cmd)} failed (exit {out.returncode}):\n    {tail}")
    found = shutil.which("wrk") or ("/usr/bin/wrk" if os.path.exists("/usr/bin/wrk") else None)
    if not found:
        raise Unavailable("apt-get installed wrk but it is not on PATH")
    return found


# ----------------------------------------------------------------------------- MLflow
def ensure_mlflow_with_sklearn(venv: Path) -> tuple[Path, dict[str, str]]:
    """MLflow's interpreter and the versions in its environment (MLflow installed when missing).

    scikit-learn (and skops, MLflow's default format for it) are installed at
    this environment's versions when they do not import there.
    """
    from models import ensure_mlflow_sklearn  # the same check models.py makes

    try:
        python, version = ensure_mlflow(venv)
        sk_skops = ensure_mlflow_sklearn(python)
    except MlflowUnavailable as exc:
        raise Unavailable(str(exc)) from exc
    sklearn_v, skops_v = sk_skops.split()[:2]
    return python, {"mlflow": version, "scikit-learn": sklearn_v, "skops": skops_v}


# ----------------------------------------------------------------------------- MLServer
_MLSERVER_PROBE = (
    "import importlib.metadata as m, json\n"
    "import mlserver, mlserver_sklearn, sklearn, uvloop\n"
    "print(json.dumps({d: m.version(d) for d in "
    "('mlserver', 'mlserver-sklearn', 'uvloop', 'scikit-learn', 'numpy', 'uvicorn', 'fastapi')}))\n"
)


def _mlserver_versions(python: Path) -> dict[str, str] | None:
    return probe_versions(python, _MLSERVER_PROBE, _mlflow_env(), 180)


def _mlserver_wanted() -> dict[str, str]:
    return {**MLSERVER_PINS, "scikit-learn": _sklearn_version()}


def ensure_mlserver(venv: Path) -> tuple[Path, dict[str, str]]:
    """MLServer's interpreter and versions, installing the pinned set into ``venv`` when it differs."""
    python = _venv_python(venv)
    wanted = _mlserver_wanted()
    found = _mlserver_versions(python)
    if found and all(found.get(k) == v for k, v in wanted.items()):
        say(f"MLServer {found['mlserver']} found in {venv} (uvloop {found['uvloop']}, "
            f"scikit-learn {found['scikit-learn']})")
        return python, found
    venv.parent.mkdir(parents=True, exist_ok=True)
    log_path = venv.parent / "mlserver-install.log"
    try:
        if not python.exists():
            say(f"creating a virtual environment for MLServer in {venv}")
            _run_logged([sys.executable, "-m", "venv", str(venv)], log_path, "creating the venv", 300)
            _run_logged([str(python), "-m", "pip", "install", "--disable-pip-version-check",
                         "--progress-bar", "off", "--upgrade", "pip"], log_path, "upgrading pip", 600)
        specs = [f"{k}=={v}" for k, v in wanted.items()]
        rel = log_path.relative_to(REPO) if log_path.is_relative_to(REPO) else log_path
        say(f"installing {' '.join(specs)} into it (a few minutes; log: {rel})")
        _run_logged([str(python), "-m", "pip", "install", "--disable-pip-version-check",
                     "--progress-bar", "off", *specs], log_path, "installing mlserver", INSTALL_TIMEOUT)
    except MlflowUnavailable as exc:  # _run_logged's error, whatever it installs
        raise Unavailable(str(exc)) from exc
    found = _mlserver_versions(python)
    if not found:
        raise Unavailable(f"MLServer was installed into {venv} but does not import; see {log_path}")
    wrong = {k: (found.get(k), v) for k, v in wanted.items() if found.get(k) != v}
    if wrong:
        raise Unavailable(f"MLServer's environment {venv} has " + ", ".join(
            f"{k} {have} (wanted {want})" for k, (have, want) in wrong.items()) + f"; see {log_path}")
    say(f"MLServer {found['mlserver']} installed (uvloop {found['uvloop']}, "
        f"scikit-learn {found['scikit-learn']})")
    return python, found
