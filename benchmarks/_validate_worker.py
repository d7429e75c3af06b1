"""Worker of benchmarks/validate.py: Dockyard's or MLflow's validation of the same model in a fresh process.

    python benchmarks/_validate_worker.py dockyard|mlflow URI '{"rows": ..., "train_rows": ..., ...}'

Run with the project's interpreter for Dockyard (URI is unused: ``-``) and with
the interpreter of MLflow's virtual environment for MLflow (URI: the
``sqlite:///`` tracking store). It imports only the side it is asked for, so
each environment needs nothing of the other. Both sides generate the same
data from the same seed and train the same forest on it (reported as a
fingerprint, so the caller can check that they match). Progress goes to
stderr; the result is one JSON line on stdout. Data, training, logging the
model and imports are never timed: only ``run_checks`` and ``mlflow.evaluate``.

The forest and the baseline are fitted on a DataFrame of the 30 feature
columns, so they carry ``feature_names_in_``: Dockyard's ``Evaluation``
hands the models only those columns (``Evaluation.model_columns``), and
MLflow gets them as ``feature_names``. The cohort, sensitive and time
columns stay in the frame both are given, but are never features.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from _workload import emit, log, parse_args

SEED = 42
N_FEATURES = 30
FEATURES = [f"f{i:02d}" for i in range(N_FEATURES)]
TARGET = "target"
COHORT = "region"
SENSITIVE = "group"
TIME = "event_time"
REGIONS = ("north", "south", "east", "west", "central")
WINDOWS = 5
# the metrics both compute for a binary classifier: Dockyard's name -> MLflow's
OVERLAP = {"accuracy": "accuracy_score", "precision": "precision_score",
           "recall": "recall_score", "f1": "f1_score", "roc_auc": "roc_auc",
           "log_loss": "log_loss"}


# ----------------------------------------------------------------------------- data and models
def make_frames(rows: int, train_rows: int) -> tuple[Any, Any]:
    """(training frame, test frame): ``train_rows`` and ``rows`` rows of the same generated set,
    with 30 features, a cohort column (5 regions of unequal size), a binary sensitive column
    (related to ``f00``, so the groups do differ) and a time column spread over 2025."""
    import numpy as np
    import pandas as pd
    from sklearn.datasets import make_classification

    n = rows + train_rows
    x, y = make_classification(n_samples=n, n_features=N_FEATURES, n_informative=12,
                               n_redundant=6, flip_y=0.02, random_state=SEED)
    frame = pd.DataFrame(x, columns=FEATURES)
    rng = np.random.default_rng(SEED)
    frame[COHORT] = pd.Series(rng.choice(REGIONS, size=n, p=[0.3, 0.25, 0.2, 0.15, 0.1]),
                              dtype="category")
    frame[SENSITIVE] = np.where(x[:, 0] + rng.normal(0.0, 1.5, n) > 0, "a", "b")
    frame[TIME] = pd.Timestamp("2025-01-01") + pd.to_timedelta(
        rng.integers(0, 365 * 24 * 3600, n), unit="s")
    frame[TARGET] = y
    return frame.iloc[:train_rows].reset_index(drop=True), \
        frame.iloc[train_rows:].reset_index(drop=True)


def train(train_frame: Any) -> tuple[Any, Any, float, float]:
    """(forest, logistic regression, seconds of each fit), both fitted on the feature columns."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    x, y = train_frame[FEATURES], train_frame[TARGET]
    t0 = time.perf_counter()
    forest = RandomForestClassifier(n_estimators=100, n_jobs=2, random_state=0).fit(x, y)
    t1 = time.perf_counter()
    baseline = LogisticRegression(max_iter=1000).fit(x, y)
    t2 = time.perf_counter()
    return forest, baseline, t1 - t0, t2 - t1


def fingerprint(train_frame: Any, test_frame: Any, forest: Any) -> dict[str, Any]:
    """What shows that both workers validate the same data with the same model."""
    import numpy as np

    data = hashlib.sha256()
    for frame in (train_frame, test_frame):
        data.update(np.ascontiguousarray(frame[FEATURES].to_numpy()).tobytes())
        data.update(frame[TARGET].to_numpy().tobytes())
    predicted = np.asarray(forest.predict(test_frame[FEATURES]))
    nodes = int(sum(tree.tree_.node_count for tree in forest.estimators_))
    return {"data_sha256": data.hexdigest()[:16],
            "predictions_sha256": hashlib.sha256(predicted.tobytes()).hexdigest()[:16],
            "forest_nodes": nodes,
            "forest_max_depth": int(max(tree.tree_.max_depth for tree in forest.estimators_))}


def _setup(cfg: dict[str, Any]) -> tuple[Any, Any, Any, Any, dict[str, Any]]:
    rows, train_rows = int(cfg["rows"]), int(cfg["train_rows"])
    t0 = time.perf_counter()
    train_frame, test_frame = make_frames(rows, train_rows)
    made = time.perf_counter() - t0
    forest, baseline, fit_s, baseline_fit_s = train(train_frame)
    info = {"rows": rows, "train_rows": train_rows, "data_s": made, "fit_s": fit_s,
            "baseline_fit_s": baseline_fit_s, **fingerprint(train_frame, test_frame, forest)}
    return train_frame, test_frame, forest, baseline, info


# ----------------------------------------------------------------------------- Dockyard
def run_dockyard(cfg: dict[str, Any]) -> dict[str, Any]:
    import importlib.util

    import numpy as np

    import dockyard

    _, test_frame, forest, baseline, info = _setup(cfg)
    log(f"dockyard: {len(test_frame):,} test rows; forest fitted in {info['fit_s']:.1f}s "
        f"({info['forest_nodes']:,} nodes), baseline in {info['baseline_fit_s']:.1f}s")

    # what run_checks imports lazily, imported here (not timed)
    t0 = time.perf_counter()
    from dockyard.validation import (  # noqa: F401
        backtest,
        calibration,
        cohorts,
        compare,
        explain,
        fairness,
        robustness,
    )
    from dockyard.validation.evaluation import Evaluation
    from dockyard.validation.suite import run_checks

    if importlib.util.find_spec("shap") is not None:
        explain._import_shap()
    if importlib.util.find_spec("matplotlib") is not None:
        import matplotlib.figure  # noqa: F401
        from matplotlib.backends import backend_agg  # noqa: F401
    import scipy.stats  # noqa: F401
    imports_s = time.perf_counter() - t0

    log("dockyard: run_checks ...")
    t0 = time.perf_counter()
    report = run_checks(forest, test_frame, TARGET, cohorts=[COHORT], sensitive=[SENSITIVE],
                        baseline=baseline, time_column=TIME, windows=WINDOWS)
    total = time.perf_counter() - t0
    log(f"dockyard: run_checks took {total:.1f}s")

    # one pass of the forest over the test rows, for scale (after the timed call)
    x = test_frame[FEATURES]
    t0 = time.perf_counter()
    proba = forest.predict_proba(x)
    proba_s = time.perf_counter() - t0
    # rows the forest gives a probability of exactly 0 for their true class: where the two
    # log losses, which clip the probabilities at different floors, part
    truth = np.searchsorted(forest.classes_, test_frame[TARGET].to_numpy())
    zero_rows = int(np.sum(proba[np.arange(len(proba)), truth] == 0.0))

    checks = [{"name": c.name, "seconds": c.seconds, "error": c.error, "summary": c.summary,
               "metrics": len(c.metrics)} for c in report.checks]
    holdout = report.check("holdout")
    explained = report.check("explain")
    return {"side": "dockyard", "version": dockyard.__version__,
            "dockyard_path": dockyard.__file__, **info, "imports_s": imports_s,
            "total_s": total, "checks": checks,
            "holdout": dict(holdout.metrics) if holdout else {},
            "metric_count": len(report.values()),
            "shap": bool(explained and "shap" in explained.tables),
            "shap_installed": importlib.util.find_spec("shap") is not None,
            "model_columns": Evaluation(forest, test_frame, TARGET).model_columns,
            "predict_proba_s": proba_s,
            "zero_probability_rows": zero_rows,
            "numpy": np.__version__}


# ----------------------------------------------------------------------------- MLflow
def run_mlflow(uri: str, cfg: dict[str, Any]) -> dict[str, Any]:
    import importlib.util
    import warnings

    import mlflow
    import mlflow.pyfunc
    import mlflow.sklearn
    from mlflow import MlflowClient

    train_frame, test_frame, forest, _, info = _setup(cfg)
    log(f"mlflow: {len(test_frame):,} test rows; forest fitted in {info['fit_s']:.1f}s "
        f"({info['forest_nodes']:,} nodes)")

    # what mlflow.evaluate imports lazily, imported here (not timed)
    t0 = time.perf_counter()
    from mlflow.models.evaluation.evaluators.classifier import ClassifierEvaluator
    from mlflow.models.evaluation.evaluators.shap import (
        _DEFAULT_SAMPLE_ROWS_FOR_SHAP,
        ShapEvaluator,
    )

    shap_installed = importlib.util.find_spec("shap") is not None
    if shap_installed:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import shap  # noqa: F401
    import matplotlib.pyplot  # noqa: F401
    imports_s = time.perf_counter() - t0

    # each evaluator's share of the call: its evaluate() wrapped with a clock
    spent: dict[str, float] = {}
    for cls in (ClassifierEvaluator, ShapEvaluator):
        _clock(cls, spent)
    # the explainer MLflow picks ("Shap explainer Tree is used."), from its log
    notes = _Notes()
    shap_logger = logging.getLogger(ShapEvaluator.__module__)
    shap_logger.addHandler(notes)
    shap_logger.setLevel(logging.INFO)

    mlflow.set_tracking_uri(uri)
    client = MlflowClient()
    exp_id = client.create_experiment(
        "bench-validate", artifact_location=(Path(cfg["tmp"]) / "mlflow-artifacts").as_uri())
    mlflow.set_experiment(experiment_id=exp_id)
    explain = cfg["mlflow_explain"]
    config = {} if explain else {"log_explainer": False, "log_model_explainability": False}
    with mlflow.start_run() as run:
        t0 = time.perf_counter()
        logged = mlflow.sklearn.log_model(forest, name="model",
                                          input_example=train_frame[FEATURES].head(5),
                                          serialization_format="cloudpickle")
        log_model_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        model = mlflow.pyfunc.load_model(logged.model_uri)
        load_s = time.perf_counter() - t0
        log(f"mlflow: model logged in {log_model_s:.1f}s, loaded in {load_s:.1f}s; "
            f"mlflow.evaluate ({'with' if explain else 'without'} explainability) ...")
        t0 = time.perf_counter()
        result = mlflow.evaluate(model=model, data=test_frame, targets=TARGET,
                                 model_type="classifier", evaluators=["default"],
                                 feature_names=FEATURES,
                                 evaluator_config={"default": config})
        total = time.perf_counter() - t0
        log(f"mlflow: mlflow.evaluate took {total:.1f}s")
    artifacts = sorted(result.artifacts)
    return {"side": "mlflow", "version": mlflow.__version__, **info, "imports_s": imports_s,
            "log_model_s": log_model_s, "load_model_s": load_s, "total_s": total,
            "evaluators_s": spent,
            "metrics": {k: float(v) for k, v in result.metrics.items()
                        if isinstance(v, (int, float))},
            "artifacts": artifacts, "explainability": bool(explain),
            "shap_installed": shap_installed, "evaluator_config": config,
            "shap_logged": any(a.startswith("shap") for a in artifacts),
            "shap_log": notes.messages,
            "shap_rows": min(len(test_frame), _DEFAULT_SAMPLE_ROWS_FOR_SHAP),
            "run_id": run.info.run_id}


class _Notes(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage()[:300])


def _clock(cls: type, spent: dict[str, float]) -> None:
    inner = cls.evaluate

    def evaluate(self: Any, *args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return inner(self, *args, **kwargs)
        finally:
            spent[cls.name] = spent.get(cls.name, 0.0) + time.perf_counter() - t0

    cls.evaluate = evaluate  # type: ignore[method-assign]


def main() -> None:
    job, uri, cfg = parse_args(sys.argv)
    if job == "dockyard":
        result = run_dockyard(cfg)
    elif job == "mlflow":
        result = run_mlflow(uri, cfg)
    else:
        raise SystemExit(f"unknown job {job!r}: dockyard or mlflow")
    result["pid_cpus"] = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    emit(result)


if __name__ == "__main__":
    main()
