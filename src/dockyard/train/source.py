"""What a run records about itself: user, entry point, git state, Python."""

from __future__ import annotations

import functools
import os
import platform
import subprocess
import sys
from pathlib import Path

from dockyard.entities import RunSource


def git_bytes(args: list[str], cwd: Path, *, ok: tuple[int, ...] = (0,),
              timeout: float = 30.0) -> bytes | None:
    """What ``git ARGS`` prints in ``cwd``, or None when git is missing, fails or times out."""
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, timeout=timeout,
                             check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode in ok else None


def git_output(args: list[str], cwd: Path, *, timeout: float = 5.0) -> str | None:
    """:func:`git_bytes` as text, without the surrounding whitespace."""
    out = git_bytes(args, cwd, timeout=timeout)
    return None if out is None else out.decode(errors="replace").strip()


@functools.lru_cache(maxsize=16)
def _git_state(ep: str, cwd: str) -> tuple[str | None, bool | None]:
    where = Path(ep).parent if ep and not ep.startswith("<") else Path(cwd)
    commit = git_output(["rev-parse", "HEAD"], where)
    dirty = None
    if commit:
        status = git_output(["status", "--porcelain", "--untracked-files=no"], where)
        dirty = bool(status) if status is not None else None
    return commit, dirty


def entry_point() -> str:
    """The script that runs, relative to the working directory when it is below it."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if path:
        rel = os.path.relpath(path)
        return path if rel.startswith("..") else rel
    return "<interactive>" if hasattr(sys, "ps1") else (sys.argv[0] if sys.argv and sys.argv[0] else "<unknown>")


def capture_source(user: str) -> RunSource:
    """Describe where the current process runs from.

    The git state is read once per process and entry point (two git calls):
    a script that starts a thousand runs should not fork git two thousand times.
    """
    ep = entry_point()
    commit, dirty = _git_state(ep, str(Path.cwd()))
    return RunSource(
        user=user,
        entry_point=ep,
        git_commit=commit,
        git_dirty=dirty,
        python_version=platform.python_version(),
    )
