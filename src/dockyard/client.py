"""The object API: every entity, get/search/create/update, local or remote.

``Client()`` uses ``DOCKYARD_URI`` (the embedded SQLite store by default);
``Client("http://host:5000")`` talks to a server. The fluent API, the CLI
and the server itself are all built on this class.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import logging
import math
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import orjson

from dockyard.config import get_settings, is_http_uri
from dockyard.entities import (
    Alert,
    AlertEvent,
    AliasChange,
    AuditEvent,
    Batch,
    BatchResult,
    Experiment,
    FileInfo,
    GroundTruth,
    GroundTruthReport,
    LineageGraph,
    Metric,
    MetricHistory,
    ModelStage,
    ModelValidation,
    ModelVersion,
    Monitor,
    MonitorSpec,
    MonitorValue,
    NewModelValidation,
    Page,
    Param,
    Project,
    RegisteredModel,
    ResolvedModel,
    Run,
    RunSource,
    RunStatus,
    RunTag,
    StageTransition,
    now_ms,
)
from dockyard.entities import validation as v
from dockyard.entities.dataset import (
    DatasetInput,
    DatasetVersion,
    parse_dataset_spec,
    validate_dataset_name,
)
from dockyard.entities.monitoring import check_monitor_spec
from dockyard.errors import (
    AlreadyExists,
    DockyardError,
    InvalidArgument,
    InvalidState,
    NotFound,
    StoreError,
)
from dockyard.manage.lineage import lineage
from dockyard.manage.uris import resolve_model_uri
from dockyard.store import MetadataStore, open_metadata_store
from dockyard.store.artifacts import ArtifactStore, artifact_store_for
from dockyard.store.artifacts.base import Progress, ScopedArtifactStore

if TYPE_CHECKING:
    from dockyard.manage.packages import ModelInfo
    from dockyard.models import LoadedModel
    from dockyard.monitor.predictions import PredictionStore
    from dockyard.validation.policy import Policy


log = logging.getLogger("dockyard.client")


class Client:
    """Read and write the Dockyard record.

    Args:
        uri: ``sqlite:///path.db``, ``postgresql://...`` or ``http(s)://host:port``.
            Defaults to ``DOCKYARD_URI`` or the embedded store under ``DOCKYARD_HOME``.
        artifacts: artifact root for a local store (folder or ``s3://bucket/prefix``).
            Ignored for a server, which proxies its own.
        store, artifact_store: ready-made backends (the server passes its own).
    """

    def __init__(
        self,
        uri: str | None = None,
        artifacts: str | None = None,
        *,
        store: MetadataStore | None = None,
        artifact_store: ArtifactStore | None = None,
    ) -> None:
        settings = get_settings()
        self.uri = uri or getattr(store, "uri", None) or settings.uri
        self.user = settings.user
        self.store = store or open_metadata_store(
            self.uri, user=settings.user, timeout=settings.http_timeout, token=settings.token
        )
        self.is_remote = is_http_uri(self.uri)
        self._artifact_store = artifact_store
        self._artifact_root = artifacts or settings.artifacts

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # projects -----------------------------------------------------------------
    def create_project(self, name: str, description: str = "") -> Project:
        return self.store.create_project(name, description)

    def get_project(self, project_id: str) -> Project:
        return self.store.get_project(project_id)

    def get_project_by_name(self, name: str) -> Project:
        return self.store.get_project_by_name(name)

    def list_projects(self) -> list[Project]:
        return self.store.list_projects()

    def _project_id(self, project: str | None) -> str | None:
        return None if project is None else self.store.get_project_by_name(project).id

    # experiments ------------------------------------------------------------------
    def create_experiment(self, name: str, project: str | None = None, description: str = "",
                          tags: Mapping[str, Any] | None = None) -> Experiment:
        """Create an experiment in ``project`` (by name; the default project when omitted)."""
        return self.store.create_experiment(name, self._project_id(project), description,
                                            dict(tags) if tags else None)

    def get_experiment(self, experiment_id: str) -> Experiment:
        return self.store.get_experiment(experiment_id)

    def get_experiment_by_name(self, name: str, project: str | None = None) -> Experiment:
        return self.store.get_experiment_by_name(name, self._project_id(project))

    def get_or_create_experiment(self, name: str, project: str | None = None) -> Experiment:
        try:
            return self.get_experiment_by_name(name, project)
        except NotFound:
            try:
                return self.create_experiment(name, project)
            except AlreadyExists:  # created concurrently by someone else
                return self.get_experiment_by_name(name, project)

    def search_experiments(self, project: str | None = None, name_like: str | None = None,
                           max_results: int = 1000, page_token: str | None = None) -> Page[Experiment]:
        return self.store.search_experiments(self._project_id(project), name_like, max_results, page_token)

    def update_experiment(self, experiment_id: str, name: str | None = None,
                          description: str | None = None,
                          tags: Mapping[str, Any] | None = None) -> Experiment:
        return self.store.update_experiment(experiment_id, name, description,
                                            dict(tags) if tags else None)

    # runs -------------------------------------------------------------------------
    def create_run(self, experiment_id: str, name: str | None = None, *,
                   tags: Mapping[str, Any] | None = None, parent_id: str | None = None,
                   source: RunSource | None = None, start_time: int | None = None,
                   run_id: str | None = None) -> Run:
        return self.store.create_run(experiment_id, name, start_time, parent_id,
                                     dict(tags) if tags else None, source, run_id)

    def get_run(self, run_id: str) -> Run:
        return self.store.get_run(run_id)

    def update_run(self, run_id: str, status: RunStatus | str | None = None,
                   end_time: int | None = None, name: str | None = None) -> Run:
        return self.store.update_run(run_id, RunStatus(status) if isinstance(status, str) else status,
                                     end_time, name)

    def set_terminated(self, run_id: str, status: RunStatus | str = RunStatus.FINISHED,
                       end_time: int | None = None) -> Run:
        return self.update_run(run_id, status, end_time or now_ms())

    def log_batch(self, run_id: str, metrics: Iterable[Metric] = (), params: Iterable[Param] = (),
                  tags: Iterable[RunTag] = (), batch_id: str | None = None) -> BatchResult:
        """Write metrics, params and tags in one request and one transaction."""
        return self.store.log_batch(Batch(run_id=run_id, metrics=list(metrics), params=list(params),
                                          tags=list(tags), batch_id=batch_id or uuid.uuid4().hex))

    def log_metric(self, run_id: str, key: str, value: float, step: int = 0,
                   timestamp: int | None = None) -> None:
        metric = Metric(key=v.validate_key("metric", key), value=v.metric_value(key, value),
                        step=v.int64("step", step), timestamp=timestamp or now_ms())
        self.log_batch(run_id, metrics=[metric])

    def log_param(self, run_id: str, key: str, value: Any) -> None:
        self.log_batch(run_id, params=[Param(key=v.validate_key("param", key),
                                             value=v.param_value(key, value))])

    def set_tag(self, run_id: str, key: str, value: Any) -> None:
        self.log_batch(run_id, tags=[RunTag(key=v.validate_key("tag", key),
                                            value=v.tag_value(key, value))])

    def get_metric_history(self, run_id: str, key: str, max_points: int | None = None) -> MetricHistory:
        """A metric's points in step order; with ``max_points`` (4 to 1,000,000), at most that many.

        A longer history is thinned to the lowest and the highest point of
        each of a number of equal buckets (spikes survive), and its full
        length is in ``sampled_from``.
        """
        return self.store.get_metric_history(run_id, key, max_points)

    def search_runs(self, experiment_ids: str | Sequence[str], filter: str | None = None,
                    order_by: Sequence[str] | str | None = None, max_results: int = 1000,
                    page_token: str | None = None) -> Page[Run]:
        """One page of runs; see :mod:`dockyard.store.search` for the filter grammar."""
        ids = [experiment_ids] if isinstance(experiment_ids, str) else list(experiment_ids)
        order = [order_by] if isinstance(order_by, str) else order_by
        return self.store.search_runs(ids, filter, order, max_results, page_token)

    def search_all_runs(self, experiment_ids: str | Sequence[str], filter: str | None = None,
                        order_by: Sequence[str] | str | None = None) -> Iterator[Run]:
        """Every matching run, following page tokens."""
        token = None
        while True:
            page = self.search_runs(experiment_ids, filter, order_by, 1000, token)
            yield from page.items
            if not page.next_page_token:
                return
            token = page.next_page_token

    # artifacts ----------------------------------------------------------------------
    def artifact_store(self) -> ArtifactStore:
        """The store below every run's folder (local mode only)."""
        if self._artifact_store is None:
            self._artifact_store = artifact_store_for(self._artifact_root)
        return self._artifact_store

    def run_artifacts(self, run: Run | str) -> ArtifactStore:
        """A store rooted at one run's artifact folder."""
        if self.is_remote:
            from dockyard.store.artifacts.http import HttpArtifactStore

            run_id = run if isinstance(run, str) else run.id
            return HttpArtifactStore(self.store.http, f"/runs/{quote(run_id, safe='')}/artifacts")  # type: ignore[attr-defined]
        run = self.get_run(run) if isinstance(run, str) else run
        return ScopedArtifactStore(self.artifact_store(), run.artifact_location)

    def writable_artifacts(self, run_id: str) -> ArtifactStore:
        """The run's artifact store, after checking the run may still change (RUNNING)."""
        if self.is_remote:  # the server checks the run's state
            return self.run_artifacts(run_id)
        run = self.get_run(run_id)
        if run.status.is_terminal:
            raise InvalidState(f"run {run_id} is {run.status.value}; its artifacts can no longer change")
        return self.run_artifacts(run)

    def log_artifact(self, run_id: str, local_path: str | Path, artifact_path: str | None = None,
                     progress: Progress | None = None) -> str:
        """Upload one file into the run's artifacts (under ``artifact_path`` if given).

        Returns the artifact's path relative to the run.
        """
        local = Path(local_path)
        if not local.is_file():
            raise InvalidArgument(f"{local} is not a file; use log_artifacts for a folder")
        dest = _join(artifact_path, local.name)
        self.writable_artifacts(run_id).put_file(local, dest, progress)
        return dest

    def log_artifacts(self, run_id: str, local_dir: str | Path, artifact_path: str | None = None,
                      progress: Progress | None = None) -> list[str]:
        """Upload every file below a folder, keeping the layout."""
        root = Path(local_dir)
        if not root.is_dir():
            raise InvalidArgument(f"{root} is not a folder")
        store = self.writable_artifacts(run_id)
        written = []
        for file in sorted(p for p in root.rglob("*") if p.is_file()):
            rel = file.relative_to(root).as_posix()
            dest = _join(artifact_path, rel)
            store.put_file(file, dest, progress)
            written.append(dest)
        return written

    def list_artifacts(self, run_id: str, path: str = "") -> list[FileInfo]:
        return self.run_artifacts(run_id).list(v.validate_artifact_path(path, allow_root=True))

    def iter_artifact(self, run_id: str, path: str) -> Iterator[bytes]:
        return self.run_artifacts(run_id).iter_bytes(v.validate_artifact_path(path))

    def download_artifacts(self, run_id: str, path: str = "", dst_path: str | Path | None = None,
                           progress: Progress | None = None) -> Path:
        """Download a file or a folder of a run's artifacts; returns the local path."""
        path = v.validate_artifact_path(path, allow_root=True)
        store = self.run_artifacts(run_id)
        dst = Path(dst_path or ".").absolute()
        if path and store.exists(path):
            return store.get_file(path, dst / Path(path).name, progress)
        files = list(store.walk(path))
        if not files and path:
            raise NotFound(f"run {run_id} has no artifact {path!r}")
        base = dst / Path(path).name if path else dst
        for info in files:
            rel = info.path[len(path) + 1 :] if path else info.path
            store.get_file(info.path, base / rel, progress)
        return base

    # registry ------------------------------------------------------------------------
    def create_registered_model(self, name: str, description: str = "",
                                tags: Mapping[str, Any] | None = None, owner: str | None = None,
                                task: str = "") -> RegisteredModel:
        """Register a model name (at most 200 characters, no ``/`` or ``@``).

        ``owner`` defaults to the current user (``DOCKYARD_USER`` or the OS
        user); ``task`` is free text such as ``classification``. Raises
        AlreadyExists if the name is taken.
        """
        return self.store.create_registered_model(
            name, description, dict(tags) if tags else None,
            self.user if owner is None else owner, task)

    def get_registered_model(self, name: str) -> RegisteredModel:
        """A model with its tags, aliases and latest version number. Raises NotFound."""
        return self.store.get_registered_model(name)

    def search_registered_models(self, name_like: str | None = None, max_results: int = 1000,
                                 page_token: str | None = None) -> Page[RegisteredModel]:
        """One page of models by name; ``name_like`` is a SQL LIKE pattern."""
        return self.store.search_registered_models(name_like, max_results, page_token)

    def update_registered_model(self, name: str, description: str | None = None,
                                tags: Mapping[str, Any] | None = None, owner: str | None = None,
                                task: str | None = None) -> RegisteredModel:
        """Change the description, owner or task of a model, or merge tags into it."""
        return self.store.update_registered_model(name, description, dict(tags) if tags else None,
                                                  owner, task)

    def delete_registered_model(self, name: str) -> RegisteredModel:
        """Delete a model, its versions and aliases (InvalidState while one is in Production)."""
        return self.store.delete_registered_model(name)

    def create_model_version(self, name: str, source: str, package_digest: str | None = None,
                             signature: Mapping[str, Any] | None = None, description: str = "",
                             tags: Mapping[str, Any] | None = None, card: str = "") -> ModelVersion:
        """Register the package at ``source`` (``runs:/<run_id>/<path>``) as the next version.

        ``package_digest`` is the sha256 hex digest of the package manifest;
        ``card`` is the model card in Markdown. The package fields never change
        afterwards. Raises NotFound for an unknown model or run.
        """
        return self.store.create_model_version(
            name, source, package_digest, dict(signature) if signature is not None else None,
            description, dict(tags) if tags else None, card)

    def register_model(self, source_uri: str, name: str, description: str = "",
                       tags: Mapping[str, Any] | None = None, card: str = "") -> ModelVersion:
        """Register a logged package under ``name`` as a new version, creating the model if needed.

        ``source_uri`` is ``runs:/<run_id>/<path>`` (what :meth:`log_model`
        returns) or any ``models:/`` URI, whose version's package the new
        version shares. The version records the package digest and signature
        read from its manifest. Raises NotFound when no package is there.
        """
        from dockyard.manage.packages import read_logged_manifest

        resolved = self.resolve_model_uri(source_uri)
        manifest, digest = read_logged_manifest(self, resolved)
        # Checked before the model is created, so that a refused version leaves nothing behind.
        v.validate_model_name(name)
        v.validate_description(description)
        v.validate_text("card", card, v.MAX_CARD_LENGTH)
        for key, value in v.check_mapping("tags", tags or {}).items():
            v.validate_key("tag", key)
            v.tag_value(key, value)
        try:
            self.store.get_registered_model(name)
        except NotFound:
            try:
                self.create_registered_model(name)
            except AlreadyExists:  # registered concurrently by someone else
                pass
        return self.create_model_version(name, resolved.source, digest, manifest.signature,
                                         description, tags, card)

    # model packages --------------------------------------------------------------------
    def log_model(self, run_id: str, model: Any, artifact_path: str = "model",
                  **save_options: Any) -> ModelInfo:
        """Save ``model`` as a package into the run's artifacts; returns its ``runs:/`` URI and digest.

        ``save_options`` are those of :func:`dockyard.models.save`
        (``input_example``, ``signature``, ``requirements``, ``flavor`` ...).
        """
        from dockyard.manage.packages import log_model

        return log_model(self, run_id, model, artifact_path, **save_options)

    def download_model(self, uri: str, dst_path: str | Path | None = None) -> Path:
        """Fetch the package a model URI names; into the model cache when ``dst_path`` is None."""
        from dockyard.manage.packages import download_model

        return download_model(self, uri, dst_path)

    def load_model(self, uri: str | Path, *, trust: bool | None = None) -> LoadedModel:
        """Load a model from a ``models:/`` or ``runs:/`` URI, or a local package folder.

        Packages from the record are trusted and pinned to their registered
        digest; a local folder needs ``trust=True`` if its format runs code on load.
        """
        from dockyard.manage.packages import load_model

        return load_model(self, uri, trust=trust)

    def get_model_version(self, name: str, version: int) -> ModelVersion:
        """Raises NotFound."""
        return self.store.get_model_version(name, version)

    def search_model_versions(self, name: str | None = None, run_id: str | None = None,
                              stage: ModelStage | str | None = None, max_results: int = 1000,
                              page_token: str | None = None) -> Page[ModelVersion]:
        """Versions of one model (newest first) or of all, optionally of one run or in one stage."""
        return self.store.search_model_versions(name, run_id, stage, max_results, page_token)

    def update_model_version(self, name: str, version: int, description: str | None = None,
                             tags: Mapping[str, Any] | None = None,
                             card: str | None = None) -> ModelVersion:
        """Change a version's description or Markdown card, or merge tags into it.

        Allowed in every stage; through a server, each edit is recorded in the
        audit trail. The package (source, digest, signature) cannot change.
        """
        return self.store.update_model_version(name, version, description,
                                               dict(tags) if tags else None, card)

    def delete_model_version(self, name: str, version: int) -> ModelVersion:
        """Delete a version and its aliases (InvalidState in Production); no number is reused."""
        return self.store.delete_model_version(name, version)

    def set_alias(self, name: str, alias: str, version: int,
                  override_reason: str | None = None) -> AliasChange:
        """Create or move an alias (``champion``, ``challenger``...) to a version, atomically.

        A protected alias of a model with a policy (:meth:`set_model_policy`)
        needs a passing validation of the version under that policy, else
        ValidationRequired. ``override_reason`` lets the change through anyway;
        the override is recorded in the audit trail with the reason and who gave
        it. (Any caller may override for now; role checks come with governance.)
        """
        return self.store.set_alias(name, alias, version, override_reason, user=self.user)

    def delete_alias(self, name: str, alias: str) -> AliasChange:
        """Remove an alias. Raises NotFound if the model has no such alias."""
        return self.store.delete_alias(name, alias)

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        """The version an alias points at. Raises NotFound."""
        return self.store.get_model_version_by_alias(name, alias)

    def transition_stage(self, name: str, version: int, stage: ModelStage | str,
                         archive_existing: bool = False,
                         override_reason: str | None = None) -> StageTransition:
        """Move a version to None, Staging, Production or Archived.

        With ``archive_existing`` (Staging or Production only), the other
        versions in that stage move to Archived in the same transaction; the
        result lists them in ``archived``. A move to Production is gated like a
        protected alias (see :meth:`set_alias`), ``override_reason`` included.
        """
        return self.store.transition_stage(name, version, stage, archive_existing,
                                           override_reason, user=self.user)

    # validations and the promotion gate ------------------------------------------------
    def set_model_policy(self, name: str,
                         policy: Policy | str | Path | Mapping[str, Any] | Sequence[Any] | None,
                         protected_aliases: Iterable[str] = ("champion",)) -> RegisteredModel:
        """Gate the promotions of model ``name`` by a validation policy; ``None`` clears it.

        ``policy`` is a :class:`~dockyard.validation.policy.Policy`, the path of
        a YAML policy file, or the parsed structure (a list of rules, or a
        mapping with ``rules``). While it is set, moving a version to
        Production, or pointing one of ``protected_aliases`` at it, needs a
        passing validation of that version under this policy (its digest).
        Clearing the policy clears the protected aliases too.
        """
        if policy is None:
            return self.store.set_model_policy(name, None, None, [])
        from dockyard.validation.policy import Policy

        if isinstance(policy, Policy):
            parsed = policy
        elif isinstance(policy, (str, Path)):
            parsed = Policy.load(policy)
        else:
            parsed = Policy.parse(policy)
        if isinstance(protected_aliases, str):
            protected_aliases = [protected_aliases]
        return self.store.set_model_policy(name, parsed.to_dict(), parsed.digest,
                                           list(protected_aliases))

    def record_validation(self, name: str, version: int,
                          validation: NewModelValidation | Mapping[str, Any] | Any,
                          report_uri: str = "") -> ModelValidation:
        """Record a validation of a version: the evidence the promotion gate reads.

        ``validation`` is a :class:`NewModelValidation`, a mapping of its fields,
        or a :class:`~dockyard.validation.results.ValidationReport`: its
        verdict, policy, summary and (finite) metrics are recorded, and
        ``report_uri`` says where the full report is kept.
        """
        if isinstance(validation, NewModelValidation):
            new = validation
        elif isinstance(validation, Mapping):
            try:
                new = NewModelValidation(**validation)
            except ValueError as exc:
                raise InvalidArgument(f"not a validation: {exc}") from None
        elif callable(getattr(validation, "values", None)) and hasattr(validation, "policy"):
            new = _from_report(validation, report_uri)
        else:
            raise InvalidArgument("validation must be a NewModelValidation, a mapping of its "
                                  f"fields or a ValidationReport, got {type(validation).__name__}")
        if report_uri and not new.report_uri:
            new = new.model_copy(update={"report_uri": report_uri})
        return self.store.record_validation(name, version, new, user=self.user)

    def list_validations(self, name: str, version: int | None = None,
                         max_results: int = 100) -> list[ModelValidation]:
        """Validations of one version, or of all the model's versions, newest first."""
        return self.store.list_validations(name, version, max_results)

    def resolve_model_uri(self, uri: str) -> ResolvedModel:
        """The run and artifact folder (and the registered version) a model URI names.

        Accepted: ``models:/<name>/<version>``, ``models:/<name>@<alias>``,
        ``models:/<name>/latest``, ``models:/<name>/<stage>`` (Staging or
        Production) and ``runs:/<run_id>/<path>``. Raises InvalidArgument for
        a malformed URI, NotFound for a model, version, alias or run that does
        not exist.
        """
        return resolve_model_uri(self.store, uri)

    def get_lineage(self, uri: str) -> LineageGraph:
        """What a model version (any model URI), a run (``runs:/<run_id>``) or a dataset version
        (``datasets:/<name>/<version>``) came from and made."""
        return lineage(self.store, uri)

    # datasets ------------------------------------------------------------------------
    def dataset_files(self, name: str) -> ArtifactStore:
        """The artifact folder of a dataset's stored data and profiles (``datasets/<name>``)."""
        name = validate_dataset_name(name)
        if self.is_remote:
            from dockyard.store.artifacts.http import HttpArtifactStore

            return HttpArtifactStore(self.store.http,  # type: ignore[attr-defined]
                                     f"/datasets/{quote(name, safe='')}/files")
        return ScopedArtifactStore(self.artifact_store(), f"datasets/{name}")

    def log_dataset(self, data: Any = None, name: str | None = None,
                    **options: Any) -> DatasetVersion:
        """Record a version of a dataset; see :func:`dockyard.data.datasets.log_dataset`."""
        from dockyard.data.datasets import log_dataset

        return log_dataset(data, name, client=self, **options)

    def get_dataset_version(self, spec: str) -> DatasetVersion:
        """A version from ``churn@2``, ``churn@latest``, ``churn`` or ``datasets:/churn/2``."""
        name, version = parse_dataset_spec(spec)
        return self.store.get_dataset_version(name, version)

    def load_dataset(self, spec: str | DatasetVersion, **options: Any) -> Any:
        """A version's data as a DataFrame; see :func:`dockyard.data.datasets.load_dataset`."""
        from dockyard.data.datasets import load_dataset

        return load_dataset(spec, self, **options)

    def log_input(self, run_id: str, dataset: str | DatasetVersion,
                  context: str = "training") -> DatasetInput:
        """Record that run ``run_id`` used a dataset version (``churn@2`` or the version)."""
        version = dataset if isinstance(dataset, DatasetVersion) else \
            self.get_dataset_version(dataset)
        return self.store.log_dataset_input(run_id, version.name, version.version, context)

    # monitoring ----------------------------------------------------------------------
    def prediction_store(self) -> PredictionStore:
        """The prediction log under this client's artifact root (local mode only)."""
        from dockyard.monitor.predictions import PredictionStore

        if self.is_remote:
            raise InvalidArgument(
                "the prediction log is read where it is stored: give the artifact root "
                "(DOCKYARD_ARTIFACTS, a folder or s3://bucket/prefix) instead of a server URI")
        return PredictionStore(self._artifact_root)

    def log_ground_truth(self, prediction_ids: Sequence[str], labels: Sequence[Any], *,
                         label_time: Any = None, replace: bool = False) -> GroundTruthReport:
        """Record the true outcome of predictions, one label per prediction id.

        Labels may come days after their predictions: each joins its prediction by id,
        in the prediction's time window. ``label_time`` is when the outcomes became
        known, for the label delay: a datetime or ms since the epoch, for all labels or
        one per label; it defaults to now. The report lists ids that already had a
        label (kept, unless ``replace``) and ids not (yet) in the prediction log.
        """
        when: Any = _epoch_ms("label_time", label_time) if _one_time(label_time) else [
            _epoch_ms("label_time", t) for t in label_time]
        if self.is_remote:  # the server checks the ids against its own log
            return self.store.log_ground_truth(  # type: ignore[return-value]
                prediction_ids, labels, when, replace)
        result = self.store.log_ground_truth(prediction_ids, labels, when, replace)
        ids = list(dict.fromkeys(prediction_ids))
        try:
            found = set(self.prediction_store().lookup(ids, ["prediction_id"])
                        .column(0).to_pylist())
        except StoreError as exc:  # the labels are stored; only the report is shorter
            log.warning("labels stored, but the prediction log could not be read to find "
                        "unknown ids: %s", exc.message)
            found = set(ids)
        return GroundTruthReport(received=len(prediction_ids), **result.model_dump(),
                                 unknown_ids=[pid for pid in ids if pid not in found])

    def get_ground_truth(self, prediction_ids: Sequence[str]) -> list[GroundTruth]:
        """The labels stored for these prediction ids (ids without one are left out)."""
        return self.store.get_ground_truth(prediction_ids)

    def create_monitor(self, spec: MonitorSpec | Mapping[str, Any]) -> Monitor:
        """Store a monitor (a :class:`MonitorSpec`, or a mapping of its fields).

        Raises AlreadyExists for a name another monitor has, InvalidArgument
        naming the first mistake in the spec.
        """
        return self.store.create_monitor(_checked_channels(check_monitor_spec(spec)))

    def get_monitor(self, monitor_id: str) -> Monitor:
        """Raises NotFound."""
        return self.store.get_monitor(monitor_id)

    def get_monitor_by_name(self, name: str) -> Monitor:
        """Raises NotFound."""
        return self.store.get_monitor_by_name(name)

    def list_monitors(self, model_name: str | None = None,
                      deployment: str | None = None) -> list[Monitor]:
        """Monitors by name; of one model, or one deployment, when given."""
        return self.store.list_monitors(model_name, deployment)

    def update_monitor(self, monitor_id: str, spec: MonitorSpec | Mapping[str, Any]) -> Monitor:
        """Replace a monitor's spec (its name may change); its values and alerts stay."""
        return self.store.update_monitor(monitor_id, _checked_channels(check_monitor_spec(spec)))

    def set_monitor_run(self, monitor_id: str, time: int | dt.datetime) -> None:
        """Record when a monitor was last evaluated (a datetime, or ms since the epoch)."""
        self.store.set_monitor_run(monitor_id, _epoch_ms("time", time))  # type: ignore[arg-type]

    def delete_monitor(self, monitor_id: str) -> Monitor:
        """Delete a monitor with its values, alerts and alert events, its reference and the
        profiles the model servers made for it; returns it as it was."""
        monitor = self.store.delete_monitor(monitor_id)
        if not self.is_remote:  # a server cleans up its own files
            from dockyard.monitor.summaries import FOLDER

            try:
                self.artifact_store().delete(f"monitors/{monitor.id}")
                self.prediction_store().delete_folder(f"{FOLDER}/monitor={monitor.id}")
            except DockyardError as exc:  # the monitor is gone; its files are only clutter
                log.warning("monitor %s deleted, but not all its files: %s", monitor.name,
                            exc.message)
        return monitor

    def log_monitor_values(self, values: Sequence[MonitorValue]) -> int:
        """Write values per window, replacing those stored with the same key.

        Returns the rows written (a key given twice counts once).
        """
        return self.store.log_monitor_values(values)

    def get_monitor_values(self, monitor_id: str, since: int | dt.datetime | None = None,
                           until: int | dt.datetime | None = None, metric: str | None = None,
                           feature: str | None = None,
                           cohort: str | None = None) -> list[MonitorValue]:
        """A monitor's values with window_start in [since, until), by window, metric, feature
        and cohort; ``""`` is the feature (or cohort) of values of the whole window."""
        return self.store.get_monitor_values(monitor_id, _epoch_ms("since", since),
                                             _epoch_ms("until", until), metric, feature, cohort)

    def save_alert(self, alert: Alert) -> Alert:
        """Insert an alert, or replace the one with its id."""
        return self.store.save_alert(alert)

    def get_alert(self, alert_id: str) -> Alert:
        """Raises NotFound."""
        return self.store.get_alert(alert_id)

    def list_alerts(self, monitor_id: str | None = None, states: Sequence[str] | str | None = None,
                    max_results: int = 1000) -> list[Alert]:
        """Alerts (of one monitor, in some states: ``"firing"`` or a list), newest update first."""
        return self.store.list_alerts(monitor_id, states, max_results)

    def record_alert_event(self, event: AlertEvent) -> AlertEvent:
        """Append a change of an alert's state, with what was delivered where."""
        return self.store.record_alert_event(event)

    def list_alert_events(self, alert_id: str) -> list[AlertEvent]:
        """An alert's history, oldest first. Raises NotFound."""
        return self.store.list_alert_events(alert_id)

    def put_monitor_reference(self, monitor_id: str, profile: bytes,
                              meta: Mapping[str, Any]) -> str:
        """Store a monitor's reference profile and its metadata; returns where it is kept.

        The reference data never travels: the profile is made where the data is.
        """
        if self.is_remote:
            body = {"profile": base64.b64encode(profile).decode(), "meta": dict(meta)}
            answer = self.store.http.request(  # type: ignore[attr-defined]
                "PUT", f"/monitors/{quote(monitor_id, safe='')}/reference", json=body)
            return str(answer.json()["reference"])
        self.get_monitor(monitor_id)  # NotFound before anything is written
        folder = f"monitors/{monitor_id}"
        store = self.artifact_store()
        store.put_stream(io.BytesIO(profile), f"{folder}/reference.profile")
        store.put_stream(io.BytesIO(orjson.dumps(dict(meta))), f"{folder}/reference.json")
        return folder

    def get_monitor_reference(self, monitor: Monitor) -> tuple[bytes, dict[str, Any]] | None:
        """A monitor's reference profile and metadata, or None when it has none (or lost it)."""
        if not monitor.reference:
            return None
        if self.is_remote:
            try:
                answer = self.store.http.request(  # type: ignore[attr-defined]
                    "GET", f"/monitors/{quote(monitor.id, safe='')}/reference").json()
            except NotFound:
                return None
            return base64.b64decode(answer["profile"]), answer["meta"]
        store = self.artifact_store()
        try:
            blob = b"".join(store.iter_bytes(f"{monitor.reference}/reference.profile"))
            meta = orjson.loads(b"".join(store.iter_bytes(f"{monitor.reference}/reference.json")))
        except NotFound:
            return None
        return blob, meta

    # audit ---------------------------------------------------------------------------
    def search_audit_events(self, resource_type: str | None = None, resource_id: str | None = None,
                            actor: str | None = None, since: int | None = None,
                            until: int | None = None, max_results: int = 1000,
                            after_id: int | None = None,
                            newest_first: bool = False) -> list[AuditEvent]:
        """Audit events, oldest first (or newest first); with ``after_id``, only those
        after that event in this order."""
        return self.store.search_audit_events(resource_type, resource_id, actor, since, until,
                                              max_results, after_id, newest_first)

    def iter_audit_events(self, resource_type: str | None = None,
                          resource_id: str | None = None, actor: str | None = None,
                          since: int | None = None, until: int | None = None,
                          page_size: int = 1000) -> Iterator[AuditEvent]:
        """Every matching audit event, oldest first, read a page at a time.

        Events recorded while the loop runs are included when they match: the
        trail only grows, and each page starts after the last id seen.
        """
        for page in self.iter_audit_event_pages(resource_type, resource_id, actor, since,
                                                until, page_size):
            yield from page

    def iter_audit_event_pages(self, resource_type: str | None = None,
                               resource_id: str | None = None, actor: str | None = None,
                               since: int | None = None, until: int | None = None,
                               page_size: int = 1000) -> Iterator[list[AuditEvent]]:
        """The pages of :meth:`iter_audit_events` (the last one may be empty)."""
        after_id = None
        while True:
            page = self.search_audit_events(resource_type, resource_id, actor, since, until,
                                            page_size, after_id)
            yield page
            if len(page) < page_size:
                return
            after_id = page[-1].id


def _from_report(report: Any, report_uri: str) -> NewModelValidation:
    """What the registry keeps of a validation report: verdict, policy and finite metrics."""
    outcome = report.policy
    values: dict[str, float] = {}
    for key, value in report.values().items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        if math.isfinite(number):  # a metric that could not be computed is left out
            values[str(key)] = number
    if outcome is None:
        return NewModelValidation(values=values, report_uri=report_uri)
    return NewModelValidation(passed=bool(outcome.passed), policy_name=outcome.policy,
                              policy_digest=outcome.digest, values=values,
                              summary=outcome.summary, report_uri=report_uri)


def _checked_channels(spec: MonitorSpec) -> MonitorSpec:
    """Build each notification channel once, so that a mistake in one is found when the
    monitor is saved, not when its first alert fires."""
    from dockyard.monitor.notify import channel_from_config

    for config in spec.channels:
        channel_from_config(config)
    return spec


def _one_time(when: Any) -> bool:
    if isinstance(when, str | bytes):
        raise InvalidArgument(f"label_time is a datetime or ms since the epoch (one, or one "
                              f"per label), not the text {when!r:.40}")
    return when is None or isinstance(when, int | dt.datetime) or not hasattr(when, "__len__")


def _epoch_ms(kind: str, when: int | dt.datetime | None) -> int | None:
    """A time as ms since the epoch; naive datetimes are taken as UTC."""
    if isinstance(when, dt.datetime):
        aware = when if when.tzinfo else when.replace(tzinfo=dt.UTC)
        return int(aware.timestamp() * 1000)
    return None if when is None else v.int64(kind, when)


def _join(folder: str | None, name: str) -> str:
    """``folder/name`` inside a run, both checked: neither may escape the run's root."""
    prefix = v.validate_artifact_path(folder, allow_root=True) if folder else ""
    return v.validate_artifact_path(f"{prefix}/{name}" if prefix else name)
