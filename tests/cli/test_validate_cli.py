"""``dockyard validate``: a report on the terminal or as JSON, exit 1 when the policy fails."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

import dockyard
from tests.cli.test_cli import cli

FAST = ("--no-robustness", "--no-explain")


@pytest.fixture
def registered(tmp_path: Path) -> Path:
    x, y = load_breast_cancer(return_X_y=True, as_frame=True)
    x.columns = [c.replace(" ", "_") for c in x.columns]
    for estimator in (DecisionTreeClassifier(max_depth=1, random_state=0),
                      LogisticRegression(max_iter=5000)):
        with dockyard.start_run():
            info = dockyard.log_model(estimator.fit(x[:400], y[:400]), "model",
                                      input_example=x[:5])
        dockyard.register_model(info.uri, "cancer")
    test = tmp_path / "test.parquet"
    x[400:].assign(label=y[400:], size=lambda f: (f.mean_radius > 14).map(
        {True: "large", False: "small"})).to_parquet(test)
    return test


def test_a_passing_policy_exits_0_and_a_failing_one_exits_1(registered: Path,
                                                            tmp_path: Path) -> None:
    passing, failing = tmp_path / "pass.yaml", tmp_path / "fail.yaml"
    passing.write_text("rules:\n  - accuracy >= 0.9\n  - beats: champion\n")
    failing.write_text("name: strict\nrules:\n  - accuracy >= 0.999\n")
    out = cli("validate", "models:/cancer/2", "--data", str(registered), "--target", "label",
              "--baseline", "models:/cancer/1", "--cohort", "size", "--policy", str(passing),
              *FAST)
    assert "policy passed" in out.stdout and "cohorts" in out.stdout
    report_file = tmp_path / "report.json"
    out = cli("validate", "models:/cancer/2", "-d", str(registered), "-y", "label",
              "-p", str(failing), "-o", str(report_file), *FAST, ok=False)
    assert out.returncode == 1
    assert "FAIL" in out.stdout and "policy FAILED" in out.stdout
    report = json.loads(report_file.read_text())
    assert report["policy"]["passed"] is False and report["model_uri"] == "models:/cancer/2"


def test_json_and_bad_input(registered: Path, tmp_path: Path) -> None:
    out = cli("validate", "models:/cancer/1", "-d", str(registered), "-y", "label", "--json",
              "--cohort", "young=mean_radius < 12", *FAST)
    report = json.loads(out.stdout)
    assert [c["name"] for c in report["checks"]] == ["holdout", "cohorts", "calibration"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("- acuracy >= 0.9\n")
    out = cli("validate", "models:/cancer/1", "-d", str(registered), "-y", "label",
              "-p", str(bad), *FAST, ok=False)
    assert out.returncode == 1 and "did you mean 'accuracy'" in out.stderr
    assert "Traceback" not in out.stderr
    out = cli("validate", "models:/cancer/1", "-d", str(registered), "-y", "churned", *FAST,
              ok=False)
    assert "target column 'churned' is not in the data" in out.stderr
