"""MLflow side of benchmarks/models.py: one workload per process.

Executed with the interpreter of MLflow's own virtual environment:

    .bench/mlflow-venv/bin/python benchmarks/_mlflow_models_worker.py WORKLOAD sqlite:///... '{...}'

The tracking store is a local SQLite file; artifacts go to the local folder
given as the experiment's artifact location. Progress goes to stderr; the
result is one JSON line on stdout. Imports happen before anything is timed.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import cloudpickle  # noqa: F401 -- imported up front: not part of any timed call
import joblib
import mlflow
import mlflow.models
import mlflow.pyfunc
import mlflow.sklearn
import numpy as np
import sklearn.ensemble  # noqa: F401
import skops.io  # noqa: F401
from _model_workload import (
    array_bytes,
    build_knn,
    children_max_rss_bytes,
    folder_bytes,
    measure_peak,
)
from _workload import emit, log, parse_args
from mlflow import MlflowClient


def _log_kwargs(cfg: dict[str, Any]) -> dict[str, Any]:
    """MLflow's default format is skops, which refuses types it does not trust unless named."""
    fmt = cfg.get("serialization", "skops")
    if fmt == "skops":
        types = cfg.get("skops_trusted_types") or []
        return {"skops_trusted_types": types} if types else {}
    return {"serialization_format": fmt}


def _local_folder(location: str) -> str:
    return location.removeprefix("file://")


def _experiment(cfg: dict[str, Any]) -> None:
    """Open the store (creating it, with its schema migrations, on first use) and the experiment."""
    client = MlflowClient()
    exp = client.get_experiment_by_name(cfg["experiment"])
    exp_id = exp.experiment_id if exp else client.create_experiment(
        cfg["experiment"], artifact_location=Path(cfg["artifacts"]).absolute().as_uri())
    mlflow.set_experiment(experiment_id=exp_id)


def lifecycle(uri: str, cfg: dict[str, Any]) -> dict[str, Any]:
    """Workload 2, one repetition: start_run + log_model + register_model + load_model."""
    mlflow.set_tracking_uri(uri)
    model = joblib.load(cfg["model_file"])
    x5 = np.load(cfg["x5_file"])
    _experiment(cfg)  # not timed
    kwargs = _log_kwargs(cfg)

    t0 = time.perf_counter()
    mlflow.start_run(run_name="lifecycle")
    t1 = time.perf_counter()
    info = mlflow.sklearn.log_model(model, name="model", input_example=x5, **kwargs)
    t2 = time.perf_counter()
    mlflow.end_run()
    t3 = time.perf_counter()
    version = mlflow.register_model(info.model_uri, cfg["model_name"])
    t4 = time.perf_counter()
    model_uri = f"models:/{cfg['model_name']}/{version.version}"
    loaded = mlflow.pyfunc.load_model(model_uri)
    t5 = time.perf_counter()
    native = mlflow.sklearn.load_model(model_uri)
    t6 = time.perf_counter()

    same = bool(np.array_equal(np.asarray(loaded.predict(x5)), model.predict(x5))
                and np.array_equal(native.predict(x5), model.predict(x5)))
    flavor = mlflow.models.get_model_info(model_uri).flavors.get("sklearn", {})
    folder = _local_folder(mlflow.get_logged_model(info.model_id).artifact_location)
    return {"package_bytes": folder_bytes(folder) if os.path.isdir(folder) else None,
            "start_end_run_ms": ((t1 - t0) + (t3 - t2)) * 1000, "log_ms": (t2 - t1) * 1000,
            "register_ms": (t4 - t3) * 1000, "load_ms": (t5 - t4) * 1000,
            "sklearn_load_ms": (t6 - t5) * 1000,
            "format": flavor.get("serialization_format"), "file": flavor.get("pickled_model"),
            "same_predictions": same, "uri": model_uri,
            "children_max_rss_bytes": children_max_rss_bytes()}


def memory(uri: str, cfg: dict[str, Any]) -> dict[str, Any]:
    """Workload 3: the peak memory of log_model with a large model already in memory."""
    mlflow.set_tracking_uri(uri)
    _experiment(cfg)
    kwargs = _log_kwargs(cfg)
    with mlflow.start_run(run_name="warm-up"):  # imports, the store
        mlflow.sklearn.log_model(build_knn(1000, int(cfg["features"]), seed=1), name="model", **kwargs)

    model = build_knn(int(cfg["rows"]), int(cfg["features"]))
    model_bytes = array_bytes(model)
    log(f"mlflow: logging a {model_bytes / 1e6:,.0f} MB model (sqlite + local folder)")
    with mlflow.start_run(run_name="large"):
        m = measure_peak(lambda: mlflow.sklearn.log_model(model, name="model", **kwargs))
    info = m.pop("result")
    local = _local_folder(mlflow.get_logged_model(info.model_id).artifact_location)
    flavor = info.flavors.get("sklearn", {})
    return {**m, "model_bytes": model_bytes,
            "package_bytes": folder_bytes(local) if os.path.isdir(local) else None,
            "format": flavor.get("serialization_format"), "files": [flavor.get("pickled_model")],
            "children_max_rss_bytes": children_max_rss_bytes()}


WORKLOADS = {"lifecycle": lifecycle, "memory": memory}


def main() -> None:
    workload, uri, cfg = parse_args(sys.argv)
    result = WORKLOADS[workload](uri, cfg)
    result["tool_version"] = mlflow.__version__
    emit(result)


if __name__ == "__main__":
    main()
