"""Datasets, their versions, the runs that used them and their data checks.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

NAME = sa.String(200)


def upgrade() -> None:
    op.create_table(
        "datasets",
        sa.Column("name", NAME, primary_key=True),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("last_version", sa.Integer, nullable=False),
    )
    op.create_table(
        "dataset_versions",
        sa.Column("name", NAME, sa.ForeignKey("datasets.name"), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("storage", sa.String(16), nullable=False),
        sa.Column("location", sa.Text, nullable=False),
        sa.Column("source_type", sa.String(16), nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("database", sa.Text),
        sa.Column("format", sa.String(32), nullable=False),
        sa.Column("rows", sa.BigInteger, nullable=False),
        sa.Column("size_bytes", sa.BigInteger),
        sa.Column("columns", sa.Text, nullable=False),
        sa.Column("profile", sa.Text),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("tags", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("created_by", sa.String(250), nullable=False),
        sa.UniqueConstraint("name", "digest", name="uq_dataset_versions_digest"),
    )
    op.create_table(
        "dataset_inputs",
        sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id"), primary_key=True),
        sa.Column("name", NAME, primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("context", sa.String(16), primary_key=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.ForeignKeyConstraint(["name", "version"],
                                ["dataset_versions.name", "dataset_versions.version"]),
    )
    op.create_index("ix_dataset_inputs_version", "dataset_inputs", ["name", "version"])
    op.create_table(
        "dataset_checks",
        sa.Column("id", sa.Integer().with_variant(sa.BigInteger, "postgresql"), primary_key=True,
                  autoincrement=True),
        sa.Column("name", NAME, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("suite", sa.String(250), nullable=False),
        sa.Column("passed", sa.Boolean, nullable=False),
        sa.Column("failed", sa.Integer, nullable=False),
        sa.Column("report", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("created_by", sa.String(250), nullable=False),
        sa.ForeignKeyConstraint(["name", "version"],
                                ["dataset_versions.name", "dataset_versions.version"]),
    )
    op.create_index("ix_dataset_checks_version", "dataset_checks", ["name", "version", "id"])


def downgrade() -> None:
    op.drop_table("dataset_checks")
    op.drop_table("dataset_inputs")
    op.drop_table("dataset_versions")
    op.drop_table("datasets")
