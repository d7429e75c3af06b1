"""SqlMetadataStore: every query once, for SQLite and PostgreSQL."""

from __future__ import annotations

import math
import re
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

import orjson
from pydantic import TypeAdapter
from sqlalchemy import Connection, select
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from dockyard.entities import (
    AuditEvent,
    Batch,
    BatchResult,
    Experiment,
    ExperimentPage,
    MetricHistory,
    NewRun,
    Page,
    Project,
    Run,
    RunPage,
    RunSource,
    RunStatus,
    artifact_location,
    now_ms,
)
from dockyard.entities import validation as v
from dockyard.errors import (
    AlreadyExists,
    Conflict,
    DockyardError,
    InvalidArgument,
    InvalidState,
    NotFound,
    StoreError,
)
from dockyard.store.base import DEFAULT_PROJECT, MetadataStore, check_max_points
from dockyard.store.names import generate_run_name
from dockyard.store.search import parse_filter, parse_order_by
from dockyard.store.sql import engine as engines
from dockyard.store.sql.common import check_max_results, decode_token, encode_token, unique_name
from dockyard.store.sql.approvals import SqlApprovalMixin
from dockyard.store.sql.datasets import SqlDatasetMixin
from dockyard.store.sql.deployments import SqlDeploymentMixin
from dockyard.store.sql.identity import SqlIdentityMixin
from dockyard.store.sql.monitoring import SqlMonitoringMixin
from dockyard.store.sql.registry import SqlRegistryMixin
from dockyard.store.sql.validations import SqlValidationMixin
from dockyard.store.sql.schema import (
    audit_events,
    experiment_tags,
    experiments,
    params,
    projects,
    runs,
)
from dockyard.store.sql.run_json import runs_json_sql
from dockyard.store.sql.search import RUN_COLUMNS, compile_search

MAX_SEARCH_EXPERIMENTS = 1000
_CHUNK = 900  # ids per IN (...) clause; under every driver's parameter limit
# Column widths of audit_events: checked up front so that every backend answers
# InvalidArgument (PostgreSQL would fail the insert, SQLite would keep the value).
_AUDIT_FIELD_LIMITS = {"actor": 250, "action": 100, "resource_type": 50, "resource_id": 250}


_INSERT_METRICS = (
    "INSERT INTO metrics (run_id, key, step, timestamp, value) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT DO NOTHING"
)
# Same syntax on SQLite (3.24+) and PostgreSQL; keeps the point with the highest (step, timestamp).
_UPSERT_LATEST = (
    "INSERT INTO latest_metrics (run_id, key, step, timestamp, value) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (run_id, key) DO UPDATE SET "
    "value = excluded.value, step = excluded.step, timestamp = excluded.timestamp "
    "WHERE excluded.step > latest_metrics.step OR (excluded.step = latest_metrics.step "
    "AND excluded.timestamp >= latest_metrics.timestamp)"
)
_UPSERT_TAG = (
    "INSERT INTO tags (run_id, key, value) VALUES (?, ?, ?) "
    "ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value"
)
_UPSERT_EXPERIMENT_TAG = (
    "INSERT INTO experiment_tags (experiment_id, key, value) VALUES (?, ?, ?) "
    "ON CONFLICT (experiment_id, key) DO UPDATE SET value = excluded.value"
)
_HISTORY = (
    "SELECT step, value, timestamp FROM metrics WHERE run_id = ? AND key = ? "
    "ORDER BY step, timestamp"
)


_RUNS = TypeAdapter(list[Run])
_CLIENT_ID = re.compile(r"^[0-9a-f]{32}\Z")


def _metric_rows(batch: Batch) -> list[tuple[str, str, int, int, float]]:
    """Check a batch's metrics column by column and return insert rows.

    Each distinct key is validated once; values must be finite numbers; steps
    and timestamps must fit in 64 bits.
    """
    if not batch.metrics:
        return []
    for key in {m.key for m in batch.metrics}:
        v.validate_key("metric", key)
    rows = [(batch.run_id, m.key, m.step, m.timestamp, m.value) for m in batch.metrics]
    for column, kind in ((2, "step"), (3, "timestamp")):
        values = [r[column] for r in rows]
        if not all(type(x) is int for x in values) or not (
                -v.INT64_MAX - 1 <= min(values) and max(values) <= v.INT64_MAX):
            for x in values:
                v.int64(kind, x)
    if not all(type(r[4]) is float and math.isfinite(r[4]) for r in rows):
        rows = [(r[0], r[1], r[2], r[3], v.metric_value(r[1], r[4])) for r in rows]
    return rows


def _new_id() -> str:
    return uuid.uuid4().hex


class _AlreadyApplied(Exception):
    """A concurrent writer applied the same batch_id first; unwinds our transaction."""


class SqlMetadataStore(SqlRegistryMixin, SqlValidationMixin, SqlMonitoringMixin,
                       SqlDeploymentMixin, SqlDatasetMixin, SqlIdentityMixin, SqlApprovalMixin,
                       MetadataStore):
    """The metadata store on SQLAlchemy 2 Core.

    ``uri`` is ``sqlite:///path.db``, ``sqlite://`` (in memory) or
    ``postgresql://user:password@host:port/database``. Pending migrations are
    applied on construction unless ``migrate=False``.
    """

    def __init__(self, uri: str, migrate: bool = True) -> None:
        self.uri = uri
        self.engine = engines.make_engine(uri)
        self.dialect = self.engine.dialect.name
        # In-memory SQLite is one connection shared by every thread (StaticPool);
        # two threads inside it at once would interleave their BEGINs.
        self._serial: AbstractContextManager[Any] = (
            threading.RLock() if isinstance(self.engine.pool, StaticPool) else nullcontext())
        if migrate:
            try:
                engines.upgrade(self.engine)
            except SQLAlchemyError as exc:
                raise StoreError(f"cannot migrate the metadata store at {uri}: {exc}") from exc
        self._default_project_id: str | None = None
        self._pyformat = self.dialect == "postgresql"  # psycopg takes %s, sqlite3 takes ?
        # A batch and the end of its run must not interleave. SQLite's BEGIN
        # IMMEDIATE serialises writers already; PostgreSQL locks the run's row.
        self._lock_row = " FOR UPDATE" if self.dialect == "postgresql" else ""
        # Errors of the raw-cursor paths, which bypass SQLAlchemy's wrapping.
        self._driver_error: type[Exception] = self.engine.dialect.dbapi.Error  # type: ignore[union-attr]

    def close(self) -> None:
        self.engine.dispose()

    # plumbing ---------------------------------------------------------------
    @contextmanager
    def _read(self) -> Iterator[Connection]:
        try:
            with self._serial, self.engine.connect() as conn:
                yield conn
        except DockyardError:
            raise
        except (SQLAlchemyError, self._driver_error) as exc:
            raise StoreError(f"metadata store read failed: {exc.__class__.__name__}: {exc}") from exc

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        try:
            with self._serial, self.engine.connect().execution_options(dockyard_write=True) as conn:
                with conn.begin():
                    yield conn
        except DockyardError:
            raise
        except IntegrityError as exc:
            raise Conflict(f"the write conflicts with stored data: {exc.orig}") from exc
        except (DBAPIError, self._driver_error) as exc:
            raise StoreError(f"metadata store write failed: {exc.__class__.__name__}: {exc}") from exc
        except SQLAlchemyError as exc:
            raise StoreError(f"metadata store write failed: {exc}") from exc

    # projects ---------------------------------------------------------------
    def create_project(self, name: str, description: str = "") -> Project:
        name = v.validate_name("project", name)
        row = {"id": _new_id(), "name": name, "description": v.validate_description(description),
               "created_at": now_ms()}
        # The default project exists from the start, so its name is always taken.
        self._default_project()
        with self._write() as conn:
            with unique_name(f"project {name!r} already exists"):
                conn.execute(projects.insert().values(**row))
        return Project(**row)

    def get_project(self, project_id: str) -> Project:
        with self._read() as conn:
            row = conn.execute(select(projects).where(projects.c.id == project_id)).mappings().first()
        if row is None:
            raise NotFound(f"project {project_id!r} does not exist")
        return Project(**row)

    def get_project_by_name(self, name: str) -> Project:
        with self._read() as conn:
            row = conn.execute(select(projects).where(projects.c.name == name)).mappings().first()
        if row is None:
            if name == DEFAULT_PROJECT:
                return self.get_project(self._default_project())
            raise NotFound(f"project {name!r} does not exist")
        return Project(**row)

    def list_projects(self) -> list[Project]:
        self._default_project()
        with self._read() as conn:
            rows = conn.execute(select(projects).order_by(projects.c.name)).mappings().all()
        return [Project(**r) for r in rows]

    def _default_project(self) -> str:
        if self._default_project_id:
            return self._default_project_id
        for attempt in range(2):
            try:
                with self._write() as conn:
                    pid = conn.execute(
                        select(projects.c.id).where(projects.c.name == DEFAULT_PROJECT)
                    ).scalar()
                    if pid is None:
                        pid = _new_id()
                        conn.execute(projects.insert().values(
                            id=pid, name=DEFAULT_PROJECT, description="", created_at=now_ms()))
                break
            except Conflict:
                if attempt:
                    raise
                # another process created it between our read and our insert: read theirs
        self._default_project_id = pid
        return pid

    # experiments --------------------------------------------------------------
    def _experiment_from_row(self, conn: Connection, row: Any) -> Experiment:
        return self._experiments_from_rows(conn, [row])[0]

    def _experiments_from_rows(self, conn: Connection, rows: Sequence[Any]) -> list[Experiment]:
        """Experiments with their tags: one tag query per page, not one per experiment."""
        tags_of: dict[str, dict[str, str]] = {r["id"]: {} for r in rows}
        ids = list(tags_of)
        for start in range(0, len(ids), _CHUNK):
            for eid, key, value in conn.execute(
                    select(experiment_tags.c.experiment_id, experiment_tags.c.key,
                           experiment_tags.c.value)
                    .where(experiment_tags.c.experiment_id.in_(ids[start : start + _CHUNK]))):
                tags_of[eid][key] = value
        return [Experiment(**r, tags=tags_of[r["id"]]) for r in rows]

    def create_experiment(self, name: str, project_id: str | None = None, description: str = "",
                          tags: dict[str, str] | None = None) -> Experiment:
        name = v.validate_name("experiment", name)
        description = v.validate_description(description)
        tag_items = self._clean_tags(tags)
        project_id = project_id or self._default_project()
        now = now_ms()
        row = {"id": _new_id(), "project_id": project_id, "name": name,
               "description": description, "created_at": now, "updated_at": now}
        with self._write() as conn:
            if conn.execute(select(projects.c.id).where(projects.c.id == project_id)).first() is None:
                raise NotFound(f"project {project_id!r} does not exist")
            with unique_name(f"experiment {name!r} already exists in this project"):
                conn.execute(experiments.insert().values(**row))
            if tag_items:
                conn.execute(experiment_tags.insert(), [
                    {"experiment_id": row["id"], "key": k, "value": val} for k, val in tag_items])
        return Experiment(**row, tags=dict(tag_items))  # type: ignore[arg-type]

    def get_experiment(self, experiment_id: str) -> Experiment:
        with self._read() as conn:
            row = conn.execute(
                select(experiments).where(experiments.c.id == experiment_id)).mappings().first()
            if row is None:
                raise NotFound(f"experiment {experiment_id!r} does not exist")
            return self._experiment_from_row(conn, row)

    def get_experiment_by_name(self, name: str, project_id: str | None = None) -> Experiment:
        project_id = project_id or self._default_project()
        with self._read() as conn:
            row = conn.execute(select(experiments).where(
                experiments.c.project_id == project_id, experiments.c.name == name)).mappings().first()
            if row is None:
                raise NotFound(f"experiment {name!r} does not exist")
            return self._experiment_from_row(conn, row)

    def search_experiments(self, project_id: str | None = None, name_like: str | None = None,
                           max_results: int = 1000, page_token: str | None = None) -> Page[Experiment]:
        limit = check_max_results(max_results)
        offset = decode_token(page_token)
        query = select(experiments)
        if project_id:
            query = query.where(experiments.c.project_id == project_id)
        if name_like:
            query = query.where(experiments.c.name.like(name_like))
        query = query.order_by(experiments.c.name, experiments.c.id).limit(limit + 1).offset(offset)
        with self._read() as conn:
            rows = conn.execute(query).mappings().all()
            items = self._experiments_from_rows(conn, rows[:limit])
        token = encode_token(offset + limit) if len(rows) > limit else None
        return ExperimentPage(items=items, next_page_token=token)

    def update_experiment(self, experiment_id: str, name: str | None = None,
                          description: str | None = None,
                          tags: dict[str, str] | None = None) -> Experiment:
        values: dict[str, Any] = {"updated_at": now_ms()}
        if name is not None:
            values["name"] = v.validate_name("experiment", name)
        if description is not None:
            values["description"] = v.validate_description(description)
        tag_items = self._clean_tags(tags)
        with self._write() as conn:
            current = conn.execute(
                select(experiments).where(experiments.c.id == experiment_id)).mappings().first()
            if current is None:
                raise NotFound(f"experiment {experiment_id!r} does not exist")
            with unique_name(f"experiment {name!r} already exists in this project"):
                conn.execute(
                    experiments.update().where(experiments.c.id == experiment_id).values(**values))
            if tag_items:
                self._executemany(conn, _UPSERT_EXPERIMENT_TAG,
                                  [(experiment_id, k, val) for k, val in tag_items])
        return self.get_experiment(experiment_id)

    # runs ---------------------------------------------------------------------
    @staticmethod
    def _clean_tags(tag_map: dict[str, Any] | None) -> list[tuple[str, str]]:
        if not tag_map:
            return []
        v.check_mapping("tags", tag_map)
        return [(v.validate_key("tag", k), v.tag_value(k, val)) for k, val in tag_map.items()]

    def create_run(self, experiment_id: str, name: str | None = None, start_time: int | None = None,
                   parent_id: str | None = None, tags: dict[str, str] | None = None,
                   source: RunSource | None = None, run_id: str | None = None) -> Run:
        new = NewRun(experiment_id=experiment_id, id=run_id, name=name, start_time=start_time,
                     parent_id=parent_id, tags=tags or {}, source=source)
        row, tag_items = self._run_row(new)
        with self._write() as conn:
            self._insert_run(conn, row, tag_items)
        return Run(**row, tags=dict(tag_items))

    def _run_row(self, new: NewRun) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        """Check a new run and build its row (before any transaction starts)."""
        experiment_id, parent_id = new.experiment_id, new.parent_id
        run_name = v.validate_name("run", new.name) if new.name is not None else generate_run_name()
        start = v.int64("start_time", new.start_time) if new.start_time is not None else now_ms()
        tag_items = self._clean_tags(new.tags)
        source = new.source or RunSource()
        if source.git_commit is not None and len(source.git_commit) > 64:
            # the column holds 64 characters; PostgreSQL would fail the insert, SQLite keep it
            raise InvalidArgument(
                f"git_commit is {len(source.git_commit)} characters; the limit is 64")
        if new.id is not None and not _CLIENT_ID.match(new.id):
            raise InvalidArgument(
                f"run id {new.id!r} must be 32 lowercase hex characters (uuid.uuid4().hex)")
        run_id = new.id or _new_id()
        row = {
            "id": run_id, "experiment_id": experiment_id, "name": run_name,
            "status": RunStatus.RUNNING.value, "start_time": start, "end_time": None,
            "user": source.user[:250], "parent_id": parent_id, "entry_point": source.entry_point,
            "git_commit": source.git_commit, "git_dirty": source.git_dirty,
            "python_version": source.python_version[:32],
            "artifact_location": artifact_location(experiment_id, run_id),
        }
        return row, tag_items

    def _insert_run(self, conn: Connection, row: dict[str, Any], tag_items: list[tuple[str, str]]) -> None:
        if self._sql(conn, "SELECT 1 FROM experiments WHERE id = ?", (row["experiment_id"],)).first() is None:
            raise NotFound(f"experiment {row['experiment_id']!r} does not exist")
        if row["parent_id"] is not None and self._sql(
                conn, "SELECT 1 FROM runs WHERE id = ?", (row["parent_id"],)).first() is None:
            raise NotFound(f"parent run {row['parent_id']!r} does not exist")
        try:
            conn.execute(runs.insert().values(**row))
        except IntegrityError:  # the references were checked above: the id is taken
            raise AlreadyExists(f"a run with id {row['id']} already exists") from None
        if tag_items:
            self._executemany(conn, _UPSERT_TAG, [(row["id"], k, val) for k, val in tag_items])

    def get_run(self, run_id: str) -> Run:
        with self._read() as conn:
            row = conn.execute(select(runs).where(runs.c.id == run_id)).mappings().first()
            if row is None:
                raise NotFound(f"run {run_id!r} does not exist")
            return self._load_runs(conn, [row])[0]

    def _load_runs(self, conn: Connection, rows: Sequence[Any]) -> list[Run]:
        """Attach params, tags and latest metrics to run rows: three queries per 900 runs.

        Read through the driver and validated in one pydantic call: a page of
        1,000 runs is the hot path of search and of the UI.
        """
        docs = {r["id"]: {**r, "params": {}, "tags": {}, "metrics": {}} for r in rows}
        ids = list(docs)
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                marks = ", ".join("?" * len(chunk))
                for table in ("params", "tags"):
                    cursor.execute(self._driver_sql(
                        f"SELECT run_id, key, value FROM {table} WHERE run_id IN ({marks})"), chunk)
                    for rid, key, value in cursor.fetchall():
                        docs[rid][table][key] = value
                cursor.execute(self._driver_sql(
                    "SELECT run_id, key, value, step, timestamp FROM latest_metrics "
                    f"WHERE run_id IN ({marks})"), chunk)
                for rid, key, value, step, ts in cursor.fetchall():
                    docs[rid]["metrics"][key] = {"key": key, "value": value, "step": step, "timestamp": ts}
        finally:
            cursor.close()
        return _RUNS.validate_python(list(docs.values()))

    def update_run(self, run_id: str, status: RunStatus | None = None, end_time: int | None = None,
                   name: str | None = None) -> Run:
        values: dict[str, Any] = {}
        if name is not None:
            values["name"] = v.validate_name("run", name)
        if status is not None:
            status = self._status(status)
            values["status"] = status.value
            if status.is_terminal:
                values["end_time"] = v.int64("end_time", end_time) if end_time is not None else now_ms()
        with self._write() as conn:
            current = self._sql(conn, "SELECT status FROM runs WHERE id = ?" + self._lock_row,
                                (run_id,)).scalar()
            if current is None:
                raise NotFound(f"run {run_id!r} does not exist")
            if status is not None and current != RunStatus.RUNNING.value and status.value != current:
                raise InvalidState(f"run {run_id} is already {current}; its status cannot change")
            if status is not None and status.value == current and current != RunStatus.RUNNING.value:
                values.pop("status")
                values.pop("end_time", None)
            if values:
                conn.execute(runs.update().where(runs.c.id == run_id).values(**values))
        return self.get_run(run_id)

    @staticmethod
    def _status(status: Any) -> RunStatus:
        try:
            return RunStatus(status)
        except ValueError:
            raise InvalidArgument(
                f"status {status!r} is not one of {', '.join(s.value for s in RunStatus)}") from None

    def log_batch(self, batch: Batch) -> BatchResult:
        if len(batch.metrics) + len(batch.params) + len(batch.tags) > v.MAX_BATCH_ITEMS:
            raise InvalidArgument(
                f"a batch holds at most {v.MAX_BATCH_ITEMS} metrics, params and tags; split it")
        metric_rows = _metric_rows(batch)
        new_run = None
        if batch.create is not None:
            new_run = self._run_row(batch.create.model_copy(update={"id": batch.run_id}))
        param_map: dict[str, str] = {}
        for p in batch.params:
            value = v.param_value(v.validate_key("param", p.key), p.value)
            if param_map.get(p.key, value) != value:
                raise Conflict(f"param {p.key!r} is given twice in one batch with different values")
            param_map[p.key] = value
        tag_map = {v.validate_key("tag", t.key): v.tag_value(t.key, t.value) for t in batch.tags}
        end_status = self._status(batch.end_status) if batch.end_status is not None else None
        if end_status is RunStatus.RUNNING:
            raise InvalidArgument("end_status must be FINISHED, FAILED or KILLED")
        if batch.batch_id is not None and not (0 < len(batch.batch_id) <= 64):
            raise InvalidArgument("batch_id must have 1 to 64 characters")
        if not _CLIENT_ID.match(batch.run_id):  # every run id has this form
            raise NotFound(f"run {batch.run_id!r} does not exist")

        try:
            self._apply_batch(batch, metric_rows, param_map, tag_map, end_status, new_run)
        except _AlreadyApplied:
            with self._read() as conn:
                owner = self._sql(conn, "SELECT run_id FROM applied_batches WHERE batch_id = ?",
                                  (batch.batch_id,)).scalar()
            if owner != batch.run_id:
                raise Conflict(f"batch_id {batch.batch_id!r} was already used for another run; "
                               "batch ids must be unique (uuid4 is a good choice)") from None
            return BatchResult(applied=False)
        return BatchResult(applied=True)

    def _apply_batch(self, batch: Batch, metric_rows: list[tuple[Any, ...]],
                     param_map: dict[str, str], tag_map: dict[str, str],
                     end_status: RunStatus | None,
                     new_run: tuple[dict[str, Any], list[tuple[str, str]]] | None) -> None:
        # Plain SQL through the driver: this runs once per batch, the hot path of tracking.
        run_id = batch.run_id
        with self._write() as conn:
            if batch.batch_id is not None:
                # Claimed before anything else: a concurrent replay of this batch waits
                # on the key and then fails here, instead of seeing the run it finished.
                try:
                    self._sql(conn, "INSERT INTO applied_batches (batch_id, run_id, applied_at) "
                                    "VALUES (?, ?, ?)", (batch.batch_id, run_id, now_ms()))
                except IntegrityError:
                    raise _AlreadyApplied from None
            existing: dict[str, str] = {}
            if new_run is not None:
                self._insert_run(conn, *new_run)  # RUNNING, and no params yet
            else:
                status = self._sql(conn, "SELECT status FROM runs WHERE id = ?" + self._lock_row,
                                   (run_id,)).scalar()
                if status is None:
                    raise NotFound(f"run {run_id!r} does not exist")
                if status != RunStatus.RUNNING.value:
                    raise InvalidState(
                        f"run {run_id} is {status}; a finished run accepts no more metrics, "
                        "params or tags (start a new run)")
                if param_map:
                    existing = dict(conn.execute(select(params.c.key, params.c.value).where(
                        params.c.run_id == run_id, params.c.key.in_(list(param_map)))).all())
            for key, value in param_map.items():
                if key in existing and existing[key] != value:
                    raise Conflict(
                        f"param {key!r} was logged as {existing[key]!r}; it cannot change to "
                        f"{value!r} (params are immutable; use a metric or a tag for values that change)")
            new = [(run_id, k, val) for k, val in param_map.items() if k not in existing]
            if new:
                self._add_params(conn, run_id, new)
            if tag_map:
                self._executemany(conn, _UPSERT_TAG, [(run_id, k, val) for k, val in tag_map.items()])
            if metric_rows:
                self._executemany(conn, _INSERT_METRICS, metric_rows)
                self._update_latest(conn, metric_rows)
            if end_status is not None:
                end = v.int64("end_time", batch.end_time) if batch.end_time is not None else now_ms()
                self._sql(conn, "UPDATE runs SET status = ?, end_time = ? WHERE id = ?",
                          (end_status.value, end, run_id))

    def _add_params(self, conn: Connection, run_id: str, new: list[tuple[str, str, str]]) -> None:
        # Another writer may add the same param meanwhile: the same value is fine,
        # a different one is a conflict (checked after the insert).
        self._executemany(conn, "INSERT INTO params (run_id, key, value) VALUES (?, ?, ?) "
                                "ON CONFLICT (run_id, key) DO NOTHING", new)
        stored = dict(conn.execute(select(params.c.key, params.c.value).where(
            params.c.run_id == run_id, params.c.key.in_([n[1] for n in new]))).all())
        for _, key, value in new:
            if stored.get(key) != value:
                raise Conflict(f"param {key!r} was logged as {stored.get(key)!r} meanwhile; "
                               f"it cannot change to {value!r}")

    def _driver_sql(self, sql: str) -> str:
        """Statements are written with ``?`` placeholders; psycopg wants ``%s``."""
        return sql.replace("?", "%s") if self._pyformat else sql

    def _sql(self, conn: Connection, sql: str, args: tuple[Any, ...]) -> Any:
        """One statement in the driver's own syntax."""
        return conn.exec_driver_sql(self._driver_sql(sql), args)

    def _executemany(self, conn: Connection, sql: str, rows: list[tuple[Any, ...]]) -> None:
        conn.exec_driver_sql(self._driver_sql(sql), rows)  # type: ignore[arg-type]

    def _update_latest(self, conn: Connection, rows: list[tuple[Any, ...]]) -> None:
        best: dict[str, tuple[Any, ...]] = {}
        for r in rows:  # (run_id, key, step, timestamp, value)
            cur = best.get(r[1])
            if cur is None or (r[2], r[3]) >= (cur[2], cur[3]):
                best[r[1]] = r
        self._executemany(conn, _UPSERT_LATEST, list(best.values()))

    def get_metric_history(self, run_id: str, key: str, max_points: int | None = None) -> MetricHistory:
        v.validate_key("metric", key)
        max_points = check_max_points(max_points)
        with self._read() as conn:
            if conn.execute(select(runs.c.id).where(runs.c.id == run_id)).first() is None:
                raise NotFound(f"run {run_id!r} does not exist")
            # Straight from the driver: a 100,000-point history is read from the
            # covering index without building a Row object per point.
            sql = self._driver_sql(_HISTORY)
            cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            try:
                cursor.execute(sql, (run_id, key))
                rows = cursor.fetchall()
            finally:
                cursor.close()
        # three comprehensions: transposing with zip(*rows) is several times slower
        steps, values, timestamps = [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]
        if max_points is None or len(rows) <= max_points:
            return MetricHistory.model_construct(
                run_id=run_id, key=key, steps=steps, values=values, timestamps=timestamps)
        from dockyard.entities.downsample import downsample

        steps, values, timestamps = downsample(steps, values, timestamps, max_points)
        return MetricHistory.model_construct(
            run_id=run_id, key=key, steps=steps, values=values, timestamps=timestamps,
            sampled_from=len(rows))

    def search_runs(self, experiment_ids: Sequence[str], filter: str | None = None,
                    order_by: Sequence[str] | None = None, max_results: int = 1000,
                    page_token: str | None = None) -> Page[Run]:
        with self._read() as conn:
            rows, token = self._search_page(conn, experiment_ids, filter, order_by, max_results,
                                            page_token, RUN_COLUMNS)
            items = self._load_runs(conn, [dict(zip(RUN_COLUMNS, row)) for row in rows])
        return RunPage.model_construct(items=items, next_page_token=token)

    def search_runs_json(self, experiment_ids: Sequence[str], filter: str | None = None,
                         order_by: Sequence[str] | None = None, max_results: int = 1000,
                         page_token: str | None = None) -> bytes:
        docs: dict[str, str] = {}
        with self._read() as conn:
            rows, token = self._search_page(conn, experiment_ids, filter, order_by, max_results,
                                            page_token, ("id",))
            ids = [row[0] for row in rows]
            for start in range(0, len(ids), _CHUNK):
                chunk = tuple(ids[start : start + _CHUNK])
                docs.update(self._sql(conn, runs_json_sql(self.dialect, len(chunk)), chunk).fetchall())
        items = ",".join(docs[run_id] for run_id in ids)
        return f'{{"items":[{items}],"next_page_token":{orjson.dumps(token).decode()}}}'.encode()

    def _search_page(self, conn: Connection, experiment_ids: Sequence[str], filter: str | None,
                     order_by: Sequence[str] | None, max_results: int, page_token: str | None,
                     columns: Sequence[str]) -> tuple[list[Any], str | None]:
        """``columns`` of one page of matching runs, in order, and the next page's token."""
        ids = [experiment_ids] if isinstance(experiment_ids, str) else list(experiment_ids)
        limit = check_max_results(max_results)
        offset = decode_token(page_token)
        if not ids:
            return [], None
        if len(ids) > MAX_SEARCH_EXPERIMENTS:
            raise InvalidArgument(
                f"search at most {MAX_SEARCH_EXPERIMENTS} experiments at once; got {len(ids)}")
        sql, args = compile_search(ids, parse_filter(filter),
                                   parse_order_by(list(order_by) if order_by else None),
                                   limit + 1, offset, columns)
        rows = self._sql(conn, sql, tuple(args)).fetchall()
        return rows[:limit], (encode_token(offset + limit) if len(rows) > limit else None)

    # audit ----------------------------------------------------------------------
    def record_audit_event(self, event: AuditEvent) -> AuditEvent:
        row = event.model_dump(exclude={"id"})
        for field, limit in _AUDIT_FIELD_LIMITS.items():
            if row[field] is not None and len(row[field]) > limit:
                raise InvalidArgument(
                    f"audit event {field} is {len(row[field])} characters; the limit is {limit}")
        row["request"] = orjson.dumps(row["request"]).decode()
        if row["before"] is not None:
            row["before"] = orjson.dumps(row["before"]).decode()
        with self._write() as conn:
            new_id = conn.execute(audit_events.insert().values(**row)).inserted_primary_key[0]
        return event.model_copy(update={"id": new_id})

    def search_audit_events(self, resource_type: str | None = None, resource_id: str | None = None,
                            actor: str | None = None, since: int | None = None,
                            until: int | None = None, max_results: int = 1000,
                            after_id: int | None = None,
                            newest_first: bool = False) -> list[AuditEvent]:
        limit = check_max_results(max_results)
        conds = []
        if after_id is not None:
            after = v.int64("after_id", after_id)
            conds.append(audit_events.c.id < after if newest_first else audit_events.c.id > after)
        if resource_type:
            conds.append(audit_events.c.resource_type == resource_type)
        if resource_id:
            conds.append(audit_events.c.resource_id == resource_id)
        if actor:
            conds.append(audit_events.c.actor == actor)
        if since is not None:
            conds.append(audit_events.c.time >= v.int64("since", since))
        if until is not None:
            conds.append(audit_events.c.time < v.int64("until", until))
        order = audit_events.c.id.desc() if newest_first else audit_events.c.id
        query = select(audit_events).where(*conds).order_by(order).limit(limit)
        with self._read() as conn:
            rows = conn.execute(query).mappings().all()
        return [AuditEvent(**{**r, "request": orjson.loads(r["request"]),
                              "before": None if r["before"] is None else orjson.loads(r["before"])})
                for r in rows]
