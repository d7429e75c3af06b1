"""Saves serving.py's model as an MLflow model, with MLflow's own API.

    python _serving_mlflow_save.py MODEL_JOBLIB ROW_JSON OUT_DIR tensor|columns

Runs with MLflow's interpreter. Loads the fitted LogisticRegression that
``_serving_train.py`` wrote and calls ``mlflow.sklearn.save_model(model,
OUT_DIR, input_example=X[:1])``, MLflow's defaults otherwise. ``tensor``: the
example is a numpy array of shape [1, 20] and MLflow infers a tensor
signature (requests: ``{"inputs": [[...]]}``). ``columns``: the example is a
pandas DataFrame with 20 named float columns and MLflow infers a column
signature (requests: ``{"dataframe_split": ...}``). Prints one JSON line: the
format MLflow chose, the signature, the prediction of the reloaded model.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def main() -> int:
    model_file, row_file, out, kind = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
    import joblib
    import mlflow
    import mlflow.sklearn
    import numpy as np
    import yaml

    model = joblib.load(model_file)
    row = np.asarray([json.loads(row_file.read_text())], dtype=np.float64)
    if kind == "columns":
        import pandas as pd

        row = pd.DataFrame(row, columns=[f"f{i}" for i in range(row.shape[1])])
    elif kind != "tensor":
        raise SystemExit(f"unknown kind {kind!r}: tensor or columns")
    t0 = time.perf_counter()
    mlflow.sklearn.save_model(model, str(out), input_example=row)
    save_seconds = time.perf_counter() - t0
    mlmodel = yaml.safe_load((out / "MLmodel").read_text())
    flavor = mlmodel.get("flavors", {}).get("sklearn", {})
    loaded = mlflow.pyfunc.load_model(str(out))
    prediction = loaded.predict(row)
    print(json.dumps({
        "mlflow": mlflow.__version__,
        "path": str(out),
        "example": kind,
        "save_seconds": save_seconds,
        "serialization_format": flavor.get("serialization_format"),
        "pickled_model": flavor.get("pickled_model"),
        "signature": mlmodel.get("signature"),
        "predict": np.asarray(prediction).tolist(),
    }, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
