"""Settings, read from the environment in one place.

| variable | default | meaning |
| --- | --- | --- |
| ``DOCKYARD_HOME`` | ``./dockyard-data`` | folder of the embedded store, artifacts and client spool |
| ``DOCKYARD_URI`` | ``sqlite:///$DOCKYARD_HOME/dockyard.db`` | metadata store or server URL |
| ``DOCKYARD_ARTIFACTS`` | ``$DOCKYARD_HOME/artifacts`` | artifact root (folder or ``s3://bucket/prefix``) |
| ``DOCKYARD_SPOOL`` | ``$DOCKYARD_HOME/spool`` | where unsent batches wait for the server |
| ``DOCKYARD_USER`` | the OS user | who the client says it is |
| ``DOCKYARD_TOKEN`` | unset | API token sent to a server (``Authorization: Bearer``) |
| ``DOCKYARD_BATCH_SIZE`` | ``1000`` | max metrics+params+tags per batch request |
| ``DOCKYARD_FLUSH_INTERVAL`` | ``0.5`` | seconds the background logger waits to fill a batch |
| ``DOCKYARD_HTTP_TIMEOUT`` | ``30`` | seconds before an HTTP request to a server gives up |
| ``DOCKYARD_S3_ENDPOINT_URL`` | unset | endpoint of an S3-compatible server |
| ``DOCKYARD_SYSTEM_METRICS`` | ``auto`` | ``system/*`` metrics for top-level runs; ``true``: all |
| ``DOCKYARD_SYSTEM_METRICS_INTERVAL`` | ``10`` | seconds between system samples (min 1) |
| ``DOCKYARD_LOG_SOURCE`` | ``auto`` | command, code diff and requirements of top-level runs; ``true``: all |
"""

from __future__ import annotations

import getpass
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from dockyard.errors import InvalidArgument

ENV_VARS = (
    "DOCKYARD_HOME",
    "DOCKYARD_URI",
    "DOCKYARD_ARTIFACTS",
    "DOCKYARD_SPOOL",
    "DOCKYARD_USER",
    "DOCKYARD_TOKEN",
    "DOCKYARD_BATCH_SIZE",
    "DOCKYARD_FLUSH_INTERVAL",
    "DOCKYARD_HTTP_TIMEOUT",
    "DOCKYARD_S3_ENDPOINT_URL",
    "DOCKYARD_SYSTEM_METRICS",
    "DOCKYARD_SYSTEM_METRICS_INTERVAL",
    "DOCKYARD_LOG_SOURCE",
)


@dataclass(frozen=True)
class Settings:
    home: Path
    uri: str
    artifacts: str
    spool: Path
    user: str
    batch_size: int
    flush_interval: float
    http_timeout: float
    s3_endpoint_url: str | None
    prometheus_url: str | None = None
    """A Prometheus that scrapes the model servers: monitors read request and error rates."""
    system_metrics: bool | None = None
    """Sample system metrics: None (auto) for top-level runs, True for every run, False never."""
    system_metrics_interval: float = 10.0
    """Seconds between system-metric samples."""
    log_source: bool | None = None
    """Record what it takes to run again: None (auto) for top-level runs, True for every run."""
    token: str | None = field(default=None, repr=False)
    """The API token sent to a server; kept out of the settings' repr."""


def is_http_uri(uri: str) -> bool:
    return uri.startswith(("http://", "https://"))


def os_user() -> str:
    """The OS user's name, or "unknown" where it has no passwd entry (containers)."""
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry (containers): still need a name
        return "unknown"


def _number(name: str, default: float, cast: type, minimum: float | None = None) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = cast(raw)
    except ValueError:
        raise InvalidArgument(
            f"{name}={raw!r} is not a number; unset it or give a number") from None
    if not math.isfinite(value) or value <= 0:
        raise InvalidArgument(f"{name}={raw!r} must be a positive number")
    if minimum is not None and value < minimum:
        raise InvalidArgument(f"{name}={raw!r} is too small; the minimum is {minimum:g}")
    return value


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _switch(name: str) -> bool | None:
    """An on/off setting: None when unset or ``auto``."""
    raw = os.environ.get(name, "").strip().lower()
    if raw in ("", "auto"):
        return None
    if raw in _TRUE or raw in _FALSE:
        return raw in _TRUE
    raise InvalidArgument(
        f"{name}={os.environ[name]!r} is not understood; use true, false or auto")


def get_settings() -> Settings:
    """Read the settings now (the environment may change between calls)."""
    env = os.environ
    home = Path(env.get("DOCKYARD_HOME") or "dockyard-data").expanduser().absolute()
    uri = env.get("DOCKYARD_URI") or default_store_uri(home)
    return Settings(
        home=home,
        uri=uri,
        artifacts=env.get("DOCKYARD_ARTIFACTS") or str(home / "artifacts"),
        spool=Path(env.get("DOCKYARD_SPOOL") or home / "spool").expanduser().absolute(),
        user=env.get("DOCKYARD_USER") or os_user(),
        batch_size=int(_number("DOCKYARD_BATCH_SIZE", 1000, int)),
        flush_interval=float(_number("DOCKYARD_FLUSH_INTERVAL", 0.5, float)),
        http_timeout=float(_number("DOCKYARD_HTTP_TIMEOUT", 30.0, float)),
        s3_endpoint_url=env.get("DOCKYARD_S3_ENDPOINT_URL") or None,
        prometheus_url=env.get("DOCKYARD_PROMETHEUS_URL") or None,
        system_metrics=_switch("DOCKYARD_SYSTEM_METRICS"),
        log_source=_switch("DOCKYARD_LOG_SOURCE"),
        token=env.get("DOCKYARD_TOKEN", "").strip() or None,
        system_metrics_interval=float(
            _number("DOCKYARD_SYSTEM_METRICS_INTERVAL", 10.0, float, minimum=1.0)),
    )


def default_store_uri(home: Path) -> str:
    return f"sqlite:///{home / 'dockyard.db'}"
