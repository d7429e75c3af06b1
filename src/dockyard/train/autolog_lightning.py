"""Autologging for PyTorch Lightning: ``Trainer.fit`` logs itself.

``dockyard.autolog()`` patches ``pytorch_lightning.Trainer.fit`` (and
``lightning.pytorch.Trainer.fit`` when the ``lightning`` package is installed
too). A fit is a training call like the others in :mod:`dockyard.train.autolog`:
it starts a run when none is active and ends it when the fit returns, only the
outermost call logs, and a failed logging step is a warning, never an error.

What a fit logs:

* params: ``max_epochs``; the LightningModule's ``hparams``
  (``save_hyperparameters()``), nested dicts flattened as ``a.b``; once the
  optimizers are set up, ``optimizer_name`` and the first optimizer's settings
  (``lr``, ``weight_decay``, ``betas``, ``momentum`` ...: its ``defaults``);
  with an EarlyStopping callback, ``early_stopping.monitor``, ``.mode``,
  ``.patience`` and ``.min_delta``.
* metrics: the scalars of ``trainer.callback_metrics`` (what ``self.log``
  records, under the names given: ``train_loss``, ``val_loss`` ...) once per
  epoch at step = epoch, when the epoch is over, so that its validation and
  the module's own ``on_train_epoch_end`` are in. A validation metric is
  logged for the epochs that ran validation only. With EarlyStopping,
  ``early_stopping.stopped_epoch``, ``.wait_count`` and ``.best_score`` when
  the fit returns.
* the trained module as ``model``, saved before the fit returns (a Lightning
  fit is long; the module is not copied for a background save). Its input example is the first 5 rows of
  the first training batch (a tensor, or a tuple or list whose first item is
  a tensor), kept when training starts; with it the module is saved as a
  ``torch.export`` program. Without one (dict batches, ``log_input_examples=
  False``), or when the module cannot be exported, the pytorch flavor saves it
  with ``torch.save`` and warns (``UserWarning``): loading that package needs
  the module's class importable.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Mapping
from typing import Any

from dockyard.train import autolog as _autolog

_PACKAGES = ("pytorch_lightning", "lightning.pytorch")


def patch() -> None:
    """Patch ``Trainer.fit`` of each installed Lightning package."""
    for name in _PACKAGES:
        if importlib.util.find_spec(name.split(".")[0]) is None:
            continue
        try:
            package = importlib.import_module(name)
        except ImportError:
            continue
        prepare = _fit(_epoch_logger(package.Callback))
        _autolog._patch(package.Trainer, "fit",
                        lambda original, p=prepare: _autolog._training_call(original, p))


def _fit(logger_class: type) -> _autolog.Prepare:
    def prepare(run_id: str, args: tuple[Any, ...], kwargs: dict[str, Any]
                ) -> tuple[tuple[Any, ...], dict[str, Any], Callable[[Any], None]]:
        trainer = args[0]
        model = args[1] if len(args) > 1 else kwargs.get("model")
        _autolog._step("params", _autolog._log_params, {"max_epochs": trainer.max_epochs})
        hparams = getattr(model, "hparams", None)
        if isinstance(hparams, Mapping) and hparams:
            _autolog._step("hyperparameters", _autolog._log_params, dict(hparams))
        stopper = trainer.early_stopping_callback
        if stopper is not None:
            _autolog._step("early stopping settings", _autolog._log_params, {"early_stopping": {
                "monitor": stopper.monitor, "mode": stopper.mode, "patience": stopper.patience,
                "min_delta": abs(stopper.min_delta)}})
        callback = logger_class(run_id)
        trainer.callbacks = [*_without(trainer.callbacks, logger_class), callback]

        def after(result: Any) -> None:
            trainer.callbacks = _without(trainer.callbacks, logger_class)
            if stopper is not None:
                _autolog._step("early stopping", _autolog._log_metrics, run_id, {
                    "early_stopping.stopped_epoch": stopper.stopped_epoch,
                    "early_stopping.wait_count": stopper.wait_count,
                    **_scalars({"early_stopping.best_score": stopper.best_score})})
            if _autolog._config.log_models:
                _autolog._step("model", _autolog._log_model, run_id, model, callback.example)
        return args, kwargs, after
    return prepare


def _without(callbacks: list[Any], cls: type) -> list[Any]:
    """A new list: Lightning may be iterating over the one it replaces."""
    return [c for c in callbacks if not isinstance(c, cls)]


def _epoch_logger(base: type) -> type:
    class EpochLogger(base):  # type: ignore[misc, valid-type]
        """Logs the optimizer, each epoch's metrics and keeps the input example."""

        def __init__(self, run_id: str) -> None:
            self.run_id = run_id
            self.example: Any = None
            self.looked = False
            self.epoch: int | None = None  # the finished epoch whose metrics are to log
            self.validation: set[str] = set()  # every key a validation has set
            self.validated: set[str] = set()  # those set in that epoch
            self.before: dict[str, Any] = {}

        def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
            _autolog._step("optimizer params", _log_optimizer, trainer)

        def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any,
                                 batch_idx: int) -> None:
            if not self.looked:
                self.looked = True
                self.example = _autolog._step("input example", _example, batch)

        def on_validation_start(self, trainer: Any, pl_module: Any) -> None:
            if not trainer.sanity_checking:
                self.before = dict(trainer.callback_metrics)

        def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
            if not trainer.sanity_checking:
                # Lightning keeps the other values as they are: a key whose value is a
                # new object was set by this validation.
                fresh = {key for key, value in trainer.callback_metrics.items()
                         if self.before.get(key) is not value}
                self.validation |= fresh
                self.validated |= fresh

        def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
            self.epoch = trainer.current_epoch

        def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
            self._flush(trainer)

        def on_train_end(self, trainer: Any, pl_module: Any) -> None:
            self._flush(trainer)

        def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
            self._flush(trainer)
            trainer.callbacks = _without(trainer.callbacks, type(self))

        def _flush(self, trainer: Any) -> None:
            if self.epoch is None:
                return
            metrics = {key: value for key, value in trainer.callback_metrics.items()
                       if key not in self.validation or key in self.validated}
            _autolog._step("epoch metrics", _autolog._log_metrics, self.run_id,
                           _scalars(metrics), self.epoch)
            self.epoch, self.validated = None, set()

    return EpochLogger


def _log_optimizer(trainer: Any) -> None:
    if not trainer.optimizers:
        return
    optimizer = trainer.optimizers[0]
    settings = {key: value for key, value in optimizer.defaults.items() if value is not None}
    _autolog._log_params({"optimizer_name": type(optimizer).__name__, **settings})


def _example(batch: Any) -> Any:
    """The first rows of a tensor batch, or of a tuple or list batch's first item, as numpy."""
    first = batch[0] if isinstance(batch, (tuple, list)) and batch else batch
    if not hasattr(first, "detach") or not getattr(first, "ndim", 0):
        return None
    return first[:_autolog._EXAMPLE_ROWS].detach().cpu().numpy()


def _scalars(metrics: Mapping[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in metrics.items():
        try:
            out[key] = float(value)
        except (TypeError, ValueError, RuntimeError):
            continue  # a tensor of several values is not a metric
    return out
