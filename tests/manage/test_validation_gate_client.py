"""The client's side of the promotion gate: a policy from a Policy, a YAML file or its
structure; a validation from a report; the same behaviour embedded and against a server."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import dockyard
from dockyard.entities import ModelStage, NewModelValidation
from dockyard.errors import InvalidArgument, ValidationRequired
from dockyard.validation.policy import Policy
from dockyard.validation.results import CheckResult, ValidationReport

RULES = {"name": "release", "rules": ["accuracy >= 0.85", {"beats": "champion"}]}


@pytest.fixture(params=["embedded", "server"])
def client(request: pytest.FixtureRequest) -> Iterator[dockyard.Client]:
    if request.param == "server":
        c = dockyard.Client(request.getfixturevalue("dockyard_server").url)
    else:
        c = dockyard.Client()
    yield c
    c.close()


def new_model(client: dockyard.Client) -> str:
    """A model with one version."""
    run = client.create_run(client.create_experiment(f"gate-{uuid.uuid4().hex}").id)
    name = f"gate-{uuid.uuid4().hex[:12]}"
    client.create_registered_model(name)
    client.create_model_version(name, f"runs:/{run.id}/model")
    return name


@pytest.fixture
def model(client: dockyard.Client) -> str:
    return new_model(client)


def report(policy: Policy | None, **metrics: float) -> ValidationReport:
    checks = [CheckResult(name="holdout", metrics=metrics)]
    outcome = None if policy is None else policy.evaluate(metrics)
    return ValidationReport(model_uri="models:/m/1", task="classification", target="y", rows=100,
                            checks=checks, policy=outcome)


def test_a_policy_from_every_form(client: dockyard.Client, model: str, tmp_path: Path) -> None:
    policy = Policy.parse(RULES)
    file = tmp_path / "release.yaml"
    file.write_text("name: release\nrules:\n  - accuracy >= 0.85\n  - beats: champion\n")
    for given in (RULES["rules"], RULES, str(file), file, policy):
        m = client.set_model_policy(model, given)
        assert m.policy_digest == policy.digest, given
        assert m.protected_aliases == ["champion"]
    assert client.get_registered_model(model).policy == policy.to_dict()
    m = client.set_model_policy(model, policy, protected_aliases="canary")
    assert m.protected_aliases == ["canary"]
    m = client.set_model_policy(model, policy, protected_aliases=[])
    assert m.protected_aliases == []
    cleared = client.set_model_policy(model, None)
    assert (cleared.policy, cleared.policy_digest, cleared.protected_aliases) == (None, None, [])
    with pytest.raises(InvalidArgument, match="not found"):
        client.set_model_policy(model, tmp_path / "missing.yaml")
    with pytest.raises(InvalidArgument, match="no rules"):
        client.set_model_policy(model, {"rules": []})
    assert client.get_registered_model(model).policy is None


def test_a_validation_from_a_report(client: dockyard.Client, model: str) -> None:
    policy = Policy.parse({"name": "release", "rules": ["accuracy >= 0.85"]})
    client.set_model_policy(model, policy)
    failing = client.record_validation(model, 1, report(policy, accuracy=0.8, auc=math.nan),
                                       report_uri="runs:/r/validations/1/report.json")
    assert (failing.passed, failing.policy_name, failing.policy_digest) == (
        False, "release", policy.digest)
    assert failing.values == {"accuracy": 0.8}  # what was not measured is left out
    assert failing.report_uri == "runs:/r/validations/1/report.json"
    assert failing.created_by == client.user or client.is_remote
    with pytest.raises(ValidationRequired, match=r"accuracy >= 0\.85 \(0\.8 < 0\.85\)"):
        client.transition_stage(model, 1, "Production")
    unjudged = client.record_validation(model, 1, report(None, accuracy=0.99))
    assert (unjudged.passed, unjudged.policy_digest) == (None, None)
    with pytest.raises(ValidationRequired, match="failed"):  # unjudged ones do not count
        client.transition_stage(model, 1, "Production")
    client.record_validation(model, 1, report(policy, accuracy=0.9))
    assert client.transition_stage(model, 1, "production").model_version.stage is \
        ModelStage.PRODUCTION
    assert [v.passed for v in client.list_validations(model, 1)] == [True, None, False]

    mapping = client.record_validation(model, 1, {"values": {"rmse": 2.0}}, report_uri="s3://r")
    assert (mapping.values, mapping.report_uri) == ({"rmse": 2.0}, "s3://r")
    with pytest.raises(InvalidArgument, match="not a validation"):
        client.record_validation(model, 1, {"verdict": True})
    with pytest.raises(InvalidArgument, match="ValidationReport"):
        client.record_validation(model, 1, 0.9)
    with pytest.raises(InvalidArgument, match="go together"):
        client.record_validation(model, 1, NewModelValidation(passed=True))


def test_fluent_set_alias_takes_an_override_reason() -> None:
    client = dockyard.Client()
    model = new_model(client)
    client.set_model_policy(model, RULES)
    with pytest.raises(ValidationRequired, match="no validation"):
        dockyard.set_alias(model, "champion", 1)
    assert dockyard.set_alias(model, "champion", 1, override_reason="demo").version == 1
    [event] = [e for e in client.search_audit_events(resource_type="model-version",
                                                     resource_id=f"{model}/1")
               if e.action == "override_validation_gate"]
    assert (event.request["reason"], event.request["missing"]) == ("demo", True)
