"""The model registry: registered models, versions, their tags, and aliases.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ID = sa.String(32)
KEY = sa.String(250)
MODEL_NAME = sa.String(200)
_VERSION_KEY = (["name", "version"], ["model_versions.name", "model_versions.version"])


def upgrade() -> None:
    op.create_table(
        "registered_models",
        sa.Column("name", MODEL_NAME, primary_key=True),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("owner", sa.String(250), nullable=False),
        sa.Column("task", sa.String(250), nullable=False),
        sa.Column("last_version", sa.Integer, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "registered_model_tags",
        sa.Column("name", MODEL_NAME, sa.ForeignKey("registered_models.name"), primary_key=True),
        sa.Column("key", KEY, primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "model_versions",
        sa.Column("name", MODEL_NAME, sa.ForeignKey("registered_models.name"), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("run_id", ID, sa.ForeignKey("runs.id"), nullable=False),
        sa.Column("package_digest", sa.String(64)),
        sa.Column("signature", sa.Text),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("card", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_model_versions_run", "model_versions", ["run_id"])
    op.create_table(
        "model_version_tags",
        sa.Column("name", MODEL_NAME, primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("key", KEY, primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        sa.ForeignKeyConstraint(*_VERSION_KEY),
    )
    op.create_table(
        "model_aliases",
        sa.Column("name", MODEL_NAME, primary_key=True),
        sa.Column("alias", sa.String(40), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.ForeignKeyConstraint(*_VERSION_KEY),
    )


def downgrade() -> None:
    for table in ("model_aliases", "model_version_tags", "model_versions",
                  "registered_model_tags", "registered_models"):
        op.drop_table(table)
