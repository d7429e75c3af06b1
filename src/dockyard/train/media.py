"""Rich logging: figures, tables, images, text and dicts as a run's artifacts.

Each function takes the client and the run explicitly::

    from dockyard.train import media

    media.log_table(client, run_id, predictions, "eval/preds.parquet")
    media.log_roc_curve(client, run_id, y_true, y_score)

:class:`Fluent` holds the same functions for the fluent API's active run
(``dockyard.log_table(predictions, "eval/preds.parquet")``).

Every function checks the artifact path and its suffix first, then the data,
then that the run may still change (a FINISHED run refuses, as
``log_artifact`` does), and only then encodes and uploads; each returns the
artifact's path in the run. Files are encoded in memory (spilling to a
temporary file past 8 MiB) and uploaded with ``put_stream``: nothing is
written beside the caller's code.

matplotlib (the ``plots`` extra) is imported only by the plot helpers; a
figure passed to :func:`log_figure` draws itself.
"""

from __future__ import annotations

import importlib
import struct
import tempfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from types import ModuleType
from typing import IO, Any

import numpy as np
import orjson

from dockyard.client import Client
from dockyard.entities import validation as v
from dockyard.errors import InvalidArgument, MissingExtra

PLOTS_EXTRA = "plots"
FIGURE_FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
DICT_FORMATS = {".json": "json", ".yaml": "yaml", ".yml": "yaml"}
ROW_GROUP_ROWS = 64 * 1024  # small enough that a preview reads one group, not the file
_SPOOL_IN_MEMORY = 8 * 1024 * 1024
_NORMALIZE = (None, "true", "pred", "all")


# paths ----------------------------------------------------------------------------------
def _artifact_file(artifact_file: Any, suffixes: Mapping[str, str] | None, default: str,
                   what: str) -> tuple[str, str]:
    """The checked path, with ``default`` added when it has no suffix, and its suffix.

    ``suffixes=None`` accepts any suffix.
    """
    path = v.validate_artifact_path(artifact_file)
    suffix = PurePosixPath(path).suffix.lower()
    if not suffix and default:
        path, suffix = path + default, default
    if suffixes is not None and suffix not in suffixes:
        raise InvalidArgument(
            f"{what} are written as {', '.join(sorted(suffixes))}; "
            f"artifact file {artifact_file!r} has the suffix {suffix or '(none)'!r}")
    return path, suffix


def _beside(path: str, suffix: str) -> str:
    return str(PurePosixPath(path).with_suffix(suffix))


def _upload(client: Client, run_id: str, files: Mapping[str, Any]) -> None:
    """Check the run may change, then write each ``path: writer(stream)``."""
    store = client.writable_artifacts(run_id)
    for path, write in files.items():
        with tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY) as buffer:
            write(buffer)
            buffer.seek(0)
            store.put_stream(buffer, path)  # type: ignore[arg-type]


# figures ----------------------------------------------------------------------------------
def _matplotlib() -> ModuleType:
    try:
        return importlib.import_module("matplotlib.figure")
    except ImportError:
        raise MissingExtra(
            f"matplotlib is not installed; install it with: pip install 'dockyard[{PLOTS_EXTRA}]'",
            module="matplotlib", extra=PLOTS_EXTRA) from None


def _figure_writer(figure: Any, fmt: str) -> Any:
    def write(stream: IO[bytes]) -> None:
        figure.savefig(stream, format=fmt)
    return write


def log_figure(client: Client, run_id: str, figure: Any, artifact_file: str) -> str:
    """Save a matplotlib Figure (or anything with ``savefig``) into the run.

    The suffix picks the format: ``.png`` (added when there is none), ``.svg``
    or ``.pdf``. Returns the artifact's path.
    """
    path, suffix = _artifact_file(artifact_file, FIGURE_FORMATS, ".png", "figures")
    if not callable(getattr(figure, "savefig", None)):
        raise InvalidArgument(f"a figure must have a savefig method (a matplotlib Figure); "
                              f"got {type(figure).__name__}")
    _upload(client, run_id, {path: _figure_writer(figure, FIGURE_FORMATS[suffix])})
    return path


# tables -----------------------------------------------------------------------------------
def _arrow_table(data: Any) -> Any:
    import pyarrow as pa

    try:
        if isinstance(data, pa.Table):
            return data
        if isinstance(data, pa.RecordBatch):
            return pa.Table.from_batches([data])
        if type(data).__module__.startswith("pandas") and hasattr(data, "columns"):
            return pa.Table.from_pandas(data)
        if isinstance(data, Mapping):
            return pa.table({str(k): np.asarray(c) if isinstance(c, range) else c
                             for k, c in data.items()})
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise InvalidArgument(f"the table cannot be stored as Parquet: {exc}") from exc
    raise InvalidArgument("a table is a pandas DataFrame, a dict of columns or a pyarrow Table; "
                          f"got {type(data).__name__}")


def _parquet_writer(table: Any) -> Any:
    def write(stream: IO[bytes]) -> None:
        import pyarrow.parquet as pq

        pq.write_table(table, stream, row_group_size=ROW_GROUP_ROWS)
    return write


def log_table(client: Client, run_id: str, data: Any, artifact_file: str) -> str:
    """Store a table as Parquet: a DataFrame (its index kept as pandas does), a dict of
    columns or a pyarrow Table.

    ``.parquet`` is added when the file has no suffix; another suffix is
    refused. The row and column counts and types live in the Parquet footer,
    which is what the run page's preview reads.
    """
    path, _ = _artifact_file(artifact_file, {".parquet": "parquet"}, ".parquet", "tables")
    table = _arrow_table(data)
    _upload(client, run_id, {path: _parquet_writer(table)})
    return path


# images -----------------------------------------------------------------------------------
def _image_pixels(image: Any) -> np.ndarray:
    """A uint8 array of shape H×W, H×W×3 or H×W×4, or InvalidArgument saying what is wrong."""
    array = np.asarray(image)
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise InvalidArgument(f"an image is an array of shape H×W (grey), H×W×3 (RGB) or "
                              f"H×W×4 (RGBA); got shape {array.shape}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise InvalidArgument(f"the image is empty (shape {array.shape})")
    if array.dtype == np.uint8:
        return array
    if np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all() or array.min() < 0 or array.max() > 1:
            raise InvalidArgument("a float image has values in [0, 1] (NaN and infinity are "
                                  f"refused); got values from {array.min()} to {array.max()}")
        return np.round(array * 255).astype(np.uint8)
    if np.issubdtype(array.dtype, np.integer) and not np.issubdtype(array.dtype, np.bool_):
        if array.min() < 0 or array.max() > 255:
            raise InvalidArgument("an integer image has values in [0, 255]; got values from "
                                  f"{array.min()} to {array.max()}")
        return array.astype(np.uint8)
    raise InvalidArgument(f"an image is uint8, or float in [0, 1]; got dtype {array.dtype}")


def encode_png(pixels: np.ndarray) -> bytes:
    """An 8-bit PNG of a uint8 array (H×W grey, H×W×3 RGB or H×W×4 RGBA), pixel for pixel.

    A plain encoder rather than matplotlib's ``imsave``: that needs the plots
    extra, and colour-maps a grey image (viridis) instead of keeping its values.
    """
    height, width = pixels.shape[:2]
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    colour_type = {1: 0, 3: 2, 4: 6}[channels]
    rows = np.ascontiguousarray(pixels).reshape(height, width * channels)
    raw = np.hstack([np.zeros((height, 1), np.uint8), rows]).tobytes()  # filter 0 per row

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6))
            + chunk(b"IEND", b""))


def log_image(client: Client, run_id: str, image: Any, artifact_file: str) -> str:
    """Store an image as PNG: a numpy array (H×W, H×W×3 or H×W×4; uint8, or float in [0, 1])
    or a PIL image. ``.png`` is added when the file has no suffix."""
    path, _ = _artifact_file(artifact_file, {".png": "png"}, ".png", "images")
    if type(image).__module__.startswith("PIL.") and callable(getattr(image, "save", None)):
        def write(stream: IO[bytes]) -> None:
            image.save(stream, format="PNG")
    else:
        png = encode_png(_image_pixels(image))

        def write(stream: IO[bytes]) -> None:
            stream.write(png)
    _upload(client, run_id, {path: write})
    return path


# text and dicts ---------------------------------------------------------------------------
def _bytes_writer(data: bytes) -> Any:
    def write(stream: IO[bytes]) -> None:
        stream.write(data)
    return write


def log_text(client: Client, run_id: str, text: str, artifact_file: str) -> str:
    """Store a string as a UTF-8 file (any suffix: ``.txt``, ``.md``, ``.html`` ...)."""
    path, _ = _artifact_file(artifact_file, None, "", "texts")
    if not isinstance(text, str):
        raise InvalidArgument(f"text must be a string, got {type(text).__name__}")
    _upload(client, run_id, {path: _bytes_writer(text.encode("utf-8"))})
    return path


def log_dict(client: Client, run_id: str, dictionary: Mapping[str, Any], artifact_file: str) -> str:
    """Store a mapping as JSON (``.json``, added when there is no suffix) or YAML
    (``.yaml``/``.yml``). numpy values, dates and nested lists are converted."""
    path, suffix = _artifact_file(artifact_file, DICT_FORMATS, ".json", "dicts")
    if not isinstance(dictionary, Mapping):
        raise InvalidArgument(f"log_dict takes a mapping, got {type(dictionary).__name__}")
    try:
        data = orjson.dumps(dict(dictionary), option=orjson.OPT_INDENT_2
                            | orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)
    except TypeError as exc:
        raise InvalidArgument(f"the dict cannot be written as {DICT_FORMATS[suffix].upper()}: "
                              f"{exc}") from exc
    if DICT_FORMATS[suffix] == "yaml":
        import yaml

        # through JSON first, so both formats take the same values (numpy, dates ...)
        data = yaml.safe_dump(orjson.loads(data), sort_keys=False,
                              allow_unicode=True).encode("utf-8")
    _upload(client, run_id, {path: _bytes_writer(data)})
    return path


# plot helpers -----------------------------------------------------------------------------
@dataclass(frozen=True)
class ConfusionMatrix:
    """What :func:`log_confusion_matrix` logged."""

    artifact_file: str
    """The figure's path in the run."""
    table_file: str
    """The Parquet table beside it: one row per (true, predicted) pair."""
    labels: list[Any]
    """Row and column order of ``matrix``."""
    matrix: np.ndarray
    """Counts (int), or fractions when normalized; rows are true labels."""


@dataclass(frozen=True)
class Curve:
    """What :func:`log_roc_curve` or :func:`log_precision_recall_curve` logged."""

    artifact_file: str
    table_file: str
    table: Any
    """A DataFrame: ``fpr, tpr, threshold`` or ``precision, recall, threshold``."""
    metric: str
    """``roc_auc`` or ``average_precision``."""
    value: float


def _labels_1d(name: str, values: Any) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1 or array.size == 0:
        raise InvalidArgument(f"{name} must be a non-empty 1-D sequence; got shape {array.shape}")
    return array


def confusion_matrix(y_true: Any, y_pred: Any, labels: Any = None,
                     normalize: str | None = None) -> tuple[list[Any], np.ndarray]:
    """Labels and the matrix (rows: true, columns: predicted), as scikit-learn computes it.

    ``normalize``: ``"true"`` (rows sum to 1), ``"pred"`` (columns), ``"all"`` or None.
    Samples whose labels are not in ``labels`` are left out.
    """
    true, pred = _labels_1d("y_true", y_true), _labels_1d("y_pred", y_pred)
    if true.shape != pred.shape:
        raise InvalidArgument(f"y_true has {true.size} labels and y_pred {pred.size}")
    _check_normalize(normalize)
    try:
        seen, codes = np.unique(np.concatenate([true, pred]), return_inverse=True)
    except TypeError as exc:
        raise InvalidArgument(f"labels of mixed types cannot be ordered: {exc}") from exc
    order = list(seen) if labels is None else list(_labels_1d("labels", labels))
    if len(set(order)) != len(order):
        raise InvalidArgument("labels must not repeat")
    position = {label: i for i, label in enumerate(order)}
    index = np.array([position.get(label, -1) for label in seen])[codes]
    t, p = index[: true.size], index[true.size:]
    keep = (t >= 0) & (p >= 0)
    n = len(order)
    counts = np.bincount(t[keep] * n + p[keep], minlength=n * n).reshape(n, n)
    return [_plain(x) for x in order], _normalized(counts, normalize)


def _check_normalize(normalize: Any) -> None:
    if normalize not in _NORMALIZE:
        raise InvalidArgument(f"normalize is one of 'true', 'pred', 'all' or None; "
                              f"got {normalize!r}")


def _normalized(counts: np.ndarray, normalize: str | None) -> np.ndarray:
    if normalize is None:
        return counts
    total = {"true": counts.sum(axis=1, keepdims=True), "pred": counts.sum(axis=0, keepdims=True),
             "all": counts.sum()}[normalize]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.nan_to_num(counts / total)  # an empty row or column is all zeros


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _binary(y_true: Any, y_score: Any, pos_label: Any) -> tuple[np.ndarray, np.ndarray]:
    """Positives as booleans and the scores, checked: two classes, finite 1-D scores."""
    true = _labels_1d("y_true", y_true)
    score = np.asarray(y_score)
    if score.ndim != 1:
        raise InvalidArgument(f"y_score must be 1-D (the positive class's score, e.g. "
                              f"predict_proba(X)[:, 1]); got shape {score.shape}")
    if score.shape != true.shape:
        raise InvalidArgument(f"y_true has {true.size} labels and y_score {score.size} scores")
    if not np.issubdtype(score.dtype, np.number) or not np.isfinite(score).all():
        raise InvalidArgument("y_score must hold finite numbers")
    classes = set(np.unique(true).tolist())
    if len(classes) > 2:
        raise InvalidArgument(
            f"ROC and precision-recall curves here are binary; y_true has {len(classes)} "
            "classes. For one class against the rest, pass y_true == that_class and its score.")
    if pos_label is None:
        if not classes <= {0, 1} and not classes <= {-1, 1}:
            raise InvalidArgument(f"y_true has the classes {sorted(map(str, classes))}; "
                                  "pass pos_label to say which one is positive")
        pos_label = 1
    positive = true == pos_label
    if positive.all() or not positive.any():
        raise InvalidArgument("y_true must hold both classes (positive and negative) "
                              "for the curve to mean anything")
    return positive, score.astype(np.float64)


def _counts_at_thresholds(positive: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, ...]:
    """False and true positives at each distinct score, highest first."""
    order = np.argsort(score, kind="mergesort")[::-1]
    score, positive = score[order], positive[order]
    last = np.r_[np.flatnonzero(np.diff(score)), score.size - 1]
    tps = np.cumsum(positive, dtype=np.float64)[last]
    fps = 1 + last - tps
    return fps, tps, score[last]


def roc_curve(y_true: Any, y_score: Any, pos_label: Any = None) -> tuple[np.ndarray, ...]:
    """``fpr, tpr, thresholds`` as scikit-learn's ``roc_curve`` (collinear points dropped)."""
    fps, tps, thresholds = _counts_at_thresholds(*_binary(y_true, y_score, pos_label))
    if fps.size > 2:
        keep = np.flatnonzero(np.r_[True, np.diff(fps, 2).astype(bool)
                                    | np.diff(tps, 2).astype(bool), True])
        fps, tps, thresholds = fps[keep], tps[keep], thresholds[keep]
    fps, tps = np.r_[0.0, fps], np.r_[0.0, tps]
    return fps / fps[-1], tps / tps[-1], np.r_[np.inf, thresholds]


def precision_recall_curve(y_true: Any, y_score: Any,
                           pos_label: Any = None) -> tuple[np.ndarray, ...]:
    """``precision, recall, thresholds`` as scikit-learn's ``precision_recall_curve``."""
    fps, tps, thresholds = _counts_at_thresholds(*_binary(y_true, y_score, pos_label))
    predicted = tps + fps
    precision = np.divide(tps, predicted, out=np.zeros_like(tps), where=predicted != 0)
    recall = tps / tps[-1]
    return np.r_[precision[::-1], 1.0], np.r_[recall[::-1], 0.0], thresholds[::-1]


def _new_figure(size: tuple[float, float] = (5, 4.5)) -> Any:
    # A bare Figure needs no backend and touches no pyplot state.
    return _matplotlib().Figure(figsize=size, layout="constrained")


def _log_plot(client: Client, run_id: str, figure: Any, figure_file: str, suffix: str,
              table: Any) -> str:
    """Upload the figure and its numbers (``<figure>.parquet``); returns the table's path."""
    import pyarrow as pa

    table_file = _beside(figure_file, ".parquet")
    _upload(client, run_id, {
        figure_file: _figure_writer(figure, FIGURE_FORMATS[suffix]),
        table_file: _parquet_writer(pa.Table.from_pandas(table, preserve_index=False)),
    })
    return table_file


def _figure_path(artifact_file: str) -> tuple[str, str]:
    return _artifact_file(artifact_file, FIGURE_FORMATS, ".png", "figures")


def log_confusion_matrix(client: Client, run_id: str, y_true: Any, y_pred: Any,
                         artifact_file: str = "confusion_matrix.png", labels: Any = None,
                         normalize: str | None = None) -> ConfusionMatrix:
    """Plot a confusion matrix and store its numbers beside it.

    The figure goes to ``artifact_file``; the table (``true, predicted, count``
    and, when normalized, ``fraction``) to the same path with ``.parquet``.
    ``labels`` fixes the order (default: every label seen, sorted);
    ``normalize`` is ``"true"``, ``"pred"``, ``"all"`` or None, as in scikit-learn.
    """
    import pandas as pd

    figure_file, suffix = _figure_path(artifact_file)
    _check_normalize(normalize)
    order, counts = confusion_matrix(y_true, y_pred, labels, None)
    matrix = _normalized(counts, normalize)
    n = len(order)
    table = pd.DataFrame({"true": np.repeat(np.array(order, dtype=object), n),
                          "predicted": np.tile(np.array(order, dtype=object), n),
                          "count": counts.ravel()})
    if normalize:
        table["fraction"] = matrix.ravel()
    figure = _new_figure((max(4.0, 0.6 * n + 2.5), max(3.5, 0.6 * n + 2)))
    ax = figure.add_subplot()
    shown = ax.imshow(matrix, cmap="Blues", vmin=0)
    figure.colorbar(shown, ax=ax)
    names = [str(x) for x in order]
    ax.set(xticks=range(n), yticks=range(n), xticklabels=names, yticklabels=names,
           xlabel="Predicted", ylabel="True",
           title="Confusion matrix" + (f" (normalized over {normalize})" if normalize else ""))
    if n <= 30:  # numbers in the cells while they stay readable
        limit = matrix.max() / 2 if matrix.size else 0
        for (i, j), value in np.ndenumerate(matrix):
            ax.text(j, i, f"{value:.2f}" if normalize else f"{value:d}", ha="center",
                    va="center", color="white" if value > limit else "black", fontsize=8)
    table_file = _log_plot(client, run_id, figure, figure_file, suffix, table)
    return ConfusionMatrix(figure_file, table_file, order, matrix)


def _log_metric(client: Client, run_id: str, key: str | None, value: float) -> None:
    if key is not None:
        client.log_metric(run_id, v.validate_key("metric", key), value)


def log_roc_curve(client: Client, run_id: str, y_true: Any, y_score: Any,
                  artifact_file: str = "roc_curve.png", *, pos_label: Any = None,
                  metric_key: str | None = "roc_auc") -> Curve:
    """Plot a binary ROC curve, store ``fpr, tpr, threshold`` beside it as Parquet and log
    the area under it as the metric ``metric_key`` (None: not logged).

    ``y_true`` holds two classes (0/1, -1/1, booleans, or any two with
    ``pos_label``); ``y_score`` the positive class's score. For a multiclass
    model, call once per class with ``y_true == cls`` (one against the rest)
    and a distinct ``artifact_file`` and ``metric_key``.
    """
    import pandas as pd

    figure_file, suffix = _figure_path(artifact_file)
    if metric_key is not None:
        v.validate_key("metric", metric_key)
    fpr, tpr, thresholds = roc_curve(y_true, y_score, pos_label)
    auc = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
    table = pd.DataFrame({"fpr": fpr, "tpr": tpr, "threshold": thresholds})
    figure = _new_figure()
    ax = figure.add_subplot()
    ax.plot(fpr, tpr, label=f"ROC (AUC = {auc:.3f})")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="chance")
    ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="False positive rate",
           ylabel="True positive rate", title="ROC curve")
    ax.legend(loc="lower right")
    table_file = _log_plot(client, run_id, figure, figure_file, suffix, table)
    _log_metric(client, run_id, metric_key, auc)
    return Curve(figure_file, table_file, table, "roc_auc", auc)


def log_precision_recall_curve(client: Client, run_id: str, y_true: Any, y_score: Any,
                               artifact_file: str = "pr_curve.png", *, pos_label: Any = None,
                               metric_key: str | None = "average_precision") -> Curve:
    """Plot a binary precision-recall curve, store ``precision, recall, threshold`` beside
    it as Parquet (the last point, recall 0, has no threshold) and log the average
    precision as the metric ``metric_key``. Classes as for :func:`log_roc_curve`."""
    import pandas as pd

    figure_file, suffix = _figure_path(artifact_file)
    if metric_key is not None:
        v.validate_key("metric", metric_key)
    precision, recall, thresholds = precision_recall_curve(y_true, y_score, pos_label)
    average = float(-np.sum(np.diff(recall) * precision[:-1]))
    table = pd.DataFrame({"precision": precision, "recall": recall,
                          "threshold": np.r_[thresholds, np.nan]})
    figure = _new_figure()
    ax = figure.add_subplot()
    ax.step(recall, precision, where="post", label=f"AP = {average:.3f}")
    ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="Recall", ylabel="Precision",
           title="Precision-recall curve")
    ax.legend(loc="lower left")
    table_file = _log_plot(client, run_id, figure, figure_file, suffix, table)
    _log_metric(client, run_id, metric_key, average)
    return Curve(figure_file, table_file, table, "average_precision", average)


# the fluent API's active run --------------------------------------------------------------
def _active() -> tuple[Client, str]:
    from dockyard.train import fluent

    run_id = fluent._run_id()
    return fluent.stored_client(), run_id


class Fluent:
    """The same functions for the fluent API's active run, re-exported by ``dockyard``.

    Each body calls the module-level function of the same name.
    """

    @staticmethod
    def log_figure(figure: Any, artifact_file: str) -> str:
        """Save a matplotlib Figure into the active run (PNG, or SVG/PDF by suffix)."""
        return log_figure(*_active(), figure, artifact_file)

    @staticmethod
    def log_table(data: Any, artifact_file: str) -> str:
        """Store a DataFrame, dict of columns or Arrow table as Parquet in the active run."""
        return log_table(*_active(), data, artifact_file)

    @staticmethod
    def log_image(image: Any, artifact_file: str) -> str:
        """Store a numpy array or PIL image as PNG in the active run."""
        return log_image(*_active(), image, artifact_file)

    @staticmethod
    def log_text(text: str, artifact_file: str) -> str:
        """Store a string as a UTF-8 file in the active run."""
        return log_text(*_active(), text, artifact_file)

    @staticmethod
    def log_dict(dictionary: Mapping[str, Any], artifact_file: str) -> str:
        """Store a mapping as JSON or YAML (by suffix) in the active run."""
        return log_dict(*_active(), dictionary, artifact_file)

    @staticmethod
    def log_confusion_matrix(y_true: Any, y_pred: Any, artifact_file: str = "confusion_matrix.png",
                             labels: Any = None, normalize: str | None = None) -> ConfusionMatrix:
        """Plot a confusion matrix into the active run, with its numbers beside it."""
        return log_confusion_matrix(*_active(), y_true, y_pred, artifact_file, labels, normalize)

    @staticmethod
    def log_roc_curve(y_true: Any, y_score: Any, artifact_file: str = "roc_curve.png", *,
                      pos_label: Any = None, metric_key: str | None = "roc_auc") -> Curve:
        """Plot a binary ROC curve into the active run and log its AUC."""
        return log_roc_curve(*_active(), y_true, y_score, artifact_file, pos_label=pos_label,
                             metric_key=metric_key)

    @staticmethod
    def log_precision_recall_curve(y_true: Any, y_score: Any, artifact_file: str = "pr_curve.png",
                                   *, pos_label: Any = None,
                                   metric_key: str | None = "average_precision") -> Curve:
        """Plot a binary precision-recall curve into the active run and log its average
        precision."""
        return log_precision_recall_curve(*_active(), y_true, y_score, artifact_file,
                                          pos_label=pos_label, metric_key=metric_key)
