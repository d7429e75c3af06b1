"""The ground-truth contract (MonitoringStore, which every MetadataStore is), on every backend.

Prediction ids carry a random part, so backends that share one database
(the REST server) keep the tests apart.
"""

from __future__ import annotations

import threading
import uuid

import numpy as np
import pytest

from dockyard.entities.monitoring import MAX_LABELS_PER_CALL
from dockyard.errors import Conflict, InvalidArgument
from dockyard.store.base import MetadataStore
from tests.contract.backends import (
    InMemorySqliteBackend,
    PostgresBackend,
    RestBackend,
    SqliteBackend,
)


def ids(n: int) -> list[str]:
    base = uuid.uuid4().hex
    return [f"{base}-{i}" for i in range(n)]


def labels_of(store: MetadataStore, prediction_ids: list[str]) -> dict[str, object]:
    return {g.prediction_id: g.label for g in store.get_ground_truth(prediction_ids)}


class GroundTruthContract:
    def test_labels_round_trip_with_their_type(self, store: MetadataStore) -> None:
        pids = ids(5)
        values = [1, 0.25, True, -7, "cat"]
        result = store.log_ground_truth(pids[:4], values[:4], label_time=1_700_000_000_000)
        assert result.accepted == 4 and result.duplicate_ids == [] and result.replaced_ids == []
        store.log_ground_truth(pids[4:], values[4:], label_time=1_700_000_000_000)
        found = {g.prediction_id: g for g in store.get_ground_truth(pids + ids(2))}
        assert {k: g.label for k, g in found.items()} == dict(zip(pids, values))
        assert type(found[pids[2]].label) is bool and type(found[pids[0]].label) is int
        assert {g.label_time for g in found.values()} == {1_700_000_000_000}
        assert all(g.logged_at >= g.label_time for g in found.values())

    def test_label_time_defaults_to_when_it_was_logged(self, store: MetadataStore) -> None:
        (pid,) = ids(1)
        store.log_ground_truth([pid], [3.5])
        (g,) = store.get_ground_truth([pid])
        assert g.label_time == g.logged_at > 1_700_000_000_000

    def test_duplicates_are_reported_and_the_first_label_stays(self, store: MetadataStore) -> None:
        pids = ids(3)
        store.log_ground_truth(pids[:2], ["a", "b"])
        result = store.log_ground_truth([pids[1], pids[2], pids[2]], ["changed", "c", "again"])
        assert result.accepted == 1
        assert sorted(result.duplicate_ids) == sorted([pids[1], pids[2]])
        assert labels_of(store, pids) == {pids[0]: "a", pids[1]: "b", pids[2]: "c"}

    def test_replace_overwrites_and_reports(self, store: MetadataStore) -> None:
        pids = ids(2)
        store.log_ground_truth(pids[:1], [0], label_time=1_000)
        result = store.log_ground_truth(pids, [1, 1], label_time=2_000, replace=True)
        assert result.accepted == 2 and result.replaced_ids == [pids[0]]
        assert result.duplicate_ids == []
        found = {g.prediction_id: g for g in store.get_ground_truth(pids)}
        assert found[pids[0]].label == 1 and found[pids[0]].label_time == 2_000

    def test_numpy_labels_are_accepted(self, store: MetadataStore) -> None:
        pids = ids(3)
        store.log_ground_truth(np.array(pids), np.array([0.5, 1.5, 2.5]))
        assert labels_of(store, pids) == dict(zip(pids, [0.5, 1.5, 2.5]))

    @pytest.mark.parametrize(("prediction_ids", "labels", "message"), [
        (["a1"], [], "1 prediction ids but 0 labels"),
        ([], [], "no labels given"),
        (["bad id!"], [1], "is not valid"),
        ([""], [1], "is not valid"),
        ([5], [1], "is not valid"),
        (["a1"], [None], "a finite number"),
        (["a1"], [float("nan")], "a finite number"),
        (["a1"], [[1, 2]], "a finite number"),
        (["a1"], [""], "a finite number"),
        (["a1", "a2"], [1, "x"], "mix strings and numbers"),
        ("a1", [1], "as lists"),
    ])
    def test_bad_input_is_refused_before_anything_is_written(
            self, store: MetadataStore, prediction_ids: list, labels: list, message: str) -> None:
        with pytest.raises(InvalidArgument, match=message):
            store.log_ground_truth(prediction_ids, labels)
        good = [p for p in prediction_ids if isinstance(p, str) and p.isalnum()]
        if good:
            assert store.get_ground_truth(good) == []

    def test_a_call_over_the_limit_is_refused(self, store: MetadataStore) -> None:
        n = MAX_LABELS_PER_CALL + 1
        with pytest.raises(InvalidArgument, match="several calls"):
            store.log_ground_truth(ids(n), [1] * n)

    def test_many_labels_in_one_call(self, store: MetadataStore) -> None:
        pids = ids(5_000)
        assert store.log_ground_truth(pids, list(range(5_000))).accepted == 5_000
        found = labels_of(store, pids)
        assert len(found) == 5_000 and found[pids[4_321]] == 4_321

    def test_racing_writers_of_one_id_never_both_win(self, store: MetadataStore) -> None:
        (pid,) = ids(1)
        outcomes: list[object] = []

        def write(label: str) -> None:
            try:
                outcomes.append(store.log_ground_truth([pid], [label]))
            except Conflict as exc:  # lost the race on the primary key; nothing written
                outcomes.append(exc)

        threads = [threading.Thread(target=write, args=(f"v{i}",)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        accepted = sum(getattr(o, "accepted", 0) for o in outcomes)
        assert accepted == 1 and len(store.get_ground_truth([pid])) == 1


class TestSqliteGroundTruth(SqliteBackend, GroundTruthContract):
    pass


class TestInMemorySqliteGroundTruth(InMemorySqliteBackend, GroundTruthContract):
    pass


class TestPostgresGroundTruth(PostgresBackend, GroundTruthContract):
    pass


class TestRestGroundTruth(RestBackend, GroundTruthContract):
    pass
