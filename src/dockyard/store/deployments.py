"""The deployment interface: deployments (desired state and status) and their history.

:class:`~dockyard.store.base.MetadataStore` inherits it. Implementations: the
SQL store (SQLite, PostgreSQL) and the REST store; ``tests/contract`` runs
the same suite against each.

Error contract, shared by all implementations:

* ``InvalidArgument``, raised before anything is written, for a spec that
  :func:`~dockyard.entities.deployment.check_deployment_spec` refuses, an
  unknown status, environment or model filter, or a bad ``max_results``;
* ``NotFound`` for an unknown deployment name;
* ``AlreadyExists`` for a name another deployment has;
* ``Conflict`` when ``expected_revision`` is given and the deployment has
  moved on: nothing was written, and a retry reads the new revision;
* ``ServerUnavailable`` / ``StoreError`` as for the rest of the store.

Every change of the spec bumps the revision by one and appends one event to
the history, atomically; a spec equal to the stored one changes nothing. A
``failed`` status goes back to ``pending`` with a new revision: the failure
was the old revision's. A change of status appends an event only when the
status itself changes, so a target that reports "healthy" every few seconds
does not flood the history.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from dockyard.entities.deployment import Deployment, DeploymentEvent, DeploymentSpec


class DeploymentStore(ABC):
    """Deployments by name, with a history of every change."""

    @abstractmethod
    def create_deployment(self, spec: DeploymentSpec, user: str = "") -> Deployment:
        """Store a new deployment at revision 1, status ``pending``."""

    @abstractmethod
    def get_deployment(self, name: str) -> Deployment:
        """Raises NotFound."""

    @abstractmethod
    def list_deployments(self, environment: str | None = None,
                         model_name: str | None = None) -> list[Deployment]:
        """Deployments by name: all, or those of one environment, or routing to one model."""

    @abstractmethod
    def update_deployment(self, spec: DeploymentSpec, *, action: str = "update",
                          message: str = "", user: str = "",
                          expected_revision: int | None = None) -> Deployment:
        """Replace the spec of the deployment ``spec.name``; the revision goes up by one.

        When the stable version changes, the old stable version (with all the
        traffic) becomes ``previous_routes``, what a rollback returns to;
        adding or moving a canary or shadow leaves them as they are. ``action`` (``update``, ``canary``,
        ``promote``, ``rollback``, ``stop``, ``start``) and ``message`` go
        into the history with what changed.
        """

    @abstractmethod
    def set_deployment_status(self, name: str, status: str, message: str = "", *,
                              observed_revision: int | None = None,
                              endpoint: str | None = None) -> Deployment:
        """Record what the target reports: its status, and the revision it runs."""

    @abstractmethod
    def get_deployment_history(self, name: str,
                               max_results: int = 100) -> list[DeploymentEvent]:
        """The newest ``max_results`` events of a deployment, newest first."""

    @abstractmethod
    def delete_deployment(self, name: str) -> Deployment:
        """Remove a deployment and its history; returns what was removed."""
