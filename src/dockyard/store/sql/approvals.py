"""Approval requests on SQL: the approvals half of SqlMetadataStore.

A decision is one conditional UPDATE (``WHERE status = 'pending'``): of two
approvers deciding at once, one wins and the other gets Conflict.
"""

from __future__ import annotations

import uuid
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import Connection, select

from dockyard.entities import now_ms
from dockyard.entities import validation as v
from dockyard.entities.approval import (
    ApprovalCheck,
    ApprovalRequest,
    check_comment,
    check_request_id,
    check_status,
    check_target,
)
from dockyard.errors import Conflict, InvalidArgument, NotFound
from dockyard.store.approvals import ApprovalStore
from dockyard.store.sql.common import check_max_results
from dockyard.store.sql.schema import approval_requests, model_versions
from dockyard.store.sql.validations import check_user

_T = approval_requests.c


def _request(row: Any) -> ApprovalRequest:
    return ApprovalRequest(
        id=row["id"], model=row["model_name"], version=row["version"], target=row["target"],
        archive_existing=bool(row["archive_existing"]), author=row["author"],
        comment=row["comment"], created_at=row["created_at"], status=row["status"],
        decided_by=row["decided_by"], decided_at=row["decided_at"],
        decision_comment=row["decision_comment"],
        checks=[ApprovalCheck(**c) for c in orjson.loads(row["checks"])])


def _checks(checks: list[ApprovalCheck] | None) -> str:
    return orjson.dumps([c.model_dump() for c in checks or []]).decode()


class SqlApprovalMixin(ApprovalStore):
    """Approval requests in the SQL store's table."""

    if TYPE_CHECKING:
        def _read(self) -> AbstractContextManager[Connection]: ...

        def _write(self) -> AbstractContextManager[Connection]: ...

    def create_approval_request(self, model: str, version: int, target: str, author: str,
                                comment: str = "",
                                archive_existing: bool = False) -> ApprovalRequest:
        model, version = v.validate_model_name(model), v.validate_version(version)
        if not isinstance(archive_existing, bool):
            raise InvalidArgument(f"archive_existing must be true or false, "
                                  f"got {archive_existing!r:.40}")
        row = {"id": uuid.uuid4().hex, "model_name": model, "version": version,
               "target": check_target(target), "archive_existing": archive_existing,
               "author": check_user(author), "comment": check_comment(comment),
               "created_at": now_ms(), "status": "pending", "decided_by": None,
               "decided_at": None, "decision_comment": None, "checks": "[]"}
        with self._write() as conn:
            if conn.execute(select(model_versions.c.version).where(
                    model_versions.c.name == model,
                    model_versions.c.version == version)).first() is None:
                raise NotFound(f"registered model {model!r} has no version {version}")
            waiting = conn.execute(select(_T.id).where(
                _T.model_name == model, _T.version == version, _T.target == target,
                _T.status == "pending")).scalar()
            if waiting is not None:
                raise Conflict(f"request {waiting} already asks to move {model} version "
                               f"{version} to {target}; an approver decides it")
            conn.execute(approval_requests.insert().values(**row))
        return _request(row)

    def get_approval_request(self, request_id: str) -> ApprovalRequest:
        with self._read() as conn:
            return _request(self._approval_row(conn, request_id))

    def list_approval_requests(self, model: str | None = None, status: str | None = None,
                               max_results: int = 100) -> list[ApprovalRequest]:
        query = select(approval_requests).order_by(_T.created_at.desc(), _T.id).limit(
            check_max_results(max_results))
        if model is not None:
            query = query.where(_T.model_name == v.validate_model_name(model))
        if status is not None:
            query = query.where(_T.status == check_status(status))
        with self._read() as conn:
            return [_request(r) for r in conn.execute(query).mappings()]

    def decide_approval_request(self, request_id: str, status: str, decided_by: str,
                                comment: str = "",
                                checks: list[ApprovalCheck] | None = None) -> ApprovalRequest:
        if status not in ("approved", "rejected"):
            raise InvalidArgument(f"a decision is approved or rejected, not {status!r:.40}")
        values: dict[str, Any] = {
            "status": status, "decided_by": check_user(decided_by), "decided_at": now_ms(),
            "decision_comment": check_comment(comment)}
        if checks is not None:
            values["checks"] = _checks(checks)
        with self._write() as conn:
            row = self._approval_row(conn, request_id)
            done = conn.execute(approval_requests.update().where(
                _T.id == request_id, _T.status == "pending").values(**values)).rowcount
            if not done:
                raise Conflict(f"request {request_id} was already {row['status']} by "
                               f"{row['decided_by']}; open a new one to ask again")
        return _request({**row, **values})

    def record_approval_checks(self, request_id: str,
                               checks: list[ApprovalCheck]) -> ApprovalRequest:
        with self._write() as conn:
            row = self._approval_row(conn, request_id)
            conn.execute(approval_requests.update().where(_T.id == request_id)
                         .values(checks=_checks(checks)))
        return _request({**row, "checks": _checks(checks)})

    @staticmethod
    def _approval_row(conn: Connection, request_id: str) -> Any:
        check_request_id(request_id)
        row = conn.execute(select(approval_requests).where(_T.id == request_id)
                           ).mappings().first()
        if row is None:
            raise NotFound(f"no approval request has the id {request_id!r}; "
                           "see dockyard approvals list")
        return row
