"""run_checks: every check on one model, judged by a policy; bad input refused before the
model predicts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression
from sklearn.tree import DecisionTreeClassifier

from dockyard import models
from dockyard.errors import InvalidArgument
from dockyard.validation.policy import Policy
from dockyard.validation.suite import load_policy, run_checks

QUICK = {"explain": {"n_repeats": 2, "shap": False}, "robustness": {"noise": [0.1]}}


class Counted:
    """A real estimator that counts the calls made to it."""

    def __init__(self, estimator: Any) -> None:
        self.estimator, self.calls = estimator, 0
        self.feature_names_in_ = estimator.feature_names_in_

    def predict(self, x: Any) -> Any:
        self.calls += 1
        return self.estimator.predict(x)

    def predict_proba(self, x: Any) -> Any:
        self.calls += 1
        return self.estimator.predict_proba(x)


@pytest.fixture(scope="module")
def cancer() -> tuple[pd.DataFrame, pd.DataFrame]:
    x, y = load_breast_cancer(return_X_y=True, as_frame=True)
    x.columns = [c.replace(" ", "_") for c in x.columns]
    frame = x.assign(target=y)
    rng = np.random.default_rng(0)
    frame["group"] = rng.choice(["a", "b"], size=len(frame))
    frame["day"] = pd.date_range("2026-01-01", periods=len(frame), freq="h")
    return frame.iloc[:380], frame.iloc[380:]


def fitted(train: pd.DataFrame, estimator: Any) -> Any:
    return estimator.fit(train.drop(columns=["target", "group", "day"]), train["target"])


def test_every_check_runs_and_the_policy_passes(cancer) -> None:
    train, test = cancer
    model = fitted(train, RandomForestClassifier(n_estimators=50, random_state=0))
    weak = fitted(train, DecisionTreeClassifier(max_depth=1, random_state=0))
    policy = Policy.parse(["accuracy >= 0.9", "cohort_gap.accuracy <= 0.2",
                           "calibration.ece <= 0.2", {"beats": "champion"}])
    report = run_checks(model, test, "target", cohorts=["group"], sensitive="group",
                        baseline=weak, time_column="day", windows=3, policy=policy, **QUICK)
    assert [c.name for c in report.checks] == [
        "holdout", "cohorts", "backtest", "robustness", "explain", "fairness", "calibration",
        "compare"]
    assert all(c.error is None for c in report.checks), [c.error for c in report.checks]
    assert report.rows == len(test) and report.task == "classification"
    assert report.passed is True and report.policy.summary.startswith("4 of 4 rules passed")
    values = report.values()
    assert values["champion.better"] == 1.0 and "fairness.demographic_parity_difference" in values
    assert all(c.seconds >= 0 for c in report.checks)


def test_a_failing_policy_says_which_rule_and_why(cancer) -> None:
    train, test = cancer
    model = fitted(train, DecisionTreeClassifier(max_depth=1, random_state=0))
    report = run_checks(model, test, "target", robustness=False, explain=False,
                        policy=Policy.parse(["accuracy >= 0.99", "f1 >= 0.5"]))
    assert report.passed is False
    (failed,) = report.policy.failed
    assert failed.metric == "accuracy" and failed.value == pytest.approx(
        report.values()["accuracy"])


def test_a_check_that_cannot_apply_fails_the_rules_that_read_it(cancer) -> None:
    x, y = load_diabetes(return_X_y=True, as_frame=True)
    model = LinearRegression().fit(x, y)
    report = run_checks(model, x.assign(y=y), "y", robustness=False, explain=False,
                        sensitive="sex", policy=Policy.parse(["rmse <= 100"]))
    fairness = report.check("fairness")
    assert fairness is not None and "binary classification" in fairness.error
    assert report.check("calibration").error and report.passed is True
    with pytest.raises(InvalidArgument, match="calibration.ece"):
        run_checks(model, x.assign(y=y), "y", policy=Policy.parse(["calibration.ece <= 0.1"]))


@pytest.mark.parametrize("kwargs, message", [
    ({"target": "churned"}, "target column 'churned' is not in the data"),
    ({"cohorts": ["region"]}, "no column 'region'"),
    ({"sensitive": ["gender"]}, "no column 'gender'"),
    ({"time_column": "when"}, "no column 'when'"),
    ({"robustness": {"noise": [-1]}}, "noise"),
    ({"robustness": "yes"}, "robustness must be True, False or a mapping"),
    ({"robustness": {"columns": ["group"]}}, "'group' are not among the model's features"),
    ({"policy": Policy.parse(["acuracy >= 0.9"])}, "did you mean 'accuracy'"),
    ({"cohorts": [{"name": "tiny", "where": "mean_radius > 27"}]}, "fewer than min_size"),
])
def test_bad_input_is_refused_before_the_model_predicts(cancer, kwargs, message) -> None:
    train, test = cancer
    model = Counted(fitted(train, DecisionTreeClassifier(max_depth=3, random_state=0)))
    options = {"target": "target", **QUICK, **kwargs}
    with pytest.raises(InvalidArgument, match=message):
        run_checks(model, test, **options)
    assert model.calls == 0


def test_data_that_does_not_fit_the_signature_is_refused(cancer, tmp_path: Path) -> None:
    train, test = cancer
    features = train.drop(columns=["target", "group", "day"])
    path = tmp_path / "model"
    models.save(fitted(train, DecisionTreeClassifier(max_depth=2)), str(path),
                input_example=features.iloc[:5])
    loaded = models.load(str(path), trust=True)
    broken = test.assign(mean_radius="large")
    with pytest.raises(InvalidArgument, match="does not fit the model's signature"):
        run_checks(loaded, broken, "target", **QUICK)


def test_a_policy_comes_from_a_file_or_a_structure(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("name: release\nrules:\n  - accuracy >= 0.8\n")
    assert load_policy(path).metric_names() == ["accuracy"]
    assert load_policy(["f1 > 0.5"]).metric_names() == ["f1"]
    assert load_policy(None) is None


def test_a_registered_model_gets_its_report_as_a_run(cancer) -> None:
    import dockyard
    from dockyard.validation.suite import validate

    train, test = cancer
    features = train.drop(columns=["target", "group", "day"])
    with dockyard.start_run() as source:
        info = dockyard.log_model(fitted(train, DecisionTreeClassifier(max_depth=3)), "model",
                                  input_example=features.iloc[:5])
    dockyard.register_model(info.uri, "cancer")
    report = validate("models:/cancer/1", test, "target", cohorts=["group"],
                      policy=["accuracy >= 0.5"], **QUICK)
    run = dockyard.get_run(report.run_id)
    assert run.status.value == "FINISHED" and run.experiment_id == source.experiment_id
    assert run.tags["dockyard.validation.model"] == "cancer"
    assert run.tags["dockyard.validation.of_run"] == source.id
    assert run.metrics["accuracy"].value == pytest.approx(report.values()["accuracy"])
    assert run.metrics["validation.passed"].value == 1.0
    client = dockyard.Client()
    html = b"".join(client.iter_artifact(run.id, "validation/report.html")).decode()
    assert 'id="verdict">passed' in html and "cohort_gap.accuracy" in html
    stored = b"".join(client.iter_artifact(run.id, "validation/report.json"))
    assert type(report).model_validate_json(stored).values() == report.values()
    unlogged = validate(fitted(train, DecisionTreeClassifier(max_depth=3)), test, "target",
                        **QUICK)
    assert unlogged.run_id is None
    with pytest.raises(InvalidArgument, match="log=True needs the model as a models:/"):
        validate(fitted(train, DecisionTreeClassifier(max_depth=3)), test, "target", log=True)


def test_validate_feeds_the_promotion_gate(cancer, tmp_path: Path) -> None:
    import dockyard
    from dockyard.errors import ValidationRequired
    from dockyard.validation.suite import validate

    train, test = cancer
    features = train.drop(columns=["target", "group", "day"])
    with dockyard.start_run():
        info = dockyard.log_model(fitted(train, DecisionTreeClassifier(max_depth=3)), "model",
                                  input_example=features.iloc[:5])
    dockyard.register_model(info.uri, "gated")
    policy = tmp_path / "release.yaml"
    policy.write_text("name: release\nrules:\n  - accuracy >= 0.999\n")
    client = dockyard.Client()
    client.set_model_policy("gated", policy)
    with pytest.raises(ValidationRequired, match="no validation of gated version 1"):
        dockyard.set_alias("gated", "champion", 1)
    report = validate("models:/gated/1", test, "target", policy=policy, **QUICK)
    (recorded,) = client.list_validations("gated", 1)
    assert recorded.passed is False and recorded.report_uri.endswith("validation/report.json")
    assert report.run_id in recorded.report_uri
    with pytest.raises(ValidationRequired, match="accuracy >= 0.999"):
        dockyard.set_alias("gated", "champion", 1)
    policy.write_text("name: release\nrules:\n  - accuracy >= 0.5\n")
    client.set_model_policy("gated", policy)
    validate("models:/gated/1", test, "target", policy=policy, **QUICK)
    assert dockyard.set_alias("gated", "champion", 1).version == 1
