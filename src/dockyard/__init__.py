"""Dockyard: track, package, deploy and monitor machine-learning models.

The fluent API lives here; :class:`Client` is the object API under it.
"""

from dockyard._version import __version__
from dockyard.client import Client
from dockyard.entities import Experiment, Metric, Run, RunStatus
from dockyard.errors import DockyardError
from dockyard.train.fluent import (
    ActiveRun,
    active_run,
    end_run,
    flush,
    get_run,
    get_tracking_uri,
    load_dataset,
    load_model,
    log_artifact,
    log_artifacts,
    log_dataset,
    log_ground_truth,
    log_input,
    log_metric,
    log_metrics,
    log_model,
    log_param,
    log_params,
    register_model,
    search_runs,
    set_alias,
    set_experiment,
    set_tag,
    set_tags,
    set_tracking_uri,
    start_run,
)
from dockyard.train.seeds import set_seed

__all__ = [
    "ActiveRun",
    "Client",
    "DockyardError",
    "Experiment",
    "Metric",
    "Run",
    "RunStatus",
    "__version__",
    "active_run",
    "autolog",
    "end_run",
    "flush",
    "get_run",
    "get_tracking_uri",
    "load_dataset",
    "load_model",
    "log_artifact",
    "log_artifacts",
    "log_dataset",
    "log_ground_truth",
    "log_input",
    "log_metric",
    "log_metrics",
    "log_model",
    "log_param",
    "log_params",
    "register_model",
    "search_runs",
    "set_alias",
    "set_experiment",
    "set_seed",
    "set_tag",
    "set_tags",
    "set_tracking_uri",
    "start_run",
    "FeatureSteps",
    "drift_report",
    "log_figure",
    "log_table",
    "log_image",
    "log_text",
    "log_dict",
    "log_confusion_matrix",
    "log_roc_curve",
    "log_precision_recall_curve",
    "spark_udf",
    "tune",
    "validate",
]


_MEDIA = frozenset({"log_figure", "log_table", "log_image", "log_text", "log_dict",
                    "log_confusion_matrix", "log_roc_curve", "log_precision_recall_curve"})


def __getattr__(name: str) -> object:
    # ``dockyard.models`` (the package format), ``dockyard.FeatureSteps``,
    # ``dockyard.drift_report``, ``dockyard.spark_udf``, ``dockyard.autolog``,
    # ``dockyard.tune``, ``dockyard.validate`` and the rich logging functions (``log_figure``, ``log_table`` ...) are
    # imported on first use: they bring in numpy, pandas or Optuna, which tracking alone does
    # not need.
    if name == "models":
        import importlib

        return importlib.import_module("dockyard.models")
    if name == "drift_report":
        from dockyard.monitor.report import drift_report

        return drift_report
    if name == "FeatureSteps":
        from dockyard.models.features import FeatureSteps

        return FeatureSteps
    if name in _MEDIA:
        from dockyard.train.media import Fluent

        return getattr(Fluent, name)
    if name == "autolog":
        from dockyard.train.autolog import autolog

        return autolog
    if name == "spark_udf":
        from dockyard.deploy.spark import spark_udf

        return spark_udf
    if name == "validate":
        from dockyard.validation.suite import validate

        return validate
    if name == "tune":
        from dockyard.train.tune import tune

        return tune
    raise AttributeError(f"module 'dockyard' has no attribute {name!r}")
