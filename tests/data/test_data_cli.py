"""``dockyard data``: the commands as a user types them, in a subprocess."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

import dockyard
from dockyard import Client
from tests.cli.test_cli import cli

SUITE = """\
name: customers
expectations:
  - {type: not_null, columns: [age]}
  - {type: range, column: age, min: 18, max: 100}
  - {type: allowed_values, column: plan, values: [basic, pro]}
"""


def _frame(n: int, seed: int, bad_ages: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"age": rng.integers(18, 90, n), "plan": ["basic", "pro"] * (n // 2),
                       "spend": rng.normal(100 + 40 * seed, 10, n)})
    df.loc[: bad_ages - 1, "age"] = 7
    return df


def test_log_list_show_diff(tmp_path: Path) -> None:
    _frame(400, 0).to_parquet(tmp_path / "jan.parquet")
    _frame(500, 1).assign(region="eu").to_parquet(tmp_path / "feb.parquet")
    out = cli("data", "log", str(tmp_path / "jan.parquet"), "--name", "customers",
              "--tag", "month=jan", "--description", "January").stdout
    assert "logged customers@1" in out and "400 rows" in out
    again = cli("data", "log", str(tmp_path / "jan.parquet"), "--name", "customers").stdout
    assert "already had customers@1" in again
    made = json.loads(cli("data", "log", str(tmp_path / "feb.parquet"), "-n", "customers",
                          "--json").stdout)
    assert (made["version"], made["rows"], made["storage"]) == (2, 500, "stored")
    assert "customers" in cli("data", "list").stdout
    versions = json.loads(cli("data", "versions", "customers", "--json").stdout)
    assert [v["version"] for v in versions] == [2, 1]
    shown = cli("data", "show", "customers@1").stdout
    assert "datasets:/customers/1" in shown and "spend" in shown and "January" in shown
    diff = cli("data", "diff", "customers@1", "customers@2").stdout
    assert "400 -> 500" in diff and "+ region" in diff
    as_json = json.loads(cli("data", "diff", "customers@1", "customers@2", "--json").stdout)
    drift = {row["column"]: row["drifted"] for row in as_json["drift"]}
    assert drift["spend"] is True and drift["plan"] is False
    gate = cli("data", "diff", "customers@1", "customers@2", "--fail-on-drift", ok=False)
    assert gate.returncode == 1
    cli("data", "diff", "customers@1", "customers@1", "--fail-on-drift")
    cli("data", "download", "customers@2", "-o", str(tmp_path / "copy.parquet"))
    assert len(pd.read_parquet(tmp_path / "copy.parquet")) == 500


def test_check_exits_non_zero_and_stores_the_report(tmp_path: Path) -> None:
    (tmp_path / "checks.yaml").write_text(SUITE)
    _frame(300, 0).to_parquet(tmp_path / "good.parquet")
    _frame(300, 0, bad_ages=4).to_parquet(tmp_path / "bad.parquet")
    good = cli("data", "check", str(tmp_path / "good.parquet"), "--suite",
               str(tmp_path / "checks.yaml"))
    assert "passed" in good.stdout
    bad = cli("data", "check", str(tmp_path / "bad.parquet"), "--suite",
              str(tmp_path / "checks.yaml"), ok=False)
    assert bad.returncode == 1 and "4 of 300 failing" in bad.stdout and '"age": 7' in bad.stdout
    version = dockyard.log_dataset(tmp_path / "bad.parquet", "customers")
    stored = cli("data", "check", version.spec, "--suite", str(tmp_path / "checks.yaml"),
                 "--json", ok=False)
    report = json.loads(stored.stdout)
    assert report["passed"] is False and stored.returncode == 1
    [check] = Client().store.list_dataset_checks("customers", 1)
    assert (check.passed, check.failed, check.suite) == (False, 1, "customers")
    assert check.report["results"][1]["failing"] == 4
    cli("data", "check", str(tmp_path / "good.parquet"), "--suite",
        str(tmp_path / "checks.yaml"), "--dataset", "customers@1")
    assert [c.passed for c in Client().store.list_dataset_checks("customers", 1)] == [True, False]


def test_mistakes_get_one_clear_line(tmp_path: Path) -> None:
    missing = cli("data", "log", str(tmp_path / "nope.parquet"), "-n", "x", ok=False)
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    assert "Traceback" not in missing.stderr
    unknown = cli("data", "show", "ghost@3", ok=False)
    assert unknown.returncode == 1 and "dataset 'ghost' does not exist" in unknown.stderr
    bad_spec = cli("data", "show", "ghost@three", ok=False)
    assert "must be a number or 'latest'" in bad_spec.stderr
    (tmp_path / "broken.yaml").write_text("name: x\nexpectations:\n  - {type: nope}\n")
    _frame(10, 0).to_parquet(tmp_path / "d.parquet")
    broken = cli("data", "check", str(tmp_path / "d.parquet"), "--suite",
                 str(tmp_path / "broken.yaml"), ok=False)
    assert broken.returncode == 1 and "nope" in broken.stderr and "Traceback" not in broken.stderr
    assert "check" in cli("data", "--help").stdout
    assert "--fail-on-drift" in cli("data", "diff", "--help").stdout
