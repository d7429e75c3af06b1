"""The model registry: registered models, their versions, aliases, stages, validations and
lineage graphs.

Pure data, like :mod:`dockyard.entities.tracking`. A version records where
its package lives (``source``, a ``runs:/<run_id>/<path>`` URI) and the
digest of the package's manifest; the registry never holds a copy. A
validation records the verdict and the metrics of one validation report; the
report itself lives elsewhere (``report_uri``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from enum import Enum
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field

from dockyard.entities import validation as v
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
    policy: dict[str, Any] | None = None
    """The validation policy that gates promotions (``Policy.to_dict()``), or None."""
    policy_digest: str | None = None
    """``Policy.digest`` of :attr:`policy`: validations judged under it count for the gate."""
    protected_aliases: list[str] = Field(default_factory=list)
    """Aliases that, like Production, need a passing validation under :attr:`policy`."""


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


class NewModelValidation(_Entity):
    """A validation to record on a model version (the store adds its id and time)."""

    passed: bool | None = None
    """The policy's verdict; None when no policy judged the report."""
    policy_name: str | None = None
    policy_digest: str | None = None
    """``Policy.digest`` of the policy that judged it: given exactly when ``passed`` is."""
    values: dict[str, float] = Field(default_factory=dict)
    """The report's metrics, flat (``accuracy``, ``cohort_gap.accuracy`` ...); finite numbers."""
    summary: str = ""
    """One line: the rules that passed and those that failed, with their values."""
    report_uri: str = ""
    """Where the full report lives, e.g. ``runs:/<run_id>/validations/<id>/report.json``."""


class ModelValidation(NewModelValidation):
    """A recorded validation of one model version: the evidence the promotion gate reads."""

    id: str
    """32 lowercase hex characters."""
    name: str
    version: int
    created_at: int
    """ms since the epoch; strictly increasing within a model, so "latest" is one row."""
    created_by: str = ""


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


MAX_VALIDATION_VALUES = 10_000
MAX_SUMMARY_LENGTH = 20_000
MAX_REPORT_URI_LENGTH = 4096
MAX_POLICY_LENGTH = 100_000
MAX_PROTECTED_ALIASES = 100
MAX_OVERRIDE_REASON_LENGTH = 2000
_POLICY_DIGEST_RE = re.compile(r"^[0-9a-f]{64}\Z")


def check_policy_digest(digest: Any) -> str | None:
    """None, or a policy digest: a sha256 as 64 lowercase hex characters."""
    if digest is None:
        return None
    if not isinstance(digest, str) or not _POLICY_DIGEST_RE.match(digest):
        raise InvalidArgument("policy_digest must be a sha256 hex digest (64 lowercase hex "
                              f"characters), got {digest!r:.80}")
    return digest


def check_new_validation(new: NewModelValidation) -> NewModelValidation:
    """Everything a store checks before it records a validation; InvalidArgument otherwise."""
    if not isinstance(new, NewModelValidation):
        raise InvalidArgument(f"a validation must be a NewModelValidation, got "
                              f"{type(new).__name__}")
    check_policy_digest(new.policy_digest)
    if (new.passed is None) != (new.policy_digest is None):
        raise InvalidArgument(
            "passed and policy_digest go together: give both (the verdict and the digest of "
            "the policy that judged the report) or neither (no policy judged it)")
    v.validate_text("policy_name", new.policy_name)
    v.validate_text("summary", new.summary, MAX_SUMMARY_LENGTH)
    v.validate_text("report_uri", new.report_uri, MAX_REPORT_URI_LENGTH)
    if len(new.values) > MAX_VALIDATION_VALUES:
        raise InvalidArgument(f"a validation holds at most {MAX_VALIDATION_VALUES:,} values, "
                              f"got {len(new.values):,}")
    for key, value in new.values.items():
        v.validate_text("value name", key, v.MAX_KEY_LENGTH)
        if not key.strip():
            raise InvalidArgument("a value name must not be empty")
        if not math.isfinite(value):
            raise InvalidArgument(f"value {key!r:.80} must be a finite number, got {value!r}; "
                                  "leave out metrics that were not measured")
    return new


def check_model_policy(policy: Any, policy_digest: Any, protected_aliases: Any
                       ) -> tuple[dict[str, Any] | None, str | None, list[str]]:
    """A model's policy, its digest and protected aliases, checked; InvalidArgument otherwise.

    The policy is a JSON object (as ``Policy.to_dict()`` gives it) of at most
    100,000 characters, or None to clear it. The digest must come with a
    policy and only with one. The protected aliases are alias names (an empty
    list is fine); repeats are dropped.
    """
    digest = check_policy_digest(policy_digest)
    if policy is None:
        if digest is not None:
            raise InvalidArgument("policy_digest was given without a policy; give both, or "
                                  "neither to clear the policy")
    else:
        if not isinstance(policy, Mapping):
            raise InvalidArgument(f"policy must be a JSON object (Policy.to_dict()) or None, "
                                  f"got {type(policy).__name__}")
        if digest is None:
            raise InvalidArgument("a policy needs its policy_digest (Policy.digest), so that "
                                  "validations can be matched to it")
        try:
            size = len(orjson.dumps(dict(policy)))
        except TypeError as exc:
            raise InvalidArgument(f"policy is not JSON: {exc}") from None
        if size > MAX_POLICY_LENGTH:
            raise InvalidArgument(f"policy is {size:,} characters as JSON; the limit is "
                                  f"{MAX_POLICY_LENGTH:,}")
        policy = dict(policy)
    if isinstance(protected_aliases, str) or not isinstance(protected_aliases, Sequence):
        raise InvalidArgument("protected_aliases must be a list of alias names, got "
                              f"{type(protected_aliases).__name__}")
    protected = list(dict.fromkeys(v.validate_alias(a) for a in protected_aliases))
    if len(protected) > MAX_PROTECTED_ALIASES:
        raise InvalidArgument(f"at most {MAX_PROTECTED_ALIASES} aliases can be protected, "
                              f"got {len(protected)}")
    return policy, digest, protected


def check_override_reason(reason: Any) -> str | None:
    """None (no override), or why a promotion goes ahead without a passing validation.

    A reason must say something: empty or blank text is InvalidArgument.
    """
    if reason is None:
        return None
    text = v.validate_text("override_reason", reason, MAX_OVERRIDE_REASON_LENGTH)
    if not text.strip():
        raise InvalidArgument("override_reason must say why the gate is overridden; it is "
                              "recorded in the audit trail")
    return text.strip()
