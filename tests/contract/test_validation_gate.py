"""Validations of model versions and the promotion gate, run against every backend.

``ValidationGateContract`` holds the tests; each ``Test<Backend>ValidationGate``
subclass only provides the ``store`` fixture. The gate lives in the SQL
store's transactions, so the embedded store and a server enforce it alike.
"""

from __future__ import annotations

import math
import re
from typing import Any

import pytest

from dockyard.entities import ModelStage, ModelValidation, NewModelValidation, Run
from dockyard.errors import InvalidArgument, InvalidState, NotFound, ValidationRequired
from dockyard.store.base import MetadataStore
from dockyard.store.http import USER_HEADER
from dockyard.validation.policy import Policy
from tests.contract.backends import (
    InMemorySqliteBackend,
    PostgresBackend,
    RestBackend,
    SqliteBackend,
)
from tests.contract.test_metadata_store import assert_each_raises, in_threads
from tests.contract.test_registry_store import model_name, new_run

RELEASE = Policy.parse({"name": "release", "rules": ["accuracy >= 0.85", "auc > 0.9"]})
STRICTER = Policy.parse({"name": "release", "rules": ["accuracy >= 0.9", "auc > 0.9"]})
OVERRIDE = "override_validation_gate"


def judged(policy: Policy, **values: float) -> NewModelValidation:
    """A validation as a report judged by ``policy`` would be recorded."""
    outcome = policy.evaluate(values)
    return NewModelValidation(passed=outcome.passed, policy_name=policy.name,
                              policy_digest=policy.digest, values=values,
                              summary=outcome.summary,
                              report_uri=f"runs:/{'0' * 32}/validations/x/report.json")


GOOD = {"accuracy": 0.91, "auc": 0.95}
BAD = {"accuracy": 0.82, "auc": 0.95}


class ValidationGateContract:
    """Every registry backend passes these."""

    @staticmethod
    def actor(store: MetadataStore, user: str) -> str:
        """Who a backend records for a change made as ``user``."""
        return user

    @pytest.fixture
    def run(self, store: MetadataStore) -> Run:
        return new_run(store)

    @pytest.fixture
    def model(self, store: MetadataStore, run: Run) -> str:
        """A model with two versions and no policy."""
        name = store.create_registered_model(model_name()).name
        for _ in range(2):
            store.create_model_version(name, f"runs:/{run.id}/model")
        return name

    @pytest.fixture
    def gated(self, store: MetadataStore, model: str) -> str:
        """The same, gated by RELEASE; champion is protected."""
        store.set_model_policy(model, RELEASE.to_dict(), RELEASE.digest, ["champion"])
        return model

    def overrides(self, store: MetadataStore, name: str, version: int) -> list[dict[str, Any]]:
        events = store.search_audit_events(resource_type="model-version",
                                           resource_id=f"{name}/{version}")
        return [e.request | {"actor": e.actor} for e in events if e.action == OVERRIDE]

    # validations ---------------------------------------------------------------------------
    def test_record_and_list_validations(self, store: MetadataStore, model: str) -> None:
        first = store.record_validation(model, 1, judged(RELEASE, **BAD), user="ann")
        assert isinstance(first, ModelValidation) and re.fullmatch(r"[0-9a-f]{32}", first.id)
        assert (first.name, first.version, first.passed, first.policy_name) == (
            model, 1, False, "release")
        assert (first.policy_digest, first.values) == (RELEASE.digest, BAD)
        assert "accuracy >= 0.85 (0.82 < 0.85)" in first.summary
        assert first.report_uri.endswith("/report.json")
        assert first.created_by == self.actor(store, "ann") and first.created_at > 0
        unjudged = store.record_validation(model, 2, NewModelValidation(values={"rmse": 1.5}))
        assert (unjudged.passed, unjudged.policy_digest, unjudged.summary) == (None, None, "")
        second = store.record_validation(model, 1, judged(RELEASE, **GOOD))
        assert second.created_at > unjudged.created_at > first.created_at
        assert store.list_validations(model, 1) == [second, first]
        assert store.list_validations(model) == [second, unjudged, first]
        assert store.list_validations(model, max_results=1) == [second]
        assert store.list_validations(model, 2) == [unjudged]

    def test_concurrent_validations_are_ordered(self, store: MetadataStore, model: str) -> None:
        results = in_threads(6, lambda _i: store.record_validation(
            model, 1, judged(RELEASE, **GOOD)))
        assert not [r for r in results if isinstance(r, Exception)], results
        store.record_validation(model, 2, judged(RELEASE, **GOOD))
        times = [v.created_at for v in store.list_validations(model)]
        assert len(set(times)) == 7 and times == sorted(times, reverse=True)

    def test_bad_validations_write_nothing(self, store: MetadataStore, model: str) -> None:
        ok = judged(RELEASE, **GOOD)
        assert_each_raises(InvalidArgument, {
            "passed without digest": lambda: store.record_validation(
                model, 1, NewModelValidation(passed=True)),
            "digest without verdict": lambda: store.record_validation(
                model, 1, NewModelValidation(policy_digest=RELEASE.digest)),
            "short digest": lambda: store.record_validation(
                model, 1, ok.model_copy(update={"policy_digest": "ab" * 16})),
            "upper-case digest": lambda: store.record_validation(
                model, 1, ok.model_copy(update={"policy_digest": RELEASE.digest.upper()})),
            "NaN value": lambda: store.record_validation(
                model, 1, ok.model_copy(update={"values": {"accuracy": math.nan}})),
            "infinite value": lambda: store.record_validation(
                model, 1, ok.model_copy(update={"values": {"auc": math.inf}})),
            "empty value name": lambda: store.record_validation(
                model, 1, ok.model_copy(update={"values": {" ": 1.0}})),
            "long summary": lambda: store.record_validation(
                model, 1, ok.model_copy(update={"summary": "s" * 20_001})),
            "NUL in report_uri": lambda: store.record_validation(
                model, 1, ok.model_copy(update={"report_uri": "a\x00b"})),
            "long policy name": lambda: store.record_validation(
                model, 1, ok.model_copy(update={"policy_name": "p" * 251})),
            "bad version": lambda: store.record_validation(model, 0, ok),
            "bad model name": lambda: store.record_validation("a/b", 1, ok),
            "list bad version": lambda: store.list_validations(model, -1),
            "list max_results": lambda: store.list_validations(model, max_results=0),
        })
        assert_each_raises(NotFound, {
            "unknown version": lambda: store.record_validation(model, 9, ok),
            "unknown model": lambda: store.record_validation(model_name(), 1, ok),
            "list unknown version": lambda: store.list_validations(model, 9),
            "list unknown model": lambda: store.list_validations(model_name()),
        })
        with pytest.raises(NotFound, match="has no version 9"):
            store.record_validation(model, 9, ok)
        assert store.list_validations(model) == []

    def test_deleting_a_version_deletes_its_validations(self, store: MetadataStore,
                                                       model: str) -> None:
        store.record_validation(model, 1, judged(RELEASE, **GOOD))
        kept = store.record_validation(model, 2, judged(RELEASE, **GOOD))
        store.delete_model_version(model, 1)
        assert store.list_validations(model) == [kept]
        store.delete_registered_model(model)
        with pytest.raises(NotFound):
            store.list_validations(model)

    # the policy ------------------------------------------------------------------------------
    def test_set_and_clear_the_policy(self, store: MetadataStore, model: str) -> None:
        assert store.get_registered_model(model).policy is None
        set_ = store.set_model_policy(model, RELEASE.to_dict(), RELEASE.digest,
                                      ["champion", "canary", "champion"])
        assert (set_.policy, set_.policy_digest, set_.protected_aliases) == (
            RELEASE.to_dict(), RELEASE.digest, ["champion", "canary"])
        assert store.get_registered_model(model) == set_
        assert Policy.parse(set_.policy).digest == RELEASE.digest
        none_protected = store.set_model_policy(model, STRICTER.to_dict(), STRICTER.digest, [])
        assert (none_protected.policy_digest, none_protected.protected_aliases) == (
            STRICTER.digest, [])
        cleared = store.set_model_policy(model, None, None, [])
        assert (cleared.policy, cleared.policy_digest, cleared.protected_aliases) == (
            None, None, [])
        assert store.get_registered_model(model).policy is None

    def test_bad_policies_write_nothing(self, store: MetadataStore, model: str) -> None:
        doc, digest = RELEASE.to_dict(), RELEASE.digest
        assert_each_raises(InvalidArgument, {
            "digest without policy": lambda: store.set_model_policy(model, None, digest, []),
            "policy without digest": lambda: store.set_model_policy(model, doc, None, []),
            "bad digest": lambda: store.set_model_policy(model, doc, "nope", []),
            "policy not an object": lambda: store.set_model_policy(
                model, ["accuracy >= 0.8"], digest, []),  # type: ignore[arg-type]
            "bad alias": lambda: store.set_model_policy(model, doc, digest, ["1st"]),
            "reserved alias": lambda: store.set_model_policy(model, doc, digest, ["latest"]),
            "aliases as text": lambda: store.set_model_policy(
                model, doc, digest, "champion"),  # type: ignore[arg-type]
        })
        with pytest.raises(NotFound, match="does not exist"):
            store.set_model_policy(model_name(), doc, digest, ["champion"])
        assert store.get_registered_model(model).policy is None

    # the gate --------------------------------------------------------------------------------
    def test_promotion_needs_a_validation(self, store: MetadataStore, gated: str) -> None:
        missing = (f"no validation of {gated} version 1 under policy 'release' "
                   f"(digest {RELEASE.digest[:8]}...)")
        with pytest.raises(ValidationRequired, match=re.escape(missing)) as info:
            store.transition_stage(gated, 1, "Production")
        assert info.value.error_code == "VALIDATION_REQUIRED" and info.value.http_status == 409
        assert isinstance(info.value, InvalidState)
        assert info.value.details["problem"] == "missing"
        assert "move" in info.value.message and "Production" in info.value.message
        with pytest.raises(ValidationRequired, match=re.escape(missing)):
            store.set_alias(gated, "champion", 1)
        # nothing changed
        assert store.get_model_version(gated, 1).stage is ModelStage.NONE
        assert store.get_registered_model(gated).aliases == {}
        # what the policy does not gate is free
        assert store.set_alias(gated, "challenger", 1).version == 1
        assert store.transition_stage(gated, 1, "Staging").model_version.stage is \
            ModelStage.STAGING

    def test_a_failed_validation_is_refused(self, store: MetadataStore, gated: str) -> None:
        store.record_validation(gated, 1, judged(RELEASE, **GOOD))
        store.record_validation(gated, 1, judged(RELEASE, **BAD))  # the latest counts
        for promote in (lambda: store.transition_stage(gated, 1, "Production"),
                        lambda: store.set_alias(gated, "champion", 1)):
            with pytest.raises(ValidationRequired) as info:
                promote()
            message = info.value.message
            assert f"the latest validation of {gated} version 1 under policy 'release'" in message
            assert "failed: 1 of 2 rules passed; failed: accuracy >= 0.85 (0.82 < 0.85)" in message
            assert info.value.details["problem"] == "failed"
        assert store.get_model_version(gated, 1).stage is ModelStage.NONE

    def test_a_passing_validation_lets_it_through(self, store: MetadataStore, gated: str) -> None:
        store.record_validation(gated, 1, judged(RELEASE, **BAD))
        store.record_validation(gated, 1, judged(RELEASE, **GOOD))
        store.record_validation(gated, 2, judged(RELEASE, **BAD))
        assert store.set_alias(gated, "champion", 1).version == 1
        done = store.transition_stage(gated, 1, "Production")
        assert done.model_version.stage is ModelStage.PRODUCTION
        # the evidence is per version
        with pytest.raises(ValidationRequired, match="version 2"):
            store.set_alias(gated, "champion", 2)
        assert store.get_registered_model(gated).aliases == {"champion": 1}
        # a move to where the version already is changes nothing, and is not gated
        assert store.transition_stage(gated, 1, "Production").previous_stage is \
            ModelStage.PRODUCTION
        assert self.overrides(store, gated, 1) == []

    def test_an_old_policy_does_not_count(self, store: MetadataStore, gated: str) -> None:
        store.record_validation(gated, 1, judged(RELEASE, **GOOD))
        store.record_validation(gated, 1, NewModelValidation(values=GOOD))  # judged by none
        store.set_model_policy(gated, STRICTER.to_dict(), STRICTER.digest, ["champion"])
        with pytest.raises(ValidationRequired, match=re.escape(
                f"no validation of {gated} version 1 under policy 'release' "
                f"(digest {STRICTER.digest[:8]}...)")):
            store.transition_stage(gated, 1, "Production")
        store.record_validation(gated, 1, judged(STRICTER, **GOOD))
        store.transition_stage(gated, 1, "Production")
        # back under the first policy, its passing validation counts again
        store.set_model_policy(gated, RELEASE.to_dict(), RELEASE.digest, ["champion"])
        store.set_alias(gated, "champion", 1)

    def test_a_model_without_a_policy_is_free(self, store: MetadataStore, model: str,
                                              gated: str) -> None:
        free = store.create_registered_model(model_name()).name
        store.create_model_version(free, store.get_model_version(model, 1).source)
        store.set_alias(free, "champion", 1)
        store.transition_stage(free, 1, "Production")
        # a cleared policy frees its model too
        store.set_model_policy(gated, None, None, [])
        store.set_alias(gated, "champion", 2)
        store.transition_stage(gated, 2, "Production")
        assert self.overrides(store, free, 1) == self.overrides(store, gated, 2) == []

    def test_an_override_goes_through_and_is_audited(self, store: MetadataStore,
                                                     gated: str) -> None:
        change = store.set_alias(gated, "champion", 1, override_reason="INC-42: roll back",
                                 user="ann")
        assert change.version == 1
        failed = store.record_validation(gated, 2, judged(RELEASE, **BAD))
        done = store.transition_stage(gated, 2, "Production", override_reason="  risk ok ",
                                      user="bob")
        assert done.model_version.stage is ModelStage.PRODUCTION
        [alias_event] = self.overrides(store, gated, 1)
        assert alias_event == {
            "name": gated, "version": 1, "alias": "champion", "reason": "INC-42: roll back",
            "policy_digest": RELEASE.digest, "missing": True,
            "actor": self.actor(store, "ann")}
        [stage_event] = self.overrides(store, gated, 2)
        assert stage_event == {
            "name": gated, "version": 2, "stage": "Production", "reason": "risk ok",
            "policy_digest": RELEASE.digest, "failed": failed.summary,
            "validation_id": failed.id, "actor": self.actor(store, "bob")}
        # a reason the gate did not need overrides nothing, and records no override
        store.record_validation(gated, 1, judged(RELEASE, **GOOD))
        store.transition_stage(gated, 1, "Production", override_reason="not needed")
        assert len(self.overrides(store, gated, 1)) == 1

    def test_a_blank_reason_is_refused(self, store: MetadataStore, gated: str) -> None:
        assert_each_raises(InvalidArgument, {
            f"{label} {reason!r}": call for reason in ("", "   ", "\t\n")
            for label, call in (
                ("alias", lambda reason=reason: store.set_alias(
                    gated, "champion", 1, override_reason=reason)),
                ("stage", lambda reason=reason: store.transition_stage(
                    gated, 1, "Production", override_reason=reason)),
            )
        })
        with pytest.raises(InvalidArgument, match="override_reason"):
            store.set_alias(gated, "champion", 1, override_reason=" ")
        with pytest.raises(InvalidArgument):
            store.set_alias(gated, "champion", 1, override_reason="r" * 2001)
        assert store.get_registered_model(gated).aliases == {}
        assert store.get_model_version(gated, 1).stage is ModelStage.NONE
        assert self.overrides(store, gated, 1) == []


class TestSqliteValidationGate(SqliteBackend, ValidationGateContract):
    pass


class TestInMemorySqliteValidationGate(InMemorySqliteBackend, ValidationGateContract):
    pass


class TestPostgresValidationGate(PostgresBackend, ValidationGateContract):
    pass


class TestRestValidationGate(RestBackend, ValidationGateContract):
    """The server records its own user, and audits the route as well as the override."""

    @staticmethod
    def actor(store: MetadataStore, user: str) -> str:
        return str(store.http.client.headers[USER_HEADER])  # type: ignore[attr-defined]

    def test_routes_audit_the_override_reason(self, store: MetadataStore, gated: str) -> None:
        store.set_alias(gated, "champion", 1, override_reason="INC-7")
        store.record_validation(gated, 2, judged(RELEASE, **GOOD))
        store.transition_stage(gated, 2, "Production")
        [alias] = store.search_audit_events(resource_type="model-alias",
                                            resource_id=f"{gated}@champion")
        assert alias.request == {"alias": "champion", "from": None, "to": 1,
                                 "override_reason": "INC-7"}
        events = store.search_audit_events(resource_type="model-version",
                                           resource_id=f"{gated}/2")
        actions = [e.action for e in events]
        assert actions == ["create_model_version", "record_validation", "transition_stage"]
        assert "override_reason" not in events[-1].request
        [policy] = [e for e in store.search_audit_events(resource_type="registered-model",
                                                         resource_id=gated)
                    if e.action == "set_model_policy"]
        assert policy.request == {"policy_name": "release", "policy_digest": RELEASE.digest,
                                  "rules": 2, "protected_aliases": ["champion"]}
