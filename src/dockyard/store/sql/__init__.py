"""The SQL metadata store: SQLite (embedded default) and PostgreSQL."""

from dockyard.store.sql.store import SqlMetadataStore

__all__ = ["SqlMetadataStore"]
