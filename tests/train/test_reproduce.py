"""Reproducible runs: a run from a dirty git tree, reproduced in a fresh folder, scores the same."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dockyard import Client
from dockyard.train.reproduce import SOURCE_DIR, snapshot
from tests.cli.test_cli import cli

TRAIN = """\
import sys

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

import dockyard
{extra_import}
C = {c}

dockyard.set_seed()  # a seed picked at random, recorded on the run
x, y = load_breast_cancer(return_X_y=True)
x_train, x_val, y_train, y_val = train_test_split(x, y, random_state=np.random.randint(2**31))
with dockyard.start_run(name="repro"):
    model = LogisticRegression(C=C, max_iter=int(sys.argv[1])).fit(x_train, y_train)
    dockyard.log_param("C", C)
    dockyard.log_metric("accuracy", model.score(x_val, y_val))
    dockyard.log_metric("coef_sum", float(model.coef_.sum()))
"""


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
    # The defaults (a top-level run logs its source), and this environment's python first.
    path = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
    return {**env, "DOCKYARD_HOME": str(home), "PATH": path}


def test_a_run_from_a_dirty_tree_runs_again_with_the_same_metrics(tmp_path: Path) -> None:
    repo, home = tmp_path / "project", tmp_path / "home"
    (repo / "src").mkdir(parents=True)
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "config", "user.email", "ds@example.org")
    _git(repo, "config", "user.name", "ds")
    (repo / "src" / "train.py").write_text(TRAIN.format(extra_import="", c=1.0))
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "baseline")
    # Uncommitted work: a changed line and a new, untracked module the script imports.
    (repo / "src" / "train.py").write_text(TRAIN.format(extra_import="import helper", c=0.05))
    (repo / "src" / "helper.py").write_text("SCALE = 1\n")
    ran = subprocess.run([sys.executable, "train.py", "300"], cwd=repo / "src", env=_env(home),
                         capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, ran.stderr
    client = Client(f"sqlite:///{home / 'dockyard.db'}", str(home / "artifacts"))
    [first] = client.search_all_runs(client.get_experiment_by_name("default").id)
    assert first.git_dirty and first.tags["dockyard.source.git_branch"] == "main"
    assert json.loads(first.tags["dockyard.source.command"]) == ["train.py", "300"]
    assert first.tags["dockyard.source.cwd"] == "src"
    paths = {f.path for f in client.list_artifacts(first.id, SOURCE_DIR)}
    assert {f"{SOURCE_DIR}/code.diff", f"{SOURCE_DIR}/requirements.txt"} <= paths

    # The tree moves on; the run still knows its code.
    (repo / "src" / "train.py").write_text(TRAIN.format(extra_import="", c=9.0))
    out = tmp_path / "again"
    cli("runs", "reproduce", first.id, "-o", str(out), env=_env(home))
    assert "helper.py" in os.listdir(out / "code" / "src")
    assert "scikit-learn==" in (out / "requirements.txt").read_text()
    rerun = subprocess.run(["sh", str(out / "run.sh")], env=_env(home), capture_output=True,
                           text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    runs = client.search_all_runs(client.get_experiment_by_name("default").id)
    second = next(r for r in runs if r.id != first.id)
    assert second.params == first.params == {"C": "0.05"}
    assert second.tags["dockyard.seed"] == first.tags["dockyard.seed"]
    for key in ("accuracy", "coef_sum"):
        assert second.metrics[key].value == first.metrics[key].value


def test_a_script_outside_git_is_copied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = tmp_path / "alone.py"
    script.write_text("print('hi')\n")
    monkeypatch.chdir(tmp_path)
    made = snapshot(str(script), ["alone.py", "--fast"])
    assert made.files["script/alone.py"] == b"print('hi')\n"
    assert "dockyard.source.git_root" not in made.tags
    assert json.loads(made.tags["dockyard.source.command"]) == ["alone.py", "--fast"]


def test_reproduce_refuses_what_it_cannot_do(tmp_path: Path) -> None:
    import dockyard

    with dockyard.start_run(log_source=False) as run:
        pass
    missing = cli("runs", "reproduce", run.info.id, "-o", str(tmp_path / "x"), ok=False)
    assert missing.returncode == 1 and "recorded no command line" in missing.stderr
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "f").write_text("x")
    busy = cli("runs", "reproduce", run.info.id, "-o", str(tmp_path / "full"), ok=False)
    assert busy.returncode == 1 and "not empty" in busy.stderr
