"""Deployments on SQL: the deployment half of SqlMetadataStore.

A change is one transaction: the deployment row (revision checked and bumped
in the UPDATE's WHERE clause, so two writers of one revision cannot both
win), its route rows rewritten, and one history event appended.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import Connection, delete, select

from dockyard.entities import now_ms
from dockyard.entities import validation as v
from dockyard.entities.deployment import (
    ACTIONS,
    ENVIRONMENTS,
    STATUSES,
    Deployment,
    DeploymentEvent,
    DeploymentSpec,
    Route,
    check_deployment_name,
    check_deployment_spec,
)
from dockyard.errors import Conflict, InvalidArgument, NotFound
from dockyard.store.deployments import DeploymentStore
from dockyard.store.sql.common import check_max_results, unique_name
from dockyard.store.sql.schema import deployment_events, deployment_routes, deployments

_COLUMNS = ("environment", "target")
"""Spec fields kept as columns (besides the name); the rest is the JSON ``spec``."""


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _deployment(row: Any) -> Deployment:
    doc = orjson.loads(row["spec"])
    return Deployment(
        **doc, name=row["name"], **{k: row[k] for k in _COLUMNS},
        revision=row["revision"], observed_revision=row["observed_revision"],
        status=row["status"], message=row["message"], endpoint=row["endpoint"],
        previous_routes=orjson.loads(row["previous_routes"]),
        created_at=row["created_at"], created_by=row["created_by"],
        updated_at=row["updated_at"], updated_by=row["updated_by"])


def _spec_row(spec: DeploymentSpec) -> dict[str, Any]:
    doc = spec.model_dump(mode="json", exclude={"name", *_COLUMNS})
    return {"name": spec.name, **{k: getattr(spec, k) for k in _COLUMNS}, "spec": _dumps(doc)}


def _routes(name: str, routes: list[Route]) -> list[dict[str, Any]]:
    return [{"deployment": name, "model_name": r.model_name, "version": r.version,
             "role": r.role, "weight": r.weight} for r in routes]


def changes(before: DeploymentSpec, after: DeploymentSpec) -> tuple[dict[str, Any], dict[str, Any]]:
    """The top-level fields that differ, as (before, after) JSON documents."""
    old, new = before.model_dump(mode="json"), after.model_dump(mode="json")
    keys = [k for k in new if old.get(k) != new[k]]
    return {k: old.get(k) for k in keys}, {k: new[k] for k in keys}


def _user(user: str) -> str:
    return v.validate_text("user", user or "", 250) if user else ""


class SqlDeploymentMixin(DeploymentStore):
    """Deployments, their routes and their history in the SQL store's tables."""

    if TYPE_CHECKING:
        def _read(self) -> AbstractContextManager[Connection]: ...

        def _write(self) -> AbstractContextManager[Connection]: ...

    def create_deployment(self, spec: DeploymentSpec, user: str = "") -> Deployment:
        spec = check_deployment_spec(spec)
        user = _user(user)
        now = now_ms()
        row = {**_spec_row(spec), "revision": 1, "observed_revision": 0, "status": "pending",
               "message": "", "endpoint": None, "previous_routes": "[]", "created_at": now,
               "created_by": user, "updated_at": now, "updated_by": user}
        with self._write() as conn:
            with unique_name(f"a deployment named {spec.name!r} already exists; change it with "
                             "dockyard deploy update, or pick another name"):
                conn.execute(deployments.insert().values(**row))
            conn.execute(deployment_routes.insert(), _routes(spec.name, spec.routes))
            self._event(conn, spec.name, 1, now, user, "create", "",
                        None, spec.model_dump(mode="json", exclude={"name"}))
        return _deployment(row)

    def get_deployment(self, name: str) -> Deployment:
        with self._read() as conn:
            return _deployment(self._deployment_row(conn, name))

    def list_deployments(self, environment: str | None = None,
                         model_name: str | None = None) -> list[Deployment]:
        query = select(deployments).order_by(deployments.c.name)
        if environment is not None:
            if environment not in ENVIRONMENTS:
                raise InvalidArgument(f"environment {environment!r:.40} is not one of "
                                      f"{', '.join(ENVIRONMENTS)}")
            query = query.where(deployments.c.environment == environment)
        if model_name is not None:
            routed = select(deployment_routes.c.deployment).where(
                deployment_routes.c.model_name == v.validate_model_name(model_name))
            query = query.where(deployments.c.name.in_(routed))
        with self._read() as conn:
            return [_deployment(r) for r in conn.execute(query).mappings()]

    def update_deployment(self, spec: DeploymentSpec, *, action: str = "update",
                          message: str = "", user: str = "",
                          expected_revision: int | None = None) -> Deployment:
        spec = check_deployment_spec(spec)
        if action not in ACTIONS or action in ("create", "status"):
            raise InvalidArgument(f"action {action!r:.40} is not a change of a deployment's spec")
        message = v.validate_text("message", message or "", 10_000) if message else ""
        user = _user(user)
        with self._write() as conn:
            current = self._deployment_row(conn, spec.name)
            stored = _deployment(current)
            if expected_revision is not None and expected_revision != stored.revision:
                raise Conflict(
                    f"deployment {spec.name!r} is at revision {stored.revision}, not "
                    f"{expected_revision}: someone changed it meanwhile; read it again and retry")
            before, after = changes(stored.spec(), spec)
            if not after:
                return stored  # nothing changed: no new revision
            now = max(now_ms(), stored.updated_at)
            revision = stored.revision + 1
            row = {**_spec_row(spec), "revision": revision, "updated_at": now,
                   "updated_by": user}
            if stored.status == "failed":
                # The failure was of an older revision; the target has yet to try this one.
                row.update(status="pending", message="")
            if spec.stable.uri != stored.stable.uri:
                # What a rollback returns to: the version served before, with all the traffic.
                previous = stored.stable.model_copy(update={"weight": 100})
                row["previous_routes"] = _dumps([previous.model_dump()])
            done = conn.execute(deployments.update().where(
                deployments.c.name == spec.name, deployments.c.revision == stored.revision
            ).values(**row))
            if done.rowcount != 1:
                raise Conflict(f"deployment {spec.name!r} changed meanwhile; read it again and "
                               "retry")
            if "routes" in after:
                conn.execute(delete(deployment_routes).where(
                    deployment_routes.c.deployment == spec.name))
                conn.execute(deployment_routes.insert(), _routes(spec.name, spec.routes))
            self._event(conn, spec.name, revision, now, user, action, message, before, after)
        return _deployment({**current, **row})

    def set_deployment_status(self, name: str, status: str, message: str = "", *,
                              observed_revision: int | None = None,
                              endpoint: str | None = None) -> Deployment:
        if status not in STATUSES:
            raise InvalidArgument(f"status {status!r:.40} is not one of {', '.join(STATUSES)}")
        message = v.validate_text("message", message or "", 10_000) if message else ""
        if observed_revision is not None:
            observed_revision = v.int64("observed_revision", observed_revision)
        if endpoint is not None:
            endpoint = v.validate_text("endpoint", endpoint, 1000)
        with self._write() as conn:
            current = self._deployment_row(conn, name)
            row: dict[str, Any] = {"status": status, "message": message}
            if observed_revision is not None:
                row["observed_revision"] = min(observed_revision, current["revision"])
            if endpoint is not None:
                row["endpoint"] = endpoint
            conn.execute(deployments.update().where(deployments.c.name == name).values(**row))
            if status != current["status"]:
                self._event(conn, name, current["revision"], now_ms(), "", "status", message,
                            {"status": current["status"]}, {"status": status})
        return _deployment({**current, **row})

    def get_deployment_history(self, name: str,
                               max_results: int = 100) -> list[DeploymentEvent]:
        max_results = check_max_results(max_results)
        events = deployment_events.c
        with self._read() as conn:
            self._deployment_row(conn, name)
            rows = conn.execute(select(deployment_events).where(events.deployment == name)
                                .order_by(events.id.desc()).limit(max_results)).mappings()
            return [DeploymentEvent(
                deployment=r["deployment"], revision=r["revision"], time=r["time"],
                user=r["actor"], action=r["action"], message=r["message"],
                before=orjson.loads(r["before"]) if r["before"] else None,
                after=orjson.loads(r["after"]) if r["after"] else None) for r in rows]

    def delete_deployment(self, name: str) -> Deployment:
        with self._write() as conn:
            current = self._deployment_row(conn, name)
            for table in (deployment_events, deployment_routes):
                conn.execute(delete(table).where(table.c.deployment == name))
            conn.execute(delete(deployments).where(deployments.c.name == name))
        return _deployment(current)

    # helpers ---------------------------------------------------------------------------
    def _deployment_row(self, conn: Connection, name: str) -> Any:
        check_deployment_name(name)
        row = conn.execute(select(deployments).where(deployments.c.name == name)
                           ).mappings().first()
        if row is None:
            raise NotFound(f"no deployment is named {name!r}; see dockyard deployments list")
        return row

    @staticmethod
    def _event(conn: Connection, name: str, revision: int, time: int, user: str, action: str,
               message: str, before: dict[str, Any] | None,
               after: dict[str, Any] | None) -> None:
        conn.execute(deployment_events.insert().values(
            deployment=name, revision=revision, time=time, actor=user, action=action,
            message=message, before=None if before is None else _dumps(before),
            after=None if after is None else _dumps(after)))
