"""Autologging as scripts meet it, each in a fresh interpreter: a framework is patched
when the script first imports it (autolog imports none), and a script that ends right
after ``fit`` leaves its run complete."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from dockyard import Client


def run_script(tmp_path: Path, code: str) -> dict:
    env = {**os.environ, "DOCKYARD_HOME": str(tmp_path / "home")}
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env,
                          capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_framework_imported_after_autolog_is_patched(tmp_path: Path) -> None:
    out = run_script(tmp_path, """
        import json, sys
        import dockyard

        dockyard.autolog()
        skipped = [m for m in ("sklearn", "xgboost", "lightgbm", "pytorch_lightning")
                   if m in sys.modules]
        from sklearn.datasets import load_iris
        from sklearn.linear_model import LogisticRegression

        LogisticRegression(max_iter=300).fit(*load_iris(return_X_y=True))
        (run,) = dockyard.search_runs()
        print(json.dumps({"imported": skipped, "status": run.status.value,
                          "params": sorted(run.params),
                          "lightning": "pytorch_lightning" in sys.modules}))
    """)
    assert out["imported"] == []  # autolog itself imported no framework
    assert out["status"] == "FINISHED" and "max_iter" in out["params"]
    assert out["lightning"] is False


def test_disable_before_the_import_leaves_it_unpatched(tmp_path: Path) -> None:
    out = run_script(tmp_path, """
        import json
        import dockyard

        dockyard.autolog()
        dockyard.autolog(disable=True)
        from sklearn.linear_model import LogisticRegression

        print(json.dumps({"patched": hasattr(LogisticRegression.fit,
                                             "__dockyard_autolog_original__")}))
    """)
    assert out["patched"] is False


def test_a_script_that_ends_after_fit_leaves_its_run_complete(tmp_path: Path) -> None:
    run_script(tmp_path, """
        import dockyard
        from sklearn.datasets import load_iris
        from sklearn.ensemble import RandomForestClassifier

        dockyard.autolog()
        RandomForestClassifier(n_estimators=20).fit(*load_iris(return_X_y=True))
        print("{}")  # exits at once: the background work is still to do
    """)
    client = Client(f"sqlite:///{tmp_path / 'home' / 'dockyard.db'}",
                    str(tmp_path / "home" / "artifacts"))
    (run,) = client.search_runs(client.get_experiment_by_name("default").id).items
    assert run.status.value == "FINISHED" and "training_accuracy" in run.metrics
    assert {"model", "feature_importances.parquet"} <= {a.path for a in
                                                        client.list_artifacts(run.id)}
