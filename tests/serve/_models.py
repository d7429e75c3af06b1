"""Models for the server tests, importable so that packages save them by reference."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from dockyard.models import PythonModel

BOOM = 666.0
"""An ``x`` of this value makes :class:`Doubler` raise, as a bug in a model would."""


class Doubler(PythonModel):
    """Returns twice its first input column: each answer shows which request it belongs to.

    ``delay`` seconds of sleep per call make it slow (overload and timeout
    tests); every call's row count is kept in ``calls``.
    """

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay

    def predict(self, context: Any, model_input: Any) -> Any:
        if self.delay:
            time.sleep(self.delay)
        if isinstance(model_input, pd.DataFrame):
            x = model_input["x"].to_numpy(dtype=np.float64)
        else:
            x = np.asarray(model_input, dtype=np.float64)[:, 0]
        if (x == BOOM).any():
            raise ValueError(f"x={BOOM} is not supported by this model")
        return x * 2
