"""The registry contract (RegistryStore, which every MetadataStore is), run against every backend.

``RegistryStoreContract`` holds the tests; each ``Test<Backend>Registry``
subclass only provides the ``store`` fixture. As in the metadata store
suite, a backend may share one database across tests: names carry a random
suffix and searches stay inside what the test created.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import numpy as np
import pytest
from sklearn.dummy import DummyClassifier

from dockyard.client import Client
from dockyard.entities import (
    AliasChange,
    LineageEdge,
    ModelStage,
    ModelVersion,
    ModelVersionStatus,
    Run,
    RunSource,
)
from dockyard.errors import AlreadyExists, InvalidArgument, InvalidState, NotFound
from dockyard.manage.uris import parse_model_uri
from dockyard.store.base import MetadataStore
from dockyard.store.http import USER_HEADER
from tests.contract.backends import (
    InMemorySqliteBackend,
    PostgresBackend,
    RestBackend,
    SqliteBackend,
)
from tests.contract.test_metadata_store import assert_each_raises, in_threads, unique
from tests.services.server import ServerProcess

DIGEST = "ab" * 32
SIGNATURE = {"inputs": {"columns": [{"name": "age", "dtype": "int64"}]},
             "outputs": {"tensor": {"dtype": "float64", "shape": [-1]}}}
SOURCE = RunSource(user="ann", entry_point="train.py", git_commit="0f" * 20, git_dirty=True,
                   python_version="3.11.9")


def new_run(store: MetadataStore, source: RunSource | None = SOURCE) -> Run:
    experiment = store.create_experiment(unique("exp"))
    return store.create_run(experiment.id, name=unique("run"), source=source)


def model_name() -> str:
    return unique("model")


class RegistryStoreContract:
    """Every registry backend passes these."""

    @pytest.fixture
    def run(self, store: MetadataStore) -> Run:
        return new_run(store)

    @pytest.fixture
    def model(self, store: MetadataStore) -> str:
        return store.create_registered_model(model_name()).name

    def register(self, store: MetadataStore, name: str, run: Run, n: int = 1,
                 path: str = "model") -> list[ModelVersion]:
        return [store.create_model_version(name, f"runs:/{run.id}/{path}") for _ in range(n)]

    # registered models ----------------------------------------------------------------
    def test_create_and_get_model(self, store: MetadataStore) -> None:
        name = model_name()
        created = store.create_registered_model(
            name, "Predicts churn", tags={"team": "growth"}, owner="ann", task="classification")
        assert (created.name, created.description, created.owner, created.task) == (
            name, "Predicts churn", "ann", "classification")
        assert created.tags == {"team": "growth"}
        assert created.latest_version is None and created.aliases == {}
        assert created.created_at == created.updated_at > 0
        assert store.get_registered_model(name) == created

    def test_duplicate_model_name(self, store: MetadataStore, model: str) -> None:
        with pytest.raises(AlreadyExists, match=re.escape(repr(model))):
            store.create_registered_model(model)
        name = model_name()
        results = in_threads(6, lambda _i: store.create_registered_model(name))
        winners = [r for r in results if not isinstance(r, Exception)]
        assert len(winners) == 1, results
        assert all(isinstance(r, AlreadyExists) for r in results if isinstance(r, Exception)), results

    def test_bad_model_names(self, store: MetadataStore) -> None:
        bad: dict[str, Any] = {
            "empty": "", "blank": "   ", "slash": "a/b", "at": "a@b", "long": "m" * 201,
            "leading space": " m", "trailing space": "m ", "dots": "..", "control": "a\nb",
            "nul": "a\x00b", "not a string": 5,
        }
        assert_each_raises(InvalidArgument, {
            f"create {label}": lambda n=n: store.create_registered_model(n) for label, n in bad.items()
        })
        assert_each_raises(InvalidArgument, {
            f"get {label}": lambda n=n: store.get_registered_model(n)
            for label, n in bad.items() if isinstance(n, str) and n.strip()
        })
        with pytest.raises(InvalidArgument, match="'/' or '@'"):
            store.create_registered_model("churn/v2")
        with pytest.raises(InvalidArgument, match="200"):
            store.create_registered_model("m" * 201)
        store.create_registered_model("m" * 190 + uuid.uuid4().hex[:10])  # 200 is fine

    def test_bad_model_fields(self, store: MetadataStore) -> None:
        name = model_name()
        assert_each_raises(InvalidArgument, {
            "description": lambda: store.create_registered_model(name, "d" * 10_001),
            "owner": lambda: store.create_registered_model(name, owner="o" * 251),
            "task": lambda: store.create_registered_model(name, task="t\x00"),
            "tag key": lambda: store.create_registered_model(name, tags={"bad key!": "v"}),
            "tag value": lambda: store.create_registered_model(name, tags={"k": "v" * 8001}),
        })
        with pytest.raises(NotFound):
            store.get_registered_model(name)

    def test_get_unknown_model(self, store: MetadataStore) -> None:
        name = model_name()
        with pytest.raises(NotFound, match=re.escape(repr(name))):
            store.get_registered_model(name)

    def test_search_models(self, store: MetadataStore) -> None:
        prefix = unique("search")
        names = [f"{prefix}-{c}" for c in "cab"]
        for n in names:
            store.create_registered_model(n)
        assert [m.name for m in store.search_registered_models(f"{prefix}%")] == sorted(names)
        first = store.search_registered_models(f"{prefix}%", max_results=2)
        assert [m.name for m in first] == sorted(names)[:2] and first.next_page_token
        rest = store.search_registered_models(f"{prefix}%", 2, first.next_page_token)
        assert [m.name for m in rest] == sorted(names)[2:] and rest.next_page_token is None
        assert [m.name for m in store.search_registered_models(f"{prefix}-a")] == [f"{prefix}-a"]
        assert store.search_registered_models(f"{prefix.upper()}%").items == []  # case-sensitive
        assert_each_raises(InvalidArgument, {
            "max_results 0": lambda: store.search_registered_models(max_results=0),
            "max_results huge": lambda: store.search_registered_models(max_results=10**6),
            "token": lambda: store.search_registered_models(page_token="garbage"),
        })

    def test_update_model(self, store: MetadataStore) -> None:
        name = model_name()
        created = store.create_registered_model(name, "old", tags={"a": "1"}, owner="ann")
        updated = store.update_registered_model(name, description="new", tags={"b": "2"},
                                                task="regression")
        assert (updated.description, updated.owner, updated.task) == ("new", "ann", "regression")
        assert updated.tags == {"a": "1", "b": "2"}
        assert updated.updated_at >= created.updated_at and updated.created_at == created.created_at
        assert store.update_registered_model(name, owner="bob", tags={"a": "3"}).tags == {
            "a": "3", "b": "2"}
        assert store.get_registered_model(name).owner == "bob"
        with pytest.raises(NotFound):
            store.update_registered_model(model_name(), description="x")
        with pytest.raises(InvalidArgument):
            store.update_registered_model(name, owner="o" * 251)

    # versions ---------------------------------------------------------------------------
    def test_versions_auto_increment(self, store: MetadataStore, model: str, run: Run) -> None:
        v1 = store.create_model_version(
            model, f"runs:/{run.id}/model", DIGEST, SIGNATURE, "first", {"data": "2024-06"},
            "# Churn\n\nA card.")
        assert (v1.name, v1.version, v1.source, v1.run_id) == (model, 1, f"runs:/{run.id}/model", run.id)
        assert (v1.package_digest, v1.signature, v1.description, v1.tags, v1.card) == (
            DIGEST, SIGNATURE, "first", {"data": "2024-06"}, "# Churn\n\nA card.")
        assert v1.stage is ModelStage.NONE and v1.status is ModelVersionStatus.READY
        assert v1.aliases == [] and not v1.locked and v1.uri == f"models:/{model}/1"
        assert store.get_model_version(model, 1) == v1
        v2, v3 = self.register(store, model, run, 2, path="nested/model")
        assert (v2.version, v3.version) == (2, 3)
        assert v2.source == f"runs:/{run.id}/nested/model" and v2.signature is None
        assert store.get_registered_model(model).latest_version == 3
        assert [mv.version for mv in store.search_model_versions(model)] == [3, 2, 1]
        page = store.search_model_versions(model, max_results=2)
        assert [mv.version for mv in page] == [3, 2]
        assert [mv.version for mv in store.search_model_versions(
            model, max_results=2, page_token=page.next_page_token)] == [1]

    def test_search_versions_by_run_and_stage(self, store: MetadataStore, run: Run) -> None:
        a, b = sorted([model_name(), model_name()])
        for n in (a, b):
            store.create_registered_model(n)
        self.register(store, a, run, 2)
        self.register(store, b, run)
        self.register(store, b, new_run(store))
        store.transition_stage(a, 1, "Staging")
        found = [(mv.name, mv.version) for mv in store.search_model_versions(run_id=run.id)]
        assert found == [(a, 2), (a, 1), (b, 1)]
        assert [mv.version for mv in store.search_model_versions(a, stage="staging")] == [1]
        assert [mv.version for mv in store.search_model_versions(a, stage=ModelStage.NONE)] == [2]
        assert store.search_model_versions(b, run_id=run.id).items[0].version == 1
        assert store.search_model_versions(run_id=uuid.uuid4().hex).items == []
        assert_each_raises(InvalidArgument, {
            "stage": lambda: store.search_model_versions(a, stage="Prod"),
            "run id": lambda: store.search_model_versions(run_id="not-a-run"),
            "name": lambda: store.search_model_versions("a/b"),
            "max_results": lambda: store.search_model_versions(a, max_results=0),
        })
        with pytest.raises(NotFound):
            store.search_model_versions(model_name())

    def test_unknown_versions(self, store: MetadataStore, model: str, run: Run) -> None:
        self.register(store, model, run)
        with pytest.raises(NotFound, match="has no version 2"):
            store.get_model_version(model, 2)
        missing = model_name()
        with pytest.raises(NotFound, match=f"{missing}.*does not exist"):
            store.get_model_version(missing, 1)
        assert_each_raises(InvalidArgument, {
            f"version {bad!r}": lambda bad=bad: store.get_model_version(model, bad)
            for bad in (0, -1, 2**31, "abc", True, 1.5, None)
        })
        assert store.get_model_version(model, "1").version == 1  # digits are fine

    def test_version_numbers_are_never_reused(self, store: MetadataStore, model: str, run: Run) -> None:
        self.register(store, model, run, 3)
        store.delete_model_version(model, 3)
        store.delete_model_version(model, 2)
        assert store.get_registered_model(model).latest_version == 1
        assert self.register(store, model, run)[0].version == 4

    def test_concurrent_registration(self, store: MetadataStore, model: str, run: Run) -> None:
        def work(_i: int) -> list[int]:
            return [mv.version for mv in self.register(store, model, run, 5)]

        results = in_threads(8, work)
        assert not [r for r in results if isinstance(r, Exception)], results
        numbers = [n for r in results for n in r]  # type: ignore[union-attr]
        assert sorted(numbers) == list(range(1, 41))
        assert all(r == sorted(r) for r in results)  # type: ignore[type-var]
        assert store.get_registered_model(model).latest_version == 40

    def test_bad_registrations_write_nothing(self, store: MetadataStore, model: str, run: Run) -> None:
        src = f"runs:/{run.id}/model"
        assert_each_raises(InvalidArgument, {
            "scheme": lambda: store.create_model_version(model, "s3://bucket/model"),
            "models uri": lambda: store.create_model_version(model, f"models:/{model}/1"),
            "short run id": lambda: store.create_model_version(model, "runs:/abc/model"),
            "no path": lambda: store.create_model_version(model, f"runs:/{run.id}"),
            "empty path": lambda: store.create_model_version(model, f"runs:/{run.id}/"),
            "escaping path": lambda: store.create_model_version(model, f"runs:/{run.id}/../x"),
            "absolute path": lambda: store.create_model_version(model, f"runs:/{run.id}//etc"),
            "digest case": lambda: store.create_model_version(model, src, DIGEST.upper()),
            "digest length": lambda: store.create_model_version(model, src, "ab" * 16),
            "digest prefix": lambda: store.create_model_version(model, src, "sha256:" + DIGEST),
            "signature list": lambda: store.create_model_version(model, src, signature=[1]),  # type: ignore[arg-type]
            "signature not JSON": lambda: store.create_model_version(
                model, src, signature={"levels": {1, 2}}),
            "signature size": lambda: store.create_model_version(
                model, src, signature={"x": "y" * 1_000_001}),
            "card": lambda: store.create_model_version(model, src, card="c" * 200_001),
            "description": lambda: store.create_model_version(model, src, description="\x00"),
            "tags": lambda: store.create_model_version(model, src, tags={"../k": "v"}),
            "model name": lambda: store.create_model_version("a@b", src),
        })
        with pytest.raises(InvalidArgument, match="runs:/<run_id>/<path>"):
            store.create_model_version(model, "s3://bucket/model")
        with pytest.raises(NotFound, match="run"):
            store.create_model_version(model, f"runs:/{uuid.uuid4().hex}/model")
        with pytest.raises(NotFound, match="does not exist"):
            store.create_model_version(model_name(), src)
        assert store.get_registered_model(model).latest_version is None
        assert self.register(store, model, run)[0].version == 1

    def test_source_path_is_normalised(self, store: MetadataStore, model: str, run: Run) -> None:
        mv = store.create_model_version(model, f"runs:/{run.id}/./pkg//model/")
        assert mv.source == f"runs:/{run.id}/pkg/model"

    def test_update_version_keeps_the_package(self, store: MetadataStore, model: str, run: Run) -> None:
        v1 = store.create_model_version(model, f"runs:/{run.id}/model", DIGEST, SIGNATURE,
                                        tags={"a": "1"})
        edited = store.update_model_version(model, 1, description="tuned", tags={"b": "2"},
                                            card="## Card")
        assert (edited.description, edited.card, edited.tags) == ("tuned", "## Card", {"a": "1", "b": "2"})
        package = ("source", "run_id", "package_digest", "signature", "created_at")
        assert edited.model_dump(include=set(package)) == v1.model_dump(include=set(package))
        with pytest.raises(TypeError):
            store.update_model_version(model, 1, source="runs:/x/y")  # type: ignore[call-arg]
        # a locked (Production) version takes metadata edits; its package still cannot change
        store.transition_stage(model, 1, "Production")
        locked = store.update_model_version(model, 1, card="## Card v2")
        assert locked.locked and locked.card == "## Card v2" and locked.description == "tuned"
        assert locked.model_dump(include=set(package)) == v1.model_dump(include=set(package))
        with pytest.raises(NotFound):
            store.update_model_version(model, 2, description="x")
        with pytest.raises(InvalidArgument):
            store.update_model_version(model, 1, card="\x00")
        assert store.get_model_version(model, 1).card == "## Card v2"

    # aliases -------------------------------------------------------------------------------
    def test_aliases(self, store: MetadataStore, model: str, run: Run) -> None:
        self.register(store, model, run, 3)
        assert store.set_alias(model, "champion", 1) == AliasChange(
            name=model, alias="champion", version=1, previous_version=None)
        assert store.set_alias(model, "champion", 2) == AliasChange(
            name=model, alias="champion", version=2, previous_version=1)
        assert store.set_alias(model, "champion", 2).previous_version == 2  # idempotent
        store.set_alias(model, "challenger", 3)
        store.set_alias(model, "shadow-B_2", 3)
        assert store.get_model_version_by_alias(model, "champion").version == 2
        assert store.get_registered_model(model).aliases == {
            "challenger": 3, "champion": 2, "shadow-B_2": 3}
        assert store.get_model_version(model, 3).aliases == ["challenger", "shadow-B_2"]
        assert store.get_model_version(model, 1).aliases == []
        assert store.delete_alias(model, "champion") == AliasChange(
            name=model, alias="champion", version=None, previous_version=2)
        with pytest.raises(NotFound, match="has no alias 'champion'"):
            store.get_model_version_by_alias(model, "champion")
        with pytest.raises(NotFound, match="has no alias"):
            store.delete_alias(model, "champion")
        store.delete_model_version(model, 3)  # takes its aliases with it
        assert store.get_registered_model(model).aliases == {}

    def test_alias_errors(self, store: MetadataStore, model: str, run: Run) -> None:
        self.register(store, model, run)
        with pytest.raises(NotFound, match="has no version 7"):
            store.set_alias(model, "champion", 7)
        with pytest.raises(NotFound, match="does not exist"):
            store.set_alias(model_name(), "champion", 1)
        with pytest.raises(NotFound, match="does not exist"):
            store.get_model_version_by_alias(model_name(), "champion")
        with pytest.raises(InvalidArgument, match="reserved"):
            store.set_alias(model, "latest", 1)
        assert_each_raises(InvalidArgument, {
            f"alias {bad!r}": lambda bad=bad: store.set_alias(model, bad, 1)
            for bad in ("", "1st", "a b", "a/b", "a@b", "x" * 41, "Latest", "caf\u00e9", "-a")
        })
        with pytest.raises(InvalidArgument):
            store.set_alias(model, "champion", 0)
        assert store.get_registered_model(model).aliases == {}

    def test_concurrent_alias_moves(self, store: MetadataStore, model: str, run: Run) -> None:
        self.register(store, model, run, 6)
        results = in_threads(6, lambda i: store.set_alias(model, "champion", i + 1))
        changes = [r for r in results if isinstance(r, AliasChange)]
        assert len(changes) == 6, results
        final = store.get_model_version_by_alias(model, "champion").version
        # each move saw the one before it: the moves form one chain from None to the final version
        previous = sorted((c.previous_version or 0) for c in changes)
        assert previous == sorted([0] + [n for n in range(1, 7) if n != final])

    # stages ---------------------------------------------------------------------------------
    def test_stage_transitions(self, store: MetadataStore, model: str, run: Run) -> None:
        self.register(store, model, run, 4)
        t = store.transition_stage(model, 1, "staging")
        assert t.previous_stage is ModelStage.NONE and t.model_version.stage is ModelStage.STAGING
        assert t.archived == []
        t = store.transition_stage(model, 1, ModelStage.PRODUCTION)
        assert t.previous_stage is ModelStage.STAGING and t.model_version.locked
        store.transition_stage(model, 2, "Production")  # without archive_existing: both stay
        assert [mv.version for mv in store.search_model_versions(model, stage="Production")] == [2, 1]
        store.transition_stage(model, 4, "Staging")
        t = store.transition_stage(model, 3, "PRODUCTION", archive_existing=True)
        assert t.archived == [1, 2] and t.model_version.stage is ModelStage.PRODUCTION
        stages = {mv.version: mv.stage for mv in store.search_model_versions(model)}
        assert stages == {1: ModelStage.ARCHIVED, 2: ModelStage.ARCHIVED,
                          3: ModelStage.PRODUCTION, 4: ModelStage.STAGING}
        same = store.transition_stage(model, 3, "Production", archive_existing=True)
        assert same.previous_stage is ModelStage.PRODUCTION and same.archived == []
        assert store.transition_stage(model, 1, "None").model_version.stage is ModelStage.NONE

    def test_concurrent_promotions(self, store: MetadataStore, model: str, run: Run) -> None:
        self.register(store, model, run, 5)
        results = in_threads(5, lambda i: store.transition_stage(
            model, i + 1, "Production", archive_existing=True))
        assert not [r for r in results if isinstance(r, Exception)], results
        [live] = store.search_model_versions(model, stage="Production").items
        archived = sorted(n for r in results for n in r.archived)  # type: ignore[union-attr]
        assert archived == [n for n in range(1, 6) if n != live.version]

    def test_stage_errors(self, store: MetadataStore, model: str, run: Run) -> None:
        self.register(store, model, run)
        with pytest.raises(InvalidArgument, match="'Staging', 'Production'"):
            store.transition_stage(model, 1, "Prod")
        with pytest.raises(InvalidArgument, match="'None'"):
            store.transition_stage(model, 1, None)  # type: ignore[arg-type]
        with pytest.raises(InvalidArgument, match="archive_existing"):
            store.transition_stage(model, 1, "Archived", archive_existing=True)
        with pytest.raises(InvalidArgument, match="archive_existing"):
            store.transition_stage(model, 1, "Production", archive_existing="yes")  # type: ignore[arg-type]
        with pytest.raises(NotFound, match="has no version 2"):
            store.transition_stage(model, 2, "Staging")
        with pytest.raises(NotFound):
            store.transition_stage(model_name(), 1, "Staging")
        assert store.get_model_version(model, 1).stage is ModelStage.NONE

    def test_production_locks_deletes(self, store: MetadataStore, model: str, run: Run) -> None:
        self.register(store, model, run, 2)
        store.set_alias(model, "champion", 1)
        store.transition_stage(model, 1, "Production")
        with pytest.raises(InvalidState, match="Production"):
            store.delete_model_version(model, 1)
        with pytest.raises(InvalidState, match=r"Production \(1\)"):
            store.delete_registered_model(model)
        assert store.get_registered_model(model).latest_version == 2
        store.transition_stage(model, 1, "Archived")
        gone = store.delete_registered_model(model)
        assert gone.name == model and gone.aliases == {"champion": 1} and gone.latest_version == 2
        with pytest.raises(NotFound):
            store.get_registered_model(model)
        with pytest.raises(NotFound):
            store.get_model_version(model, 1)
        with pytest.raises(NotFound):
            store.delete_registered_model(model)
        # the name can be registered again; numbering starts over
        store.create_registered_model(model)
        assert self.register(store, model, run)[0].version == 1

    def test_delete_version(self, store: MetadataStore, model: str, run: Run) -> None:
        v1 = self.register(store, model, run)[0]
        store.update_model_version(model, 1, tags={"k": "v"})
        gone = store.delete_model_version(model, 1)
        assert gone.model_dump(exclude={"tags", "updated_at"}) == v1.model_dump(
            exclude={"tags", "updated_at"}) and gone.tags == {"k": "v"}
        with pytest.raises(NotFound):
            store.delete_model_version(model, 1)
        assert store.search_model_versions(model).items == []

    # URIs and lineage -------------------------------------------------------------------------
    def test_resolve_model_uris(self, store: MetadataStore, model: str, run: Run) -> None:
        client = Client(store=store)
        self.register(store, model, run, 2)
        store.create_model_version(model, f"runs:/{run.id}/other/pkg")
        store.set_alias(model, "champion", 2)
        store.transition_stage(model, 1, "Production")
        expect = {
            f"models:/{model}/1": (1, "model"), f"models:/{model}/3": (3, "other/pkg"),
            f"models:/{model}@champion": (2, "model"), f"models:/{model}/latest": (3, "other/pkg"),
            f"models:/{model}/Production": (1, "model"), f"models:/{model}/production": (1, "model"),
        }
        for uri, (version, path) in expect.items():
            resolved = client.resolve_model_uri(uri)
            assert resolved.model_version is not None, uri
            assert (resolved.model_version.version, resolved.run_id, resolved.artifact_path) == (
                version, run.id, path), uri
            assert resolved.source == f"runs:/{run.id}/{path}" and resolved.uri == uri
        by_run = client.resolve_model_uri(f"runs:/{run.id}/model")
        assert (by_run.run_id, by_run.artifact_path, by_run.model_version) == (run.id, "model", None)

    def test_resolve_what_does_not_exist(self, store: MetadataStore, model: str, run: Run) -> None:
        client = Client(store=store)
        self.register(store, model, run)
        missing = model_name()
        cases = {
            f"models:/{missing}/1": f"{missing}.*does not exist",
            f"models:/{model}/9": "has no version 9",
            f"models:/{model}@champion": "has no alias 'champion'",
            f"models:/{model}/Staging": "has no version in Staging",
            f"models:/{missing}/latest": f"{missing}.*does not exist",
            f"runs:/{'0' * 32}/model": "does not exist",
        }
        for uri, message in cases.items():
            with pytest.raises(NotFound, match=message):
                client.resolve_model_uri(uri)
        store.create_registered_model(empty := model_name())
        with pytest.raises(NotFound, match="has no version"):
            client.resolve_model_uri(f"models:/{empty}/latest")

    def test_register_model_through_the_client(self, store: MetadataStore, run: Run) -> None:
        client = Client(store=store)
        name = model_name()
        with pytest.raises(NotFound, match="no model package at runs:/.*log one"):
            client.register_model(f"runs:/{run.id}/model", name)
        model = DummyClassifier().fit(np.zeros((4, 2)), [0, 1, 0, 1])
        info = client.log_model(run.id, model, "model", input_example=np.zeros((2, 2)))
        v1 = client.register_model(info.uri, name)
        assert (v1.name, v1.version, v1.package_digest) == (name, 1, info.package_digest)
        assert v1.signature == info.signature and v1.signature is not None
        assert client.get_registered_model(name).owner == client.user
        copy = client.register_model(f"models:/{name}/1", other := model_name(), description="c")
        assert (copy.name, copy.source, copy.package_digest, copy.signature) == (
            other, v1.source, v1.package_digest, v1.signature)
        assert client.register_model(info.uri, name).version == 2

    def test_lineage_of_a_version(self, store: MetadataStore, model: str, run: Run) -> None:
        client = Client(store=store)
        self.register(store, model, run, 2)
        store.set_alias(model, "champion", 2)
        graph = client.get_lineage(f"models:/{model}@champion")
        run_id, version_id = f"runs:/{run.id}", f"models:/{model}/2"
        assert graph.root == version_id
        commit = SOURCE.git_commit
        assert {(n.id, n.type) for n in graph.nodes} == {
            (version_id, "model_version"), (f"models:/{model}", "registered_model"),
            (run_id, "run"), (f"experiment:{run.experiment_id}", "experiment"),
            (f"code:{commit}+dirty", "code"), (f"environment:{run.id}", "environment"),
        }
        assert set(graph.edges) == {
            LineageEdge(source=run_id, target=version_id, relation="produced"),
            LineageEdge(source=f"models:/{model}", target=version_id, relation="has_version"),
            LineageEdge(source=f"experiment:{run.experiment_id}", target=run_id, relation="contains"),
            LineageEdge(source=f"code:{commit}+dirty", target=run_id, relation="used_by"),
            LineageEdge(source=f"environment:{run.id}", target=run_id, relation="used_by"),
        }
        assert graph.node(version_id).attrs["aliases"] == ["champion"]
        run_attrs = graph.node(run_id).attrs
        assert (run_attrs["git_commit"], run_attrs["git_dirty"], run_attrs["entry_point"],
                run_attrs["python_version"]) == (commit, True, "train.py", "3.11.9")
        assert graph.node(f"environment:{run.id}").label == "Python 3.11.9"

    def test_lineage_of_a_run(self, store: MetadataStore, run: Run) -> None:
        client = Client(store=store)
        a, b = model_name(), model_name()
        for n in (a, b):
            store.create_registered_model(n)
        self.register(store, a, run, 2)
        self.register(store, b, run)
        bare = new_run(store, source=None)  # no commit, no Python version: no code or env node
        for uri in (f"runs:/{run.id}", f"runs:/{run.id}/model"):
            graph = client.get_lineage(uri)
            assert graph.root == f"runs:/{run.id}"
            produced = {e.target for e in graph.edges if e.relation == "produced"}
            assert produced == {f"models:/{a}/1", f"models:/{a}/2", f"models:/{b}/1"}
        graph = client.get_lineage(f"runs:/{bare.id}")
        assert sorted(n.type for n in graph.nodes) == ["experiment", "run"]
        with pytest.raises(NotFound):
            client.get_lineage(f"runs:/{uuid.uuid4().hex}")
        with pytest.raises(InvalidArgument):
            client.get_lineage("runs:/nope")


# URIs parse the same everywhere: no store involved ----------------------------------------------
RUN_ID = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize("uri, fields", [
    ("models:/churn/3", {"kind": "models", "name": "churn", "version": 3}),
    ("models:/churn@champion", {"kind": "models", "name": "churn", "alias": "champion"}),
    ("models:/churn/latest", {"kind": "models", "name": "churn", "latest": True}),
    ("models:/churn/LATEST", {"kind": "models", "name": "churn", "latest": True}),
    ("models:/churn/Production", {"kind": "models", "name": "churn", "stage": ModelStage.PRODUCTION}),
    ("models:/churn/staging", {"kind": "models", "name": "churn", "stage": ModelStage.STAGING}),
    ("models:/my model v2/10", {"kind": "models", "name": "my model v2", "version": 10}),
    (f"runs:/{RUN_ID}/model", {"kind": "runs", "run_id": RUN_ID, "artifact_path": "model"}),
    (f"runs:/{RUN_ID}/a/./b/", {"kind": "runs", "run_id": RUN_ID, "artifact_path": "a/b"}),
])
def test_parse_model_uri(uri: str, fields: dict[str, Any]) -> None:
    parsed = parse_model_uri(uri)
    assert parsed.uri == uri
    for key, value in fields.items():
        assert getattr(parsed, key) == value, key


@pytest.mark.parametrize("uri, message", [
    ("models:/churn", "names no version or alias"),
    ("models:/churn/", "names no version or alias"),
    ("models:/churn/three", "'three', which is not a version number, 'latest' or a stage"),
    ("models:/churn/3/extra", "not a version number"),
    ("models:/churn/Archived", "not a version number, 'latest' or a stage"),
    ("models:/churn/0", "from 1 to 2147483647"),
    ("models:/churn/99999999999", "from 1 to 2147483647"),
    ("models:/churn@", "alias '' is not valid"),
    ("models:/churn@latest", "reserved"),
    ("models:/churn@two words", "is not valid"),
    ("models:/@champion", "has no model name"),
    ("models:/ churn/1", "whitespace"),
    ("models://registry/churn/1", "registry host"),
    ("models:churn/1", "unknown scheme"),
    ("s3://bucket/model", "unknown scheme"),
    ("", "unknown scheme"),
    ("runs:/abc/model", "32 lowercase hex"),
    (f"runs:/{RUN_ID}", "names no folder"),
    (f"runs:/{RUN_ID}/../up", "escapes"),
    (f"runs:/{RUN_ID.upper()}/model", "32 lowercase hex"),
])
def test_malformed_model_uris(uri: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=re.escape(message)) as info:
        parse_model_uri(uri)
    assert repr(uri) in info.value.message  # the message quotes the URI


def test_a_uri_must_be_a_string() -> None:
    with pytest.raises(InvalidArgument, match="must be a string"):
        parse_model_uri(3)  # type: ignore[arg-type]


# backends ---------------------------------------------------------------------------------------
class TestSqliteRegistry(SqliteBackend, RegistryStoreContract):
    pass


class TestInMemorySqliteRegistry(InMemorySqliteBackend, RegistryStoreContract):
    pass


class TestPostgresRegistry(PostgresBackend, RegistryStoreContract):
    pass


class TestRestRegistry(RestBackend, RegistryStoreContract):
    """The server audits each write."""

    @staticmethod
    def actor(store: MetadataStore) -> str:
        return str(store.http.client.headers[USER_HEADER])  # type: ignore[attr-defined]

    def test_alias_moves_are_audited(self, store: MetadataStore, model: str, run: Run) -> None:
        self.register(store, model, run, 2)
        store.set_alias(model, "champion", 1)
        store.set_alias(model, "champion", 2)
        store.delete_alias(model, "champion")
        events = store.search_audit_events(resource_type="model-alias",
                                           resource_id=f"{model}@champion")
        assert [(e.action, e.request, e.actor) for e in events] == [
            ("set_alias", {"alias": "champion", "from": None, "to": 1}, self.actor(store)),
            ("set_alias", {"alias": "champion", "from": 1, "to": 2}, self.actor(store)),
            ("delete_alias", {"alias": "champion", "from": 2, "to": None}, self.actor(store)),
        ]
        with pytest.raises(NotFound):
            store.set_alias(model, "champion", 9)  # a refused change leaves no event
        assert len(store.search_audit_events(resource_type="model-alias",
                                             resource_id=f"{model}@champion")) == 3

    def test_registry_writes_are_audited(self, store: MetadataStore, model: str, run: Run) -> None:
        self.register(store, model, run, 2)
        store.transition_stage(model, 1, "Production")
        store.update_model_version(model, 1, description="locked edit", card="# Card")
        store.transition_stage(model, 2, "Production", archive_existing=True)
        store.update_registered_model(model, owner="bob")
        mine = [(e.resource_type, e.resource_id, e.action)
                for e in store.search_audit_events(actor=self.actor(store))
                if e.resource_type in ("registered-model", "model-version")]
        assert mine == [
            ("registered-model", model, "create_registered_model"),
            ("model-version", f"{model}/1", "create_model_version"),
            ("model-version", f"{model}/2", "create_model_version"),
            ("model-version", f"{model}/1", "transition_stage"),
            ("model-version", f"{model}/1", "update_model_version"),
            ("model-version", f"{model}/2", "transition_stage"),
            ("registered-model", model, "update_registered_model"),
        ]
        v1 = store.search_audit_events(resource_type="model-version", resource_id=f"{model}/1")
        assert v1[0].request == {"source": f"runs:/{run.id}/model", "run_id": run.id,
                                 "package_digest": None}
        assert v1[1].request == {"from": "None", "to": "Production", "archive_existing": False,
                                 "archived": []}
        edit = v1[2].request
        assert edit["stage"] == "Production" and edit["locked"] is True
        assert edit["description"] == "locked edit" and edit["card"]["chars"] == 6
        [promote] = store.search_audit_events(resource_type="model-version", resource_id=f"{model}/2")[1:]
        assert promote.request["archived"] == [1]

    def test_lineage_and_resolve_routes(self, store: MetadataStore, dockyard_server: ServerProcess,
                                        model: str, run: Run) -> None:
        self.register(store, model, run)
        store.set_alias(model, "champion", 1)
        uri = f"models:/{model}@champion"
        api = dockyard_server.url + "/api/v1"
        graph = httpx.get(api + "/lineage", params={"uri": uri}).json()
        assert graph == Client(store=store).get_lineage(uri).model_dump(mode="json")
        resolved = httpx.get(api + "/models:resolve", params={"uri": uri}).json()
        assert (resolved["run_id"], resolved["artifact_path"]) == (run.id, "model")
        assert resolved["model_version"]["version"] == 1
