"""The public surface is exactly what ``__all__`` says, and each name is documented."""

from __future__ import annotations

import inspect

import dockyard

EXPECTED = {
    "ActiveRun", "Client", "FeatureSteps", "log_figure", "log_table", "log_image", "log_text",
    "log_dict", "log_confusion_matrix", "log_roc_curve", "log_precision_recall_curve",
    "DockyardError", "Experiment", "Metric", "Run", "RunStatus",
    "__version__", "active_run", "autolog", "drift_report", "spark_udf", "tune", "validate", "end_run",
    "flush", "get_run", "get_tracking_uri",
    "load_dataset", "load_model", "log_artifact", "log_artifacts", "log_dataset",
    "log_ground_truth", "log_input", "log_metric",
    "log_metrics", "log_model",
    "log_param", "log_params", "register_model", "search_runs", "set_alias", "set_experiment", "set_seed", "set_tag", "set_tags", "set_tracking_uri", "start_run",
}


def test_all_is_the_public_surface() -> None:
    assert set(dockyard.__all__) == EXPECTED
    for name in dockyard.__all__:
        assert hasattr(dockyard, name), name


def test_public_callables_have_docstrings() -> None:
    missing = [name for name in dockyard.__all__
               if callable(getattr(dockyard, name)) and not inspect.getdoc(getattr(dockyard, name))]
    assert missing == []


def test_client_methods_have_docstrings_or_obvious_names() -> None:
    public = [n for n, f in inspect.getmembers(dockyard.Client, inspect.isfunction) if not n.startswith("_")]
    assert {"create_experiment", "search_runs", "log_batch", "log_artifact", "download_artifacts"} <= set(public)
