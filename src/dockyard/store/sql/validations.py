"""Validations of model versions, a model's policy, and the promotion gate, on SQL.

The gate runs inside the transactions of ``set_alias`` and
``transition_stage`` (see :mod:`dockyard.store.sql.registry`), after the
model's row is locked, so it reads the policy and the validations the change
is judged by, and an override is recorded in the same transaction as the
change it lets through: both are written, or neither.
"""

from __future__ import annotations

import uuid
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import Connection, func, select

from dockyard.entities import (
    ModelStage,
    ModelValidation,
    NewModelValidation,
    RegisteredModel,
    now_ms,
)
from dockyard.entities import validation as v
from dockyard.entities.registry import check_model_policy, check_new_validation
from dockyard.errors import NotFound, ValidationRequired
from dockyard.store.registry import RegistryStore
from dockyard.store.sql.common import check_max_results
from dockyard.store.sql.schema import audit_events, model_validations, registered_models

OVERRIDE_ACTION = "override_validation_gate"
"""The audit action of a promotion let through the gate with a reason."""
OVERRIDE_RESOURCE = "model-version"
"""Its resource type: the version's own audit trail (id ``<name>/<version>``)."""


def check_user(user: str) -> str:
    """Who made a change, as the audit trail and ``created_by`` hold it (at most 250 chars)."""
    return v.validate_text("user", user, 250) if user else ""


def _validation(row: Any) -> ModelValidation:
    doc = dict(row)
    doc["values"] = orjson.loads(doc.pop("metric_values"))
    return ModelValidation(**doc)


def enforce_gate(conn: Connection, name: str, version: int, *, alias: str | None = None,
                 stage: ModelStage | None = None, override_reason: str | None = None,
                 user: str = "") -> None:
    """Refuse (ValidationRequired) a gated promotion without a passing validation.

    Gated: pointing a protected ``alias`` at ``version``, or moving it to
    Production (``stage``), while the model has a policy. The evidence is the
    latest validation of the version under the model's current policy digest.
    With ``override_reason`` a refused change goes ahead, and an audit event
    records who overrode what, and why.
    """
    if stage is not None and stage is not ModelStage.PRODUCTION:
        return
    rm = registered_models.c
    model = conn.execute(select(rm.policy, rm.policy_digest, rm.protected_aliases)
                         .where(rm.name == name)).one()
    if model.policy is None:
        return
    if alias is not None and alias not in orjson.loads(model.protected_aliases):
        return
    digest: str = model.policy_digest
    mv = model_validations.c
    latest = conn.execute(
        select(mv.id, mv.passed, mv.summary, mv.report_uri)
        .where(mv.name == name, mv.version == version, mv.policy_digest == digest)
        .order_by(mv.created_at.desc()).limit(1)).first()
    if latest is not None and latest.passed:
        return
    policy_name = orjson.loads(model.policy).get("name")
    under = (f"policy {policy_name!r}" if isinstance(policy_name, str) and policy_name
             else "the model's policy") + f" (digest {digest[:8]}...)"
    subject = f"{name} version {version}"
    if latest is None:
        problem = (f"no validation of {subject} under {under}: run dockyard validate "
                   f"models:/{name}/{version} --data DATA --target LABEL --policy <the "
                   "model's policy> first (it records the validation on the version)")
    else:
        where = f" (report: {latest.report_uri})" if latest.report_uri else ""
        problem = (f"the latest validation of {subject} under {under} failed: "
                   f"{latest.summary or 'no summary was recorded'}{where}")
    change: dict[str, Any] = {"alias": alias} if alias is not None else {
        "stage": ModelStage.PRODUCTION.value}
    if override_reason is None:
        target = (f"point {name}@{alias} at version {version}" if alias is not None
                  else f"move {subject} to Production")
        raise ValidationRequired(
            f"cannot {target}: {problem}. To go ahead anyway, give an override reason "
            "(override_reason, --override-reason); it is recorded in the audit trail",
            name=name, version=version, policy_digest=digest,
            problem="missing" if latest is None else "failed",
            **({} if latest is None else {"validation_id": latest.id}), **change)
    request: dict[str, Any] = {"name": name, "version": version, **change,
                               "reason": override_reason, "policy_digest": digest}
    if latest is None:
        request["missing"] = True
    else:
        request.update(failed=latest.summary, validation_id=latest.id)
    conn.execute(audit_events.insert().values(
        time=now_ms(), actor=user, action=OVERRIDE_ACTION, resource_type=OVERRIDE_RESOURCE,
        resource_id=f"{name}/{version}"[:250], request=orjson.dumps(request).decode(),
        status=200))


class SqlValidationMixin(RegistryStore):
    """Validations and policies in the SQL store's tables."""

    if TYPE_CHECKING:
        _lock_row: str

        def _read(self) -> AbstractContextManager[Connection]: ...

        def _write(self) -> AbstractContextManager[Connection]: ...

        def _sql(self, conn: Connection, sql: str, args: tuple[Any, ...]) -> Any: ...

        def _version_row(self, conn: Connection, name: str, version: int) -> Any: ...

        @staticmethod
        def _require_model(conn: Connection, name: str) -> None: ...

    def set_model_policy(self, name: str, policy: dict[str, Any] | None,
                         policy_digest: str | None,
                         protected_aliases: list[str]) -> RegisteredModel:
        name = v.validate_model_name(name)
        doc, digest, protected = check_model_policy(policy, policy_digest, protected_aliases)
        values = {"policy": None if doc is None else orjson.dumps(doc).decode(),
                  "policy_digest": digest, "protected_aliases": orjson.dumps(protected).decode(),
                  "updated_at": now_ms()}
        with self._write() as conn:
            if conn.execute(registered_models.update().where(
                    registered_models.c.name == name).values(**values)).rowcount == 0:
                raise NotFound(f"registered model {name!r} does not exist")
        return self.get_registered_model(name)

    def record_validation(self, name: str, version: int, validation: NewModelValidation,
                          user: str = "") -> ModelValidation:
        name, version = v.validate_model_name(name), v.validate_version(version)
        new = check_new_validation(validation)
        user = check_user(user)
        mv = model_validations.c
        with self._write() as conn:
            # The model's row lock orders concurrent records, so created_at can be made
            # strictly increasing within the model: "newest first" never meets a tie.
            if self._sql(conn, "SELECT 1 FROM registered_models WHERE name = ?" + self._lock_row,
                         (name,)).first() is None:
                raise NotFound(f"registered model {name!r} does not exist")
            self._version_row(conn, name, version)
            last = conn.execute(select(func.max(mv.created_at)).where(mv.name == name)).scalar()
            row = {"id": uuid.uuid4().hex, "name": name, "version": version,
                   **new.model_dump(exclude={"values"}),
                   "metric_values": orjson.dumps(new.values).decode(),
                   "created_at": max(now_ms(), (last or 0) + 1), "created_by": user}
            conn.execute(model_validations.insert().values(**row))
        return _validation(row)

    def list_validations(self, name: str, version: int | None = None,
                         max_results: int = 100) -> list[ModelValidation]:
        name = v.validate_model_name(name)
        number = None if version is None else v.validate_version(version)
        limit = check_max_results(max_results)
        mv = model_validations.c
        query = select(model_validations).where(mv.name == name)
        if number is not None:
            query = query.where(mv.version == number)
        query = query.order_by(mv.created_at.desc(), mv.version.desc(), mv.id).limit(limit)
        with self._read() as conn:
            if number is None:
                self._require_model(conn, name)
            else:
                self._version_row(conn, name, number)
            rows = conn.execute(query).mappings().all()
        return [_validation(r) for r in rows]
