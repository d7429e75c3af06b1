"""The approvals interface: requests to move a model version to a protected target.

:class:`~dockyard.store.base.MetadataStore` inherits it; the SQL store and
the REST store implement it, and ``tests/contract`` runs one suite on each.
The workflow (who may decide, which checks, the commit) is
:mod:`dockyard.manage.approvals`; the store keeps the record.

Error contract: ``InvalidArgument`` before anything is written (target, id,
comment, status); ``NotFound`` for an unknown model version or request;
``Conflict`` to open a request while the same one is pending, or to decide
a request that is no longer pending.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from dockyard.entities.approval import ApprovalCheck, ApprovalRequest


class ApprovalStore(ABC):
    """Approval requests and their decisions."""

    @abstractmethod
    def create_approval_request(self, model: str, version: int, target: str, author: str,
                                comment: str = "",
                                archive_existing: bool = False) -> ApprovalRequest:
        """Open a pending request. Raises NotFound, or Conflict while an identical one waits."""

    @abstractmethod
    def get_approval_request(self, request_id: str) -> ApprovalRequest:
        """Raises NotFound."""

    @abstractmethod
    def list_approval_requests(self, model: str | None = None, status: str | None = None,
                               max_results: int = 100) -> list[ApprovalRequest]:
        """Requests, newest first, of one model and/or in one status."""

    @abstractmethod
    def decide_approval_request(self, request_id: str, status: str, decided_by: str,
                                comment: str = "",
                                checks: list[ApprovalCheck] | None = None) -> ApprovalRequest:
        """Mark a pending request ``approved`` or ``rejected``, atomically.

        Raises Conflict when it is no longer pending (someone decided first).
        """

    @abstractmethod
    def record_approval_checks(self, request_id: str,
                               checks: list[ApprovalCheck]) -> ApprovalRequest:
        """Keep the latest evaluation of a pending request's checks."""
