"""Dockyard side of benchmarks/models.py: one workload per process.

    python benchmarks/_models_dockyard_worker.py WORKLOAD STORE '{...}'

``STORE`` is ``local`` (the embedded store under ``DOCKYARD_HOME``, or the
``DOCKYARD_URI`` the caller sets) or a server's ``http://127.0.0.1:PORT``.
Progress goes to stderr; the result is one JSON line on stdout. Imports
happen before anything is timed.
"""

from __future__ import annotations

import gc
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Self

import joblib
import numpy as np
import sklearn.ensemble  # noqa: F401 -- imported up front: not part of any timed call
import skops.io
import yaml
from _model_workload import (
    FORESTS,
    array_bytes,
    build_knn,
    children_max_rss_bytes,
    folder_bytes,
    measure_peak,
    train_forest,
)
from _workload import emit, log, parse_args, timed

import dockyard
import dockyard.manage.packages
import dockyard.models
import dockyard.models.flavors.sklearn
from dockyard import Client, models
from dockyard.errors import UntrustedModel
from dockyard.models.package import MANIFEST_NAME


# ----------------------------------------------------------------------------- train
def train(store: str, cfg: dict[str, Any]) -> dict[str, Any]:
    """Fit the forests once (both tools read them from these joblib files), then run workload 1.

    With ``load_reps`` (timed loads per case, by forest), workload 1 runs on
    each forest in this process after training: it needs no fresh process,
    and that saves a start-up.
    """
    out_dir = Path(cfg["dir"])
    result: dict[str, Any] = {"models": {}, "load": {}}
    for name in cfg["forests"]:
        spec = FORESTS[name]
        seconds, (model, x5) = timed(lambda s=spec: train_forest(s))
        path = out_dir / f"{name}.joblib"
        joblib.dump(model, path)
        np.save(out_dir / f"{name}-x5.npy", x5)
        nodes = sum(tree.tree_.node_count for tree in model.estimators_)
        log(f"dockyard: trained {spec['label']} in {seconds:.1f}s: {path.stat().st_size / 1e6:.1f} MB, "
            f"{nodes:,} nodes")
        # MLflow's default sklearn format (skops) refuses these unless the caller names them.
        untrusted = skops.io.get_untrusted_types(data=skops.io.dumps(model))
        result["models"][name] = {
            "model_file": str(path), "x5_file": str(out_dir / f"{name}-x5.npy"),
            "joblib_bytes": path.stat().st_size, "nodes": nodes, "fit_seconds": seconds,
            "label": spec["label"], "skops_untrusted_types": untrusted}
        del model
    if cfg.get("load_reps"):
        for name in cfg["forests"]:
            work = out_dir / f"load-{name}"
            work.mkdir()
            reps = int(cfg["load_reps"][name])
            log(f"dockyard: workload 1 on {FORESTS[name]['label']}, {reps} timed loads per case")
            result["load"][name] = load(store, {"model_file": result["models"][name]["model_file"],
                                                "dir": str(work), "reps": reps,
                                                "model_name": f"bench-load-{name}"})
    return result


# ----------------------------------------------------------------------------- load
class _ReadProbe:
    """Records which file (and engine) a load reads, by wrapping joblib.load and skops.io.load."""

    def __init__(self) -> None:
        self.reads: list[str] = []

    def __enter__(self) -> Self:
        self._joblib, self._skops = joblib.load, skops.io.load

        def joblib_load(path: Any, *a: Any, **k: Any) -> Any:
            self.reads.append(f"joblib ({Path(str(path)).name})")
            return self._joblib(path, *a, **k)

        def skops_load(path: Any, *a: Any, **k: Any) -> Any:
            self.reads.append(f"skops ({Path(str(path)).name})")
            return self._skops(path, *a, **k)

        joblib.load, skops.io.load = joblib_load, skops_load
        return self

    def __exit__(self, *exc: object) -> None:
        joblib.load, skops.io.load = self._joblib, self._skops

    @property
    def read(self) -> str:
        return " + ".join(self.reads) or "?"


def load(_store: str, cfg: dict[str, Any]) -> dict[str, Any]:
    """Workload 1: joblib.load against models.load (default, trusted) and Client.load_model (warm)."""
    reps = int(cfg["reps"])
    model_file = Path(cfg["model_file"])
    work = Path(cfg["dir"])
    model = joblib.load(model_file)
    package = work / "package"
    models.save(model, package)
    skops_only = work / "package-skops"
    models.save(model, skops_only, serialization="skops")
    manifest = yaml.safe_load((package / MANIFEST_NAME).read_text())
    try:
        models.load(package)
        untrusted = "loaded"
    except UntrustedModel as exc:
        untrusted = f"refused: {exc.details.get('types')}"
    files = {name: (package / name).stat().st_size for name in manifest["files"]}

    client = Client()
    run = client.create_run(client.get_or_create_experiment("bench-models").id, "load")
    info = client.log_model(run.id, model, "model")
    client.set_terminated(run.id)
    version = client.register_model(info.uri, cfg["model_name"])
    uri = f"models:/{cfg['model_name']}/{version.version}"
    del model

    cases = {
        "joblib": lambda: joblib.load(model_file),
        "load_skops": lambda: models.load(skops_only, trust=True),
        "load_trusted": lambda: models.load(package, trust=True),
        "client_warm": lambda: client.load_model(uri),
    }
    out: dict[str, Any] = {"manifest_loader": manifest["loader"], "model_files": manifest["model_files"],
                           "package_files": files, "uri": uri, "untrusted_load": untrusted}
    # The registry's first load downloads into the model cache; later ones read the cache.
    with _ReadProbe() as probe:
        first, loaded = timed(cases["client_warm"])
    out["client_cold_ms"] = first * 1000
    out["client_cold_read"] = probe.read
    out["client_format"] = loaded.manifest.loader.format
    del loaded
    reads: dict[str, str] = {}
    for name, fn in cases.items():  # one untimed warm-up each, noting what it reads
        with _ReadProbe() as probe:
            fn()
        reads[name] = probe.read if name != "joblib" else f"joblib ({model_file.name})"
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(reps):  # interleaved, so that a slow moment hits every case alike
        for name, fn in cases.items():
            gc.collect()
            seconds, obj = timed(fn)
            samples[name].append(seconds * 1000)
            del obj
    for name in cases:
        out[name] = {"median_ms": statistics.median(samples[name]), "samples_ms": samples[name],
                     "read": reads[name]}
    client.close()
    return out


# ----------------------------------------------------------------------------- lifecycle
def lifecycle(_store: str, cfg: dict[str, Any]) -> dict[str, Any]:
    """Workload 2, one repetition: start_run + log_model + register_model + load_model (cold)."""
    model = joblib.load(cfg["model_file"])
    x5 = np.load(cfg["x5_file"])
    dockyard.set_experiment("bench-models")  # opens the store; not timed

    t0 = time.perf_counter()
    dockyard.start_run(name="lifecycle")
    t1 = time.perf_counter()
    info = dockyard.log_model(model, "model", input_example=x5)
    t2 = time.perf_counter()
    dockyard.end_run()
    t3 = time.perf_counter()
    version = dockyard.register_model(info.uri, cfg["model_name"])
    t4 = time.perf_counter()
    uri = f"models:/{cfg['model_name']}/{version.version}"
    loaded = dockyard.load_model(uri)
    t5 = time.perf_counter()

    same = bool(np.array_equal(loaded.predict(x5), model.predict(x5)))
    return {"start_end_run_ms": ((t1 - t0) + (t3 - t2)) * 1000, "log_ms": (t2 - t1) * 1000,
            "register_ms": (t4 - t3) * 1000, "load_ms": (t5 - t4) * 1000,
            "format": loaded.manifest.loader.format, "files": loaded.manifest.model_files,
            "package_bytes": folder_bytes(loaded.path), "same_predictions": same, "uri": uri}


# ----------------------------------------------------------------------------- memory
def memory(store: str, cfg: dict[str, Any]) -> dict[str, Any]:
    """Workload 3: the peak memory of log_model with a large model already in memory."""
    client = Client(None if store == "local" else store)
    exp = client.get_or_create_experiment("bench-models-memory")
    # Warm-up with a tiny model of the same kind: imports, the store, the HTTP client.
    warm = client.create_run(exp.id, "warm-up")
    client.log_model(warm.id, build_knn(1000, int(cfg["features"]), seed=1), "model")
    client.set_terminated(warm.id)

    model = build_knn(int(cfg["rows"]), int(cfg["features"]))
    model_bytes = array_bytes(model)
    run = client.create_run(exp.id, "large")
    log(f"dockyard: logging a {model_bytes / 1e6:,.0f} MB model ({'embedded store' if store == 'local' else store})")
    m = measure_peak(lambda: client.log_model(run.id, model, "model"))
    info = m.pop("result")
    client.set_terminated(run.id)
    stored = sum(f.size or 0 for f in client.list_artifacts(run.id, "model"))
    client.close()
    return {**m, "model_bytes": model_bytes, "package_bytes": stored,
            "format": info.manifest.loader.format, "files": info.manifest.model_files,
            "children_max_rss_bytes": children_max_rss_bytes()}


WORKLOADS = {"train": train, "load": load, "lifecycle": lifecycle, "memory": memory}


def main() -> None:
    workload, store, cfg = parse_args(sys.argv)
    result = WORKLOADS[workload](store, cfg)
    result["tool_version"] = dockyard.__version__
    emit(result)


if __name__ == "__main__":
    main()
