"""SQLite: params, tags and latest metrics clustered by (run_id, key).

As WITHOUT ROWID tables, each of these is one B-tree keyed by its primary
key: a search probe or a page load reads the value from the key's leaf,
instead of looking the key up in an index and then the row by its rowid.
PostgreSQL is unchanged.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_COLUMNS = {
    "params": "value TEXT NOT NULL",
    "tags": "value TEXT NOT NULL",
    "latest_metrics": "value FLOAT NOT NULL, step BIGINT NOT NULL, timestamp BIGINT NOT NULL",
}
_INDEXES = {"latest_metrics": "CREATE INDEX ix_latest_metrics_key_value ON latest_metrics (key, value)"}


def _rebuild(with_rowid: bool) -> None:
    for table, columns in _COLUMNS.items():
        op.execute(
            f"CREATE TABLE {table}_new (run_id VARCHAR(32) NOT NULL REFERENCES runs (id), "
            f"key VARCHAR(250) NOT NULL, {columns}, PRIMARY KEY (run_id, key))"
            + ("" if with_rowid else " WITHOUT ROWID"))
        op.execute(f"INSERT INTO {table}_new SELECT * FROM {table}")
        op.execute(f"DROP TABLE {table}")
        op.execute(f"ALTER TABLE {table}_new RENAME TO {table}")
        if table in _INDEXES:
            op.execute(_INDEXES[table])


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild(with_rowid=False)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild(with_rowid=True)
