"""``dockyard monitor`` as a user runs it: create, list, run (for CI) and alerts."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from dockyard.cli.main import app
from dockyard.client import Client
from tests.monitor.test_monitors import HOUR, T0, frame, log_window


@pytest.fixture
def env(tmp_path: Path) -> dict:
    rng = np.random.default_rng(2)
    root = str(tmp_path / "artifacts")
    for i, shifted in enumerate((False, True)):
        log_window(root, tmp_path / f"spool{i}", frame(rng, 300, shifted=shifted),
                   T0 + i * HOUR, good_model=True)
    reference = frame(rng, 1000)
    reference.to_parquet(tmp_path / "train.parquet")
    (tmp_path / "rules.yaml").write_text(
        "rules:\n  - {name: age moved, metric: drifted, feature: age, op: '>=', threshold: 1,"
        " severity: critical}\n")
    return {"DOCKYARD_URI": f"sqlite:///{tmp_path / 'db.sqlite'}", "DOCKYARD_ARTIFACTS": root,
            "path": tmp_path}


def invoke(env: dict, *args: str):
    return CliRunner().invoke(app, list(args), env={
        "COLUMNS": "250", **{k: v for k, v in env.items() if k != "path"}})


def iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat()


def test_create_list_run_and_alerts(env: dict) -> None:
    created = invoke(env, "monitor", "create", "churn-prod", "--model", "churn",
                     "--deployment", "prod", "--reference", str(env["path"] / "train.parquet"),
                     "--feature", "age", "--feature", "plan", "--categorical", "plan",
                     "--cohort", "plan", "--cohort", "age:30,60", "--window", "1h",
                     "--rules", str(env["path"] / "rules.yaml"),
                     "--webhook", "http://127.0.0.1:9/hook")
    assert created.exit_code == 0, created.output
    assert "2 features, 1 rules, 1 channels" in created.output
    listed = json.loads(invoke(env, "monitor", "list", "--json").output)
    assert [m["name"] for m in listed] == ["churn-prod"]
    assert [c["column"] for c in listed[0]["cohorts"]] == ["plan", "age"]
    assert listed[0]["cohorts"][1]["bins"] == [30.0, 60.0]

    quiet = invoke(env, "monitor", "run", "churn-prod", "--since", iso(T0),
                   "--until", iso(T0 + HOUR), "--fail-on-alert")
    assert quiet.exit_code == 0, quiet.output
    assert "churn-prod: 1 windows, drifted: none" in quiet.output

    shifted = invoke(env, "monitor", "run", "--since", iso(T0 + HOUR),
                     "--until", iso(T0 + 2 * HOUR), "--fail-on-alert", "--json")
    assert shifted.exit_code == 1  # an alert fires: CI fails
    (report,) = json.loads(shifted.output)
    assert "age" in report["drifted"]
    assert [a["rule"] for a in report["alerts"] if a["state"] == "firing"] == ["age moved"]

    alerts = invoke(env, "monitor", "alerts", "churn-prod", "--state", "firing")
    assert alerts.exit_code == 0 and "age moved" in alerts.output
    client = Client(env["DOCKYARD_URI"], env["DOCKYARD_ARTIFACTS"])
    (alert,) = client.list_alerts(states="firing")
    (_, firing) = client.list_alert_events(alert.id)
    assert firing.deliveries[0]["ok"] is False  # nothing listens on port 9: recorded, not lost


@pytest.mark.parametrize(("args", "message"), [
    (["--window", "fortnight"], "give a size such as 1h"),
    (["--cohort", "age:young,old"], "bins are numbers"),
    (["--task", "ranking"], "task"),
    (["--reference", "missing.parquet"], "does not exist"),
    (["--feature", "height", "--reference", "{path}/train.parquet"], "no column 'height'"),
    (["--webhook", "not a url"], "url"),
    (["--email", "oncall@example.com", "--smtp", "mail:smtp"], "give host:port"),
])
def test_mistakes_are_one_clear_line(env: dict, args: list[str], message: str) -> None:
    args = [a.replace("{path}", str(env["path"])) for a in args]
    result = invoke(env, "monitor", "create", "m", "--model", "churn", *args)
    assert result.exit_code != 0
    assert message in result.output and "Traceback" not in result.output
    assert json.loads(invoke(env, "monitor", "list", "--json").output) == []


def test_running_an_unknown_monitor_says_how_to_find_them(env: dict) -> None:
    result = invoke(env, "monitor", "run", "nope")
    assert result.exit_code == 1 and "dockyard monitor list" in result.output


def test_a_bad_rules_file(env: dict) -> None:
    (env["path"] / "bad.yaml").write_text("rules: {name: x}\n")
    result = invoke(env, "monitor", "create", "m", "--model", "churn", "--rules",
                    str(env["path"] / "bad.yaml"))
    assert result.exit_code == 1 and "give a list of rules" in result.output


def test_show_reference_and_delete(env: dict) -> None:
    train = str(env["path"] / "train.parquet")
    assert invoke(env, "monitor", "create", "m", "--model", "churn", "--deployment", "prod",
                  "--reference", train, "--categorical", "plan").exit_code == 0
    invoke(env, "monitor", "run", "m", "--since", iso(T0 + HOUR), "--until", iso(T0 + 2 * HOUR))
    shown = invoke(env, "monitor", "show", "m")
    assert shown.exit_code == 0, shown.output
    assert "m: firing (critical)" in shown.output
    assert "[FIRING] warning: feature drift: age drifted" in shown.output
    assert json.loads(invoke(env, "monitor", "show", "m", "--json").output)["rows"] == 300
    replaced = invoke(env, "monitor", "reference", "m", train, "--target", "target",
                      "--reference-prediction", "target")
    assert replaced.exit_code == 0 and "new reference of" in replaced.output
    assert invoke(env, "monitor", "delete", "m").exit_code == 1  # asks; no answer: aborted
    assert invoke(env, "monitor", "delete", "m", "--yes").exit_code == 0
    assert json.loads(invoke(env, "monitor", "list", "--json").output) == []
