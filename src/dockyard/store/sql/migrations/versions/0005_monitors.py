"""Monitors, their values per window, alerts and alert events.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ID = sa.String(32)
KEY = sa.String(250)
MODEL_NAME = sa.String(200)
ALERT_ID = sa.String(128)


def upgrade() -> None:
    op.create_table(
        "monitors",
        sa.Column("id", ID, primary_key=True),
        sa.Column("name", MODEL_NAME, nullable=False, unique=True),
        sa.Column("model_name", MODEL_NAME, nullable=False),
        sa.Column("deployment", sa.String(250)),
        sa.Column("spec", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("last_run_at", sa.BigInteger),
    )
    op.create_index("ix_monitors_model", "monitors", ["model_name", "deployment"])
    op.create_table(
        "monitor_values",
        sa.Column("monitor_id", ID, sa.ForeignKey("monitors.id"), primary_key=True),
        sa.Column("window_start", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("metric", KEY, primary_key=True),
        sa.Column("feature", KEY, primary_key=True),
        sa.Column("cohort", KEY, primary_key=True),
        sa.Column("window_end", sa.BigInteger, nullable=False),
        sa.Column("value", sa.Float),
        sa.Column("count", sa.BigInteger, nullable=False),
        sa.Column("reference", sa.Float),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("computed_at", sa.BigInteger, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "alerts",
        sa.Column("id", ALERT_ID, primary_key=True),
        sa.Column("monitor_id", ID, sa.ForeignKey("monitors.id"), nullable=False),
        sa.Column("rule", KEY, nullable=False),
        sa.Column("fingerprint", KEY, nullable=False),
        sa.Column("feature", KEY, nullable=False),
        sa.Column("cohort", KEY, nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("value", sa.Float),
        sa.Column("threshold", sa.Float),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("started_at", sa.BigInteger, nullable=False),
        sa.Column("fired_at", sa.BigInteger),
        sa.Column("resolved_at", sa.BigInteger),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_alerts_monitor_state", "alerts", ["monitor_id", "state"])
    op.create_index("ix_alerts_fingerprint", "alerts", ["fingerprint"])
    op.create_index("ix_alerts_updated", "alerts", ["updated_at"])
    open_state = sa.text("state IN ('pending', 'firing')")
    op.create_index("uq_alerts_open", "alerts", ["monitor_id", "fingerprint"], unique=True,
                    sqlite_where=open_state, postgresql_where=open_state)
    op.create_table(
        "alert_events",
        sa.Column("id", sa.Integer().with_variant(sa.BigInteger, "postgresql"), primary_key=True,
                  autoincrement=True),
        sa.Column("alert_id", ALERT_ID, sa.ForeignKey("alerts.id"), nullable=False),
        sa.Column("time", sa.BigInteger, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("value", sa.Float),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("deliveries", sa.Text, nullable=False),
    )
    op.create_index("ix_alert_events_alert_time", "alert_events", ["alert_id", "time"])


def downgrade() -> None:
    for table in ("alert_events", "alerts", "monitor_values", "monitors"):
        op.drop_table(table)
