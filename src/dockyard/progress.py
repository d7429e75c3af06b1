"""Progress bars on stderr for long work, or a caller's own callback."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

ProgressCallback = Callable[[int, "int | None"], None]
"""Called with (done, total); total is None while unknown."""


@contextlib.contextmanager
def reporter(progress: bool | ProgressCallback, label: str,
             unit: str = "rows", *, in_bytes: bool = False) -> Iterator[ProgressCallback]:
    """A callback that moves a bar labelled ``label`` (True), does nothing (False), or is
    the caller's own ``progress``. ``in_bytes`` shows sizes and speed instead of counts."""
    if callable(progress):
        yield progress
        return
    if not progress:
        yield lambda done, total: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    counts = ((DownloadColumn(), TransferSpeedColumn()) if in_bytes
              else (MofNCompleteColumn(), TextColumn(unit)))
    with Progress(TextColumn(label), BarColumn(), *counts, TimeElapsedColumn(),
                  TimeRemainingColumn(), console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)
