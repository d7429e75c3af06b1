"""Users (people and services) and their API tokens, kept as SHA-256 digests.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

USER = sa.String(250)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("name", USER, primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("display_name", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("user_name", USER, sa.ForeignKey("users.name"), nullable=False),
        sa.Column("name", sa.String(250), nullable=False),
        sa.Column("prefix", sa.String(8), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger),
        sa.Column("revoked_at", sa.BigInteger),
        sa.Column("last_used_at", sa.BigInteger),
    )
    op.create_index("ix_api_tokens_digest", "api_tokens", ["digest"], unique=True)
    op.create_index("ix_api_tokens_user", "api_tokens", ["user_name", "created_at"])


def downgrade() -> None:
    op.drop_table("api_tokens")
    op.drop_table("users")
