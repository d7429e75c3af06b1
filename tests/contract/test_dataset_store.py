"""The dataset contract (DatasetStore), on every backend.

Names carry a random part, so backends that share one database (the REST
server) keep the tests apart.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any


from dockyard.entities.dataset import Column, DatasetCheck, NewDatasetVersion
from dockyard.errors import InvalidArgument, NotFound
from dockyard.store.base import MetadataStore
from tests.contract.backends import (
    InMemorySqliteBackend,
    PostgresBackend,
    RestBackend,
    SqliteBackend,
)
from tests.contract.test_metadata_store import assert_each_raises, in_threads


def _name() -> str:
    return f"ds-{uuid.uuid4().hex[:10]}"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def new(name: str, content: str = "a", **fields: Any) -> NewDatasetVersion:
    digest = _digest(content)
    return NewDatasetVersion(**{
        "name": name, "digest": digest, "storage": "stored", "location": f"{digest}/data.parquet",
        "source_type": "dataframe", "source": "pandas.DataFrame", "rows": 3, "size_bytes": 100,
        "columns": [Column(name="age", type="int64"), Column(name="plan", type="string")],
        "profile": f"{digest}/profile.bin", **fields})


def _run(store: MetadataStore) -> str:
    experiment = store.create_experiment(f"e-{uuid.uuid4().hex[:8]}")
    return store.create_run(experiment.id).id


class DatasetStoreContract:
    def test_versions_are_numbered_and_read_back(self, store: MetadataStore) -> None:
        name = _name()
        first = store.create_dataset_version(new(name, "a", description="jan", tags={"k": "v"}),
                                             user="ana")
        second = store.create_dataset_version(new(name, "b", rows=5))
        assert (first.version, second.version) == (1, 2)
        assert first.description == "jan" and first.tags == {"k": "v"}
        assert first.columns[1] == Column(name="plan", type="string")
        assert first.created_by == "ana" or first.created_by.startswith("rest-user-")
        assert store.get_dataset_version(name, 1) == first
        assert store.get_dataset_version(name) == second  # the latest
        assert [v.version for v in store.list_dataset_versions(name)] == [2, 1]
        assert [v.version for v in store.list_dataset_versions(name, max_results=1)] == [2]
        dataset = store.get_dataset(name)
        assert (dataset.name, dataset.latest_version) == (name, 2)
        assert first.uri == f"datasets:/{name}/1" and first.spec == f"{name}@1"

    def test_same_digest_is_the_same_version(self, store: MetadataStore) -> None:
        name = _name()
        first = store.create_dataset_version(new(name, "a"))
        again = store.create_dataset_version(new(name, "a", description="other words"))
        assert again == first
        assert store.find_dataset_version(name, first.digest) == first
        assert store.find_dataset_version(name, _digest("zzz")) is None
        assert store.find_dataset_version(_name(), first.digest) is None
        # Another dataset may hold the same content as its own version.
        assert store.create_dataset_version(new(_name(), "a")).version == 1

    def test_concurrent_writers_of_one_content_make_one_version(
            self, store: MetadataStore) -> None:
        name = _name()
        made = in_threads(4, lambda i: store.create_dataset_version(new(name, "same")))
        assert not [m for m in made if isinstance(m, Exception)], made
        assert {m.version for m in made} == {1}  # type: ignore[union-attr]
        made = in_threads(4, lambda i: store.create_dataset_version(new(name, f"c{i}")))
        assert sorted(m.version for m in made) == [2, 3, 4, 5]  # type: ignore[union-attr]

    def test_list_datasets(self, store: MetadataStore) -> None:
        tag = uuid.uuid4().hex[:8]
        names = [f"sales-{tag}", f"Churn-{tag}", f"churn_x-{tag}"]
        for name in names:
            store.create_dataset_version(new(name))
        assert [d.name for d in store.list_datasets(name_like=tag)] == sorted(names)
        assert [d.name for d in store.list_datasets(name_like=f"churn-{tag}")] == [names[1]]
        # "_" is a plain character, not a wildcard
        assert [d.name for d in store.list_datasets(name_like=f"n_x-{tag}")] == [names[2]]

    def test_inputs_link_runs_and_versions(self, store: MetadataStore) -> None:
        name = _name()
        train = store.create_dataset_version(new(name, "train"))
        test = store.create_dataset_version(new(name, "test"))
        run = _run(store)
        made = store.log_dataset_input(run, name, 1, "training")
        assert (made.run_id, made.name, made.version, made.context) == (run, name, 1, "training")
        assert store.log_dataset_input(run, name, 1, "training") == made  # said again: no change
        store.log_dataset_input(run, name, 2, "test")
        assert [(i.version, i.context) for i in store.list_run_inputs(run)] == [
            (train.version, "training"), (test.version, "test")]
        other = _run(store)
        store.log_dataset_input(other, name, 1, "validation")
        assert {i.run_id for i in store.list_dataset_runs(name, 1)} == {run, other}
        assert {(i.run_id, i.version) for i in store.list_dataset_runs(name)} == {
            (run, 1), (run, 2), (other, 1)}
        assert store.list_run_inputs(_run(store)) == []

    def test_checks_are_kept_newest_first(self, store: MetadataStore) -> None:
        name = _name()
        store.create_dataset_version(new(name))
        report = {"passed": False, "results": [{"type": "not_null", "failing": 2}]}
        first = store.save_dataset_check(DatasetCheck(name=name, version=1, suite="basic",
                                                      passed=False, failed=1, report=report))
        second = store.save_dataset_check(DatasetCheck(name=name, version=1, suite="basic",
                                                       passed=True, report={"passed": True}),
                                          user="bo")
        assert first.id is not None and first.created_at > 0 and first.report == report
        found = store.list_dataset_checks(name, 1)
        assert [c.passed for c in found] == [True, False]
        assert found[1] == first and found[0] == second
        assert len(store.list_dataset_checks(name, 1, max_results=1)) == 1

    def test_unknown_things(self, store: MetadataStore) -> None:
        name = _name()
        store.create_dataset_version(new(name))
        run = _run(store)
        assert_each_raises(NotFound, {
            "dataset": lambda: store.get_dataset(_name()),
            "latest of unknown": lambda: store.get_dataset_version(_name()),
            "version": lambda: store.get_dataset_version(name, 9),
            "versions": lambda: store.list_dataset_versions(_name()),
            "input version": lambda: store.log_dataset_input(run, name, 9),
            "input run": lambda: store.log_dataset_input(uuid.uuid4().hex, name, 1),
            "run inputs": lambda: store.list_run_inputs(uuid.uuid4().hex),
            "dataset runs": lambda: store.list_dataset_runs(_name()),
            "check": lambda: store.save_dataset_check(
                DatasetCheck(name=name, version=9, suite="s", passed=True)),
            "checks": lambda: store.list_dataset_checks(name, 9),
        })

    def test_bad_input_is_refused_before_writing(self, store: MetadataStore) -> None:
        name = _name()
        run = _run(store)
        store.create_dataset_version(new(name))
        assert_each_raises(InvalidArgument, {
            "slash in name": lambda: store.create_dataset_version(new("a/b")),
            "at in name": lambda: store.create_dataset_version(new("a@b")),
            "short digest": lambda: store.create_dataset_version(new(name, digest="abc")),
            "empty location": lambda: store.create_dataset_version(new(name, "x", location="")),
            "negative rows": lambda: store.create_dataset_version(new(name, "y", rows=-1)),
            "twice a column": lambda: store.create_dataset_version(new(name, "z", columns=[
                Column(name="a", type="int64"), Column(name="a", type="string")])),
            "escaping profile": lambda: store.create_dataset_version(
                new(name, "w", profile="../x")),
            "context": lambda: store.log_dataset_input(run, name, 1, "tuning"),
            "version zero": lambda: store.get_dataset_version(name, 0),
            "max_results": lambda: store.list_dataset_versions(name, max_results=0),
        })
        assert store.get_dataset(name).latest_version == 1


class TestSqliteDatasets(SqliteBackend, DatasetStoreContract):
    pass


class TestInMemoryDatasets(InMemorySqliteBackend, DatasetStoreContract):
    pass


class TestPostgresDatasets(PostgresBackend, DatasetStoreContract):
    pass


class TestRestDatasets(RestBackend, DatasetStoreContract):
    pass
