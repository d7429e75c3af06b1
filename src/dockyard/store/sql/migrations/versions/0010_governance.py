"""Governance: role bindings, approval requests, and the state before an audited change.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

USER = sa.String(250)


def upgrade() -> None:
    op.create_table(
        "role_bindings",
        sa.Column("user_name", USER, sa.ForeignKey("users.name"), primary_key=True),
        sa.Column("scope", sa.String(300), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("created_by", USER, nullable=False),
    )
    op.create_index("ix_role_bindings_scope", "role_bindings", ["scope"])
    op.create_table(
        "approval_requests",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("model_name", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("target", sa.String(300), nullable=False),
        sa.Column("archive_existing", sa.Boolean, nullable=False),
        sa.Column("author", USER, nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("decided_by", USER),
        sa.Column("decided_at", sa.BigInteger),
        sa.Column("decision_comment", sa.Text),
        sa.Column("checks", sa.Text, nullable=False),
    )
    op.create_index("ix_approval_requests_model", "approval_requests",
                    ["model_name", "version", "status"])
    op.create_index("ix_approval_requests_status", "approval_requests", ["status", "created_at"])
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("before", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("before")
    op.drop_table("approval_requests")
    op.drop_table("role_bindings")
