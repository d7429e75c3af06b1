"""Request bodies of the REST API (responses are the entity models)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from dockyard.entities import BatchContent, NewRun, RunStatus


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateProject(_Body):
    name: str
    description: str = ""


class CreateExperiment(_Body):
    name: str
    project_id: str | None = None
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict)


class UpdateExperiment(_Body):
    name: str | None = None
    description: str | None = None
    tags: dict[str, str] | None = None


class CreateRun(NewRun):
    """Start a run; ``id`` may be chosen by the client (32 lowercase hex characters)."""


class UpdateRun(_Body):
    status: RunStatus | None = None
    end_time: int | None = None
    name: str | None = None


class LogBatch(BatchContent):
    """Metrics, params and tags for one run; may also start (create) and end it."""


class SearchRuns(_Body):
    experiment_ids: list[str]
    filter: str | None = None
    order_by: list[str] | None = None
    max_results: int = 1000
    page_token: str | None = None
