"""Deployments, the model versions they route to, and their history.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

NAME = sa.String(63)


def upgrade() -> None:
    op.create_table(
        "deployments",
        sa.Column("name", NAME, primary_key=True),
        sa.Column("environment", sa.String(16), nullable=False),
        sa.Column("target", sa.String(16), nullable=False),
        sa.Column("spec", sa.Text, nullable=False),
        sa.Column("revision", sa.BigInteger, nullable=False),
        sa.Column("observed_revision", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("endpoint", sa.Text),
        sa.Column("previous_routes", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("created_by", sa.String(250), nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("updated_by", sa.String(250), nullable=False),
    )
    op.create_table(
        "deployment_routes",
        sa.Column("deployment", NAME, sa.ForeignKey("deployments.name"), primary_key=True),
        sa.Column("model_name", sa.String(200), primary_key=True),
        sa.Column("version", sa.String(64), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("weight", sa.Integer, nullable=False),
    )
    op.create_index("ix_deployment_routes_model", "deployment_routes", ["model_name", "version"])
    op.create_table(
        "deployment_events",
        sa.Column("id", sa.Integer().with_variant(sa.BigInteger, "postgresql"), primary_key=True,
                  autoincrement=True),
        sa.Column("deployment", NAME, sa.ForeignKey("deployments.name"), nullable=False),
        sa.Column("revision", sa.BigInteger, nullable=False),
        sa.Column("time", sa.BigInteger, nullable=False),
        sa.Column("actor", sa.String(250), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("before", sa.Text),
        sa.Column("after", sa.Text),
    )
    op.create_index("ix_deployment_events_name", "deployment_events", ["deployment", "id"])


def downgrade() -> None:
    op.drop_table("deployment_events")
    op.drop_table("deployment_routes")
    op.drop_table("deployments")
