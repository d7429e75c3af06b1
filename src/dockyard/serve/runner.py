"""Start the inference server: uvicorn with one or several worker processes.

One worker runs in this process. Several share one listening socket
(uvicorn's supervisor spawns them); each loads the models itself from the
local folders the parent resolved, so all serve the same versions, and their
Prometheus metrics are merged through a shared folder
(``PROMETHEUS_MULTIPROC_DIR``). SIGTERM or Ctrl-C drains: the listening
socket closes, requests in flight are answered, queued batches run, and the
prediction log is written out before the process exits.
"""

from __future__ import annotations

import os
import shutil
import tempfile

from dockyard.serve.app import CONFIG_ENV, ServeConfig
from dockyard.serve.logs import logging_config

__all__ = ["run"]

_METRICS_ENV = "PROMETHEUS_MULTIPROC_DIR"


def run(
    config: ServeConfig,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    workers: int = 1,
    log_level: str = "info",
    graceful_timeout: float = 30.0,
) -> int:
    """Serve ``config`` until a signal stops the server; 0 after a clean stop.

    When a model fails to load, uvicorn ends the process itself (status 3)
    after logging why.

    ``graceful_timeout`` is how long a shutdown waits for requests in flight
    before closing their connections.
    """
    import uvicorn

    options = {
        "host": host,
        "port": port,
        "lifespan": "on",
        "access_log": False,
        "log_config": logging_config(log_level),
        "log_level": log_level,
        "timeout_graceful_shutdown": graceful_timeout,
        "server_header": False,
        "proxy_headers": False,  # nothing reads the client's address
    }
    if workers == 1:
        import signal

        from dockyard.serve.app import ServeApp

        server = uvicorn.Server(uvicorn.Config(ServeApp(config), **options))
        # uvicorn turns SIGTERM and SIGINT into a graceful stop, then raises the signal again
        # once stopped; a handler that ignores that second one lets this function return 0.
        previous = {s: signal.signal(s, lambda *_: None) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            server.run()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        return 0 if server.started else 1
    os.environ[CONFIG_ENV] = config.to_json()
    made = None
    if not os.environ.get(_METRICS_ENV):
        made = os.environ[_METRICS_ENV] = tempfile.mkdtemp(prefix="dockyard-metrics-")
    from dockyard.serve.metrics import prepare_multiprocess_dir

    prepare_multiprocess_dir(os.environ[_METRICS_ENV])
    try:
        uvicorn.run("dockyard.serve.app:app_from_env", factory=True, workers=workers, **options)
    finally:
        if made is not None:
            shutil.rmtree(made, ignore_errors=True)
    return 0
