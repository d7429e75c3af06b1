"""The Dockyard demo: train real models, track them, register the best one, load it back.

Runs on the embedded store (SQLite and a folder under DOCKYARD_HOME) unless
DOCKYARD_URI points at a server. Uses scikit-learn's bundled breast-cancer
data set, so it needs no network.

    python examples/demo.py
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.metrics import accuracy_score, confusion_matrix, log_loss, roc_auc_score
from sklearn.model_selection import train_test_split

import dockyard

EXPERIMENT = "breast-cancer"
MODEL = "breast-cancer-gbm"
CANDIDATES = [
    {"n_estimators": 60, "max_depth": 1, "learning_rate": 0.3},
    {"n_estimators": 120, "max_depth": 2, "learning_rate": 0.1},
    {"n_estimators": 200, "max_depth": 3, "learning_rate": 0.05},
]

console = Console()


def train_one(params: dict, data: tuple, workdir: Path) -> None:
    x_train, x_val, y_train, y_val = data
    model = GradientBoostingClassifier(random_state=0, **params)
    with dockyard.start_run(name=f"gbm-depth{params['max_depth']}-n{params['n_estimators']}"):
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
    with tempfile.TemporaryDirectory() as tmp:
        for params in CANDIDATES:
            with console.status(f"training {params}"):
                train_one(params, data, Path(tmp))
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
    x_val = data[1]
    rows = x_val[:3].to_dict("records")  # plain records work as well as a DataFrame
    console.print(f"champion predicts {champion.predict(rows).tolist()} for 3 validation rows")
    console.print(f"  try: dockyard models show models:/{MODEL}@champion")


if __name__ == "__main__":
    main()
