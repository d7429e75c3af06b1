"""Pure domain objects of the Dockyard record (no I/O)."""

from dockyard.entities.audit import AuditEvent
from dockyard.entities.tracking import (
    Batch,
    BatchResult,
    Experiment,
    FileInfo,
    Metric,
    MetricHistory,
    NewRun,
    Page,
    Param,
    Project,
    Run,
    RunSource,
    RunStatus,
    RunTag,
    now_ms,
)

__all__ = [
    "AuditEvent",
    "Batch",
    "BatchResult",
    "Experiment",
    "FileInfo",
    "Metric",
    "MetricHistory",
    "NewRun",
    "Page",
    "Param",
    "Project",
    "Run",
    "RunSource",
    "RunStatus",
    "RunTag",
    "now_ms",
]
