"""The approvals contract (ApprovalStore), on every backend: the record of requests.

On the REST backend a decision goes through the server's workflow (the
checks, the commit); rejections record the same way everywhere, so the
decisions here are rejections. tests/server/test_approvals.py covers approval.
"""

from __future__ import annotations

import pytest

from dockyard.errors import Conflict, InvalidArgument, NotFound
from dockyard.store.base import MetadataStore
from tests.contract.backends import (
    InMemorySqliteBackend,
    PostgresBackend,
    RestBackend,
    SqliteBackend,
)
from tests.contract.test_metadata_store import assert_each_raises, in_threads, unique
from tests.contract.test_registry_store import new_run


class ApprovalStoreContract:
    @pytest.fixture
    def model(self, store: MetadataStore) -> str:
        name = store.create_registered_model(unique("model")).name
        run = new_run(store)
        store.create_model_version(name, f"runs:/{run.id}/model")
        return name

    def test_open_read_and_list(self, store: MetadataStore, model: str) -> None:
        made = store.create_approval_request(model, 1, "stage:Production", "ana", "ready",
                                             archive_existing=True)
        assert (made.model, made.version, made.target, made.status) == (
            model, 1, "stage:Production", "pending")
        assert made.archive_existing and made.comment == "ready" and made.checks == []
        assert store.get_approval_request(made.id) == made
        alias = store.create_approval_request(model, 1, "alias:champion", "ana")
        assert [r.id for r in store.list_approval_requests(model)] == [alias.id, made.id]
        assert store.list_approval_requests(model, "rejected") == []
        with pytest.raises(Conflict, match=made.id):  # the same request while one waits
            store.create_approval_request(model, 1, "stage:Production", "ana")

    def test_a_decision_is_made_once(self, store: MetadataStore, model: str) -> None:
        made = store.create_approval_request(model, 1, "stage:Production", "ana")
        outcomes = in_threads(4, lambda _i: _outcome(store, made.id))
        assert sorted(outcomes) == ["conflict"] * 3 + ["rejected"]
        found = store.get_approval_request(made.id)
        assert (found.status, found.decision_comment) == ("rejected", "not yet")
        assert found.decided_at is not None and found.decided_by
        assert [r.id for r in store.list_approval_requests(model, "rejected")] == [made.id]
        again = store.create_approval_request(model, 1, "stage:Production", "ana")
        assert again.id != made.id  # decided: a new request may be opened

    def test_bad_input(self, store: MetadataStore, model: str) -> None:
        with pytest.raises(NotFound):
            store.create_approval_request(model, 9, "stage:Production", "ana")
        with pytest.raises(NotFound):
            store.get_approval_request("0" * 32)
        assert_each_raises(InvalidArgument, {
            "target": lambda: store.create_approval_request(model, 1, "stage:Staging", "ana"),
            "alias": lambda: store.create_approval_request(model, 1, "alias:", "ana"),
            "comment": lambda: store.create_approval_request(
                model, 1, "stage:Production", "ana", "x" * 10_001),
            "id": lambda: store.get_approval_request("../../etc"),
            "status": lambda: store.list_approval_requests(status="done"),
            "decision": lambda: store.decide_approval_request("0" * 32, "maybe", "bo"),
        })


def _outcome(store: MetadataStore, request_id: str) -> str:
    try:
        return store.decide_approval_request(request_id, "rejected", "bo", "not yet").status
    except Conflict:
        return "conflict"


class TestSqliteApprovals(SqliteBackend, ApprovalStoreContract):
    pass


class TestInMemoryApprovals(InMemorySqliteBackend, ApprovalStoreContract):
    pass


class TestPostgresApprovals(PostgresBackend, ApprovalStoreContract):
    pass


class TestRestApprovals(RestBackend, ApprovalStoreContract):
    pass
