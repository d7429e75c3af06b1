"""The data a validation runs on, the model's answers on it, and how they are scored.

An :class:`Evaluation` is built once per validation: it checks the input
(before any check runs), decides the task, and predicts once; every check
reads the cached predictions, or asks for predictions on data of its own
(perturbed copies, one time window) through :meth:`Evaluation.predict`.

Metrics are those of production monitoring (:mod:`dockyard.monitor.quality`),
so a threshold means the same before and after a model goes live:

- classification: ``accuracy``, ``precision``, ``recall``, ``f1`` (of the
  positive class for a binary task, else macro-averaged), and, when the model
  gives probabilities of a binary task, ``roc_auc`` and ``log_loss``;
- regression: ``mae``, ``rmse``, ``r2`` and ``mape`` (when no label is 0).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from dockyard.errors import InvalidArgument
from dockyard.monitor import quality

TASKS = ("classification", "regression")
CLASSIFICATION_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss")
REGRESSION_METRICS = ("mae", "rmse", "r2", "mape")
LOWER_IS_BETTER = frozenset({"log_loss", "mae", "rmse", "mape"})
_MAX_CLASSES_FOR_AUTO = 20


def higher_is_better(metric: str) -> bool:
    """Whether a larger value of ``metric`` (a name from this module) is better."""
    return metric.rsplit(".", 1)[-1] not in LOWER_IS_BETTER


class Evaluation:
    """A model, a labelled data set and the model's predictions on it.

    ``model`` is anything with ``predict`` (a :class:`~dockyard.models.LoadedModel`,
    an estimator); ``predict_proba`` is used when it exists. ``data`` holds
    the features, the ``target`` column and any other columns the checks use
    (cohorts, sensitive attributes, time); the model gets ``data`` without
    the target, and a LoadedModel drops the columns its signature does not
    name. ``task`` is ``classification``, ``regression`` or ``auto``: a model
    with ``predict_proba``, or a target of text, booleans or at most 20
    distinct integers, is a classification.
    """

    def __init__(self, model: Any, data: pd.DataFrame, target: str, *, task: str = "auto",
                 positive_class: Any = None) -> None:
        if not isinstance(data, pd.DataFrame):
            raise InvalidArgument(f"data must be a pandas DataFrame, got {type(data).__name__}")
        if target not in data.columns:
            raise InvalidArgument(f"the target column {target!r} is not in the data; its "
                                  f"columns are: {', '.join(map(str, data.columns))}")
        if len(data) == 0:
            raise InvalidArgument("the data has no rows")
        missing = int(data[target].isna().sum())
        if missing:
            raise InvalidArgument(f"the target column {target!r} has {missing} missing values; "
                                  "drop those rows or fill them first")
        if not callable(getattr(model, "predict", None)):
            raise InvalidArgument(f"the model ({type(model).__name__}) has no predict method")
        self.model = model
        self.target = target
        self.frame = data.reset_index(drop=True)
        self.features = self.frame.drop(columns=[target])
        self.labels = self.frame[target].to_numpy()
        self.task = self._task(task)
        self.classes = np.unique(self.labels) if self.task == "classification" else None
        self.positive_class = positive_class
        if self.task == "classification" and positive_class is None and self.classes is not None \
                and len(self.classes) == 2:
            self.positive_class = self.classes[1]  # 1 of 0/1, True of False, the later label
        if positive_class is not None and self.classes is not None \
                and positive_class not in set(self.classes.tolist()):
            raise InvalidArgument(f"positive_class {positive_class!r} is not among the labels "
                                  f"({', '.join(map(str, self.classes[:10]))})")

    def _task(self, task: str) -> str:
        if task not in (*TASKS, "auto"):
            raise InvalidArgument(f"task must be one of auto, {', '.join(TASKS)}; got {task!r}")
        if task != "auto":
            return task
        if callable(getattr(self.model, "predict_proba", None)):
            return "classification"
        kind = self.labels.dtype.kind
        if kind in "OUSb" or (kind in "iu" and len(np.unique(self.labels))
                              <= _MAX_CLASSES_FOR_AUTO):
            return "classification"
        return "regression"

    # the model's answers --------------------------------------------------------------
    @cached_property
    def model_columns(self) -> list[str]:
        """The columns of :attr:`features` the model reads, in the model's order: those its
        signature names (a LoadedModel) or its ``feature_names_in_`` (a scikit-learn
        estimator), else every column of :attr:`features`."""
        inputs = getattr(getattr(self.model, "signature", None), "inputs", None)
        named: list[str] | None = None
        if isinstance(inputs, list):
            named = [column.name for column in inputs]
        else:
            for owner in (self.model, getattr(self.model, "raw", None)):
                found = getattr(owner, "feature_names_in_", None)
                if found is not None:
                    named = [str(c) for c in found]
                    break
        present = set(self.features.columns)
        picked = [c for c in named if c in present] if named else []
        return picked or list(self.features.columns)

    def _model_input(self, features: pd.DataFrame) -> pd.DataFrame:
        columns = self.model_columns
        return features[columns] if set(columns) <= set(features.columns) else features

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        """The model's predictions for ``features`` (columns as in :attr:`features`; those
        the model does not read are left out)."""
        if not len(features):
            return np.asarray([])
        answer = np.asarray(self.model.predict(self._model_input(features)))
        return answer.reshape(len(features), -1)[:, 0]

    def scores_for(self, features: pd.DataFrame) -> np.ndarray | None:
        """The positive class's probability (binary classification with predict_proba)."""
        proba_fn: Callable[..., Any] | None = getattr(self.model, "predict_proba", None)
        if self.task != "classification" or proba_fn is None or self.classes is None \
                or len(self.classes) != 2:
            return None
        proba = np.asarray(proba_fn(self._model_input(features)))
        if proba.ndim == 1:
            return proba.astype(np.float64)
        order = list(getattr(getattr(self.model, "raw", self.model), "classes_", self.classes))
        column = order.index(self.positive_class) if self.positive_class in order else -1
        return proba[:, column].astype(np.float64)

    @cached_property
    def predictions(self) -> np.ndarray:
        """The model's predictions on the whole data set (computed once)."""
        return self.predict(self.features)

    @cached_property
    def scores(self) -> np.ndarray | None:
        """The positive class's probability on the whole data set, or None."""
        return self.scores_for(self.features)

    # scoring --------------------------------------------------------------------------
    @property
    def metric_names(self) -> tuple[str, ...]:
        return CLASSIFICATION_METRICS if self.task == "classification" else REGRESSION_METRICS

    @property
    def primary_metric(self) -> str:
        """The metric a comparison ranks by: accuracy, or RMSE for regression."""
        return "accuracy" if self.task == "classification" else "rmse"

    def score(self, labels: Any, predictions: Any,
              scores: np.ndarray | None = None) -> dict[str, float]:
        """This task's metrics; those that cannot be computed on these rows are left out."""
        if self.task == "regression":
            values, _ = quality.regression(predictions, labels)
        elif scores is not None:
            values, _ = quality.classification(
                scores, _as_positive(labels, self.positive_class), positive_class=1)
            hard, _ = quality.classification(predictions, labels,
                                             positive_class=self.positive_class)
            values.update({k: hard[k] for k in ("accuracy", "precision", "recall", "f1")})
        else:
            values, _ = quality.classification(predictions, labels,
                                               positive_class=self.positive_class)
        return {k: float(v) for k, v in values.items()
                if k in self.metric_names and v is not None}

    def score_rows(self, mask: np.ndarray | None = None) -> dict[str, float]:
        """The metrics on the rows ``mask`` selects (all rows: None), from the cached
        predictions."""
        if mask is None:
            return self.score(self.labels, self.predictions, self.scores)
        scores = self.scores[mask] if self.scores is not None else None
        return self.score(self.labels[mask], self.predictions[mask], scores)


def _as_positive(labels: Any, positive_class: Any) -> np.ndarray:
    return (np.asarray(labels) == positive_class).astype(np.int64)
