"""The tracking record: projects, experiments, runs and what runs log.

Pure data (pydantic models, so they validate and serialise the same way in
the SDK, the REST API and the OpenAPI spec). No I/O happens here.
Times are integer milliseconds since the Unix epoch (UTC).
"""

from __future__ import annotations

import time
from enum import Enum
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


def now_ms() -> int:
    return int(time.time() * 1000)


class RunStatus(str, Enum):
    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"

    @property
    def is_terminal(self) -> bool:
        return self is not RunStatus.RUNNING


def artifact_location(experiment_id: str, run_id: str) -> str:
    """Where a run's artifacts live, relative to the artifact root."""
    return f"{experiment_id}/{run_id}/artifacts"


class _Entity(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Project(_Entity):
    id: str
    name: str
    description: str = ""
    created_at: int


class Experiment(_Entity):
    id: str
    project_id: str
    name: str
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict)
    created_at: int
    updated_at: int


class Metric(_Entity):
    key: str
    value: float
    step: int = 0
    timestamp: int = Field(default_factory=now_ms)


class Param(_Entity):
    key: str
    value: str


class RunTag(_Entity):
    key: str
    value: str


class Run(_Entity):
    """A run with its latest metrics, params and tags."""

    id: str
    experiment_id: str
    name: str
    status: RunStatus
    start_time: int
    end_time: int | None = None
    user: str = ""
    parent_id: str | None = None
    entry_point: str = ""
    git_commit: str | None = None
    git_dirty: bool | None = None
    python_version: str = ""
    artifact_location: str = ""
    params: dict[str, str] = Field(default_factory=dict)
    metrics: dict[str, Metric] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)

    @property
    def duration_ms(self) -> int | None:
        return None if self.end_time is None else self.end_time - self.start_time


class MetricHistory(_Entity):
    """The history of one metric, in columns (cheap to send and plot).

    Complete unless ``sampled_from`` is set: then the points are a selection
    made by :func:`dockyard.entities.downsample.downsample` from a history of
    ``sampled_from`` points.
    """

    run_id: str
    key: str
    steps: list[int]
    values: list[float]
    timestamps: list[int]
    sampled_from: int | None = None

    def __len__(self) -> int:
        return len(self.steps)

    def to_metrics(self) -> list[Metric]:
        return [
            Metric(key=self.key, value=v, step=s, timestamp=t)
            for s, v, t in zip(self.steps, self.values, self.timestamps)
        ]


class RunSource(_Entity):
    """What a run records about where it came from."""

    user: str = ""
    entry_point: str = ""
    git_commit: str | None = None
    git_dirty: bool | None = None
    python_version: str = ""


class NewRun(_Entity):
    """What it takes to start a run.

    ``id`` may be chosen by the client (32 lowercase hex characters, e.g.
    ``uuid.uuid4().hex``) so that a run can be started without waiting for
    the server: the fluent API sends it with the run's first batch.
    """

    experiment_id: str
    id: str | None = None
    name: str | None = None
    start_time: int | None = None
    parent_id: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    source: RunSource | None = None


class BatchContent(_Entity):
    """What a batch writes to its run (the body of ``POST /runs/{id}/batch``)."""

    create: NewRun | None = None
    metrics: list[Metric] = Field(default_factory=list)
    params: list[Param] = Field(default_factory=list)
    tags: list[RunTag] = Field(default_factory=list)
    batch_id: str | None = None
    end_status: RunStatus | None = None
    end_time: int | None = None


class Batch(BatchContent):
    """Metrics, params and tags for one run, written in one transaction.

    ``batch_id`` makes the write idempotent: a batch replayed with an id the
    store has already applied changes nothing. ``create`` starts the run
    (with id ``run_id``) and ``end_status``/``end_time`` finish it, in the same
    transaction: a short run costs one request.
    """

    run_id: str


class BatchResult(_Entity):
    applied: bool
    """False when ``batch_id`` had been applied before (a replay)."""


class FileInfo(_Entity):
    path: str
    is_dir: bool
    size: int | None = None


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_page_token: str | None = None

    def __iter__(self) -> Any:  # type: ignore[override]
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> T:
        return self.items[i]


# Concrete pages, made once: pydantic rebuilds a generic class that nothing references.
ProjectPage = Page[Project]
ExperimentPage = Page[Experiment]
RunPage = Page[Run]
FileInfoPage = Page[FileInfo]
