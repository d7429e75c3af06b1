"""Datasets on SQL: the dataset half of SqlMetadataStore.

A new version takes the next number under the dataset row's lock (an UPDATE of
``last_version``), and the unique (name, digest) index decides between two
writers of the same content: the loser's transaction rolls back and it
returns the winner's version.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import Connection, func, insert, select

from dockyard.entities import now_ms
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
from dockyard.errors import Conflict, InvalidArgument, NotFound
from dockyard.store.datasets import DatasetStore
from dockyard.store.sql.common import check_max_results
from dockyard.store.sql.schema import (
    dataset_checks,
    dataset_inputs,
    dataset_versions,
    datasets,
    runs,
)

_JSON_COLUMNS = ("columns", "tags")


def _version(row: Any) -> DatasetVersion:
    doc = dict(row)
    for key in _JSON_COLUMNS:
        doc[key] = orjson.loads(doc[key])
    return DatasetVersion(**doc)


def _user(user: str) -> str:
    return v.validate_text("user", user or "", 250) if user else ""


class SqlDatasetMixin(DatasetStore):
    """Datasets, versions, run inputs and check results in the SQL store's tables."""

    if TYPE_CHECKING:
        def _read(self) -> AbstractContextManager[Connection]: ...

        def _write(self) -> AbstractContextManager[Connection]: ...

    def create_dataset_version(self, new: NewDatasetVersion, user: str = "") -> DatasetVersion:
        check_new_version(new)
        user = _user(user)
        for _ in range(3):
            existing = self.find_dataset_version(new.name, new.digest)
            if existing is not None:
                return existing
            try:
                return self._insert_version(new, user)
            except Conflict:
                # Another writer stored this content, or created the dataset, first: look
                # again (and take the next number for a dataset created meanwhile).
                continue
        raise Conflict(f"dataset {new.name!r} is being changed by other writers; retry")

    def _insert_version(self, new: NewDatasetVersion, user: str) -> DatasetVersion:
        now = now_ms()
        row = new.model_dump()
        for key in _JSON_COLUMNS:
            row[key] = orjson.dumps(row[key]).decode()
        with self._write() as conn:
            bumped = conn.execute(datasets.update().where(datasets.c.name == new.name).values(
                updated_at=now, last_version=datasets.c.last_version + 1)).rowcount
            if not bumped:
                conn.execute(insert(datasets).values(
                    name=new.name, description="", created_at=now, updated_at=now,
                    last_version=1))
            row["version"] = conn.execute(select(datasets.c.last_version).where(
                datasets.c.name == new.name)).scalar_one()
            row.update(created_at=now, created_by=user)
            conn.execute(dataset_versions.insert().values(**row))
        return _version(row)

    def get_dataset(self, name: str) -> Dataset:
        name = validate_dataset_name(name)
        with self._read() as conn:
            row = conn.execute(select(datasets).where(datasets.c.name == name)).mappings().first()
        if row is None:
            raise NotFound(f"dataset {name!r} does not exist")
        return Dataset(**{k: row[k] for k in ("name", "description", "created_at",
                                              "updated_at")}, latest_version=row["last_version"])

    def list_datasets(self, name_like: str | None = None,
                      max_results: int = 1000) -> list[Dataset]:
        limit = check_max_results(max_results)
        query = select(datasets).order_by(datasets.c.name).limit(limit)
        if name_like:
            text = v.validate_text("name_like", name_like)
            escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            query = query.where(func.lower(datasets.c.name).like(f"%{escaped}%", escape="\\"))
        with self._read() as conn:
            rows = conn.execute(query).mappings().all()
        return [Dataset(name=r["name"], description=r["description"], created_at=r["created_at"],
                        updated_at=r["updated_at"], latest_version=r["last_version"])
                for r in rows]

    def get_dataset_version(self, name: str, version: int | None = None) -> DatasetVersion:
        name = validate_dataset_name(name)
        dv = dataset_versions.c
        query = select(dataset_versions).where(dv.name == name)
        if version is None:
            query = query.order_by(dv.version.desc()).limit(1)
        else:
            query = query.where(dv.version == v.validate_version(version))
        with self._read() as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            self.get_dataset(name)
            raise NotFound(f"dataset {name!r} has no version {version}")
        return _version(row)

    def find_dataset_version(self, name: str, digest: str) -> DatasetVersion | None:
        name = validate_dataset_name(name)
        if not isinstance(digest, str) or len(digest) != 64:
            raise InvalidArgument(f"digest must be a sha256 hex digest, got {digest!r:.80}")
        with self._read() as conn:
            row = conn.execute(select(dataset_versions).where(
                dataset_versions.c.name == name,
                dataset_versions.c.digest == digest)).mappings().first()
        return None if row is None else _version(row)

    def list_dataset_versions(self, name: str, max_results: int = 1000) -> list[DatasetVersion]:
        name = validate_dataset_name(name)
        limit = check_max_results(max_results)
        self.get_dataset(name)
        with self._read() as conn:
            rows = conn.execute(select(dataset_versions).where(dataset_versions.c.name == name)
                                .order_by(dataset_versions.c.version.desc())
                                .limit(limit)).mappings().all()
        return [_version(r) for r in rows]

    def log_dataset_input(self, run_id: str, name: str, version: int,
                          context: str = "training") -> DatasetInput:
        run_id = v.validate_run_id(run_id)
        name, version = validate_dataset_name(name), v.validate_version(version)
        context = validate_context(context)
        with self._write() as conn:
            if conn.execute(select(runs.c.id).where(runs.c.id == run_id)).first() is None:
                raise NotFound(f"run {run_id!r} does not exist")
            if conn.execute(select(dataset_versions.c.version).where(
                    dataset_versions.c.name == name,
                    dataset_versions.c.version == version)).first() is None:
                raise NotFound(f"dataset {name!r} has no version {version}")
            key = (dataset_inputs.c.run_id == run_id, dataset_inputs.c.name == name,
                   dataset_inputs.c.version == version, dataset_inputs.c.context == context)
            row = conn.execute(select(dataset_inputs).where(*key)).mappings().first()
            if row is None:
                row = {"run_id": run_id, "name": name, "version": version, "context": context,
                       "created_at": now_ms()}
                conn.execute(dataset_inputs.insert().values(**row))
        return DatasetInput(**row)

    def list_run_inputs(self, run_id: str) -> list[DatasetInput]:
        run_id = v.validate_run_id(run_id)
        with self._read() as conn:
            if conn.execute(select(runs.c.id).where(runs.c.id == run_id)).first() is None:
                raise NotFound(f"run {run_id!r} does not exist")
            rows = conn.execute(select(dataset_inputs).where(dataset_inputs.c.run_id == run_id)
                                .order_by(dataset_inputs.c.name, dataset_inputs.c.version,
                                          dataset_inputs.c.context)).mappings().all()
        return [DatasetInput(**r) for r in rows]

    def list_dataset_runs(self, name: str, version: int | None = None) -> list[DatasetInput]:
        name = validate_dataset_name(name)
        di = dataset_inputs.c
        query = select(dataset_inputs).where(di.name == name)
        if version is not None:
            query = query.where(di.version == v.validate_version(version))
        query = query.order_by(di.created_at.desc(), di.run_id, di.context)
        self.get_dataset(name)
        with self._read() as conn:
            return [DatasetInput(**r) for r in conn.execute(query).mappings()]

    def save_dataset_check(self, check: DatasetCheck, user: str = "") -> DatasetCheck:
        name, version = validate_dataset_name(check.name), v.validate_version(check.version)
        row = {"name": name, "version": version,
               "suite": v.validate_text("suite", check.suite) or "checks",
               "passed": bool(check.passed), "failed": max(0, int(check.failed)),
               "report": orjson.dumps(check.report).decode(), "created_at": now_ms(),
               "created_by": _user(user)}
        if len(row["report"]) > 16 * 1024 * 1024:
            raise InvalidArgument("the check report is over 16 MiB; keep fewer sample rows")
        with self._write() as conn:
            if conn.execute(select(dataset_versions.c.version).where(
                    dataset_versions.c.name == name,
                    dataset_versions.c.version == version)).first() is None:
                raise NotFound(f"dataset {name!r} has no version {version}")
            row["id"] = conn.execute(dataset_checks.insert().values(**row)).inserted_primary_key[0]
        return DatasetCheck(**{**row, "report": check.report})

    def list_dataset_checks(self, name: str, version: int,
                            max_results: int = 100) -> list[DatasetCheck]:
        self.get_dataset_version(name, version)
        limit = check_max_results(max_results)
        dc = dataset_checks.c
        with self._read() as conn:
            rows = conn.execute(select(dataset_checks).where(dc.name == name, dc.version == version)
                                .order_by(dc.id.desc()).limit(limit)).mappings().all()
        return [DatasetCheck(**{**r, "report": orjson.loads(r["report"])}) for r in rows]
