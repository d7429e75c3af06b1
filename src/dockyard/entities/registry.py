"""The model registry: registered models, their versions, aliases, stages, and lineage graphs.

Pure data, like :mod:`dockyard.entities.tracking`. A version records where
its package lives (``source``, a ``runs:/<run_id>/<path>`` URI) and the
digest of the package's manifest; the registry never holds a copy.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from dockyard.entities.tracking import Page
from dockyard.errors import InvalidArgument


class _Entity(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ModelStage(str, Enum):
    """The stage of a model version; a version in Production is locked."""

    NONE = "None"
    STAGING = "Staging"
    PRODUCTION = "Production"
    ARCHIVED = "Archived"

    @classmethod
    def parse(cls, value: Any) -> ModelStage:
        """A stage from its name in any case (``production``); InvalidArgument otherwise."""
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            for stage in cls:
                if stage.value.lower() == value.strip().lower():
                    return stage
        raise InvalidArgument(
            f"stage {value!r:.60} is not one of {', '.join(repr(s.value) for s in cls)}")


class ModelVersionStatus(str, Enum):
    """Registration finishes in one transaction: every stored version is READY."""

    READY = "READY"


class RegisteredModel(_Entity):
    """A named model: the home of its numbered versions and of its aliases."""

    name: str
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict)
    owner: str = ""
    task: str = ""
    """Free text, such as ``classification``, ``regression``, ``forecasting``."""
    created_at: int
    updated_at: int
    latest_version: int | None = None
    """The highest version number, None before the first registration."""
    aliases: dict[str, int] = Field(default_factory=dict)
    """Alias -> version number."""


class ModelVersion(_Entity):
    """One registered package of a model.

    ``source``, ``run_id``, ``package_digest`` and ``signature`` are the
    package fields: set at registration, they never change. A version in
    Production is :attr:`locked`: it cannot be deleted, and edits of its
    description, tags and card are recorded in the audit trail.
    """

    name: str
    version: int
    source: str
    """Where the package is, e.g. ``runs:/<run_id>/model``."""
    run_id: str
    package_digest: str | None = None
    """sha256 (64 lowercase hex characters) of the package manifest, given at registration."""
    signature: dict[str, Any] | None = None
    stage: ModelStage = ModelStage.NONE
    status: ModelVersionStatus = ModelVersionStatus.READY
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict)
    card: str = ""
    """The model card, in Markdown."""
    aliases: list[str] = Field(default_factory=list)
    created_at: int
    updated_at: int

    @property
    def locked(self) -> bool:
        return self.stage is ModelStage.PRODUCTION

    @property
    def uri(self) -> str:
        """``models:/<name>/<version>``."""
        return f"models:/{self.name}/{self.version}"


class AliasChange(_Entity):
    """What setting or deleting an alias did: it pointed at ``previous_version``, now ``version``.

    ``previous_version`` is None for a new alias; ``version`` is None after a delete.
    """

    name: str
    alias: str
    version: int | None
    previous_version: int | None = None


class StageTransition(_Entity):
    """What a stage transition did, in one transaction."""

    model_version: ModelVersion
    """The version after the transition."""
    previous_stage: ModelStage
    archived: list[int] = Field(default_factory=list)
    """Versions moved to Archived by ``archive_existing``."""


class ResolvedModel(_Entity):
    """Where the package a model URI names lives: a folder in a run's artifacts."""

    uri: str
    run_id: str
    artifact_path: str
    model_version: ModelVersion | None = None
    """The registered version, for a ``models:/`` URI."""

    @property
    def source(self) -> str:
        return f"runs:/{self.run_id}/{self.artifact_path}"


class LineageNode(_Entity):
    """One record in a lineage graph.

    ``id`` is the record's URI where it has one (``runs:/<id>``,
    ``models:/<name>/<version>``, ``models:/<name>``) and ``<type>:<key>``
    otherwise; ``type`` is ``run``, ``experiment``, ``code``,
    ``environment``, ``model_version`` or ``registered_model`` (later:
    datasets, deployments, monitors).
    """

    id: str
    type: str
    label: str
    attrs: dict[str, Any] = Field(default_factory=dict)


class LineageEdge(_Entity):
    """``source`` flows into ``target``; ``relation`` reads ``<source> <relation> <target>``."""

    source: str
    target: str
    relation: str


class LineageGraph(_Entity):
    """Upstream and downstream records of ``root`` as nodes and edges."""

    root: str
    nodes: list[LineageNode] = Field(default_factory=list)
    edges: list[LineageEdge] = Field(default_factory=list)

    def node(self, node_id: str) -> LineageNode:
        """The node with this id; raises KeyError."""
        for n in self.nodes:
            if n.id == node_id:
                return n
        raise KeyError(node_id)


RegisteredModelPage = Page[RegisteredModel]
ModelVersionPage = Page[ModelVersion]
