"""Tracking: projects, experiments, runs, params, tags, metrics, batches, audit.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ID = sa.String(32)
KEY = sa.String(250)


def upgrade() -> None:
    op.create_table(
        "projects",
        sa.Column("id", ID, primary_key=True),
        sa.Column("name", sa.String(250), nullable=False, unique=True),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "experiments",
        sa.Column("id", ID, primary_key=True),
        sa.Column("project_id", ID, sa.ForeignKey("projects.id"), nullable=False),
        sa.Column("name", sa.String(250), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("project_id", "name", name="uq_experiments_project_name"),
    )
    op.create_table(
        "experiment_tags",
        sa.Column("experiment_id", ID, sa.ForeignKey("experiments.id"), primary_key=True),
        sa.Column("key", KEY, primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "runs",
        sa.Column("id", ID, primary_key=True),
        sa.Column("experiment_id", ID, sa.ForeignKey("experiments.id"), nullable=False),
        sa.Column("name", sa.String(250), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("start_time", sa.BigInteger, nullable=False),
        sa.Column("end_time", sa.BigInteger),
        sa.Column("user", sa.String(250), nullable=False),
        sa.Column("parent_id", ID, sa.ForeignKey("runs.id")),
        sa.Column("entry_point", sa.Text, nullable=False),
        sa.Column("git_commit", sa.String(64)),
        sa.Column("git_dirty", sa.Boolean),
        sa.Column("python_version", sa.String(32), nullable=False),
        sa.Column("artifact_location", sa.Text, nullable=False),
    )
    op.create_index("ix_runs_experiment_start", "runs", ["experiment_id", "start_time"])
    op.create_index("ix_runs_parent", "runs", ["parent_id"])
    for name in ("params", "tags"):
        op.create_table(
            name,
            sa.Column("run_id", ID, sa.ForeignKey("runs.id"), primary_key=True),
            sa.Column("key", KEY, primary_key=True),
            sa.Column("value", sa.Text, nullable=False),
        )
    # Every column in the key: a history is read from the key alone, in order;
    # on SQLite the table is that key (one B-tree to write, not two).
    op.create_table(
        "metrics",
        sa.Column("run_id", ID, primary_key=True),
        sa.Column("key", KEY, primary_key=True),
        sa.Column("step", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("timestamp", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("value", sa.Float, primary_key=True),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "latest_metrics",
        sa.Column("run_id", ID, sa.ForeignKey("runs.id"), primary_key=True),
        sa.Column("key", KEY, primary_key=True),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("step", sa.BigInteger, nullable=False),
        sa.Column("timestamp", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_latest_metrics_key_value", "latest_metrics", ["key", "value"])
    op.create_table(
        "applied_batches",
        sa.Column("batch_id", sa.String(64), primary_key=True),
        sa.Column("run_id", ID, nullable=False),
        sa.Column("applied_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "audit_events",
        sa.Column(
            "id",
            sa.Integer().with_variant(sa.BigInteger, "postgresql"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("time", sa.BigInteger, nullable=False),
        sa.Column("actor", sa.String(250), nullable=False),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("resource_type", sa.String(50), nullable=False),
        sa.Column("resource_id", sa.String(250)),
        sa.Column("request", sa.Text, nullable=False),
        sa.Column("status", sa.Integer, nullable=False),
    )
    op.create_index("ix_audit_resource", "audit_events", ["resource_type", "resource_id"])
    op.create_index("ix_audit_actor_time", "audit_events", ["actor", "time"])
    op.create_index("ix_audit_time", "audit_events", ["time"])


def downgrade() -> None:
    for name in (
        "audit_events", "applied_batches", "latest_metrics", "metrics", "tags", "params",
        "runs", "experiment_tags", "experiments", "projects",
    ):
        op.drop_table(name)
