"""Settings, read from the environment in one place.

| variable | default | meaning |
| --- | --- | --- |
| ``DOCKYARD_HOME`` | ``./dockyard-data`` | folder of the embedded store, artifacts and client spool |
| ``DOCKYARD_URI`` | ``sqlite:///$DOCKYARD_HOME/dockyard.db`` | metadata store or server URL |
| ``DOCKYARD_ARTIFACTS`` | ``$DOCKYARD_HOME/artifacts`` | artifact root (folder or ``s3://bucket/prefix``) |
| ``DOCKYARD_SPOOL`` | ``$DOCKYARD_HOME/spool`` | where unsent batches wait for the server |
| ``DOCKYARD_USER`` | the OS user | who the client says it is |
| ``DOCKYARD_BATCH_SIZE`` | ``1000`` | max metrics+params+tags per batch request |
| ``DOCKYARD_FLUSH_INTERVAL`` | ``0.5`` | seconds the background logger waits to fill a batch |
| ``DOCKYARD_HTTP_TIMEOUT`` | ``30`` | seconds before an HTTP request to a server gives up |
| ``DOCKYARD_S3_ENDPOINT_URL`` | unset | endpoint of an S3-compatible server |
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass
from pathlib import Path

ENV_VARS = (
    "DOCKYARD_HOME",
    "DOCKYARD_URI",
    "DOCKYARD_ARTIFACTS",
    "DOCKYARD_SPOOL",
    "DOCKYARD_USER",
    "DOCKYARD_BATCH_SIZE",
    "DOCKYARD_FLUSH_INTERVAL",
    "DOCKYARD_HTTP_TIMEOUT",
    "DOCKYARD_S3_ENDPOINT_URL",
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


def is_http_uri(uri: str) -> bool:
    return uri.startswith(("http://", "https://"))


def os_user() -> str:
    """The OS user's name, or "unknown" where it has no passwd entry (containers)."""
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry (containers): still need a name
        return "unknown"


def _number(name: str, default: float, cast: type) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = cast(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number; unset it or give a number") from None
    if value <= 0:
        raise ValueError(f"{name}={raw!r} must be positive")
    return value


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
    )


def default_store_uri(home: Path) -> str:
    return f"sqlite:///{home / 'dockyard.db'}"
