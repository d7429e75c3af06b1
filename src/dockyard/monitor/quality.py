"""Model quality from predictions and their labels: classifiers and regressors, in numpy.

Each function takes aligned arrays of predictions and labels (the rows that
have a label) and returns a dict of metric name to value. A metric that
cannot be computed from what is there is None with a reason in
``reasons`` (ROC AUC needs scores and both classes; MAPE needs non-zero
labels), never a silent zero.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dockyard.errors import InvalidArgument

__all__ = ["classification", "regression"]

_EPS = 1e-15


def _numbers(values: Any, what: str) -> np.ndarray:
    array = np.asarray(values)
    if array.dtype.kind not in "biuf":
        raise InvalidArgument(
            f"the {what} are {_kind(array)}, but this metric needs numbers: check that the "
            "labels are of the model's output type (a regressor's labels are numbers)")
    return array.astype(np.float64)


def _kind(array: np.ndarray) -> str:
    return "text" if array.dtype.kind in "OUS" else f"of type {array.dtype}"


def regression(predictions: Any, labels: Any) -> tuple[dict[str, float | None], dict[str, str]]:
    """MAE, RMSE, MAPE and R² of numeric predictions against numeric labels."""
    pred, true = _numbers(predictions, "predictions"), _numbers(labels, "labels")
    error = pred - true
    values: dict[str, float | None] = {
        "mae": float(np.mean(np.abs(error))),
        "rmse": float(np.sqrt(np.mean(error ** 2))),
    }
    reasons: dict[str, str] = {}
    nonzero = true != 0
    if nonzero.all():
        values["mape"] = float(np.mean(np.abs(error / true)))
    else:
        values["mape"] = None
        reasons["mape"] = f"{int((~nonzero).sum())} labels are 0: MAPE divides by the label"
    spread = float(np.sum((true - true.mean()) ** 2))
    if spread > 0:
        values["r2"] = 1.0 - float(np.sum(error ** 2)) / spread
    else:
        values["r2"] = None
        reasons["r2"] = "every label is the same: R² needs labels that vary"
    return values, reasons


def classification(
    predictions: Any, labels: Any, *, positive_class: Any = None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """Accuracy, precision, recall, F1, ROC AUC, log loss and the confusion matrix.

    ``predictions`` are class labels, or scores in [0, 1] of the positive class
    (a binary classifier's probability output): scores are cut at 0.5 for the
    class metrics and used as they are for ROC AUC and log loss. Precision,
    recall and F1 are for ``positive_class`` when given (or when the classes
    are 0 and 1: class 1), else macro-averaged over the classes.
    """
    pred, true = np.asarray(predictions), np.asarray(labels)
    reasons: dict[str, str] = {}
    scores = None
    if pred.dtype.kind == "f" and pred.size and np.nanmin(pred) >= 0 and np.nanmax(pred) <= 1 \
            and not np.all(np.isin(pred, (0.0, 1.0))):
        scores = pred
        if positive_class is None:
            positive_class = 1
        classes_true = np.unique(true)
        negative = next((c for c in classes_true if c != positive_class), 0)
        if true.dtype.kind in "OUS" and not isinstance(positive_class, str):
            raise InvalidArgument(
                "the predictions are scores but the labels are text: set the monitor's "
                "positive_class to the label of the positive class")
        pred = np.where(scores >= 0.5, positive_class, negative)
    if (pred.dtype.kind in "OUS") != (true.dtype.kind in "OUS"):
        raise InvalidArgument(
            f"the predictions are {_kind(pred) if pred.dtype.kind in 'OUS' else 'numbers'} but "
            f"the labels are {_kind(true) if true.dtype.kind in 'OUS' else 'numbers'}: log "
            "labels of the type the model predicts")
    if pred.dtype.kind != "O" and true.dtype.kind != "O" and pred.dtype.kind in "biuf":
        pred, true = pred.astype(np.float64), true.astype(np.float64)
    else:
        pred, true = pred.astype(str), true.astype(str)
    classes = np.unique(np.concatenate([true, pred]))
    index = {c: i for i, c in enumerate(classes.tolist())}
    matrix = np.zeros((len(classes), len(classes)), dtype=np.int64)
    np.add.at(matrix, (np.searchsorted(classes, true), np.searchsorted(classes, pred)), 1)
    tp = np.diag(matrix).astype(np.float64)
    predicted, actual = matrix.sum(axis=0), matrix.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(actual > 0, tp / actual, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    if positive_class is None and set(classes.tolist()) <= {0.0, 1.0}:
        positive_class = 1
    values: dict[str, Any] = {"accuracy": float(tp.sum() / matrix.sum())}
    key = _class_key(positive_class, classes)
    if key is not None and key in index:
        i = index[key]
        values.update(precision=float(precision[i]), recall=float(recall[i]), f1=float(f1[i]))
    else:
        values.update(precision=float(precision.mean()), recall=float(recall.mean()),
                      f1=float(f1.mean()))
    values["confusion_matrix"] = {"classes": [_plain(c) for c in classes.tolist()],
                                  "counts": matrix.tolist()}
    if scores is None:
        values["roc_auc"] = values["log_loss"] = None
        reasons["roc_auc"] = reasons["log_loss"] = \
            "the predictions are classes, not scores: serve the probability to get these"
        return values, reasons
    positive = (true == key) if key is not None else np.zeros(len(true), bool)
    values["log_loss"] = float(-np.mean(np.where(
        positive, np.log(np.clip(scores, _EPS, 1)), np.log(np.clip(1 - scores, _EPS, 1)))))
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos and n_neg:
        from scipy.stats import rankdata

        ranks = rankdata(scores)
        values["roc_auc"] = float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2)
                                  / (n_pos * n_neg))
    else:
        values["roc_auc"] = None
        reasons["roc_auc"] = "the labels hold one class only: ROC AUC needs both"
    return values, reasons


def _class_key(positive_class: Any, classes: np.ndarray) -> Any:
    if positive_class is None:
        return None
    if classes.dtype.kind == "f":
        try:
            return float(positive_class)
        except (TypeError, ValueError):
            return None
    return str(positive_class)


def _plain(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value
