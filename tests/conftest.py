"""Shared fixtures. Real services (PostgreSQL, an S3 server, a Dockyard server)
are started by the fixtures in ``tests/services`` on loopback."""

pytest_plugins = [
    "tests.services.browser",
    "tests.services.postgres",
    "tests.services.redis",
    "tests.services.s3",
    "tests.services.server",
    "tests.services.spark",
]

from collections.abc import Iterator
from pathlib import Path

import pytest

import dockyard
from dockyard.train import fluent


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test gets its own DOCKYARD_HOME and a fresh fluent state."""
    home = tmp_path / "dockyard-home"
    monkeypatch.setenv("DOCKYARD_HOME", str(home))
    for var in ("DOCKYARD_URI", "DOCKYARD_ARTIFACTS", "DOCKYARD_SPOOL", "DOCKYARD_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    # Runs record their source (a diff of this checkout, the installed packages) only in the
    # tests about it, so that the other tests see exactly the artifacts they log.
    monkeypatch.setenv("DOCKYARD_LOG_SOURCE", "false")
    yield home
    while fluent.active_run():
        dockyard.end_run("KILLED")
    fluent.set_tracking_uri(None)
