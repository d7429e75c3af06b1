"""Autologging of PyTorch Lightning through real training on the embedded store, read
back from the runs it made."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import EarlyStopping
from sklearn.datasets import make_classification
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import dockyard
from dockyard.entities import Run
from dockyard.train import autolog as autolog_module
from dockyard.train.fluent import _client

# Lightning's own use of a torch API that torch has deprecated.
pytestmark = [
    pytest.mark.filterwarnings(
        r"ignore:`isinstance\(treespec, LeafSpec\)` is deprecated:FutureWarning"),
    pytest.mark.usefixtures("autologging"),
]


class Classifier(pl.LightningModule):
    def __init__(self, features: int = 8, hidden: int = 16, lr: float = 0.01) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(nn.Linear(features, hidden), nn.ReLU(), nn.Linear(hidden, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = nn.functional.cross_entropy(self(x), y)
        self.log("train_loss", loss, on_step=False, on_epoch=True)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        logits = self(x)
        self.log("val_loss", nn.functional.cross_entropy(logits, y))
        self.log("val_acc", (logits.argmax(dim=1) == y).float().mean())

    def on_train_epoch_end(self) -> None:
        self.log("epoch_marker", float(self.current_epoch))

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr, weight_decay=1e-4)


@pytest.fixture(scope="module")
def data() -> tuple[DataLoader, DataLoader, torch.Tensor]:
    x, y = make_classification(n_samples=240, n_features=8, random_state=0)
    x = ((x - x.mean(axis=0)) / x.std(axis=0)).astype(np.float32)
    features, labels = torch.from_numpy(x), torch.from_numpy(y)
    train = DataLoader(TensorDataset(features[:180], labels[:180]), batch_size=32,
                       shuffle=True, num_workers=0)
    valid = DataLoader(TensorDataset(features[180:], labels[180:]), batch_size=60,
                       num_workers=0)
    return train, valid, features


def trainer(**settings) -> pl.Trainer:
    return pl.Trainer(**{"max_epochs": 3, "accelerator": "cpu", "logger": False,
                         "enable_checkpointing": False, "enable_progress_bar": False,
                         "enable_model_summary": False, **settings})


def only_run() -> Run:
    (run,) = dockyard.search_runs()
    return run


def history(run_id: str, key: str) -> list[tuple[int, float]]:
    points = _client().get_metric_history(run_id, key)
    return list(zip(points.steps, points.values))


class Recorder(pl.Callback):
    """What the user's own callback sees at the end of each epoch."""

    def __init__(self) -> None:
        self.seen: dict[str, list[float]] = {}

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        for key, value in trainer.callback_metrics.items():
            self.seen.setdefault(key, []).append(float(value))


def test_fit_logs_params_epoch_metrics_and_model(data) -> None:
    train, valid, features = data
    torch.manual_seed(0)
    model, recorder = Classifier(lr=0.02), Recorder()
    trainer(callbacks=[recorder]).fit(model, train, valid)
    run = only_run()
    assert run.status.value == "FINISHED"
    assert run.params["max_epochs"] == "3"
    assert run.params["optimizer_name"] == "Adam"
    assert run.params["lr"] == "0.02" and run.params["weight_decay"] == "0.0001"
    assert run.params["features"] == "8" and run.params["hidden"] == "16"
    for key in ("train_loss", "val_loss", "val_acc"):
        logged = history(run.id, key)
        assert [step for step, _ in logged] == [0, 1, 2], key
        assert [value for _, value in logged] == pytest.approx(recorder.seen[key]), key
    # logged by the module's own on_train_epoch_end, after the callbacks have run
    assert history(run.id, "epoch_marker") == [(0, 0.0), (1, 1.0), (2, 2.0)]
    loaded = dockyard.load_model(f"runs:/{run.id}/model")
    assert loaded.manifest.loader.format == "torch-export"  # traced with the input example
    rows = features[:7]
    model.eval()
    with torch.no_grad():
        expected = model(rows).numpy()
    assert np.allclose(np.asarray(loaded.predict(rows.numpy())), expected, atol=1e-6)


def test_early_stopping_is_logged(data) -> None:
    train, valid, _ = data
    torch.manual_seed(0)
    # No later epoch improves on the first by 1e9: training stops after epoch 1.
    stopper = EarlyStopping(monitor="val_loss", patience=1, min_delta=1e9)
    trainer(max_epochs=10, callbacks=[stopper]).fit(Classifier(), train, valid)
    run = only_run()
    assert run.params["early_stopping.monitor"] == "val_loss"
    assert run.params["early_stopping.patience"] == "1"
    assert run.metrics["early_stopping.stopped_epoch"].value == 1
    assert run.metrics["early_stopping.best_score"].value == pytest.approx(
        history(run.id, "val_loss")[0][1])
    assert [step for step, _ in history(run.id, "val_loss")] == [0, 1]


def test_validation_every_other_epoch(data) -> None:
    train, valid, _ = data
    with dockyard.start_run() as active:
        trainer(max_epochs=4, check_val_every_n_epoch=2).fit(Classifier(), train, valid)
    assert only_run().id == active.id
    assert [step for step, _ in history(active.id, "train_loss")] == [0, 1, 2, 3]
    assert [step for step, _ in history(active.id, "val_loss")] == [1, 3]


def test_a_failing_model_log_does_not_break_training(
        data, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    train, valid, _ = data

    def refuse(*args, **kwargs):
        raise RuntimeError("the artifact store is full")

    monkeypatch.setattr(autolog_module, "_log_model", refuse)
    model = Classifier()
    fitted = trainer()
    with caplog.at_level(logging.WARNING, logger="dockyard.autolog"):
        fitted.fit(model, train, valid)
    assert fitted.current_epoch == 3 and fitted.state.finished
    warned = [r for r in caplog.records if r.name == "dockyard.autolog"]
    assert len(warned) == 1 and "artifact store is full" in warned[0].getMessage()
    run = only_run()
    assert run.status.value == "FINISHED" and len(history(run.id, "val_loss")) == 3


def test_training_errors_propagate_and_fail_the_run(data) -> None:
    train, valid, _ = data

    class Broken(Classifier):
        def training_step(self, batch, batch_idx):
            raise ValueError("a broken step")

    fitted = trainer()
    with pytest.raises(ValueError, match="a broken step"):
        fitted.fit(Broken(), train, valid)
    assert only_run().status.value == "FAILED"
    assert dockyard.active_run() is None
    assert not any(type(c).__name__ == "EpochLogger" for c in fitted.callbacks)


def test_disable_restores_trainer_fit(data) -> None:
    train, valid, _ = data
    assert hasattr(pl.Trainer.fit, "__dockyard_autolog_original__")
    dockyard.autolog(disable=True)
    assert not hasattr(pl.Trainer.fit, "__dockyard_autolog_original__")
    trainer(max_epochs=1).fit(Classifier(), train, valid)
    assert dockyard.search_runs() == []


class Rows(torch.utils.data.Dataset):
    """Batches as dicts: there is no tensor to take an input example from."""

    def __init__(self, features: torch.Tensor, labels: torch.Tensor) -> None:
        self.features, self.labels = features, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"x": self.features[index], "y": self.labels[index]}


class DictClassifier(Classifier):
    def training_step(self, batch, batch_idx):
        return super().training_step((batch["x"], batch["y"]), batch_idx)

    def validation_step(self, batch, batch_idx):
        return super().validation_step((batch["x"], batch["y"]), batch_idx)


def test_without_an_input_example_the_module_is_pickled(data) -> None:
    _, _, features = data
    labels = (features[:, 0] > 0).long()
    model = DictClassifier()
    with pytest.warns(UserWarning, match="saved the module with torch.save"):
        trainer(max_epochs=1).fit(model, DataLoader(Rows(features, labels), batch_size=64),
                                  DataLoader(Rows(features[:60], labels[:60]), batch_size=60))
    run = only_run()
    assert [step for step, _ in history(run.id, "train_loss")] == [0]
    loaded = dockyard.load_model(f"runs:/{run.id}/model")
    assert loaded.manifest.loader.format == "torch-pickle"
    model.eval()
    with torch.no_grad():
        expected = model(features[:5]).numpy()
    assert np.allclose(np.asarray(loaded.predict(features[:5].numpy())), expected, atol=1e-6)
