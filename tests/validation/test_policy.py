"""The pass/fail policy: parsing, naming checks, judging values, digests."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.errors import InvalidArgument
from dockyard.validation.policy import Policy, PolicyOutcome

YAML = """
name: churn-release
description: what a churn model must show before it goes live
rules:
  - accuracy >= 0.85
  - cohort_gap.accuracy <= 0.05
  - robustness.noise_0.1.accuracy_drop < 0.02
  - fairness.demographic_parity_difference<0.1
  - beats: champion
    max_p_value: 0.05
"""


def test_every_rule_form_parses() -> None:
    policy = Policy.from_yaml(YAML)
    assert policy.name == "churn-release"
    assert policy.description.startswith("what a churn model")
    assert [r.text for r in policy.rules] == [
        "accuracy >= 0.85", "cohort_gap.accuracy <= 0.05",
        "robustness.noise_0.1.accuracy_drop < 0.02",
        "fairness.demographic_parity_difference < 0.1", "beats champion with p <= 0.05"]
    noise = policy.rules[2]
    assert (noise.metric, noise.op, noise.threshold) == (
        "robustness.noise_0.1.accuracy_drop", "<", 0.02)
    assert policy.metric_names() == [
        "accuracy", "cohort_gap.accuracy", "robustness.noise_0.1.accuracy_drop",
        "fairness.demographic_parity_difference", "champion.better", "champion.p_value"]


def test_a_plain_list_and_python_objects_are_policies() -> None:
    policy = Policy.parse(["rmse <= 3", "r2>=0.5", {"beats": "champion"}])
    assert policy.name is None
    assert policy.metric_names() == ["rmse", "r2", "champion.better"]
    assert Policy.parse(policy) is policy
    assert Policy.parse(policy.to_dict()) == policy
    assert Policy.from_yaml(YAML).to_dict()["rules"][-1] == {
        "beats": "champion", "max_p_value": 0.05}


@pytest.mark.parametrize(("op", "value", "passed"), [
    (">=", 0.8, True), (">=", 0.79, False), (">", 0.8, False), (">", 0.81, True),
    ("<=", 0.8, True), ("<=", 0.81, False), ("<", 0.8, False), ("<", 0.79, True),
    ("==", 0.8, True), ("==", 0.81, False), ("!=", 0.8, False), ("!=", 0.81, True),
])
def test_each_operator(op: str, value: float, passed: bool) -> None:
    outcome = Policy.parse([f"accuracy {op} 0.8"]).evaluate({"accuracy": value})
    assert outcome.passed is passed
    rule = outcome.rules[0]
    assert (rule.metric, rule.op, rule.threshold, rule.value) == ("accuracy", op, 0.8, value)


def test_evaluate_gives_values_and_reasons() -> None:
    policy = Policy.parse(["accuracy >= 0.85", "cohort_gap.accuracy <= 0.05"])
    failed = policy.evaluate({"accuracy": 0.82, "cohort_gap.accuracy": 0.01})
    assert isinstance(failed, PolicyOutcome)
    assert failed.passed is False
    assert [r.passed for r in failed.rules] == [False, True]
    assert failed.rules[0].reason == "0.82 < 0.85"
    assert failed.rules[1].reason == "0.01 <= 0.05"
    assert [r.rule for r in failed.failed] == ["accuracy >= 0.85"]
    assert "1 of 2 rules passed" in failed.summary and "0.82 < 0.85" in failed.summary
    assert failed.digest == policy.digest
    passed = policy.evaluate({"accuracy": 0.9, "cohort_gap.accuracy": 0.05})
    assert passed.passed is True
    assert passed.model_dump()["rules"][0]["reason"] == "0.9 >= 0.85"


def test_close_numbers_are_shown_with_enough_digits() -> None:
    outcome = Policy.parse(["accuracy >= 0.85"]).evaluate({"accuracy": 0.849999})
    assert outcome.rules[0].reason == "0.849999 < 0.85"


def test_a_missing_metric_fails_the_rule() -> None:
    policy = Policy.parse(["accuracy >= 0.8", "backtest.accuracy_trend > -0.01",
                           "calibration.ece <= 0.1"])
    outcome = policy.evaluate({"accuracy": 0.9, "calibration.ece": float("nan")},
                              errors={"backtest": "the data has no time column"})
    assert outcome.passed is False
    trend, ece = outcome.rules[1], outcome.rules[2]
    assert trend.value is None and not trend.passed
    assert trend.reason == "not measured: the data has no time column"
    assert ece.value is None and ece.reason.startswith("not measured:")
    alone = Policy.parse(["fairness.tpr_gap < 0.1"]).evaluate({})
    assert alone.rules[0].reason == "not measured: no check produced fairness.tpr_gap"


def test_beats_with_and_without_a_p_value() -> None:
    plain = Policy.parse([{"beats": "champion"}])
    significant = Policy.parse([{"beats": "champion", "max_p_value": 0.05}])
    better = {"champion.better": 1.0, "champion.p_value": 0.2}
    assert plain.evaluate(better).passed is True
    outcome = significant.evaluate(better)
    assert outcome.passed is False
    assert outcome.rules[0].reason == "better than champion, champion.p_value 0.2 > 0.05"
    assert significant.evaluate({"champion.better": 1.0, "champion.p_value": 0.01}).passed
    worse = plain.evaluate({"champion.better": 0.0, "champion.p_value": 0.01})
    assert worse.passed is False and "not better than champion" in worse.rules[0].reason
    missing = significant.evaluate({"champion.better": 1.0})
    assert missing.passed is False
    assert missing.rules[0].reason == "not measured: no check produced champion.p_value"
    assert plain.metric_names() == ["champion.better"]
    assert significant.metric_names() == ["champion.better", "champion.p_value"]


def test_unknown_metric_names_are_refused_with_suggestions() -> None:
    policy = Policy.parse(["acuracy >= 0.8", "cohort_gap.accuracy <= 0.1", "zzz < 1",
                           {"beats": "champion"}])
    known = ["accuracy", "f1", "cohort_gap.accuracy", "cohort_gap.f1", "champion.better"]
    with pytest.raises(InvalidArgument) as caught:
        policy.check_names(known)
    message = str(caught.value)
    assert "'acuracy' (did you mean 'accuracy'?)" in message
    assert "'zzz' (no close match)" in message
    assert "cohort_gap" not in message
    policy.check_names(known + ["acuracy", "zzz"])  # all known: no error


def test_digest_is_stable_across_key_order_and_spacing_and_differs_across_rules() -> None:
    a = Policy.parse({"name": "a", "rules": ["accuracy >= 0.8",
                                             {"beats": "champion", "max_p_value": 0.05}]})
    b = Policy.parse({"rules": ["accuracy>=0.80", {"max_p_value": 0.05, "beats": "champion"}],
                      "description": "same rules", "name": "b"})
    assert a.digest == b.digest and len(a.digest) == 64
    assert Policy.parse(["accuracy >= 0.81", {"beats": "champion", "max_p_value": 0.05}]) \
        .digest != a.digest
    assert Policy.parse(["accuracy > 0.8", {"beats": "champion", "max_p_value": 0.05}]) \
        .digest != a.digest
    assert Policy.parse(["accuracy >= 0.8", {"beats": "champion"}]).digest != a.digest


def test_load_reads_a_yaml_file(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(YAML, encoding="utf-8")
    assert Policy.load(path) == Policy.from_yaml(YAML)
    assert Policy.load(str(path)).digest == Policy.from_yaml(YAML).digest
    with pytest.raises(InvalidArgument, match="policy file .*missing.yaml.* not found"):
        Policy.load(tmp_path / "missing.yaml")
    path.write_text("rules:\n  - accuracy >= 0.8\n  - f1 => 0.5\n", encoding="utf-8")
    with pytest.raises(InvalidArgument, match=r"policy file .*: rule 2 'f1 => 0.5'"):
        Policy.load(path)


@pytest.mark.parametrize(("text", "message"), [
    ("rules: [accuracy >= 0.8", "the policy is not valid YAML at line 1"),
    ("rules:\n  - a >= 1\n - b", "the policy is not valid YAML at line"),
    ("", "the policy is empty"),
    ("rules: []", "the policy has no rules"),
    ("- accuracy >= 0.8\n- f1 > 0.5\n- accuracy >> 0.8",
     "rule 3 'accuracy >> 0.8': expected '<metric> <op> <number>' with op one of "
     ">=, >, <=, <, ==, !="),
    ("- accuracy >= high", "rule 1 'accuracy >= high': expected"),
    ("- accuracy", "rule 1 'accuracy': expected"),
    ("- accuracy >= nan", "rule 1 'accuracy >= nan': expected"),
    ("- accuracy: '>= 0.8'", "a mapping rule needs 'beats'.*write one string, such as "
                            "'accuracy >= 0.8'"),
    ("- beats: champion\n  p: 0.05", "rule 1 .*unknown keys p"),
    ("- beats: champion\n  max_p_value: 2", "max_p_value must be a number in"),
    ("- beats: ''", "beats names the compared model"),
    ("- 0.8", "rule 1 0.8: a rule is a string"),
    ("rules: [accuracy >= 0.8]\nthreshold: 1", "unknown policy keys: threshold"),
    ("name: x", "the policy has no 'rules' list"),
    ("name: [x]\nrules: [accuracy >= 0.8]", "the policy's name must be text"),
    ("accuracy >= 0.8", "the policy is one text value; write its rules as a YAML list"),
    ("42", "a policy is a list of rules or a mapping with a 'rules' list, got int"),
])
def test_bad_yaml_and_bad_rules_are_explained(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        Policy.from_yaml(text)


def test_a_string_is_not_parsed_as_a_policy() -> None:
    with pytest.raises(InvalidArgument, match="Policy.from_yaml"):
        Policy.parse("accuracy >= 0.8")
