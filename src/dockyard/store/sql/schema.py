"""Tables of the metadata store (SQLAlchemy Core).

The schema is created and evolved only by the Alembic migrations in
``migrations/versions``; this module describes it for queries. A test checks
that the two agree.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

metadata = MetaData()

ID = String(32)
KEY = String(250)
MODEL_NAME = String(200)

projects = Table(
    "projects",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(250), nullable=False, unique=True),
    Column("description", Text, nullable=False, default=""),
    Column("created_at", BigInteger, nullable=False),
)

experiments = Table(
    "experiments",
    metadata,
    Column("id", ID, primary_key=True),
    Column("project_id", ID, ForeignKey("projects.id"), nullable=False),
    Column("name", String(250), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    UniqueConstraint("project_id", "name", name="uq_experiments_project_name"),
)

experiment_tags = Table(
    "experiment_tags",
    metadata,
    Column("experiment_id", ID, ForeignKey("experiments.id"), primary_key=True),
    Column("key", KEY, primary_key=True),
    Column("value", Text, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("id", ID, primary_key=True),
    Column("experiment_id", ID, ForeignKey("experiments.id"), nullable=False),
    Column("name", String(250), nullable=False),
    Column("status", String(16), nullable=False),
    Column("start_time", BigInteger, nullable=False),
    Column("end_time", BigInteger),
    Column("user", String(250), nullable=False, default=""),
    Column("parent_id", ID, ForeignKey("runs.id")),
    Column("entry_point", Text, nullable=False, default=""),
    Column("git_commit", String(64)),
    Column("git_dirty", Boolean),
    Column("python_version", String(32), nullable=False, default=""),
    Column("artifact_location", Text, nullable=False),
    Index("ix_runs_experiment_start", "experiment_id", "start_time"),
    Index("ix_runs_parent", "parent_id"),
)

# Params, tags and latest metrics are read by (run_id, key): in search probes
# and when a page of runs is loaded. On SQLite each table is that key
# (WITHOUT ROWID), so a probe is one B-tree descent.
params = Table(
    "params",
    metadata,
    Column("run_id", ID, ForeignKey("runs.id"), primary_key=True),
    Column("key", KEY, primary_key=True),
    Column("value", Text, nullable=False),
    sqlite_with_rowid=False,
)

tags = Table(
    "tags",
    metadata,
    Column("run_id", ID, ForeignKey("runs.id"), primary_key=True),
    Column("key", KEY, primary_key=True),
    Column("value", Text, nullable=False),
    sqlite_with_rowid=False,
)

# The full history. The primary key holds every column, so a history is read
# from the key alone, in order; on SQLite the table *is* that key (WITHOUT
# ROWID), one B-tree to write instead of two. A point logged twice with the
# same step, timestamp and value is kept once; exactly-once delivery of
# batches comes from applied_batches.
metrics = Table(
    "metrics",
    metadata,
    Column("run_id", ID, primary_key=True),
    Column("key", KEY, primary_key=True),
    Column("step", BigInteger, primary_key=True, autoincrement=False),
    Column("timestamp", BigInteger, primary_key=True, autoincrement=False),
    Column("value", Float, primary_key=True),
    sqlite_with_rowid=False,
)

# One row per (run, metric): the point with the highest (step, timestamp).
latest_metrics = Table(
    "latest_metrics",
    metadata,
    Column("run_id", ID, ForeignKey("runs.id"), primary_key=True),
    Column("key", KEY, primary_key=True),
    Column("value", Float, nullable=False),
    Column("step", BigInteger, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Index("ix_latest_metrics_key_value", "key", "value"),
    sqlite_with_rowid=False,
)

applied_batches = Table(
    "applied_batches",
    metadata,
    Column("batch_id", String(64), primary_key=True),
    Column("run_id", ID, nullable=False),
    Column("applied_at", BigInteger, nullable=False),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", Integer().with_variant(BigInteger, "postgresql"), primary_key=True, autoincrement=True),
    Column("time", BigInteger, nullable=False),
    Column("actor", String(250), nullable=False),
    Column("action", String(100), nullable=False),
    Column("resource_type", String(50), nullable=False),
    Column("resource_id", String(250)),
    Column("request", Text, nullable=False, default="{}"),
    Column("status", Integer, nullable=False),
    Column("before", Text),
    Index("ix_audit_resource", "resource_type", "resource_id"),
    Index("ix_audit_actor_time", "actor", "time"),
    Index("ix_audit_time", "time"),
)

# The model registry. A model's name is its key (names are permanent);
# last_version is the highest number ever given, so numbers are never reused.
registered_models = Table(
    "registered_models",
    metadata,
    Column("name", MODEL_NAME, primary_key=True),
    Column("description", Text, nullable=False, default=""),
    Column("owner", String(250), nullable=False, default=""),
    Column("task", String(250), nullable=False, default=""),
    Column("last_version", Integer, nullable=False, default=0),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    # The validation policy that gates promotions (JSON, None for none), its digest, and the
    # aliases it protects (a JSON list).
    Column("policy", Text),
    Column("policy_digest", String(64)),
    Column("protected_aliases", Text, nullable=False, default="[]", server_default="[]"),
)

registered_model_tags = Table(
    "registered_model_tags",
    metadata,
    Column("name", MODEL_NAME, ForeignKey("registered_models.name"), primary_key=True),
    Column("key", KEY, primary_key=True),
    Column("value", Text, nullable=False),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("name", MODEL_NAME, ForeignKey("registered_models.name"), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("source", Text, nullable=False),
    Column("run_id", ID, ForeignKey("runs.id"), nullable=False),
    Column("package_digest", String(64)),
    Column("signature", Text),
    Column("stage", String(16), nullable=False),
    Column("status", String(32), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("card", Text, nullable=False, default=""),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Index("ix_model_versions_run", "run_id"),
)

model_version_tags = Table(
    "model_version_tags",
    metadata,
    Column("name", MODEL_NAME, primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("key", KEY, primary_key=True),
    Column("value", Text, nullable=False),
    ForeignKeyConstraint(["name", "version"], ["model_versions.name", "model_versions.version"]),
)

model_aliases = Table(
    "model_aliases",
    metadata,
    Column("name", MODEL_NAME, primary_key=True),
    Column("alias", String(40), primary_key=True),
    Column("version", Integer, nullable=False),
    ForeignKeyConstraint(["name", "version"], ["model_versions.name", "model_versions.version"]),
)

# Validations of model versions: the verdict and flat metrics of a report (which lives at
# report_uri). created_at is strictly increasing within a model, so the latest is one row.
model_validations = Table(
    "model_validations",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", MODEL_NAME, nullable=False),
    Column("version", Integer, nullable=False),
    Column("passed", Boolean),
    Column("policy_name", String(250)),
    Column("policy_digest", String(64)),
    Column("metric_values", Text, nullable=False),
    Column("summary", Text, nullable=False),
    Column("report_uri", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(250), nullable=False),
    ForeignKeyConstraint(["name", "version"], ["model_versions.name", "model_versions.version"],
                         ondelete="CASCADE"),
    Index("ix_model_validations_version", "name", "version", "created_at"),
)

# Labels of predictions, by the id the server gave the prediction. The label is
# JSON (a number, a bool or a string) so that it comes back with its type.
ground_truth = Table(
    "ground_truth",
    metadata,
    Column("prediction_id", String(128), primary_key=True),
    Column("label", Text, nullable=False),
    Column("label_time", BigInteger, nullable=False),
    Column("logged_at", BigInteger, nullable=False),
)

# Monitors. The columns a monitor is found by are columns; the rest of its spec
# (rules, cohorts, channels ...) is one JSON document, read and written whole.
monitors = Table(
    "monitors",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", MODEL_NAME, nullable=False, unique=True),
    Column("model_name", MODEL_NAME, nullable=False),
    Column("deployment", String(250)),
    Column("spec", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("last_run_at", BigInteger),
    Index("ix_monitors_model", "model_name", "deployment"),
)

# One value per monitor, window, metric, feature and cohort ("" for none), read by
# monitor and time: the key is that order, so a time range is one index scan.
monitor_values = Table(
    "monitor_values",
    metadata,
    Column("monitor_id", ID, ForeignKey("monitors.id"), primary_key=True),
    Column("window_start", BigInteger, primary_key=True, autoincrement=False),
    Column("metric", KEY, primary_key=True),
    Column("feature", KEY, primary_key=True),
    Column("cohort", KEY, primary_key=True),
    Column("window_end", BigInteger, nullable=False),
    Column("value", Float),
    Column("count", BigInteger, nullable=False),
    Column("reference", Float),
    Column("status", Text, nullable=False),
    Column("computed_at", BigInteger, nullable=False),
    sqlite_with_rowid=False,
)

alerts = Table(
    "alerts",
    metadata,
    Column("id", String(128), primary_key=True),
    Column("monitor_id", ID, ForeignKey("monitors.id"), nullable=False),
    Column("rule", KEY, nullable=False),
    Column("fingerprint", KEY, nullable=False),
    Column("feature", KEY, nullable=False),
    Column("cohort", KEY, nullable=False),
    Column("severity", String(16), nullable=False),
    Column("state", String(16), nullable=False),
    Column("value", Float),
    Column("threshold", Float),
    Column("summary", Text, nullable=False),
    Column("started_at", BigInteger, nullable=False),
    Column("fired_at", BigInteger),
    Column("resolved_at", BigInteger),
    Column("updated_at", BigInteger, nullable=False),
    Index("ix_alerts_monitor_state", "monitor_id", "state"),
    Index("ix_alerts_fingerprint", "fingerprint"),
    Index("ix_alerts_updated", "updated_at"),
    # At most one open alert per monitor and fingerprint, even with two runs at once.
    Index("uq_alerts_open", "monitor_id", "fingerprint", unique=True,
          sqlite_where=text("state IN ('pending', 'firing')"),
          postgresql_where=text("state IN ('pending', 'firing')")),
)

alert_events = Table(
    "alert_events",
    metadata,
    Column("id", Integer().with_variant(BigInteger, "postgresql"), primary_key=True,
           autoincrement=True),
    Column("alert_id", String(128), ForeignKey("alerts.id"), nullable=False),
    Column("time", BigInteger, nullable=False),
    Column("state", String(16), nullable=False),
    Column("value", Float),
    Column("message", Text, nullable=False),
    Column("deliveries", Text, nullable=False),
    Index("ix_alert_events_alert_time", "alert_id", "time"),
)

# Deployments. The spec is one JSON document; its routes are also rows, so that
# "where does this version run" is an index lookup. The history is append-only.
deployments = Table(
    "deployments",
    metadata,
    Column("name", String(63), primary_key=True),
    Column("environment", String(16), nullable=False),
    Column("target", String(16), nullable=False),
    Column("spec", Text, nullable=False),
    Column("revision", BigInteger, nullable=False),
    Column("observed_revision", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("message", Text, nullable=False),
    Column("endpoint", Text),
    Column("previous_routes", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(250), nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("updated_by", String(250), nullable=False),
)

deployment_routes = Table(
    "deployment_routes",
    metadata,
    Column("deployment", String(63), ForeignKey("deployments.name"), primary_key=True),
    Column("model_name", MODEL_NAME, primary_key=True),
    Column("version", String(64), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("weight", Integer, nullable=False),
    Index("ix_deployment_routes_model", "model_name", "version"),
)

deployment_events = Table(
    "deployment_events",
    metadata,
    Column("id", Integer().with_variant(BigInteger, "postgresql"), primary_key=True,
           autoincrement=True),
    Column("deployment", String(63), ForeignKey("deployments.name"), nullable=False),
    Column("revision", BigInteger, nullable=False),
    Column("time", BigInteger, nullable=False),
    Column("actor", String(250), nullable=False),
    Column("action", String(16), nullable=False),
    Column("message", Text, nullable=False),
    Column("before", Text),
    Column("after", Text),
    Index("ix_deployment_events_name", "deployment", "id"),
)

# Datasets. A version's schema and tags are JSON documents; (name, digest) is unique, so
# logging the same content twice finds the version it has. Inputs link runs to versions.
datasets = Table(
    "datasets",
    metadata,
    Column("name", MODEL_NAME, primary_key=True),
    Column("description", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("last_version", Integer, nullable=False),
)

dataset_versions = Table(
    "dataset_versions",
    metadata,
    Column("name", MODEL_NAME, ForeignKey("datasets.name"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("digest", String(64), nullable=False),
    Column("storage", String(16), nullable=False),
    Column("location", Text, nullable=False),
    Column("source_type", String(16), nullable=False),
    Column("source", Text, nullable=False),
    Column("database", Text),
    Column("format", String(32), nullable=False),
    Column("rows", BigInteger, nullable=False),
    Column("size_bytes", BigInteger),
    Column("columns", Text, nullable=False),
    Column("profile", Text),
    Column("description", Text, nullable=False),
    Column("tags", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(250), nullable=False),
    UniqueConstraint("name", "digest", name="uq_dataset_versions_digest"),
)

dataset_inputs = Table(
    "dataset_inputs",
    metadata,
    Column("run_id", ID, ForeignKey("runs.id"), primary_key=True),
    Column("name", MODEL_NAME, primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("context", String(16), primary_key=True),
    Column("created_at", BigInteger, nullable=False),
    ForeignKeyConstraint(["name", "version"],
                         ["dataset_versions.name", "dataset_versions.version"]),
    Index("ix_dataset_inputs_version", "name", "version"),
)

dataset_checks = Table(
    "dataset_checks",
    metadata,
    Column("id", Integer().with_variant(BigInteger, "postgresql"), primary_key=True,
           autoincrement=True),
    Column("name", MODEL_NAME, nullable=False),
    Column("version", Integer, nullable=False),
    Column("suite", String(250), nullable=False),
    Column("passed", Boolean, nullable=False),
    Column("failed", Integer, nullable=False),
    Column("report", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(250), nullable=False),
    ForeignKeyConstraint(["name", "version"],
                         ["dataset_versions.name", "dataset_versions.version"]),
    Index("ix_dataset_checks_version", "name", "version", "id"),
)

users = Table(
    "users",
    metadata,
    Column("name", String(250), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("display_name", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("disabled", Boolean, nullable=False),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", ID, primary_key=True),
    Column("user_name", String(250), ForeignKey("users.name"), nullable=False),
    Column("name", String(250), nullable=False),
    Column("prefix", String(8), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger),
    Column("revoked_at", BigInteger),
    Column("last_used_at", BigInteger),
    Index("ix_api_tokens_digest", "digest", unique=True),
    Index("ix_api_tokens_user", "user_name", "created_at"),
)

# Governance. A role binding grants a user a role on a scope: "*" (everything),
# "project:<name>" or "model:<name>".
role_bindings = Table(
    "role_bindings",
    metadata,
    Column("user_name", String(250), ForeignKey("users.name"), primary_key=True),
    Column("scope", String(300), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(250), nullable=False),
    Index("ix_role_bindings_scope", "scope"),
)

# A request to move a model version to a protected target ("stage:Production",
# "alias:champion"), decided by an approver other than its author.
approval_requests = Table(
    "approval_requests",
    metadata,
    Column("id", ID, primary_key=True),
    Column("model_name", MODEL_NAME, nullable=False),
    Column("version", Integer, nullable=False),
    Column("target", String(300), nullable=False),
    Column("archive_existing", Boolean, nullable=False),
    Column("author", String(250), nullable=False),
    Column("comment", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("decided_by", String(250)),
    Column("decided_at", BigInteger),
    Column("decision_comment", Text),
    Column("checks", Text, nullable=False),
    Index("ix_approval_requests_model", "model_name", "version", "status"),
    Index("ix_approval_requests_status", "status", "created_at"),
)
