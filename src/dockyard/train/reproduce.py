"""Reproducible runs: what a run records of its code and environment, and how to run it again.

A top-level run records, once per process:

- the **command line** (``sys.argv``) and the working directory, relative to
  the git root when there is one (tags ``dockyard.source.*``);
- the **code**: inside git, the commit (already on the run), the branch, the
  repository's path and its ``origin`` URL, and, when the tree is dirty, the
  uncommitted changes as a patch (``git diff HEAD --binary``, untracked
  source files included) in the artifact ``dockyard/source/code.diff``;
  outside git, a copy of the script in ``dockyard/source/script/``;
- the **environment**: every installed distribution, pinned, in
  ``dockyard/source/requirements.txt``;
- the **seed** given to :func:`dockyard.set_seed` (tag ``dockyard.seed``, on
  every run; see :mod:`dockyard.train.seeds`).

:func:`reproduce` turns that back into a folder: the code at the commit with
the patch applied (cloned from the recorded repository, or its origin), the
requirements, and ``run.sh`` with the exact command.
"""

from __future__ import annotations

import functools
import importlib.metadata
import json
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from dockyard.errors import InvalidArgument, NotFound
from dockyard.train.seeds import TAG as SEED_TAG
from dockyard.train.source import git_bytes, git_output

if TYPE_CHECKING:
    from dockyard.client import Client

__all__ = ["SOURCE_DIR", "Snapshot", "log_snapshot", "reproduce", "snapshot", "snapshot_once"]

SOURCE_DIR = "dockyard/source"
TAG = "dockyard.source."
_MAX_UNTRACKED_BYTES = 1 << 20  # an untracked file larger than this is left out of the patch


@dataclass
class Snapshot:
    """What a run records of its code and environment: tags, and files for its artifacts."""

    tags: dict[str, str] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)


def _requirements() -> bytes:
    pinned = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            pinned[name.lower()] = f"{name}=={dist.version}"
    return "".join(f"{line}\n" for _, line in sorted(pinned.items())).encode()


def _patch(root: Path) -> bytes:
    """The uncommitted changes against HEAD, untracked (not ignored) files included."""
    patch = git_bytes(["diff", "HEAD", "--binary"], root) or b""
    untracked = git_output(["ls-files", "--others", "--exclude-standard", "-z"], root) or ""
    for name in filter(None, untracked.split("\0")):
        path = root / name
        if path.is_file() and path.stat().st_size <= _MAX_UNTRACKED_BYTES:
            # --no-index exits 1 when the files differ, as a new file always does
            patch += git_bytes(["diff", "--binary", "--no-index", "--", "/dev/null", name],
                               root, ok=(0, 1)) or b""
    return patch


def snapshot(entry_point: str, argv: list[str] | None = None) -> Snapshot:
    """The code, command and environment of this process (see the module docstring)."""
    argv = list(sys.argv if argv is None else argv)
    cwd = Path.cwd()
    if argv and os.path.isabs(argv[0]):  # python -m, or a script given by its full path
        argv[0] = os.path.relpath(argv[0], cwd)
    made = Snapshot()
    made.tags[TAG + "command"] = json.dumps(argv)
    made.files["requirements.txt"] = _requirements()
    script = Path(entry_point) if entry_point and not entry_point.startswith("<") else None
    where = script.resolve().parent if script is not None and script.exists() else cwd
    root_text = git_output(["rev-parse", "--show-toplevel"], where)
    if root_text:
        root = Path(root_text)
        made.tags[TAG + "git_root"] = str(root)
        made.tags[TAG + "cwd"] = os.path.relpath(cwd, root)
        branch = git_output(["rev-parse", "--abbrev-ref", "HEAD"], root)
        if branch:
            made.tags[TAG + "git_branch"] = branch
        remote = git_output(["remote", "get-url", "origin"], root)
        if remote:
            made.tags[TAG + "git_remote"] = remote
        patch = _patch(root)
        if patch:
            made.files["code.diff"] = patch
    else:
        made.tags[TAG + "cwd"] = str(cwd)
        if script is not None and script.is_file():
            made.files[f"script/{script.name}"] = script.read_bytes()
    return made


@functools.lru_cache(maxsize=8)
def snapshot_once(entry_point: str) -> Snapshot:
    """:func:`snapshot` of this process, taken once per entry point: the runs a script starts
    share its code and environment (and a thousand runs do not run git a thousand times)."""
    return snapshot(entry_point)


def log_snapshot(client: Client, run_id: str, made: Snapshot) -> None:
    """Store a snapshot with a run: its files as artifacts, its tags as tags."""
    import io

    store = client.writable_artifacts(run_id)
    for name, content in made.files.items():
        store.put_stream(io.BytesIO(content), f"{SOURCE_DIR}/{name}")
    for key, value in made.tags.items():
        client.set_tag(run_id, key, value)


def reproduce(client: Client, run_id: str, out: str | os.PathLike[str]) -> Path:
    """Write into the new folder ``out`` what it takes to run ``run_id`` again.

    ``out/code`` holds the code (a clone at the run's commit with its
    uncommitted changes applied, or the script), ``out/requirements.txt``
    the environment, and ``out/run.sh`` the command, run from the recorded
    working directory. Returns the path of ``run.sh``. Raises NotFound when
    the run recorded no command, InvalidArgument when ``out`` exists and is
    not empty or the code cannot be fetched.
    """
    run = client.get_run(run_id)
    target = Path(out)
    if target.exists() and any(target.iterdir()):
        raise InvalidArgument(f"{target} is not empty; give a new folder")
    command = run.tags.get(TAG + "command")
    if command is None:
        raise NotFound(f"run {run_id} recorded no command line (it started before Dockyard "
                       "recorded sources, or with source capture off)")
    target.mkdir(parents=True, exist_ok=True)
    files = client.run_artifacts(run)
    code = target / "code"
    root = run.tags.get(TAG + "git_root")
    if run.git_commit and root:
        origin = root if Path(root).exists() else run.tags.get(TAG + "git_remote")
        if not origin:
            raise InvalidArgument(f"the repository of run {run_id} ({root}) is not on this "
                                  "machine and it recorded no remote to clone from")
        for args in (["clone", "--quiet", "--no-checkout", origin, str(code)],
                     ["-C", str(code), "checkout", "--quiet", run.git_commit]):
            done = subprocess.run(["git", *args], capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise InvalidArgument(f"git {args[0]} failed: {done.stderr.strip()}")
        if files.exists(f"{SOURCE_DIR}/code.diff"):
            patch = target / "code.diff"
            files.get_file(f"{SOURCE_DIR}/code.diff", patch)
            done = subprocess.run(["git", "-C", str(code), "apply", "--binary", str(patch)],
                                  capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise InvalidArgument(f"the run's uncommitted changes do not apply: "
                                      f"{done.stderr.strip()}")
        workdir = code / run.tags.get(TAG + "cwd", ".")
    else:
        code.mkdir()
        for info in files.walk(f"{SOURCE_DIR}/script"):
            files.get_file(info.path, code / Path(info.path).name)
        workdir = code
    if files.exists(f"{SOURCE_DIR}/requirements.txt"):
        files.get_file(f"{SOURCE_DIR}/requirements.txt", target / "requirements.txt")
    argv = json.loads(command)
    seed = run.tags.get(SEED_TAG)
    seeded = ("# the run's seed, for set_seed() and seed_everything() called without one\n"
              f"export DOCKYARD_SEED={shlex.quote(seed)} PL_GLOBAL_SEED={shlex.quote(seed)}\n"
              if seed else "")
    script = target / "run.sh"
    script.write_text(
        "#!/bin/sh\n"
        f"# Runs again what run {run.id} ({run.name}) ran. Install the environment first:\n"
        "#   python -m pip install -r requirements.txt\n"
        "set -e\n"
        f"{seeded}"
        f'cd "$(dirname "$0")/{os.path.relpath(workdir, target)}"\n'
        f"exec python {' '.join(shlex.quote(a) for a in argv)}\n")
    script.chmod(0o755)
    return script
