"""Ground truth: the labels of predictions, by prediction id.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ground_truth",
        sa.Column("prediction_id", sa.String(128), primary_key=True),
        sa.Column("label", sa.Text, nullable=False),
        sa.Column("label_time", sa.BigInteger, nullable=False),
        sa.Column("logged_at", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ground_truth")
