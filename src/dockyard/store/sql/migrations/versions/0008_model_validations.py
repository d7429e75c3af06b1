"""Validations of model versions, and the policy that gates a model's promotions.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

NAME = sa.String(200)


def upgrade() -> None:
    op.create_table(
        "model_validations",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", NAME, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("passed", sa.Boolean),
        sa.Column("policy_name", sa.String(250)),
        sa.Column("policy_digest", sa.String(64)),
        sa.Column("metric_values", sa.Text, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("report_uri", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("created_by", sa.String(250), nullable=False),
        sa.ForeignKeyConstraint(["name", "version"],
                                ["model_versions.name", "model_versions.version"],
                                ondelete="CASCADE"),
    )
    op.create_index("ix_model_validations_version", "model_validations",
                    ["name", "version", "created_at"])
    op.add_column("registered_models", sa.Column("policy", sa.Text))
    op.add_column("registered_models", sa.Column("policy_digest", sa.String(64)))
    op.add_column("registered_models", sa.Column("protected_aliases", sa.Text, nullable=False,
                                                 server_default="[]"))


def downgrade() -> None:
    for column in ("protected_aliases", "policy_digest", "policy"):
        op.drop_column("registered_models", column)
    op.drop_table("model_validations")
