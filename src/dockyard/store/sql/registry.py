"""The model registry on SQL: the registry half of SqlMetadataStore.

Every operation that changes a model's versions, aliases or stages first
updates the model's row (its ``updated_at``, and for a registration its
``last_version`` counter). On PostgreSQL that row lock makes concurrent
changes to one model take turns; on SQLite ``BEGIN IMMEDIATE`` already does.
Promotions pass the validation gate (:mod:`dockyard.store.sql.validations`)
under that lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import Connection, delete, func, select, tuple_

from dockyard.entities import (
    AliasChange,
    ModelStage,
    ModelVersion,
    ModelVersionPage,
    ModelVersionStatus,
    Page,
    RegisteredModel,
    RegisteredModelPage,
    StageTransition,
    now_ms,
)
from dockyard.entities import validation as v
from dockyard.entities.registry import check_override_reason
from dockyard.errors import InvalidArgument, InvalidState, NotFound
from dockyard.store.registry import RegistryStore
from dockyard.store.sql.common import check_max_results, decode_token, encode_token, unique_name
from dockyard.store.sql.schema import (
    model_aliases,
    model_validations,
    model_version_tags,
    model_versions,
    registered_model_tags,
    registered_models,
)
from dockyard.store.sql.validations import check_user, enforce_gate

_CHUNK = 400  # (name, version) pairs per IN (...): two parameters each
_UPSERT_MODEL_TAG = (
    "INSERT INTO registered_model_tags (name, key, value) VALUES (?, ?, ?) "
    "ON CONFLICT (name, key) DO UPDATE SET value = excluded.value"
)
_UPSERT_VERSION_TAG = (
    "INSERT INTO model_version_tags (name, version, key, value) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (name, version, key) DO UPDATE SET value = excluded.value"
)
_UPSERT_ALIAS = (
    "INSERT INTO model_aliases (name, alias, version) VALUES (?, ?, ?) "
    "ON CONFLICT (name, alias) DO UPDATE SET version = excluded.version"
)
_ARCHIVABLE = (ModelStage.STAGING, ModelStage.PRODUCTION)


def _chunks(items: Sequence[Any]) -> list[Sequence[Any]]:
    return [items[i : i + _CHUNK] for i in range(0, len(items), _CHUNK)]


class SqlRegistryMixin(RegistryStore):
    """Registered models, versions, aliases and stages in the SQL store's tables."""

    if TYPE_CHECKING:
        def _read(self) -> AbstractContextManager[Connection]: ...

        def _write(self) -> AbstractContextManager[Connection]: ...

        def _sql(self, conn: Connection, sql: str, args: tuple[Any, ...]) -> Any: ...

        def _executemany(self, conn: Connection, sql: str, rows: list[tuple[Any, ...]]) -> None: ...

        @staticmethod
        def _clean_tags(tag_map: dict[str, Any] | None) -> list[tuple[str, str]]: ...

    # plumbing ---------------------------------------------------------------------
    def _touch_model(self, conn: Connection, name: str, now: int,
                     next_version: bool = False) -> None:
        """Stamp (and lock) the model's row; raises NotFound."""
        bump = ", last_version = last_version + 1" if next_version else ""
        if self._sql(conn, f"UPDATE registered_models SET updated_at = ?{bump} WHERE name = ?",
                     (now, name)).rowcount == 0:
            raise NotFound(f"registered model {name!r} does not exist")

    @staticmethod
    def _require_model(conn: Connection, name: str) -> None:
        if conn.execute(select(registered_models.c.name).where(
                registered_models.c.name == name)).first() is None:
            raise NotFound(f"registered model {name!r} does not exist")

    def _version_row(self, conn: Connection, name: str, version: int) -> Any:
        row = conn.execute(select(model_versions).where(
            model_versions.c.name == name, model_versions.c.version == version)).mappings().first()
        if row is None:
            self._require_model(conn, name)
            raise NotFound(f"registered model {name!r} has no version {version}")
        return row

    @staticmethod
    def _models(conn: Connection, rows: Sequence[Any]) -> list[RegisteredModel]:
        """Models with their tags, aliases and latest version: three queries per page."""
        names = [r["name"] for r in rows]
        tags: dict[str, dict[str, str]] = {n: {} for n in names}
        aliases: dict[str, dict[str, int]] = {n: {} for n in names}
        latest: dict[str, int] = {}
        for chunk in _chunks(names):
            t, a, mv = registered_model_tags.c, model_aliases.c, model_versions.c
            for name, key, value in conn.execute(
                    select(t.name, t.key, t.value).where(t.name.in_(chunk)).order_by(t.key)):
                tags[name][key] = value
            for name, alias, version in conn.execute(
                    select(a.name, a.alias, a.version).where(a.name.in_(chunk)).order_by(a.alias)):
                aliases[name][alias] = version
            latest.update(conn.execute(select(mv.name, func.max(mv.version))
                                       .where(mv.name.in_(chunk)).group_by(mv.name)).all())
        return [RegisteredModel(
            name=r["name"], description=r["description"], owner=r["owner"], task=r["task"],
            created_at=r["created_at"], updated_at=r["updated_at"], tags=tags[r["name"]],
            aliases=aliases[r["name"]], latest_version=latest.get(r["name"]),
            policy=None if r["policy"] is None else orjson.loads(r["policy"]),
            policy_digest=r["policy_digest"],
            protected_aliases=orjson.loads(r["protected_aliases"])) for r in rows]

    @staticmethod
    def _versions(conn: Connection, rows: Sequence[Any]) -> list[ModelVersion]:
        """Versions with their tags and aliases: two queries per page."""
        keys = [(r["name"], r["version"]) for r in rows]
        tags: dict[tuple[str, int], dict[str, str]] = {k: {} for k in keys}
        aliases: dict[tuple[str, int], list[str]] = {k: [] for k in keys}
        for chunk in _chunks(keys):
            t, a = model_version_tags.c, model_aliases.c
            for name, version, key, value in conn.execute(
                    select(t.name, t.version, t.key, t.value)
                    .where(tuple_(t.name, t.version).in_(chunk)).order_by(t.key)):
                tags[(name, version)][key] = value
            for name, version, alias in conn.execute(
                    select(a.name, a.version, a.alias)
                    .where(tuple_(a.name, a.version).in_(chunk)).order_by(a.alias)):
                aliases[(name, version)].append(alias)
        return [ModelVersion(
            name=r["name"], version=r["version"], source=r["source"], run_id=r["run_id"],
            package_digest=r["package_digest"],
            signature=None if r["signature"] is None else orjson.loads(r["signature"]),
            stage=ModelStage(r["stage"]), status=ModelVersionStatus(r["status"]),
            description=r["description"], card=r["card"], created_at=r["created_at"],
            updated_at=r["updated_at"], tags=tags[k], aliases=aliases[k])
            for r, k in zip(rows, keys)]

    # registered models -------------------------------------------------------------
    def create_registered_model(self, name: str, description: str = "",
                                tags: dict[str, str] | None = None, owner: str = "",
                                task: str = "") -> RegisteredModel:
        now = now_ms()
        row = {"name": v.validate_model_name(name),
               "description": v.validate_description(description),
               "owner": v.validate_text("owner", owner), "task": v.validate_text("task", task),
               "last_version": 0, "created_at": now, "updated_at": now}
        tag_items = self._clean_tags(tags)
        with self._write() as conn:
            with unique_name(f"registered model {name!r} already exists"):
                conn.execute(registered_models.insert().values(**row))
            if tag_items:
                self._executemany(conn, _UPSERT_MODEL_TAG, [(name, k, val) for k, val in tag_items])
        row.pop("last_version")
        return RegisteredModel(**row, tags=dict(sorted(tag_items)))

    def get_registered_model(self, name: str) -> RegisteredModel:
        name = v.validate_model_name(name)
        with self._read() as conn:
            row = conn.execute(select(registered_models).where(
                registered_models.c.name == name)).mappings().first()
            if row is None:
                raise NotFound(f"registered model {name!r} does not exist")
            return self._models(conn, [row])[0]

    def search_registered_models(self, name_like: str | None = None, max_results: int = 1000,
                                 page_token: str | None = None) -> Page[RegisteredModel]:
        limit = check_max_results(max_results)
        offset = decode_token(page_token)
        query = select(registered_models)
        if name_like:
            pattern = v.validate_text("name_like", name_like)
            query = query.where(registered_models.c.name.like(pattern))
        query = query.order_by(registered_models.c.name).limit(limit + 1).offset(offset)
        with self._read() as conn:
            rows = conn.execute(query).mappings().all()
            items = self._models(conn, rows[:limit])
        token = encode_token(offset + limit) if len(rows) > limit else None
        return RegisteredModelPage(items=items, next_page_token=token)

    def update_registered_model(self, name: str, description: str | None = None,
                                tags: dict[str, str] | None = None, owner: str | None = None,
                                task: str | None = None) -> RegisteredModel:
        name = v.validate_model_name(name)
        values: dict[str, Any] = {"updated_at": now_ms()}
        if description is not None:
            values["description"] = v.validate_description(description)
        if owner is not None:
            values["owner"] = v.validate_text("owner", owner)
        if task is not None:
            values["task"] = v.validate_text("task", task)
        tag_items = self._clean_tags(tags)
        with self._write() as conn:
            if conn.execute(registered_models.update().where(
                    registered_models.c.name == name).values(**values)).rowcount == 0:
                raise NotFound(f"registered model {name!r} does not exist")
            if tag_items:
                self._executemany(conn, _UPSERT_MODEL_TAG, [(name, k, val) for k, val in tag_items])
        return self.get_registered_model(name)

    def delete_registered_model(self, name: str) -> RegisteredModel:
        name = v.validate_model_name(name)
        with self._write() as conn:
            self._touch_model(conn, name, now_ms())
            row = conn.execute(select(registered_models).where(
                registered_models.c.name == name)).mappings().one()
            live = conn.execute(select(model_versions.c.version).where(
                model_versions.c.name == name,
                model_versions.c.stage == ModelStage.PRODUCTION.value,
            ).order_by(model_versions.c.version)).scalars().all()
            if live:
                raise InvalidState(
                    f"registered model {name!r} has versions in Production "
                    f"({', '.join(map(str, live))}); move them to Archived before deleting "
                    "the model")
            model = self._models(conn, [row])[0]
            for table in (model_aliases, model_version_tags, model_validations, model_versions,
                          registered_model_tags, registered_models):
                conn.execute(delete(table).where(table.c.name == name))
        return model

    # versions ----------------------------------------------------------------------
    def create_model_version(self, name: str, source: str, package_digest: str | None = None,
                             signature: dict[str, Any] | None = None, description: str = "",
                             tags: dict[str, str] | None = None, card: str = "") -> ModelVersion:
        name = v.validate_model_name(name)
        run_id, path = v.run_source(source)
        now = now_ms()
        row = {
            "name": name, "source": f"runs:/{run_id}/{path}", "run_id": run_id,
            "package_digest": v.validate_digest(package_digest),
            "signature": v.validate_signature(signature),
            "stage": ModelStage.NONE.value, "status": ModelVersionStatus.READY.value,
            "description": v.validate_description(description),
            "card": v.validate_text("card", card, v.MAX_CARD_LENGTH),
            "created_at": now, "updated_at": now,
        }
        tag_items = self._clean_tags(tags)
        with self._write() as conn:
            self._touch_model(conn, name, now, next_version=True)
            if self._sql(conn, "SELECT 1 FROM runs WHERE id = ?", (run_id,)).first() is None:
                raise NotFound(f"run {run_id!r} does not exist (source {row['source']})")
            row["version"] = self._sql(
                conn, "SELECT last_version FROM registered_models WHERE name = ?", (name,)).scalar()
            conn.execute(model_versions.insert().values(**row))
            if tag_items:
                self._executemany(conn, _UPSERT_VERSION_TAG,
                                  [(name, row["version"], k, val) for k, val in tag_items])
        signature_doc = None if row["signature"] is None else orjson.loads(row["signature"])
        return ModelVersion(**{**row, "signature": signature_doc}, tags=dict(sorted(tag_items)))

    def get_model_version(self, name: str, version: int) -> ModelVersion:
        name, version = v.validate_model_name(name), v.validate_version(version)
        with self._read() as conn:
            return self._versions(conn, [self._version_row(conn, name, version)])[0]

    def search_model_versions(self, name: str | None = None, run_id: str | None = None,
                              stage: ModelStage | str | None = None, max_results: int = 1000,
                              page_token: str | None = None) -> Page[ModelVersion]:
        limit = check_max_results(max_results)
        offset = decode_token(page_token)
        mv = model_versions.c
        query = select(model_versions)
        if name is not None:
            query = query.where(mv.name == v.validate_model_name(name))
        if run_id is not None:
            query = query.where(mv.run_id == v.validate_run_id(run_id))
        if stage is not None:
            query = query.where(mv.stage == ModelStage.parse(stage).value)
        query = query.order_by(mv.name, mv.version.desc()).limit(limit + 1).offset(offset)
        with self._read() as conn:
            if name is not None:
                self._require_model(conn, name)
            rows = conn.execute(query).mappings().all()
            items = self._versions(conn, rows[:limit])
        token = encode_token(offset + limit) if len(rows) > limit else None
        return ModelVersionPage(items=items, next_page_token=token)

    def update_model_version(self, name: str, version: int, description: str | None = None,
                             tags: dict[str, str] | None = None,
                             card: str | None = None) -> ModelVersion:
        name, version = v.validate_model_name(name), v.validate_version(version)
        values: dict[str, Any] = {"updated_at": now_ms()}
        if description is not None:
            values["description"] = v.validate_description(description)
        if card is not None:
            values["card"] = v.validate_text("card", card, v.MAX_CARD_LENGTH)
        tag_items = self._clean_tags(tags)
        with self._write() as conn:
            if conn.execute(model_versions.update().where(
                    model_versions.c.name == name, model_versions.c.version == version,
            ).values(**values)).rowcount == 0:
                self._version_row(conn, name, version)  # raises the NotFound that fits
            if tag_items:
                self._executemany(conn, _UPSERT_VERSION_TAG,
                                  [(name, version, k, val) for k, val in tag_items])
        return self.get_model_version(name, version)

    def delete_model_version(self, name: str, version: int) -> ModelVersion:
        name, version = v.validate_model_name(name), v.validate_version(version)
        with self._write() as conn:
            self._touch_model(conn, name, now_ms())
            gone = self._versions(conn, [self._version_row(conn, name, version)])[0]
            if gone.locked:
                raise InvalidState(
                    f"version {version} of {name!r} is in Production and cannot be deleted; "
                    "move it to Archived first")
            for table in (model_aliases, model_version_tags, model_validations, model_versions):
                conn.execute(delete(table).where(table.c.name == name, table.c.version == version))
        return gone

    # aliases -----------------------------------------------------------------------
    def set_alias(self, name: str, alias: str, version: int, override_reason: str | None = None,
                  user: str = "") -> AliasChange:
        name, alias = v.validate_model_name(name), v.validate_alias(alias)
        version = v.validate_version(version)
        reason, user = check_override_reason(override_reason), check_user(user)
        with self._write() as conn:
            self._touch_model(conn, name, now_ms())
            self._version_row(conn, name, version)
            previous = self._alias_target(conn, name, alias)
            if previous != version:
                enforce_gate(conn, name, version, alias=alias, override_reason=reason, user=user)
            self._sql(conn, _UPSERT_ALIAS, (name, alias, version))
        return AliasChange(name=name, alias=alias, version=version, previous_version=previous)

    def delete_alias(self, name: str, alias: str) -> AliasChange:
        name, alias = v.validate_model_name(name), v.validate_alias(alias)
        with self._write() as conn:
            self._touch_model(conn, name, now_ms())
            previous = self._alias_target(conn, name, alias)
            if previous is None:
                raise NotFound(f"registered model {name!r} has no alias {alias!r}")
            conn.execute(delete(model_aliases).where(
                model_aliases.c.name == name, model_aliases.c.alias == alias))
        return AliasChange(name=name, alias=alias, version=None, previous_version=previous)

    @staticmethod
    def _alias_target(conn: Connection, name: str, alias: str) -> int | None:
        return conn.execute(select(model_aliases.c.version).where(  # type: ignore[no-any-return]
            model_aliases.c.name == name, model_aliases.c.alias == alias)).scalar()

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        name, alias = v.validate_model_name(name), v.validate_alias(alias)
        with self._read() as conn:
            version = self._alias_target(conn, name, alias)
            if version is None:
                self._require_model(conn, name)
                raise NotFound(f"registered model {name!r} has no alias {alias!r}")
            return self._versions(conn, [self._version_row(conn, name, version)])[0]

    # stages ------------------------------------------------------------------------
    def transition_stage(self, name: str, version: int, stage: ModelStage | str,
                         archive_existing: bool = False, override_reason: str | None = None,
                         user: str = "") -> StageTransition:
        name, version = v.validate_model_name(name), v.validate_version(version)
        target = ModelStage.parse(stage)
        reason, user = check_override_reason(override_reason), check_user(user)
        if not isinstance(archive_existing, bool):
            raise InvalidArgument(
                f"archive_existing must be true or false, got {archive_existing!r:.40}")
        if archive_existing and target not in _ARCHIVABLE:
            raise InvalidArgument(
                "archive_existing applies to a transition to Staging or Production, "
                f"not {target.value}")
        now = now_ms()
        mv = model_versions.c
        with self._write() as conn:
            self._touch_model(conn, name, now)
            previous = ModelStage(self._version_row(conn, name, version)["stage"])
            if previous is not target:
                enforce_gate(conn, name, version, stage=target, override_reason=reason, user=user)
                conn.execute(model_versions.update().where(mv.name == name, mv.version == version)
                             .values(stage=target.value, updated_at=now))
            archived: list[int] = []
            if archive_existing:
                others = (mv.name == name, mv.stage == target.value, mv.version != version)
                archived = list(conn.execute(
                    select(mv.version).where(*others).order_by(mv.version)).scalars())
                if archived:
                    conn.execute(model_versions.update().where(*others).values(
                        stage=ModelStage.ARCHIVED.value, updated_at=now))
            after = self._versions(conn, [self._version_row(conn, name, version)])[0]
        return StageTransition(model_version=after, previous_stage=previous, archived=archived)
