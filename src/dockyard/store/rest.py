"""RestMetadataStore: the metadata store interface over a Dockyard server."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from pydantic import TypeAdapter

from dockyard.entities import (
    Alert,
    AlertEvent,
    AliasChange,
    AuditEvent,
    AuditEventPage,
    Batch,
    BatchResult,
    Experiment,
    ExperimentPage,
    GroundTruth,
    GroundTruthReport,
    MetricHistory,
    ModelStage,
    ModelValidation,
    ModelVersion,
    ModelVersionPage,
    Monitor,
    MonitorSpec,
    MonitorValue,
    NewModelValidation,
    Page,
    Project,
    ProjectPage,
    RegisteredModel,
    RegisteredModelPage,
    Run,
    RunPage,
    RunSource,
    RunStatus,
    StageTransition,
)
from dockyard.entities import validation as v
from dockyard.entities.dataset import (
    Dataset,
    DatasetCheck,
    DatasetInput,
    DatasetVersion,
    NewDatasetVersion,
    check_new_version,
    validate_context,
    validate_dataset_name,
)
from dockyard.entities.deployment import (
    Deployment,
    DeploymentEvent,
    DeploymentSpec,
    check_deployment_name,
    check_deployment_spec,
)
from dockyard.entities.identity import (
    ApiToken,
    NewToken,
    RoleBinding,
    User,
    check_kind,
    check_lifetime,
    check_role,
    check_scope,
    check_token_id,
    check_token_name,
    check_user_name,
    looks_like_secret,
)
from dockyard.entities.monitoring import (
    check_alert,
    check_alert_event,
    check_alert_states,
    check_label_times,
    check_labels,
    check_monitor_spec,
    check_monitor_values,
    check_prediction_id,
)
from dockyard.entities.registry import (
    check_model_policy,
    check_new_validation,
    check_override_reason,
)
from dockyard.entities.approval import (
    ApprovalCheck,
    ApprovalRequest,
    check_comment,
    check_request_id,
    check_status,
    check_target,
)
from dockyard.errors import (
    ApprovalPending,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from dockyard.store.base import MetadataStore
from dockyard.store.http import AUTHORIZATION_HEADER, HttpSession
from dockyard.store.identity import UNAUTHENTICATED_MESSAGE

_GROUND_TRUTH_PAGE = 10_000
_VALUE_LIST = TypeAdapter(list[MonitorValue])


def _q(resource_id: str) -> str:
    """An id as one path segment: no id can reach another route."""
    return quote(str(resource_id), safe="")


def _id(kind: str, resource_id: str) -> str:
    """An id as a path segment; an empty one names nothing (NotFound, as in the SQL store)."""
    if not isinstance(resource_id, str) or not resource_id:
        raise NotFound(f"{kind} {resource_id!r} does not exist")
    return _q(resource_id)


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: val for k, val in d.items() if val is not None}


class RestMetadataStore(MetadataStore):
    """Talks to ``dockyard server`` at ``http(s)://host:port``."""

    def __init__(self, uri: str, user: str | None = None, timeout: float = 30.0,
                 token: str | None = None) -> None:
        self.uri = uri
        self.http = HttpSession(uri, user=user, timeout=timeout, token=token)

    def close(self) -> None:
        self.http.close()

    def _get(self, path: str, **params: Any) -> bytes:
        return self.http.request("GET", path, params=_drop_none(params)).content

    # projects
    def create_project(self, name: str, description: str = "") -> Project:
        r = self.http.request("POST", "/projects", json={"name": name, "description": description})
        return Project.model_validate_json(r.content)

    def get_project(self, project_id: str) -> Project:
        return Project.model_validate_json(self._get(f"/projects/{_q(project_id)}"))

    def get_project_by_name(self, name: str) -> Project:
        return Project.model_validate_json(self._get("/projects:by-name", name=name))

    def list_projects(self) -> list[Project]:
        return ProjectPage.model_validate_json(self._get("/projects")).items

    # experiments
    def create_experiment(self, name: str, project_id: str | None = None, description: str = "",
                          tags: dict[str, str] | None = None) -> Experiment:
        body = {"name": name, "project_id": project_id, "description": description, "tags": tags or {}}
        r = self.http.request("POST", "/experiments", json=body)
        return Experiment.model_validate_json(r.content)

    def get_experiment(self, experiment_id: str) -> Experiment:
        return Experiment.model_validate_json(self._get(f"/experiments/{_q(experiment_id)}"))

    def get_experiment_by_name(self, name: str, project_id: str | None = None) -> Experiment:
        return Experiment.model_validate_json(
            self._get("/experiments:by-name", name=name, project_id=project_id))

    def search_experiments(self, project_id: str | None = None, name_like: str | None = None,
                           max_results: int = 1000, page_token: str | None = None) -> Page[Experiment]:
        return ExperimentPage.model_validate_json(self._get(
            "/experiments", project_id=project_id, name_like=name_like, max_results=max_results,
            page_token=page_token))

    def update_experiment(self, experiment_id: str, name: str | None = None,
                          description: str | None = None,
                          tags: dict[str, str] | None = None) -> Experiment:
        body = _drop_none({"name": name, "description": description, "tags": tags})
        r = self.http.request("PATCH", f"/experiments/{_q(experiment_id)}", json=body)
        return Experiment.model_validate_json(r.content)

    # runs
    def create_run(self, experiment_id: str, name: str | None = None, start_time: int | None = None,
                   parent_id: str | None = None, tags: dict[str, str] | None = None,
                   source: RunSource | None = None, run_id: str | None = None) -> Run:
        body = _drop_none({
            "experiment_id": experiment_id, "id": run_id, "name": name, "start_time": start_time,
            "parent_id": parent_id, "tags": tags,
            "source": source.model_dump() if source else None,
        })
        return Run.model_validate_json(self.http.request("POST", "/runs", json=body).content)

    def get_run(self, run_id: str) -> Run:
        return Run.model_validate_json(self._get(f"/runs/{_q(run_id)}"))

    def update_run(self, run_id: str, status: RunStatus | None = None, end_time: int | None = None,
                   name: str | None = None) -> Run:
        body = _drop_none({"status": status.value if isinstance(status, RunStatus) else status,
                           "end_time": end_time, "name": name})
        return Run.model_validate_json(self.http.request("PATCH", f"/runs/{_q(run_id)}", json=body).content)

    def log_batch(self, batch: Batch) -> BatchResult:
        content = batch.model_dump_json(exclude={"run_id"}, exclude_none=True)
        r = self.http.request("POST", f"/runs/{_q(batch.run_id)}/batch", content=content,
                              headers={"Content-Type": "application/json"})
        return BatchResult.model_validate_json(r.content)

    def get_metric_history(self, run_id: str, key: str, max_points: int | None = None) -> MetricHistory:
        return MetricHistory.model_validate_json(
            self._get(f"/runs/{_q(run_id)}/metric-history", key=key, max_points=max_points))

    def search_runs(self, experiment_ids: Sequence[str], filter: str | None = None,
                    order_by: Sequence[str] | None = None, max_results: int = 1000,
                    page_token: str | None = None) -> Page[Run]:
        if isinstance(experiment_ids, str):
            experiment_ids = [experiment_ids]
        body = _drop_none({"experiment_ids": list(experiment_ids), "filter": filter,
                           "order_by": list(order_by) if order_by else None,
                           "max_results": max_results, "page_token": page_token})
        return RunPage.model_validate_json(self.http.request("POST", "/runs:search", json=body).content)

    # audit
    def record_audit_event(self, event: AuditEvent) -> AuditEvent:
        # Audit events are written by the server itself for every change it makes.
        raise PermissionDenied("audit events are recorded by the server; clients cannot write them")

    def search_audit_events(self, resource_type: str | None = None, resource_id: str | None = None,
                            actor: str | None = None, since: int | None = None,
                            until: int | None = None, max_results: int = 1000,
                            after_id: int | None = None,
                            newest_first: bool = False) -> list[AuditEvent]:
        return AuditEventPage.model_validate_json(self._get(
            "/audit-events", resource_type=resource_type, resource_id=resource_id, actor=actor,
            since=since, until=until, max_results=max_results, after_id=after_id,
            newest_first=newest_first or None)).items

    # ground truth
    def log_ground_truth(self, prediction_ids: Sequence[str], labels: Sequence[Any],
                         label_time: int | Sequence[int] | None = None,
                         replace: bool = False) -> GroundTruthReport:
        """As the SQL store; the server also reports ids missing from its prediction log."""
        pairs = check_labels(prediction_ids, labels)
        body: dict[str, Any] = {"prediction_ids": [p for p, _ in pairs],
                                "labels": [label for _, label in pairs], "replace": replace}
        if label_time is not None:
            times = check_label_times(label_time, len(pairs), 0)
            body["label_time"] = times if len(set(times)) > 1 else times[0]
        return GroundTruthReport.model_validate_json(
            self.http.request("POST", "/ground-truth", json=body).content)

    def get_ground_truth(self, prediction_ids: Sequence[str]) -> list[GroundTruth]:
        if isinstance(prediction_ids, str):
            prediction_ids = [prediction_ids]
        ids = [check_prediction_id(pid) for pid in prediction_ids]
        found: list[GroundTruth] = []
        for start in range(0, len(ids), _GROUND_TRUTH_PAGE):
            found.extend(Page[GroundTruth].model_validate_json(self.http.request(
                "POST", "/ground-truth/search",
                json={"prediction_ids": ids[start:start + _GROUND_TRUTH_PAGE]}).content).items)
        return found

    # registry
    # Names, versions and aliases are checked here as well: each must be one path segment.
    @staticmethod
    def _model(name: str) -> str:
        return f"/registered-models/{_q(v.validate_model_name(name))}"

    def _version(self, name: str, version: int) -> str:
        return f"{self._model(name)}/versions/{v.validate_version(version)}"

    def _alias(self, name: str, alias: str) -> str:
        return f"{self._model(name)}/aliases/{v.validate_alias(alias)}"

    def create_registered_model(self, name: str, description: str = "",
                                tags: dict[str, str] | None = None, owner: str = "",
                                task: str = "") -> RegisteredModel:
        body = {"name": name, "description": description, "tags": tags or {}, "owner": owner,
                "task": task}
        r = self.http.request("POST", "/registered-models", json=body)
        return RegisteredModel.model_validate_json(r.content)

    def get_registered_model(self, name: str) -> RegisteredModel:
        return RegisteredModel.model_validate_json(self._get(self._model(name)))

    def search_registered_models(self, name_like: str | None = None, max_results: int = 1000,
                                 page_token: str | None = None) -> Page[RegisteredModel]:
        return RegisteredModelPage.model_validate_json(self._get(
            "/registered-models", name_like=name_like, max_results=max_results,
            page_token=page_token))

    def update_registered_model(self, name: str, description: str | None = None,
                                tags: dict[str, str] | None = None, owner: str | None = None,
                                task: str | None = None) -> RegisteredModel:
        body = _drop_none({"description": description, "tags": tags, "owner": owner, "task": task})
        r = self.http.request("PATCH", self._model(name), json=body)
        return RegisteredModel.model_validate_json(r.content)

    def delete_registered_model(self, name: str) -> RegisteredModel:
        return RegisteredModel.model_validate_json(
            self.http.request("DELETE", self._model(name)).content)

    def set_model_policy(self, name: str, policy: dict[str, Any] | None,
                         policy_digest: str | None,
                         protected_aliases: list[str]) -> RegisteredModel:
        doc, digest, protected = check_model_policy(policy, policy_digest, protected_aliases)
        body = {"policy": doc, "policy_digest": digest, "protected_aliases": protected}
        r = self.http.request("PUT", f"{self._model(name)}/policy", json=body)
        return RegisteredModel.model_validate_json(r.content)

    def record_validation(self, name: str, version: int, validation: NewModelValidation,
                          user: str = "") -> ModelValidation:
        body = check_new_validation(validation).model_dump(mode="json")
        r = self.http.request("POST", f"{self._version(name, version)}/validations", json=body)
        return ModelValidation.model_validate_json(r.content)

    def list_validations(self, name: str, version: int | None = None,
                         max_results: int = 100) -> list[ModelValidation]:
        number = None if version is None else v.validate_version(version)
        return Page[ModelValidation].model_validate_json(self._get(
            f"{self._model(name)}/validations", version=number,
            max_results=max_results)).items

    def create_model_version(self, name: str, source: str, package_digest: str | None = None,
                             signature: dict[str, Any] | None = None, description: str = "",
                             tags: dict[str, str] | None = None, card: str = "") -> ModelVersion:
        v.validate_signature(signature)  # InvalidArgument here, not a TypeError from the encoder
        body = _drop_none({"source": source, "package_digest": package_digest,
                           "signature": signature, "description": description,
                           "tags": tags or {}, "card": card})
        r = self.http.request("POST", f"{self._model(name)}/versions", json=body)
        return ModelVersion.model_validate_json(r.content)

    def get_model_version(self, name: str, version: int) -> ModelVersion:
        return ModelVersion.model_validate_json(self._get(self._version(name, version)))

    def search_model_versions(self, name: str | None = None, run_id: str | None = None,
                              stage: ModelStage | str | None = None, max_results: int = 1000,
                              page_token: str | None = None) -> Page[ModelVersion]:
        return ModelVersionPage.model_validate_json(self._get(
            "/model-versions", name=name, run_id=run_id,
            stage=stage.value if isinstance(stage, ModelStage) else stage,
            max_results=max_results, page_token=page_token))

    def update_model_version(self, name: str, version: int, description: str | None = None,
                             tags: dict[str, str] | None = None,
                             card: str | None = None) -> ModelVersion:
        body = _drop_none({"description": description, "tags": tags, "card": card})
        r = self.http.request("PATCH", self._version(name, version), json=body)
        return ModelVersion.model_validate_json(r.content)

    def delete_model_version(self, name: str, version: int) -> ModelVersion:
        return ModelVersion.model_validate_json(
            self.http.request("DELETE", self._version(name, version)).content)

    def set_alias(self, name: str, alias: str, version: int, override_reason: str | None = None,
                  user: str = "") -> AliasChange:
        reason = check_override_reason(override_reason)
        r = self.http.request("PUT", self._alias(name, alias),
                              json=_drop_none({"version": version, "override_reason": reason}))
        _raise_if_pending(r.status_code, r.content)
        return AliasChange.model_validate_json(r.content)

    def delete_alias(self, name: str, alias: str) -> AliasChange:
        r = self.http.request("DELETE", self._alias(name, alias))
        return AliasChange.model_validate_json(r.content)

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        return ModelVersion.model_validate_json(self._get(self._alias(name, alias)))

    def transition_stage(self, name: str, version: int, stage: ModelStage | str,
                         archive_existing: bool = False, override_reason: str | None = None,
                         user: str = "") -> StageTransition:
        reason = check_override_reason(override_reason)
        body = {"stage": stage.value if isinstance(stage, ModelStage) else stage,
                "archive_existing": archive_existing,
                **({} if reason is None else {"override_reason": reason})}
        r = self.http.request("POST", f"{self._version(name, version)}:transition", json=body)
        _raise_if_pending(r.status_code, r.content)
        return StageTransition.model_validate_json(r.content)

    # monitors
    # Specs, values, alerts and events are checked here too: a non-finite number cannot
    # travel as JSON, and a bad call fails with the same message as on the SQL store.
    def create_monitor(self, spec: MonitorSpec) -> Monitor:
        body = check_monitor_spec(spec).model_dump(mode="json")
        return Monitor.model_validate_json(
            self.http.request("POST", "/monitors", json=body).content)

    def get_monitor(self, monitor_id: str) -> Monitor:
        return Monitor.model_validate_json(self._get(f"/monitors/{_id('monitor', monitor_id)}"))

    def get_monitor_by_name(self, name: str) -> Monitor:
        return Monitor.model_validate_json(self._get("/monitors:by-name", name=name))

    def list_monitors(self, model_name: str | None = None,
                      deployment: str | None = None) -> list[Monitor]:
        return Page[Monitor].model_validate_json(self._get(
            "/monitors", model_name=model_name, deployment=deployment)).items

    def update_monitor(self, monitor_id: str, spec: MonitorSpec) -> Monitor:
        body = check_monitor_spec(spec).model_dump(mode="json")
        return Monitor.model_validate_json(self.http.request(
            "PUT", f"/monitors/{_id('monitor', monitor_id)}", json=body).content)

    def set_monitor_run(self, monitor_id: str, time: int) -> None:
        self.http.request("POST", f"/monitors/{_id('monitor', monitor_id)}/last-run",
                          json={"time": v.int64("time", time)})

    def delete_monitor(self, monitor_id: str) -> Monitor:
        return Monitor.model_validate_json(self.http.request(
            "DELETE", f"/monitors/{_id('monitor', monitor_id)}").content)

    def log_monitor_values(self, values: Sequence[MonitorValue]) -> int:
        """As the SQL store, with one request per monitor.

        A call with the values of several monitors first checks that each
        exists; each monitor's values are then written atomically.
        """
        by_monitor: dict[str, dict[tuple[Any, ...], MonitorValue]] = {}
        for val in check_monitor_values(values):
            key = (val.window_start, val.metric, val.feature, val.cohort)
            by_monitor.setdefault(val.monitor_id, {})[key] = val
        if len(by_monitor) > 1:
            for monitor_id in by_monitor:
                self.get_monitor(monitor_id)
        written = 0
        for monitor_id, keyed in by_monitor.items():
            body = _VALUE_LIST.dump_json(list(keyed.values()))
            r = self.http.request("POST", f"/monitors/{_id('monitor', monitor_id)}/values",
                                  content=body, headers={"Content-Type": "application/json"})
            written += int(r.json()["written"])
        return written

    def get_monitor_values(self, monitor_id: str, since: int | None = None,
                           until: int | None = None, metric: str | None = None,
                           feature: str | None = None,
                           cohort: str | None = None) -> list[MonitorValue]:
        return Page[MonitorValue].model_validate_json(self._get(
            f"/monitors/{_id('monitor', monitor_id)}/values", since=since, until=until,
            metric=metric, feature=feature, cohort=cohort)).items

    # alerts
    def save_alert(self, alert: Alert) -> Alert:
        check_alert(alert)
        return Alert.model_validate_json(self.http.request(
            "PUT", f"/alerts/{_q(alert.id)}", content=alert.model_dump_json(),
            headers={"Content-Type": "application/json"}).content)

    def get_alert(self, alert_id: str) -> Alert:
        return Alert.model_validate_json(self._get(f"/alerts/{_id('alert', alert_id)}"))

    def list_alerts(self, monitor_id: str | None = None, states: Sequence[str] | None = None,
                    max_results: int = 1000) -> list[Alert]:
        params = _drop_none({"monitor_id": monitor_id, "max_results": max_results})
        params["state"] = check_alert_states(states)
        return Page[Alert].model_validate_json(
            self.http.request("GET", "/alerts", params=params).content).items

    def record_alert_event(self, event: AlertEvent) -> AlertEvent:
        check_alert_event(event)
        return AlertEvent.model_validate_json(self.http.request(
            "POST", f"/alerts/{_q(event.alert_id)}/events", content=event.model_dump_json(),
            headers={"Content-Type": "application/json"}).content)

    def list_alert_events(self, alert_id: str) -> list[AlertEvent]:
        return Page[AlertEvent].model_validate_json(
            self._get(f"/alerts/{_id('alert', alert_id)}/events")).items

    # deployments
    def create_deployment(self, spec: DeploymentSpec, user: str = "") -> Deployment:
        body = check_deployment_spec(spec).model_dump(mode="json")
        return Deployment.model_validate_json(
            self.http.request("POST", "/deployments", json=body).content)

    def get_deployment(self, name: str) -> Deployment:
        return Deployment.model_validate_json(self._get(f"/deployments/{_deployment(name)}"))

    def list_deployments(self, environment: str | None = None,
                         model_name: str | None = None) -> list[Deployment]:
        return Page[Deployment].model_validate_json(self._get(
            "/deployments", environment=environment, model_name=model_name)).items

    def update_deployment(self, spec: DeploymentSpec, *, action: str = "update",
                          message: str = "", user: str = "",
                          expected_revision: int | None = None) -> Deployment:
        body = {"spec": check_deployment_spec(spec).model_dump(mode="json"), "action": action,
                "message": message, "expected_revision": expected_revision}
        return Deployment.model_validate_json(self.http.request(
            "PUT", f"/deployments/{_deployment(spec.name)}", json=body).content)

    def set_deployment_status(self, name: str, status: str, message: str = "", *,
                              observed_revision: int | None = None,
                              endpoint: str | None = None) -> Deployment:
        body = {"status": status, "message": message, "observed_revision": observed_revision,
                "endpoint": endpoint}
        return Deployment.model_validate_json(self.http.request(
            "POST", f"/deployments/{_deployment(name)}/status", json=body).content)

    def get_deployment_history(self, name: str,
                               max_results: int = 100) -> list[DeploymentEvent]:
        return Page[DeploymentEvent].model_validate_json(self._get(
            f"/deployments/{_deployment(name)}/history", max_results=max_results)).items

    def delete_deployment(self, name: str) -> Deployment:
        return Deployment.model_validate_json(self.http.request(
            "DELETE", f"/deployments/{_deployment(name)}").content)

    # datasets
    def create_dataset_version(self, new: NewDatasetVersion, user: str = "") -> DatasetVersion:
        check_new_version(new)
        return DatasetVersion.model_validate_json(self.http.request(
            "POST", "/datasets/versions", json=new.model_dump(mode="json")).content)

    def get_dataset(self, name: str) -> Dataset:
        return Dataset.model_validate_json(self._get(f"/datasets/{_dataset(name)}"))

    def list_datasets(self, name_like: str | None = None,
                      max_results: int = 1000) -> list[Dataset]:
        return Page[Dataset].model_validate_json(self._get(
            "/datasets", name_like=name_like, max_results=max_results)).items

    def get_dataset_version(self, name: str, version: int | None = None) -> DatasetVersion:
        number = "latest" if version is None else str(v.validate_version(version))
        return DatasetVersion.model_validate_json(self._get(
            f"/datasets/{_dataset(name)}/versions/{number}"))

    def find_dataset_version(self, name: str, digest: str) -> DatasetVersion | None:
        found = Page[DatasetVersion].model_validate_json(self._get(
            f"/datasets/{_dataset(name)}/versions:by-digest", digest=digest)).items
        return found[0] if found else None

    def list_dataset_versions(self, name: str, max_results: int = 1000) -> list[DatasetVersion]:
        return Page[DatasetVersion].model_validate_json(self._get(
            f"/datasets/{_dataset(name)}/versions", max_results=max_results)).items

    def log_dataset_input(self, run_id: str, name: str, version: int,
                          context: str = "training") -> DatasetInput:
        body = {"name": validate_dataset_name(name), "version": v.validate_version(version),
                "context": validate_context(context)}
        return DatasetInput.model_validate_json(self.http.request(
            "POST", f"/runs/{_id('run', run_id)}/inputs", json=body).content)

    def list_run_inputs(self, run_id: str) -> list[DatasetInput]:
        return Page[DatasetInput].model_validate_json(
            self._get(f"/runs/{_id('run', run_id)}/inputs")).items

    def list_dataset_runs(self, name: str, version: int | None = None) -> list[DatasetInput]:
        return Page[DatasetInput].model_validate_json(self._get(
            f"/datasets/{_dataset(name)}/runs",
            version=None if version is None else v.validate_version(version))).items

    def save_dataset_check(self, check: DatasetCheck, user: str = "") -> DatasetCheck:
        path = f"/datasets/{_dataset(check.name)}/versions/{v.validate_version(check.version)}"
        return DatasetCheck.model_validate_json(self.http.request(
            "POST", f"{path}/checks", json=check.model_dump(mode="json")).content)

    def list_dataset_checks(self, name: str, version: int,
                            max_results: int = 100) -> list[DatasetCheck]:
        path = f"/datasets/{_dataset(name)}/versions/{v.validate_version(version)}"
        return Page[DatasetCheck].model_validate_json(
            self._get(f"{path}/checks", max_results=max_results)).items


    # users and API tokens
    # Names and ids are checked here as on the SQL store: each must be one path segment.
    def create_user(self, name: str, kind: str = "user", display_name: str = "") -> User:
        body = {"name": check_user_name(name), "kind": check_kind(kind),
                "display_name": display_name}
        return User.model_validate_json(self.http.request("POST", "/users", json=body).content)

    def get_user(self, name: str) -> User:
        return User.model_validate_json(self._get(f"/users/{_q(check_user_name(name))}"))

    def list_users(self) -> list[User]:
        return Page[User].model_validate_json(self._get("/users")).items

    def set_user_disabled(self, name: str, disabled: bool = True) -> User:
        if not isinstance(disabled, bool):
            raise InvalidArgument(f"disabled must be true or false, got {disabled!r:.40}")
        return User.model_validate_json(self.http.request(
            "PATCH", f"/users/{_q(check_user_name(name))}", json={"disabled": disabled}).content)

    def create_token(self, user: str, name: str = "",
                     expires_in_seconds: float | None = None) -> NewToken:
        body = {"user": check_user_name(user), "name": check_token_name(name),
                "expires_in_seconds": check_lifetime(expires_in_seconds)}
        return NewToken.model_validate_json(
            self.http.request("POST", "/tokens", json=body).content)

    def list_tokens(self, user: str | None = None) -> list[ApiToken]:
        if user is not None:
            check_user_name(user)
        return Page[ApiToken].model_validate_json(self._get("/tokens", user=user)).items

    def revoke_token(self, token_id: str) -> ApiToken:
        return ApiToken.model_validate_json(self.http.request(
            "POST", f"/tokens/{check_token_id(token_id)}/revoke").content)

    def authenticate(self, secret: str) -> User:
        if not looks_like_secret(secret):
            raise Unauthenticated(UNAUTHENTICATED_MESSAGE)
        response = self.http.request(
            "GET", "/whoami", headers={AUTHORIZATION_HEADER: f"Bearer {secret}"})
        return User.model_validate_json(response.content)

    # approval requests
    def create_approval_request(self, model: str, version: int, target: str, author: str,
                                comment: str = "",
                                archive_existing: bool = False) -> ApprovalRequest:
        body = {"model": v.validate_model_name(model), "version": v.validate_version(version),
                "target": check_target(target), "comment": check_comment(comment),
                "archive_existing": archive_existing}
        return ApprovalRequest.model_validate_json(
            self.http.request("POST", "/approval-requests", json=body).content)

    def get_approval_request(self, request_id: str) -> ApprovalRequest:
        return ApprovalRequest.model_validate_json(
            self._get(f"/approval-requests/{check_request_id(request_id)}"))

    def list_approval_requests(self, model: str | None = None, status: str | None = None,
                               max_results: int = 100) -> list[ApprovalRequest]:
        return Page[ApprovalRequest].model_validate_json(self._get(
            "/approval-requests",
            model=None if model is None else v.validate_model_name(model),
            status=None if status is None else check_status(status),
            max_results=max_results)).items

    def decide_approval_request(self, request_id: str, status: str, decided_by: str,
                                comment: str = "",
                                checks: list[ApprovalCheck] | None = None) -> ApprovalRequest:
        if status not in ("approved", "rejected"):
            raise InvalidArgument(f"a decision is approved or rejected, not {status!r:.40}")
        verb = "approve" if status == "approved" else "reject"
        return ApprovalRequest.model_validate_json(self.http.request(
            "POST", f"/approval-requests/{check_request_id(request_id)}:{verb}",
            json={"comment": check_comment(comment)}).content)

    def record_approval_checks(self, request_id: str,
                               checks: list[ApprovalCheck]) -> ApprovalRequest:
        raise PermissionDenied("a server evaluates an approval's checks itself, when an "
                               "approver approves it")

    def grant_role(self, user: str, role: str, scope: str = "*", *,
                   granted_by: str = "") -> RoleBinding:
        body = {"scope": check_scope(scope), "role": check_role(role)}
        return RoleBinding.model_validate_json(self.http.request(
            "PUT", f"/users/{_q(check_user_name(user))}/roles", json=body).content)

    def revoke_role(self, user: str, scope: str = "*") -> None:
        self.http.request("DELETE", f"/users/{_q(check_user_name(user))}/roles",
                          params={"scope": check_scope(scope)})

    def list_roles(self, user: str | None = None, scope: str | None = None) -> list[RoleBinding]:
        return Page[RoleBinding].model_validate_json(self._get(
            "/roles", user=None if user is None else check_user_name(user),
            scope=None if scope is None else check_scope(scope))).items

def _raise_if_pending(status: int, content: bytes) -> None:
    """A 202 answer: the server opened an approval request instead of making the change."""
    if status == 202:
        found = ApprovalRequest.model_validate_json(content)
        raise ApprovalPending(
            f"moving {found.model} version {found.version} to {found.target} needs an "
            f"approval: request {found.id} is open, and an approver other than you decides it "
            "(dockyard approvals list)", request_id=found.id)


def _dataset(name: str) -> str:
    return _q(validate_dataset_name(name))


def _deployment(name: str) -> str:
    """A deployment name as a path segment, checked as the SQL store checks it."""
    return _q(check_deployment_name(name))
