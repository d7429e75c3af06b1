"""The Dockyard demo: tune, train, track, register the best model, deploy it, validate a
challenger against it, roll the challenger out as a canary, and monitor it.

Runs on the embedded store (SQLite and a folder under DOCKYARD_HOME) unless
DOCKYARD_URI points at a server. Uses scikit-learn's bundled breast-cancer
data set, so it needs no network.

    python examples/demo.py
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import httpx

import numpy as np
from rich.console import Console
from rich.table import Table
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.metrics import accuracy_score, confusion_matrix, log_loss, roc_auc_score
from sklearn.model_selection import train_test_split

import dockyard
import dockyard.errors
from dockyard.deploy import deployments as ops
from dockyard.deploy.local import LocalTarget, free_port
from dockyard.entities.deployment import DeploymentSpec, Rollout, Route
from dockyard.monitor.predictions import PredictionStore

EXPERIMENT = "breast-cancer"
TUNING = "breast-cancer-tuning"  # the study's runs, apart from the candidates compared below
TUNING_TRIALS = 8
MODEL = "breast-cancer-gbm"
MONITOR = "breast-cancer-demo"
DEPLOYMENT = "demo"
CANDIDATES = [
    {"n_estimators": 60, "max_depth": 1, "learning_rate": 0.3},
    {"n_estimators": 120, "max_depth": 2, "learning_rate": 0.1},
    {"n_estimators": 200, "max_depth": 3, "learning_rate": 0.05},
]

RELEASE_POLICY = {"name": "release", "rules": [
    "accuracy >= 0.9",
    "cohort_gap.accuracy <= 0.1",
    "robustness.noise_0.1.accuracy_drop <= 0.05",
    "champion.accuracy_delta >= -0.05",  # not much worse than the model it may replace
]}

console = Console()


def log_data(data: tuple) -> tuple:
    """The training and validation sets as dataset versions: digest, schema and profile. Logging
    the same data again (the next time the demo runs) finds the versions it has."""
    x_train, x_val, y_train, y_val = data
    train = dockyard.log_dataset(x_train.assign(target=y_train), "breast-cancer-train",
                                 description="sklearn breast cancer, 75% stratified split")
    val = dockyard.log_dataset(x_val.assign(target=y_val), "breast-cancer-validation",
                               description="sklearn breast cancer, 25% stratified split")
    for version in (train, val):
        console.print(f"dataset [bold]{version.spec}[/]: {version.rows} rows, "
                      f"{len(version.columns)} columns, digest {version.digest[:12]}")
    console.print(f"  try: dockyard data show {train.spec}")
    return train, val


def tune_model(data: tuple) -> None:
    """A small search over the gradient boosting's settings: each trial trains on the training
    split and is scored by its log loss on the validation split."""
    x_train, x_val, y_train, y_val = data

    def objective(params: dict, trial) -> float:
        model = GradientBoostingClassifier(random_state=0, **params).fit(x_train, y_train)
        return log_loss(y_val, model.predict_proba(x_val))

    space = {"learning_rate": ("log_float", 0.02, 0.3), "max_depth": ("int", 1, 3),
             "n_estimators": ("int", 20, 80)}
    dockyard.set_experiment(TUNING)
    try:
        with console.status(f"tuning: {TUNING_TRIALS} trials"):
            result = dockyard.tune(objective, space, n_trials=TUNING_TRIALS, seed=0,
                                   study_name="gbm-search")
    finally:
        dockyard.set_experiment(EXPERIMENT)
    shown = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                      for k, v in sorted(result.best_params.items()))
    console.print(f"tuned in [bold]{TUNING}[/]: best trial {result.best_trial} "
                  f"(validation log loss {result.best_value:.4f}) with {shown}")
    console.print(f"  see the study: http://127.0.0.1:{os.environ.get('PORT', '5000')}"
                  f"/studies/{result.run_id} once the server is up")


def train_one(params: dict, data: tuple, inputs: tuple, workdir: Path) -> None:
    x_train, x_val, y_train, y_val = data
    model = GradientBoostingClassifier(random_state=0, **params)
    with dockyard.start_run(name=f"gbm-depth{params['max_depth']}-n{params['n_estimators']}"):
        dockyard.log_input(inputs[0], "training")  # the lineage starts at the data
        dockyard.log_input(inputs[1], "validation")
        dockyard.log_params(params)
        dockyard.set_tags({"data": "sklearn.breast_cancer", "model": "GradientBoostingClassifier"})
        model.fit(x_train, y_train)
        # One point per boosting stage: the curves the UI will plot.
        for step, (p_train, p_val) in enumerate(
            zip(model.staged_predict_proba(x_train), model.staged_predict_proba(x_val))
        ):
            dockyard.log_metrics(
                {"train_loss": log_loss(y_train, p_train), "val_loss": log_loss(y_val, p_val)},
                step=step,
            )
        proba = model.predict_proba(x_val)[:, 1]
        pred = (proba >= 0.5).astype(int)
        dockyard.log_metrics({
            "auc": roc_auc_score(y_val, proba),
            "accuracy": accuracy_score(y_val, pred),
        })
        report = workdir / f"confusion-{params['max_depth']}.json"
        report.write_text(json.dumps({"confusion_matrix": confusion_matrix(y_val, pred).tolist()}))
        dockyard.log_artifact(report, "evaluation")
        importances = workdir / "feature_importances.csv"
        names = x_train.columns
        order = np.argsort(model.feature_importances_)[::-1]
        importances.write_text("feature,importance\n" + "\n".join(
            f"{names[i]},{model.feature_importances_[i]:.6f}" for i in order))
        dockyard.log_artifact(importances, "evaluation")
        # The package: model, signature from the example, pinned requirements, checksums.
        dockyard.log_model(model, "model", input_example=x_val[:5])


def main() -> None:
    console.rule("[bold]Dockyard demo")
    console.print(f"tracking to [bold]{dockyard.get_tracking_uri()}[/]")
    x, y = load_breast_cancer(return_X_y=True, as_frame=True)
    data = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
    dockyard.set_experiment(EXPERIMENT)
    inputs = log_data(data)
    tune_model(data)
    with tempfile.TemporaryDirectory() as tmp:
        for params in CANDIDATES:
            with console.status(f"training {params}"):
                train_one(params, data, inputs, Path(tmp))
            console.print(f"  logged run with {params}")

    best = dockyard.search_runs(
        EXPERIMENT,
        filter="metrics.auc > 0.9 and params.max_depth IN ('2', '3')",
        order_by=["metrics.auc DESC"],
    )
    table = Table(title="Runs with auc > 0.9 and max_depth in (2, 3), best first")
    table.add_column("run", no_wrap=True)
    for col in ("max_depth", "n_estimators", "auc", "accuracy", "val_loss (last)"):
        table.add_column(col)
    for run in best:
        table.add_row(run.name, run.params["max_depth"], run.params["n_estimators"],
                      f"{run.metrics['auc'].value:.4f}", f"{run.metrics['accuracy'].value:.4f}",
                      f"{run.metrics['val_loss'].value:.4f}")
    console.print(table)
    if not best:
        return
    console.print(f"best run: [bold]{best[0].name}[/] ({best[0].id})")
    console.print(f"  try: dockyard runs show {best[0].id}")

    version = dockyard.register_model(f"runs:/{best[0].id}/model", MODEL,
                                      description="Gradient boosting on the breast-cancer data")
    dockyard.set_alias(MODEL, "champion", version.version)
    console.print(f"registered [bold]{MODEL}[/] version {version.version} as champion "
                  f"(package sha256 {version.package_digest[:12]}...)")
    champion = dockyard.load_model(f"models:/{MODEL}@champion")
    _, x_val, _, y_val = data
    rows = x_val[:3].to_dict("records")  # plain records work as well as a DataFrame
    console.print(f"champion predicts {champion.predict(rows).tolist()} for 3 validation rows")
    console.print(f"  try: dockyard models show models:/{MODEL}@champion")
    monitor = create_demo_monitor(x_val, y_val, champion.predict(x_val))
    client = dockyard.Client()
    url = deploy_champion(client, version.version)
    try:
        phases = send_traffic(url, x_val, y_val)
        if len(best) > 1:
            challenger = dockyard.register_model(f"runs:/{best[1].id}/model", MODEL)
            dockyard.set_alias(MODEL, "challenger", challenger.version)
            if validate_challenger(challenger.version, inputs[1]):
                canary(client, url, x_val)
    finally:
        LocalTarget(client).stop(DEPLOYMENT)  # drains; the servers write their logs out
    show_prediction_log()
    watch(monitor, phases)


def deploy_champion(client: dockyard.Client, version: int) -> str:
    """Deploy the champion on this machine: a router in front of a model server."""
    try:
        LocalTarget(client).stop(DEPLOYMENT)  # from an earlier run
        client.store.delete_deployment(DEPLOYMENT)
    except dockyard.errors.NotFound:
        pass
    spec = DeploymentSpec(name=DEPLOYMENT, routes=[Route(model_name=MODEL, version=str(version))],
                          config={"port": free_port()},
                          rollout=Rollout(steps=[25, 50, 100], interval_seconds=2,
                                          min_requests=10))
    LocalTarget(client).apply(ops.deploy(client, spec))
    with console.status(f"deploying models:/{MODEL}@champion as {DEPLOYMENT!r}"):
        deployed = ops.wait_until_ready(client, DEPLOYMENT, timeout=180)
    console.print(f"deployed the champion as [bold]{DEPLOYMENT}[/] at [bold]{deployed.endpoint}[/]")
    console.print(f"  try: dockyard deploy status {DEPLOYMENT}")
    return str(deployed.endpoint)


def validate_challenger(version: int, validation_set) -> bool:
    """The evidence before the canary: the challenger on the validation set, by cohort,
    under noise and against the champion, judged by the release policy."""
    with console.status(f"validating version {version} against the champion"):
        report = dockyard.validate(
            f"models:/{MODEL}/{version}", validation_set.spec, "target",
            cohorts=[{"column": "mean radius", "bins": 3}],
            baseline=f"models:/{MODEL}@champion", policy=RELEASE_POLICY)
    for check in report.checks:
        console.print(f"  {check.name}: {check.error or check.summary}")
    verdict = "[green]passed[/]" if report.passed else "[red]failed[/]"
    console.print(f"validated version {version}: the release policy {verdict} "
                  f"({report.policy.summary})")
    console.print(f"  see the report: http://127.0.0.1:{os.environ.get('PORT', '5000')}"
                  f"/runs/{report.run_id}")
    console.print(f"  try: dockyard validate models:/{MODEL}/{version} --data "
                  f"{validation_set.spec} --target target --baseline models:/{MODEL}@champion")
    return bool(report.passed)


def canary(client: dockyard.Client, url: str, x_val) -> None:
    """Roll the challenger out as a canary: it takes 25%, then 50% of the traffic, and is
    promoted if its errors and latency keep to the stable version's (else rolled back)."""
    deployment = ops.canary(client, DEPLOYMENT, f"models:/{MODEL}@challenger")
    canary_version = deployment.route("canary").version
    console.print(f"canary: version {canary_version} takes "
                  f"{deployment.route('canary').weight}% of the traffic")
    records = x_val.to_dict("records")
    deadline = time.monotonic() + 120
    with httpx.Client(base_url=url, timeout=30) as http, \
            console.status("sending traffic while the canary steps forward"):
        i = 0
        while time.monotonic() < deadline:
            http.post("/invocations", json={"dataframe_records": records[i % 100:i % 100 + 5]})
            i += 5
            now = client.store.get_deployment(DEPLOYMENT)
            if now.route("canary") is None and now.observed_revision == now.revision:
                break
    for event in reversed(client.store.get_deployment_history(DEPLOYMENT, 50)):
        if event.action in ("canary", "promote", "rollback") and event.revision >= \
                deployment.revision:
            console.print(f"  {event.action}: {event.message}")
    console.print(f"  now serving: {', '.join(client.store.get_deployment(DEPLOYMENT).versions())}")
    console.print(f"  try: dockyard deploy history {DEPLOYMENT}")


def send_traffic(url: str, x_val, y_val) -> dict[str, tuple[int, int, list[str], list[int]]]:
    """Send the deployment normal, then shifted traffic. Returns each phase's time span,
    prediction ids and true labels."""
    records = x_val.head(100).to_dict("records")
    v2_input = [{"name": name, "shape": [1], "datatype": "FP64", "data": [value]}
                for name, value in records[0].items()]
    with httpx.Client(base_url=url, timeout=30) as http:
        answer = http.post(f"/v2/models/{MODEL}/infer", json={"inputs": v2_input})
        answer.raise_for_status()
        console.print(f"  V2 infer: {answer.json()['outputs'][0]['data']} "
                      f"(prediction id {answer.headers['x-prediction-id']})")
        started = time.perf_counter()
        normal_since, normal_ids = now_ms(), []
        for i in range(0, len(records), 10):
            answer = http.post("/invocations", json={"dataframe_records": records[i:i + 10]})
            answer.raise_for_status()
            normal_ids += answer.json()["prediction_ids"]
        for record in records:
            http.post(f"/v1/models/{MODEL}:predict", json={"instances": [record]}
                      ).raise_for_status()
        seconds = time.perf_counter() - started
        served = sum(float(line.rsplit(" ", 1)[1]) for line in http.get("/metrics").text
                     .splitlines() if line.startswith("dockyard_deployment_requests_total{"))
        console.print(f"  then {len(records) // 10} /invocations requests of 10 rows and "
                      f"{len(records)} V1 requests of one in {seconds:.2f} s; /metrics "
                      f"counts {served:.0f} requests")
        time.sleep(0.5)  # a prediction is stamped when it is logged, just after its answer
        shifted_since = now_ms()
        shifted, truth = shift(x_val, y_val)
        shifted_ids = []
        for i in range(0, len(shifted), 10):
            answer = http.post("/invocations", json={
                "dataframe_records": shifted[i:i + 10].to_dict("records")})
            answer.raise_for_status()
            shifted_ids += answer.json()["prediction_ids"]
        console.print(f"  then {len(shifted)} rows whose {', '.join(SHIFTED)} have shifted")
        time.sleep(0.5)
    return {"normal": (normal_since, shifted_since, normal_ids, y_val.head(100).tolist()),
            "shifted": (shifted_since, now_ms(), shifted_ids, truth)}


def show_prediction_log() -> None:
    store = PredictionStore()  # the artifact root the servers logged to
    logged = store.sql("SELECT version, count(*) AS n, avg(latency_ms) AS ms FROM predictions "
                       "GROUP BY version ORDER BY version").to_pylist()
    shown = ", ".join(f"{row['n']} by version {row['version']}" for row in logged)
    console.print(f"the prediction log holds {shown}, partitioned by model, version and date")
    console.print("  try: dockyard predictions tail -n 5")


SHIFTED = ["worst radius", "worst perimeter", "worst area", "mean concave points",
           "worst concave points"]


def shift(x_val, y_val):
    """200 rows drawn from the validation set with five features moved, as when a new
    scanner reads tumours larger than the old one did."""
    rng = np.random.default_rng(0)
    picked = rng.choice(len(x_val), 200)
    rows = x_val.iloc[picked].reset_index(drop=True).copy()
    rows["worst radius"] *= 1.4
    rows["worst perimeter"] *= 1.4
    rows["worst area"] *= 2.0
    rows["mean concave points"] += 0.04
    rows["worst concave points"] += 0.08
    return rows, y_val.iloc[picked].tolist()


def create_demo_monitor(x_val, y_val, predicted):
    """A monitor of the demo deployment. Its reference is the held-out validation set with the
    champion's predictions, so the reference's accuracy is an honest one."""
    from dockyard.entities.monitoring import MonitorSpec
    from dockyard.monitor.monitors import create_monitor

    client = dockyard.Client()
    try:
        client.delete_monitor(client.get_monitor_by_name(MONITOR).id)  # from an earlier run
    except dockyard.errors.NotFound:
        pass
    reference = x_val.assign(target=y_val.to_numpy(), predicted=predicted)
    spec = MonitorSpec(name=MONITOR, model_name=MODEL, deployment="demo",
                       task="classification", window_seconds=3600, interval_seconds=0)
    monitor = create_monitor(client, spec, reference, target="target", prediction="predicted")
    console.print(f"monitor [bold]{MONITOR}[/] watches {len(monitor.features)} features with "
                  f"the validation set as reference and {len(monitor.rules)} default rules")
    return monitor


def watch(monitor, phases) -> None:
    """Labels arrive late; the monitor judges the normal, then the shifted traffic."""
    from dockyard.monitor.monitors import run_monitor

    client = dockyard.Client()
    for since, until, ids, truth in phases.values():
        half = len(ids) // 2  # the outcome of half the cases is known so far
        client.log_ground_truth(ids[:half], truth[:half])
    for phase, (since, until, _, _) in phases.items():
        done = run_monitor(client, monitor, since=since, until=until)
        accuracy = done.latest("accuracy")
        drifted = sorted({v.feature for v in done.values
                          if v.metric == "drifted" and v.value == 1.0})
        console.print(f"  {phase} traffic: accuracy {accuracy.value:.3f} on "
                      f"{accuracy.count} labels, drifted: {', '.join(drifted) or 'none'}")
    firing = client.list_alerts(monitor_id=monitor.id, states=("firing",))
    for alert in sorted(firing, key=lambda a: (a.severity != "critical", a.summary)):
        console.print(f"  [red][FIRING][/] {alert.severity}: {alert.rule}: {alert.summary}")
    console.print(f"  see it: http://127.0.0.1:{os.environ.get('PORT', '5000')}"
                  f"/monitoring/{MONITOR} once the server is up")
    console.print(f"  try: dockyard monitor alerts {MONITOR}")


def now_ms() -> int:
    return int(time.time() * 1000)



if __name__ == "__main__":
    main()
