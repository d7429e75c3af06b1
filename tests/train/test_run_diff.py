"""``dockyard runs diff``: only what differs between two runs."""

from __future__ import annotations

import json

import pandas as pd

import dockyard
from dockyard import Client
from dockyard.train.diff import diff_runs
from tests.cli.test_cli import cli


def _two_runs() -> tuple[str, str]:
    data = dockyard.log_dataset(pd.DataFrame({"x": [1, 2, 3]}), "points")
    newer = dockyard.log_dataset(pd.DataFrame({"x": [1, 2, 3, 4]}), "points")
    with dockyard.start_run(name="small", tags={"team": "growth"}) as a:
        dockyard.log_params({"depth": 2, "lr": 0.1})
        dockyard.log_metrics({"auc": 0.80, "loss": 0.5})
        dockyard.log_input(data, "training")
    with dockyard.start_run(name="deep", tags={"team": "growth", "try": "2"}) as b:
        dockyard.log_params({"depth": 8, "lr": 0.1, "seed": 7})
        dockyard.log_metrics({"auc": 0.85, "loss": 0.5})
        dockyard.log_input(newer, "training")
    return a.info.id, b.info.id


def test_only_differences_are_reported() -> None:
    a, b = _two_runs()
    diff = diff_runs(Client(), a, b)
    params = {c.key: (c.a, c.b) for c in diff.sections["params"]}
    assert params == {"depth": ("2", "8"), "seed": (None, "7")}  # lr is the same: left out
    [auc] = diff.sections["metrics"]
    assert (auc.key, auc.a, auc.b) == ("auc", 0.80, 0.85)
    assert abs(auc.delta - 0.05) < 1e-12
    assert [(c.key, c.a, c.b) for c in diff.sections["data"]] == [("training:points", 1, 2)]
    assert [(c.key, c.a, c.b) for c in diff.sections["tags"]] == [("try", None, "2")]
    assert diff.sections["code"] == [] and not diff.same
    assert diff_runs(Client(), a, a).same


def test_the_command(tmp_path) -> None:
    a, b = _two_runs()
    out = cli("runs", "diff", a, b).stdout
    assert "depth" in out and "+0.05" in out and "training:points" in out and "lr" not in out
    body = json.loads(cli("runs", "diff", a, b, "--json").stdout)
    assert body["sections"]["params"][0] == {"key": "depth", "a": "2", "b": "8", "delta": None}
    assert "no differences" in cli("runs", "diff", a, a).stdout
    missing = cli("runs", "diff", a, "0" * 32, ok=False)
    assert missing.returncode == 1 and "does not exist" in missing.stderr
