"""The deployment contract (DeploymentStore), on every backend.

Names carry a random part, so backends that share one database (the REST
server) keep the tests apart; lists are filtered to what the test created.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from dockyard.entities.deployment import DeploymentSpec, Route, Rollout, Scaling, Sla
from dockyard.errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from dockyard.store.base import MetadataStore
from tests.contract.backends import (
    InMemorySqliteBackend,
    PostgresBackend,
    RestBackend,
    SqliteBackend,
)
from tests.contract.test_metadata_store import assert_each_raises, in_threads


def _name() -> str:
    return f"d-{uuid.uuid4().hex[:10]}"


def spec(**fields: Any) -> DeploymentSpec:
    model = fields.pop("model", f"churn-{uuid.uuid4().hex[:8]}")
    return DeploymentSpec(**{"name": _name(), "routes": [Route(model_name=model, version="1")],
                             **fields})


def _with(base: DeploymentSpec, **fields: Any) -> DeploymentSpec:
    return DeploymentSpec(**{**base.model_dump(), **fields})


class DeploymentStoreContract:
    def test_create_and_get(self, store: MetadataStore) -> None:
        wanted = spec(environment="prod", scaling=Scaling(min_replicas=2, max_replicas=5),
                      sla=Sla(p99_ms=50, min_throughput=200), config={"port": 8000},
                      description="churn scoring")
        made = store.create_deployment(wanted, user="ana")
        assert made.spec() == wanted
        assert (made.revision, made.observed_revision, made.status) == (1, 0, "pending")
        assert made.created_by == "ana" or made.created_by.startswith("rest-user-")
        assert store.get_deployment(wanted.name) == made
        [event] = store.get_deployment_history(wanted.name)
        assert (event.action, event.revision, event.before) == ("create", 1, None)
        assert event.after["routes"][0]["version"] == "1"

    def test_name_is_unique(self, store: MetadataStore) -> None:
        first = store.create_deployment(spec())
        with pytest.raises(AlreadyExists, match="already exists"):
            store.create_deployment(spec(name=first.name))

    def test_unknown_names(self, store: MetadataStore) -> None:
        missing = "nope-" + uuid.uuid4().hex[:6]
        assert_each_raises(NotFound, {
            "get": lambda: store.get_deployment(missing),
            "history": lambda: store.get_deployment_history(missing),
            "delete": lambda: store.delete_deployment(missing),
            "status": lambda: store.set_deployment_status(missing, "healthy"),
            "update": lambda: store.update_deployment(spec()),
        })

    def test_bad_specs_are_refused_before_writing(self, store: MetadataStore) -> None:
        model = f"m-{uuid.uuid4().hex[:6]}"
        one = Route(model_name=model, version="1")
        bad = {
            "name": spec(name="Churn_Prod"),
            "environment": spec(environment="qa"),
            "target": spec(target="nomad"),
            "no routes": spec(routes=[]),
            "weights": spec(routes=[Route(model_name=model, version="1", weight=90)]),
            "two stable": spec(routes=[one, Route(model_name=model, version="2", weight=0)]),
            "shadow share": spec(routes=[one, Route(model_name=model, version="2",
                                                    role="shadow", weight=10)]),
            "twice": spec(routes=[one, Route(model_name=model, version="1", role="shadow",
                                             weight=0)]),
            "replicas": spec(scaling=Scaling(min_replicas=3, max_replicas=2)),
            "steps order": spec(rollout=Rollout(steps=[50, 10, 100])),
            "steps end": spec(rollout=Rollout(steps=[10, 50])),
            "sla": spec(sla=Sla(p99_ms=-1)),
            "cpu": spec(resources={"cpu": "lots"}),
            "two canaries": spec(routes=[
                Route(model_name=model, version="1", weight=80),
                Route(model_name=model, version="2", weight=10, role="canary"),
                Route(model_name=model, version="3", weight=10, role="canary")]),
            "idle canary": spec(routes=[one, Route(model_name=model, version="2", weight=0,
                                                   role="canary")]),
            "version": spec(routes=[Route(model_name=model, version="ä")]),
            "port": spec(config={"port": "abc"}),
            "huge": spec(config={"n": 10**20}),
            "gpu": spec(resources={"gpu": 10**20}),
            "min_requests": spec(rollout=Rollout(min_requests=10**20)),
        }
        assert_each_raises(InvalidArgument, {
            label: (lambda s=s: store.create_deployment(s)) for label, s in bad.items()})
        assert not store.list_deployments(model_name=model)

    def test_update_bumps_revision_and_keeps_history(self, store: MetadataStore) -> None:
        made = store.create_deployment(spec())
        model = made.routes[0].model_name
        routes = [Route(model_name=model, version="1", weight=90),
                  Route(model_name=model, version="2", weight=10, role="canary")]
        changed = store.update_deployment(_with(made.spec(), routes=routes), action="canary",
                                          message="try v2", user="bo",
                                          expected_revision=1)
        assert changed.revision == 2 and changed.routes == routes
        assert changed.previous_routes == []  # the stable version did not change
        assert changed.updated_at >= made.updated_at
        # A change of something else keeps the routes to roll back to.
        scaled = store.update_deployment(_with(changed.spec(), scaling=Scaling(max_replicas=4)))
        assert scaled.revision == 3 and scaled.previous_routes == []
        promoted = store.update_deployment(_with(scaled.spec(), routes=[
            Route(model_name=model, version="2")]), action="promote")
        assert promoted.previous_routes == [Route(model_name=model, version="1")]
        history = store.get_deployment_history(made.name)
        assert [e.action for e in history] == ["promote", "update", "canary", "create"]
        assert [e.revision for e in history] == [4, 3, 2, 1]
        assert history[2].message == "try v2"
        assert history[2].before == {"routes": [r.model_dump() for r in made.routes]}
        assert history[2].after == {"routes": [r.model_dump() for r in routes]}
        assert history[1].after == {"scaling": Scaling(max_replicas=4).model_dump()}
        assert store.get_deployment_history(made.name, max_results=1) == history[:1]

    def test_an_unchanged_spec_writes_nothing(self, store: MetadataStore) -> None:
        made = store.create_deployment(spec())
        assert store.update_deployment(made.spec()) == made
        assert len(store.get_deployment_history(made.name)) == 1

    def test_a_new_revision_clears_a_failure(self, store: MetadataStore) -> None:
        made = store.create_deployment(spec())
        store.set_deployment_status(made.name, "failed", "revision 1: cannot start")
        fixed = store.update_deployment(_with(made.spec(), description="fixed"))
        assert (fixed.status, fixed.message, fixed.revision) == ("pending", "", 2)

    def test_stale_revision_is_a_conflict(self, store: MetadataStore) -> None:
        made = store.create_deployment(spec())
        store.update_deployment(_with(made.spec(), description="one"), expected_revision=1)
        with pytest.raises(Conflict, match="revision 2"):
            store.update_deployment(_with(made.spec(), description="two"), expected_revision=1)
        assert store.get_deployment(made.name).description == "one"

    def test_concurrent_updates_of_one_revision_one_wins(self, store: MetadataStore) -> None:
        made = store.create_deployment(spec())

        def change(i: int) -> Any:
            try:
                return store.update_deployment(_with(made.spec(), description=str(i)),
                                               expected_revision=1)
            except Conflict as exc:
                return exc

        results = in_threads(4, change)
        assert sum(not isinstance(r, Conflict) for r in results) == 1
        assert store.get_deployment(made.name).revision == 2

    def test_status_events_only_on_change(self, store: MetadataStore) -> None:
        made = store.create_deployment(spec())
        store.set_deployment_status(made.name, "deploying", "starting 1 replica")
        for _ in range(3):
            now = store.set_deployment_status(made.name, "healthy", observed_revision=1,
                                              endpoint="http://127.0.0.1:8000")
        assert (now.status, now.observed_revision, now.endpoint) == (
            "healthy", 1, "http://127.0.0.1:8000")
        assert now.converged and now.revision == 1
        history = store.get_deployment_history(made.name)
        assert [(e.action, e.after) for e in history[:2]] == [
            ("status", {"status": "healthy"}), ("status", {"status": "deploying"})]
        assert len(history) == 3
        # A target cannot claim a revision that does not exist yet.
        assert store.set_deployment_status(made.name, "healthy",
                                           observed_revision=9).observed_revision == 1
        with pytest.raises(InvalidArgument, match="status"):
            store.set_deployment_status(made.name, "fine")

    def test_list_by_environment_and_model(self, store: MetadataStore) -> None:
        model = f"m-{uuid.uuid4().hex[:6]}"
        prod = store.create_deployment(spec(model=model, environment="prod"))
        staging = store.create_deployment(spec(model=model, environment="staging"))
        other = store.create_deployment(spec(environment="prod"))
        mine = store.list_deployments(model_name=model)
        assert [d.name for d in mine] == sorted([prod.name, staging.name])
        in_prod = {d.name for d in store.list_deployments(environment="prod")}
        assert {prod.name, other.name} <= in_prod and staging.name not in in_prod
        # Routes move with updates: the inventory follows.
        other_model = other.routes[0].model_name
        store.update_deployment(_with(staging.spec(), routes=[
            Route(model_name=other_model, version="7")]))
        assert [d.name for d in store.list_deployments(model_name=model)] == [prod.name]
        assert {d.name for d in store.list_deployments(model_name=other_model)} == {
            other.name, staging.name}
        with pytest.raises(InvalidArgument, match="environment"):
            store.list_deployments(environment="qa")

    def test_delete(self, store: MetadataStore) -> None:
        made = store.create_deployment(spec())
        store.update_deployment(_with(made.spec(), description="x"))
        assert store.delete_deployment(made.name).revision == 2
        with pytest.raises(NotFound):
            store.get_deployment(made.name)
        again = store.create_deployment(made.spec())
        assert again.revision == 1 and len(store.get_deployment_history(made.name)) == 1


class TestSqliteDeployments(SqliteBackend, DeploymentStoreContract):
    pass


class TestInMemoryDeployments(InMemorySqliteBackend, DeploymentStoreContract):
    pass


class TestPostgresDeployments(PostgresBackend, DeploymentStoreContract):
    pass


class TestRestDeployments(RestBackend, DeploymentStoreContract):
    pass
