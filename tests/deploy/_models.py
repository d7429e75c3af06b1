"""Models for the deployment tests, importable so that packages save them by reference."""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

from dockyard.models import PythonModel


class Scaled(PythonModel):
    """Returns ``factor`` times the row sums: each version answers differently.

    ``delay`` seconds of sleep per call make it slow.
    """

    def __init__(self, factor: float, delay: float = 0.0) -> None:
        self.factor = factor
        self.delay = delay

    def predict(self, context: Any, model_input: Any) -> Any:
        if self.delay:
            time.sleep(self.delay)
        return np.asarray(model_input, dtype=np.float64).sum(axis=1) * self.factor


class Broken(PythonModel):
    """Loads and warms up, then fails every request: a bad release."""

    def predict(self, context: Any, model_input: Any) -> Any:
        data = np.asarray(model_input, dtype=np.float64)
        if len(data) == 1 and data[0, 0] == 0.5:  # the input example: warm-up passes
            return data.sum(axis=1)
        raise RuntimeError("this release is broken")


class Unready(Scaled):
    """Fails to load where ``DOCKYARD_TEST_UNREADY`` is set (the model servers of a test,
    not the test that logs it): a server of it never becomes ready."""

    def __init__(self) -> None:
        super().__init__(5.0)

    def load_context(self, context: Any) -> None:
        if os.environ.get("DOCKYARD_TEST_UNREADY"):
            raise RuntimeError("this release cannot even load")
