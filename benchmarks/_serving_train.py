"""Fits the model of serving.py and writes what every server and the load generator read.

    python _serving_train.py OUT_DIR MODEL_NAME

Runs with the project's interpreter. Writes into OUT_DIR:

* ``model.joblib``: the fitted LogisticRegression (``joblib.dump``); MLServer
  serves this file and MLflow's helper saves it with ``mlflow.sklearn.save_model``.
* ``dockyard/MODEL_NAME``: the same model as a Dockyard package,
  ``dockyard.models.save(model, folder, input_example=X[:1])`` (a numpy
  example: a tensor signature of shape [-1, 20]).
* ``row.json``: the one row every request sends (20 floats).
* ``bodies/*.json``: the request bodies: ``inputs.json`` (``{"inputs": [[...]]}``,
  for ``/invocations``), ``dataframe_split.json`` (MLflow's other accepted body),
  ``v2.json`` (Open Inference Protocol V2, shape [1, 20], FP64).

Prints one JSON line: the model's prediction for the row (the answer every
server must give), training details, and whether the Dockyard package was written.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

N_FEATURES = 20
N_SAMPLES = 10_000
SEED = 0


def main() -> int:
    out = Path(sys.argv[1])
    model_name = sys.argv[2]
    import joblib
    import numpy as np
    import sklearn
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    X, y = make_classification(n_samples=N_SAMPLES, n_features=N_FEATURES, n_informative=10,
                               n_redundant=4, random_state=SEED)
    X = X.astype(np.float64)
    t0 = time.perf_counter()
    model = LogisticRegression(max_iter=1000).fit(X, y)
    fit_seconds = time.perf_counter() - t0
    row = X[:1]
    out.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, out / "model.joblib")

    values = [float(v) for v in row[0]]
    columns = [f"f{i}" for i in range(N_FEATURES)]
    (out / "row.json").write_text(json.dumps(values))
    bodies = out / "bodies"
    bodies.mkdir(exist_ok=True)
    (bodies / "inputs.json").write_text(json.dumps({"inputs": [values]}))
    (bodies / "dataframe_split.json").write_text(
        json.dumps({"dataframe_split": {"columns": columns, "data": [values]}}))
    (bodies / "v2.json").write_text(json.dumps({"inputs": [
        {"name": "input-0", "shape": [1, N_FEATURES], "datatype": "FP64", "data": values}]}))

    dockyard_package: str | None = None
    dockyard_error: str | None = None
    dockyard_signature: object = None
    try:
        from dockyard import models

        folder = out / "dockyard" / model_name
        folder.parent.mkdir(parents=True, exist_ok=True)
        manifest = models.save(model, folder, input_example=row)
        dockyard_package = str(folder)
        sig = getattr(manifest, "signature", None)
        to_dict = getattr(sig, "to_dict", None) or getattr(sig, "model_dump", None)
        dockyard_signature = to_dict() if callable(to_dict) else (str(sig) if sig is not None else None)
    except Exception as exc:  # noqa: BLE001 -- reported, the peers still run
        dockyard_error = f"{exc.__class__.__name__}: {exc}"

    print(json.dumps({
        "model": "LogisticRegression(max_iter=1000)",
        "data": f"make_classification({N_SAMPLES:,} x {N_FEATURES}, random_state={SEED})",
        "train_accuracy": float(model.score(X, y)),
        "fit_seconds": fit_seconds,
        "predict": [int(v) for v in model.predict(row)],
        "predict_proba": [float(v) for v in model.predict_proba(row)[0]],
        "sklearn": sklearn.__version__,
        "numpy": np.__version__,
        "joblib_file": str(out / "model.joblib"),
        "joblib_bytes": (out / "model.joblib").stat().st_size,
        "columns": columns,
        "dockyard_package": dockyard_package,
        "dockyard_signature": dockyard_signature,
        "dockyard_error": dockyard_error,
    }, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
