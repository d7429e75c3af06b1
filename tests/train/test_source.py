"""A run records its entry point, git commit and dirty state by itself."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dockyard

SCRIPT = """
import dockyard
with dockyard.start_run() as run:
    pass
print(run.id)
"""


def _git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True,
                          text=True).stdout.strip()


def test_git_commit_and_dirty_state(tmp_path: Path, _isolated_home: Path) -> None:
    repo = tmp_path / "project"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "train.py").write_text(SCRIPT)
    _git(repo, "add", "train.py")
    _git(repo, "commit", "-qm", "first")
    head = _git(repo, "rev-parse", "HEAD")

    def run_script() -> dockyard.Run:
        out = subprocess.run([sys.executable, "train.py"], cwd=repo, capture_output=True, text=True,
                             env={**os.environ}, timeout=60, check=True)
        return dockyard.Client().get_run(out.stdout.split()[-1])

    clean = run_script()
    assert clean.git_commit == head and clean.git_dirty is False
    assert clean.entry_point == "train.py"
    assert clean.python_version == ".".join(map(str, sys.version_info[:3]))
    (repo / "train.py").write_text(SCRIPT + "\n# changed\n")
    assert run_script().git_dirty is True


def test_outside_git_there_is_no_commit(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(SCRIPT)
    out = subprocess.run([sys.executable, "train.py"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=60, check=True)
    run = dockyard.Client().get_run(out.stdout.split()[-1])
    assert run.git_commit is None and run.git_dirty is None
