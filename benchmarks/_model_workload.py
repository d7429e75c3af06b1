"""Shared by the two workers of benchmarks/models.py: the models, and peak-memory measurement.

Imported by the Dockyard worker (the project's interpreter) and by the MLflow
worker (MLflow's virtual environment, which has scikit-learn of the same
version), so both tools get byte-for-byte the same models. NumPy and
scikit-learn are imported only by the functions that need them.
"""

from __future__ import annotations

import gc
import os
import threading
import time
from collections.abc import Callable
from typing import Any, Self

MIB = 1024 * 1024
# The models of workloads 1 and 2: a small forest on a data set scikit-learn
# ships, and one of a few tens of MB on generated data.
FORESTS: dict[str, dict[str, Any]] = {
    "small": {"label": "RF 100 trees, breast cancer", "data": "breast_cancer", "n_estimators": 100},
    "large": {"label": "RF 100 trees, 20k x 8 generated", "data": "generated", "n_estimators": 100,
              "n_samples": 20_000, "n_features": 8, "n_informative": 6, "flip_y": 0.3},
}


def forest_data(spec: dict[str, Any]) -> tuple[Any, Any]:
    from sklearn.datasets import load_breast_cancer, make_classification

    if spec["data"] == "breast_cancer":
        X, y = load_breast_cancer(return_X_y=True)
        return X, y
    return make_classification(n_samples=spec["n_samples"], n_features=spec["n_features"],
                               n_informative=spec["n_informative"], n_redundant=0,
                               flip_y=spec["flip_y"], random_state=0)


def train_forest(spec: dict[str, Any]) -> tuple[Any, Any]:
    """The fitted forest and the training data's first five rows (the input example)."""
    from sklearn.ensemble import RandomForestClassifier

    X, y = forest_data(spec)
    model = RandomForestClassifier(n_estimators=spec["n_estimators"], random_state=0, n_jobs=-1)
    model.fit(X, y)
    model.n_jobs = None  # as a user would ship it: no process pool on predict
    return model, X[:5]


def build_knn(rows: int, features: int, seed: int = 0) -> Any:
    """A k-nearest-neighbours classifier holding ``rows x features`` float64 values.

    Brute force keeps the training matrix itself as the model's state
    (``_fit_X``), so the model is one large array plus the labels.
    """
    import numpy as np
    from sklearn.neighbors import KNeighborsClassifier

    rng = np.random.default_rng(seed)
    X = rng.standard_normal((rows, features))
    y = (X[:, 0] > 0).astype(np.int64)
    model = KNeighborsClassifier(n_neighbors=5, algorithm="brute").fit(X, y)
    return model


def array_bytes(obj: Any, _seen: set[int] | None = None) -> int:
    """The nbytes of every numpy array reachable through attributes, lists, tuples and dicts.

    Arrays held inside extension types (a tree's nodes) are not seen.
    """
    import numpy as np

    seen = set() if _seen is None else _seen
    if id(obj) in seen:
        return 0
    seen.add(id(obj))
    if isinstance(obj, np.ndarray):
        return obj.nbytes
    if isinstance(obj, dict):
        return sum(array_bytes(v, seen) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(array_bytes(v, seen) for v in obj)
    if hasattr(obj, "__dict__"):
        return array_bytes(vars(obj), seen)
    return 0


# ----------------------------------------------------------------------------- peak memory
def _status_kb(field: str, pid: int | str = "self") -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def rss_bytes(pid: int | str = "self") -> int | None:
    kb = _status_kb("VmRSS", pid)
    return None if kb is None else kb * 1024


def hwm_bytes(pid: int | str = "self") -> int | None:
    kb = _status_kb("VmHWM", pid)
    return None if kb is None else kb * 1024


def reset_hwm(pid: int | str = "self") -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) of a process; False where Linux does not allow it."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return _status_kb("VmHWM", pid) is not None


class _Sampler:
    """Fallback when VmHWM cannot be reset: sample the RSS every millisecond."""

    def __init__(self) -> None:
        self.peak = rss_bytes() or 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes() or 0)
            time.sleep(0.001)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes() or 0)


def measure_peak(fn: Callable[[], Any]) -> dict[str, Any]:
    """Run ``fn`` and return its wall time, the RSS before it and the peak RSS during it.

    ``peak_extra_bytes`` is what the call needed on top of what the process
    already held (the model included). The peak comes from the kernel's
    VmHWM, reset just before the call; where that is not possible, from
    sampling the RSS every millisecond.
    """
    gc.collect()
    before = rss_bytes() or 0
    if reset_hwm():
        start = time.perf_counter()
        result = fn()
        seconds = time.perf_counter() - start
        peak, method = hwm_bytes() or 0, "VmHWM"
    else:
        with _Sampler() as sampler:
            start = time.perf_counter()
            result = fn()
            seconds = time.perf_counter() - start
        peak, method = sampler.peak, "RSS sampled every 1 ms"
    return {"seconds": seconds, "rss_before_bytes": before, "peak_bytes": peak,
            "peak_extra_bytes": max(0, peak - before), "method": method, "result": result}


def children_max_rss_bytes() -> int:
    """Largest peak RSS of any child process this process has waited for (0 when none)."""
    import resource

    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024


def folder_bytes(path: str | os.PathLike[str]) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            total += os.path.getsize(os.path.join(root, name))
    return total
