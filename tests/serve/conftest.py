"""Model packages and live servers (uvicorn on a loopback port) for the server tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import uvicorn
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from dockyard import models
from dockyard.serve.app import ServeApp, ServeConfig
from dockyard.serve.hosting import resolve_model
from tests.serve._models import Doubler
from tests.services.server import free_port

FEATURES = 4


@pytest.fixture(scope="session")
def packages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Packages: ``logreg`` (a [-1, 4] float tensor), ``table`` (named columns), ``slow``
    (0.2 s per call) and ``busy`` (0.05 s per call)."""
    root = tmp_path_factory.mktemp("packages")
    X, y = make_classification(n_samples=400, n_features=FEATURES, n_informative=3,
                               n_redundant=0, random_state=0)
    models.save(LogisticRegression().fit(X, y), root / "logreg", input_example=X[:2])
    table = pd.DataFrame({
        "x": [1.5, 2.0],
        "count": pd.array([3, 4], dtype="int64"),
        "city": pd.Series(["Oslo", "Lima"], dtype="string"),
    })
    models.save(Doubler(), root / "table", input_example=table)
    models.save(Doubler(delay=0.2), root / "slow", input_example=np.array([[1.0, 2.0]]))
    models.save(Doubler(delay=0.05), root / "busy", input_example=np.array([[1.0, 2.0]]))
    return {path.name: path for path in root.iterdir()}


class LiveServer:
    """A :class:`ServeApp` under uvicorn in a thread, answering on a loopback port."""

    def __init__(self, config: ServeConfig) -> None:
        self.app = ServeApp(config)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, lifespan="on", access_log=False,
            log_level="warning",
        ))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the model server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture(scope="session")
def serve(packages: dict[str, Path]) -> Iterator[Callable[..., LiveServer]]:
    """Start a server for some packages: ``serve("logreg", "table", max_queue=4)``.

    Servers live until the end of the session, one per distinct set of arguments.
    """
    started: dict[Any, LiveServer] = {}

    def start(*names: str, **options: Any) -> LiveServer:
        key = (names, tuple(sorted(options.items())))
        if key not in started:
            specs = tuple(
                resolve_model(str(packages[name.split("=")[-1]]), name=name.split("=")[0],
                              trust=True)
                for name in names
            )
            options.setdefault("access_log", False)
            options.setdefault("prediction_log", False)
            started[key] = LiveServer(ServeConfig(models=specs, **options)).start()
        return started[key]

    yield start
    for server in started.values():
        server.stop()
