"""The demo runs end to end, as ``./dev demo`` runs it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import dockyard

ROOT = Path(__file__).resolve().parents[1]


def test_demo_runs_and_finds_the_best_run(tmp_path: Path) -> None:
    home = tmp_path / "demo-home"
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "demo.py")], cwd=tmp_path,
                         env={**os.environ, "DOCKYARD_HOME": str(home), "COLUMNS": "200"},
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "best run:" in out.stdout
    client = dockyard.Client(f"sqlite:///{home / 'dockyard.db'}", str(home / "artifacts"))
    exp = client.get_experiment_by_name("breast-cancer")
    runs = client.search_runs(exp.id, "metrics.auc > 0",  # the training runs
                              order_by="metrics.auc DESC").items
    assert len(runs) == 3 and all(r.status == dockyard.RunStatus.FINISHED for r in runs)
    assert runs[0].metrics["auc"].value > 0.95
    history = client.get_metric_history(runs[0].id, "val_loss")
    assert len(history) == int(runs[0].params["n_estimators"])
    assert {f.path for f in client.list_artifacts(runs[0].id, "evaluation")} >= {
        "evaluation/feature_importances.csv"}
    champion = client.get_model_version_by_alias("breast-cancer-gbm", "champion")
    best = [r for r in runs if r.params["max_depth"] in ("2", "3")][0]
    assert champion.source == f"runs:/{best.id}/model" and len(champion.package_digest) == 64
    assert "champion predicts" in out.stdout
    assert "/metrics counts 111 requests" in out.stdout
    assert re.search(r"the prediction log holds \d+ by version 1, \d+ by version 2", out.stdout)
    # The champion was deployed, then the challenger rolled out as a canary.
    deployment = client.store.get_deployment("demo")
    assert deployment.status == "stopped"
    actions = [e.action for e in reversed(client.store.get_deployment_history("demo", 100))]
    assert actions[0] == "create" and "canary" in actions
    assert "promote" in actions or "rollback" in actions
    assert "validated version 2: the release policy passed" in out.stdout
    (validation,) = client.search_runs(exp.id, "tags.`dockyard.validation.version` = '2'").items
    assert validation.metrics["validation.passed"].value == 1.0
    assert "champion.p_value" in validation.metrics
    assert (validation.id, "validation") in {
        (i.run_id, i.context) for i in client.store.list_dataset_runs("breast-cancer-validation")}
    assert "canary: version 2 takes 25% of the traffic" in out.stdout
    assert "normal traffic: accuracy" in out.stdout and "drifted: none" in out.stdout
    monitor = client.get_monitor_by_name("breast-cancer-demo")
    firing = client.list_alerts(monitor_id=monitor.id, states=("firing",))
    assert "accuracy drop" in {a.rule for a in firing}
    assert {a.feature for a in firing if a.rule == "feature drift"} == {
        "worst radius", "worst perimeter", "worst area", "mean concave points",
        "worst concave points", "prediction"}
    # The data is in the record, and the lineage runs from it to the deployment.
    train = client.get_dataset_version("breast-cancer-train@1")
    assert train.rows == 426 and train.columns[-1].name == "target"
    assert {(i.run_id, i.context) for i in client.store.list_dataset_runs(train.name)} == {
        (r.id, "training") for r in runs}
    graph = client.get_lineage(train.uri)
    assert {"dataset_version", "run", "model_version", "deployment"} <= {
        n.type for n in graph.nodes}
    # The model was tuned first, in an experiment of its own: a study run with eight trials.
    tuning = client.get_experiment_by_name("breast-cancer-tuning")
    studies = client.search_runs(tuning.id, "tags.`dockyard.study` = 'gbm-search'").items
    study = [r for r in studies if r.parent_id is None]
    assert len(study) == 1 and study[0].status == dockyard.RunStatus.FINISHED
    trials = client.search_runs(tuning.id, f"attributes.parent_id = '{study[0].id}'").items
    assert sorted(r.name for r in trials) == [f"trial-{n}" for n in range(8)]
    assert study[0].tags["dockyard.best_trial_run"] in {r.id for r in trials}
    assert [r.tags.get("dockyard.best_trial") for r in trials].count("true") == 1
    assert f"/studies/{study[0].id}" in out.stdout and "tuned in breast-cancer-tuning" in out.stdout
    model = client.load_model("models:/breast-cancer-gbm@champion")
    assert model.manifest.run_id == best.id
    assert model.signature is not None and model.signature.inputs[0].name == "mean radius"
