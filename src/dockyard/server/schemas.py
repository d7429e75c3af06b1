"""Request bodies of the REST API (responses are the entity models)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, RootModel, StrictBool, StrictInt

from dockyard.entities import BatchContent, MonitorValue, NewRun, RunStatus
from dockyard.entities.deployment import DeploymentSpec


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


class CreateRegisteredModel(_Body):
    name: str
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict)
    owner: str = ""
    task: str = ""


class UpdateRegisteredModel(_Body):
    description: str | None = None
    tags: dict[str, str] | None = None
    owner: str | None = None
    task: str | None = None


class CreateModelVersion(_Body):
    """Register the package at ``source`` (``runs:/<run_id>/<path>``) as the next version."""

    source: str
    package_digest: str | None = None
    signature: dict[str, Any] | None = None
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict)
    card: str = ""


class UpdateModelVersion(_Body):
    """Description, tags (merged) and card; the package fields never change."""

    description: str | None = None
    tags: dict[str, str] | None = None
    card: str | None = None


class RegisterModel(_Body):
    """Register the logged package a model URI names under ``name`` (created if new)."""

    source: str = Field(description="runs:/<run_id>/<path> or a models:/ URI")
    name: str
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict)
    card: str = ""


_OVERRIDE = Field(None, description="Why a promotion goes ahead without a passing validation "
                                    "under the model's policy (recorded in the audit trail)")


class SetAlias(_Body):
    version: StrictInt
    override_reason: str | None = _OVERRIDE


class TransitionStage(_Body):
    stage: str | None = Field(description="None, Staging, Production or Archived (any case)")
    archive_existing: StrictBool = False
    override_reason: str | None = _OVERRIDE


class SetModelPolicy(_Body):
    """The validation policy that gates a model's promotions; ``policy: null`` clears it."""

    policy: dict[str, Any] | None = Field(
        description="The policy as Policy.to_dict() gives it: {rules, name, description}")
    policy_digest: str | None = Field(None, description="Policy.digest of the policy")
    protected_aliases: list[str] = Field(
        default_factory=list, description="Aliases that need a passing validation, like "
                                          "a move to Production")


class LogGroundTruth(_Body):
    """Labels of served predictions, one per prediction id."""

    prediction_ids: list[str]
    labels: list[StrictBool | StrictInt | float | str]
    label_time: StrictInt | list[StrictInt] | None = None
    """When the outcomes became known (ms since the epoch): one time, or one per label;
    defaults to now."""
    replace: StrictBool = False
    """Replace labels already stored for these ids (otherwise they are reported as duplicates)."""


class GetGroundTruth(_Body):
    prediction_ids: list[str]


class MonitorValues(RootModel[list[MonitorValue]]):
    """Values of one monitor (each names it) per window, metric, feature and cohort."""


class SetMonitorRun(_Body):
    time: StrictInt
    """When the monitor was evaluated (ms since the epoch)."""


class ValuesWritten(BaseModel):
    """The answer to writing monitor values: rows written (a key given twice counts once)."""

    written: int


class UpdateDeployment(_Body):
    """A new spec for a deployment, what kind of change it is, and the revision it replaces."""

    spec: DeploymentSpec
    action: str = "update"
    message: str = ""
    expected_revision: StrictInt | None = None
    """The revision the change was made from; 409 if the deployment has moved on."""


class DeploymentStatus(_Body):
    """What a deployment's target reports."""

    status: str
    message: str = ""
    observed_revision: StrictInt | None = None
    endpoint: str | None = None


class CreateUser(_Body):
    """A new user: a person (``user``) or a machine (``service``)."""

    name: str
    kind: str = "user"
    display_name: str = ""


class UpdateUser(_Body):
    """Disable a user (their tokens stop working), or enable them again."""

    disabled: StrictBool


class CreateToken(_Body):
    """A new API token for a user; the answer holds its secret, this once."""

    user: str
    name: str = ""
    expires_in_seconds: StrictInt | float | None = None
    """Seconds until the token stops working; none: until it is revoked."""


class GrantRole(_Body):
    """A role for a user on a scope: ``*`` (everything), ``project:<name>`` or ``model:<name>``."""

    role: str
    scope: str = "*"


class CreateApprovalRequest(_Body):
    """Ask for a version to be moved to a protected target (an approver decides)."""

    model: str
    version: StrictInt
    target: str = "stage:Production"
    """``stage:Production`` or ``alias:<name>``."""
    comment: str = ""
    archive_existing: StrictBool = False


class Decision(_Body):
    """An approver's comment on their decision."""

    comment: str = ""
