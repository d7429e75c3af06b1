"""The metadata store interface.

Implementations: :class:`~dockyard.store.sql.SqlMetadataStore` (SQLite,
PostgreSQL) and :class:`~dockyard.store.rest.RestMetadataStore` (a Dockyard
server over HTTP). Every implementation passes ``tests/contract``.

Error contract, shared by all implementations:

* ``InvalidArgument`` for malformed names, keys, values, ids or filters
  (``InvalidFilter`` for search syntax), raised before anything is written;
* ``NotFound`` for unknown ids and names;
* ``AlreadyExists`` for a duplicate unique name;
* ``Conflict`` for a param re-logged with a different value;
* ``InvalidState`` for writes to a run that is no longer RUNNING;
* ``ServerUnavailable`` (REST only) when the server cannot be reached;
* ``StoreError`` for failures of the backend itself.

A failed call writes nothing. The registry's operations, which every
metadata store also has, are in :mod:`dockyard.store.registry`; ground
truth is in :mod:`dockyard.store.monitoring`; users and API tokens in
:mod:`dockyard.store.identity`.
"""

from __future__ import annotations

import operator
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from dockyard.entities import (
    AuditEvent,
    Batch,
    BatchResult,
    Experiment,
    MetricHistory,
    Page,
    Project,
    Run,
    RunSource,
    RunStatus,
)
from dockyard.errors import InvalidArgument
from dockyard.store.approvals import ApprovalStore
from dockyard.store.datasets import DatasetStore
from dockyard.store.deployments import DeploymentStore
from dockyard.store.identity import IdentityStore
from dockyard.store.monitoring import MonitoringStore
from dockyard.store.registry import RegistryStore

DEFAULT_PROJECT = "default"
MAX_RESULTS_LIMIT = 50_000
MAX_POINTS_LIMIT = 1_000_000
"""The largest ``max_points`` of :meth:`MetadataStore.get_metric_history`."""


def check_max_points(max_points: Any) -> int | None:
    """``max_points`` of :meth:`MetadataStore.get_metric_history`, checked.

    None, or an integer from :data:`~dockyard.entities.downsample.MIN_POINTS`
    to :data:`MAX_POINTS_LIMIT`; anything else raises InvalidArgument.
    """
    if max_points is None:
        return None
    from dockyard.entities.downsample import MIN_POINTS

    try:
        n = None if isinstance(max_points, bool) else operator.index(max_points)
    except TypeError:
        n = None
    if n is None or not MIN_POINTS <= n <= MAX_POINTS_LIMIT:
        raise InvalidArgument(f"max_points must be an integer from {MIN_POINTS} to "
                              f"{MAX_POINTS_LIMIT:,}, got {max_points!r}")
    return n


class MetadataStore(RegistryStore, MonitoringStore, DeploymentStore, DatasetStore,
                    IdentityStore, ApprovalStore, ABC):
    """Projects, experiments, runs, their params/metrics/tags, audit events, the registry,
    monitoring, deployments, datasets, users, API tokens, roles and approval requests."""

    # projects -------------------------------------------------------------
    @abstractmethod
    def create_project(self, name: str, description: str = "") -> Project:
        """Raises AlreadyExists if a project has that name."""

    @abstractmethod
    def get_project(self, project_id: str) -> Project:
        """Raises NotFound."""

    @abstractmethod
    def get_project_by_name(self, name: str) -> Project:
        """Raises NotFound."""

    @abstractmethod
    def list_projects(self) -> list[Project]:
        """All projects, by name. The ``default`` project always exists."""

    # experiments ----------------------------------------------------------
    @abstractmethod
    def create_experiment(
        self,
        name: str,
        project_id: str | None = None,
        description: str = "",
        tags: dict[str, str] | None = None,
    ) -> Experiment:
        """Create an experiment in a project (the default one when ``None``).

        Raises AlreadyExists if the project has an experiment of that name,
        NotFound for an unknown project.
        """

    @abstractmethod
    def get_experiment(self, experiment_id: str) -> Experiment:
        """Raises NotFound."""

    @abstractmethod
    def get_experiment_by_name(self, name: str, project_id: str | None = None) -> Experiment:
        """Raises NotFound."""

    @abstractmethod
    def search_experiments(
        self,
        project_id: str | None = None,
        name_like: str | None = None,
        max_results: int = 1000,
        page_token: str | None = None,
    ) -> Page[Experiment]:
        """Experiments by name; ``name_like`` is a SQL LIKE pattern."""

    @abstractmethod
    def update_experiment(
        self,
        experiment_id: str,
        name: str | None = None,
        description: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> Experiment:
        """Rename, describe or tag (tags are merged). Raises NotFound, AlreadyExists."""

    # runs -----------------------------------------------------------------
    @abstractmethod
    def create_run(
        self,
        experiment_id: str,
        name: str | None = None,
        start_time: int | None = None,
        parent_id: str | None = None,
        tags: dict[str, str] | None = None,
        source: RunSource | None = None,
        run_id: str | None = None,
    ) -> Run:
        """Start a RUNNING run. A missing name gets a generated one.

        ``run_id`` lets the client choose the id (32 lowercase hex
        characters). Raises NotFound for an unknown experiment or parent run,
        AlreadyExists if the chosen id is taken, InvalidArgument for a
        malformed id.
        """

    @abstractmethod
    def get_run(self, run_id: str) -> Run:
        """The run with its params, tags and latest metrics. Raises NotFound."""

    @abstractmethod
    def update_run(
        self,
        run_id: str,
        status: RunStatus | None = None,
        end_time: int | None = None,
        name: str | None = None,
    ) -> Run:
        """Rename a run or move it to a terminal status.

        A terminal status sets ``end_time`` (now when not given). Raises
        InvalidState when the run already finished and the status changes.
        """

    @abstractmethod
    def log_batch(self, batch: Batch) -> BatchResult:
        """Write metrics, params and tags atomically; optionally start and/or end the run.

        A batch whose ``batch_id`` was applied before changes nothing and
        returns ``applied=False``: replays are exactly-once. Raises
        InvalidState if the run is not RUNNING, Conflict if a param already
        has a different value, InvalidArgument for bad keys or values.
        """

    @abstractmethod
    def get_metric_history(
        self, run_id: str, key: str, max_points: int | None = None
    ) -> MetricHistory:
        """The points of a metric ordered by step then timestamp. Raises NotFound for the run.

        ``max_points`` (from 4 to :data:`MAX_POINTS_LIMIT`; see
        :func:`check_max_points`) caps the number of points: a longer history
        is thinned by :func:`~dockyard.entities.downsample.downsample`, and
        ``sampled_from`` holds its full length. None returns every point.
        """

    @abstractmethod
    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int = 1000,
        page_token: str | None = None,
    ) -> Page[Run]:
        """Runs of the experiments matching the filter grammar of :mod:`dockyard.store.search`.

        Without ``order_by``, newest first. ``page_token`` continues a
        previous page. Raises InvalidFilter for bad syntax.
        """

    def search_runs_json(
        self,
        experiment_ids: Sequence[str],
        filter: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int = 1000,
        page_token: str | None = None,
    ) -> bytes:
        """The page of :meth:`search_runs` as JSON, in the form of ``Page[Run]``.

        What the server sends for a search. A store may build the document
        in its database, without a Python object per run (the SQL store
        does); this default serialises :meth:`search_runs`.
        """
        return self.search_runs(experiment_ids, filter, order_by, max_results,
                                page_token).model_dump_json().encode()

    # audit ----------------------------------------------------------------
    @abstractmethod
    def record_audit_event(self, event: AuditEvent) -> AuditEvent:
        """Append an audit event (there is no way to change or delete one)."""

    @abstractmethod
    def search_audit_events(
        self,
        resource_type: str | None = None,
        resource_id: str | None = None,
        actor: str | None = None,
        since: int | None = None,
        until: int | None = None,
        max_results: int = 1000,
        after_id: int | None = None,
        newest_first: bool = False,
    ) -> list[AuditEvent]:
        """Audit events in id order, oldest first (newest first with ``newest_first``),
        at most ``max_results`` of them.

        ``since`` is included and ``until`` excluded (ms since the epoch). With
        ``after_id``, only the events after that one in the order asked for (a
        greater id, or with ``newest_first`` a smaller one): pass the last id of
        one page to read the next, until a page comes back short. Raises
        InvalidArgument for a ``max_results`` out of bounds or an id or time
        out of range.
        """

    def close(self) -> None:
        """Release connections."""
