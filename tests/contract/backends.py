"""The metadata store backends every contract suite runs against.

A suite ``XContract`` gets one test class per backend by mixing in these:
``class TestSqliteX(SqliteBackend, XContract)``. Each gives the ``store``
fixture; the REST backend talks to a live server shared by every test.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.store.base import MetadataStore
from dockyard.store.rest import RestMetadataStore
from dockyard.store.sql import SqlMetadataStore
from tests.services.server import ServerProcess


class SqliteBackend:
    """The embedded default: a SQLite file in WAL mode."""

    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[MetadataStore]:
        store = SqlMetadataStore(f"sqlite:///{tmp_path}/x.db")
        yield store
        store.close()


class InMemorySqliteBackend:
    """The in-memory store: the same SQL over ``sqlite://``."""

    @pytest.fixture
    def store(self) -> Iterator[MetadataStore]:
        store = SqlMetadataStore("sqlite://")
        yield store
        store.close()


@pytest.mark.postgres
class PostgresBackend:
    """PostgreSQL, on a throwaway cluster; each test gets an empty database."""

    @pytest.fixture
    def store(self, postgres_uri: str) -> Iterator[MetadataStore]:
        store = SqlMetadataStore(postgres_uri)
        yield store
        store.close()


class RestBackend:
    """Over HTTP, against a live server shared by every test, as a user of its own."""

    @pytest.fixture
    def store(self, dockyard_server: ServerProcess) -> Iterator[MetadataStore]:
        store = RestMetadataStore(dockyard_server.url, user=f"rest-user-{uuid.uuid4().hex[:8]}")
        yield store
        store.close()
