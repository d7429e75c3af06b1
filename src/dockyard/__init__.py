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
    log_artifact,
    log_artifacts,
    log_metric,
    log_metrics,
    log_param,
    log_params,
    search_runs,
    set_experiment,
    set_tag,
    set_tags,
    set_tracking_uri,
    start_run,
)

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
    "end_run",
    "flush",
    "get_run",
    "get_tracking_uri",
    "log_artifact",
    "log_artifacts",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "search_runs",
    "set_experiment",
    "set_tag",
    "set_tags",
    "set_tracking_uri",
    "start_run",
]
