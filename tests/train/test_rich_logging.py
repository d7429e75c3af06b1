"""Rich logging through real runs on the embedded store: figures, tables, images, text, dicts
and the classification plots, read back from the run's artifacts."""

from __future__ import annotations

import io
import json
import struct
import zlib

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from matplotlib.figure import Figure
from sklearn import metrics

import dockyard
from dockyard.errors import InvalidArgument, InvalidState
from dockyard.train import media
from dockyard.train.fluent import _client, flush

Fluent = media.Fluent


@pytest.fixture
def run() -> dockyard.ActiveRun:
    with dockyard.start_run() as active:
        yield active


def read(run_id: str, path: str) -> bytes:
    return b"".join(_client().iter_artifact(run_id, path))


def png_pixels(data: bytes) -> tuple[int, int, int, np.ndarray]:
    """Width, height, colour type and pixels of an 8-bit, unfiltered PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,), kind = struct.unpack(">I", data[pos:pos + 4]), data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        assert struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])[0] == zlib.crc32(
            kind + body)
        header = body if kind == b"IHDR" else header
        idat += body if kind == b"IDAT" else b""
        pos += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    channels = {0: 1, 2: 3, 6: 4}[colour]
    rows = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(height, 1 + width * channels)
    assert depth == 8 and not rows[:, 0].any()
    return width, height, colour, rows[:, 1:].reshape(height, width, channels)


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def figure() -> Figure:
    fig = Figure(figsize=(3, 2), dpi=50)
    fig.add_subplot().plot([0, 1, 2], [2, 0, 1])
    return fig


@pytest.fixture
def scores() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, 400)
    return y, np.round(0.4 * y + 0.6 * rng.random(400), 2)  # rounded: tied scores


# figures ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name, expect, start", [
    ("plots/loss.png", "plots/loss.png", b"\x89PNG"),
    ("plots/loss", "plots/loss.png", b"\x89PNG"),
    ("loss.svg", "loss.svg", b"<?xml"),
    ("loss.PDF", "loss.PDF", b"%PDF"),
])
def test_log_figure_by_suffix(run: dockyard.ActiveRun, name: str, expect: str,
                              start: bytes) -> None:
    assert Fluent.log_figure(figure(), name) == expect
    data = read(run.id, expect)
    assert data.startswith(start)
    if start == b"\x89PNG":
        assert png_size(data) == (150, 100)


def test_log_figure_refuses(run: dockyard.ActiveRun) -> None:
    with pytest.raises(InvalidArgument, match=r"\.pdf, \.png, \.svg.*'\.jpg'"):
        Fluent.log_figure(figure(), "loss.jpg")
    with pytest.raises(InvalidArgument, match="savefig"):
        Fluent.log_figure([1, 2], "loss.png")
    with pytest.raises(InvalidArgument, match=r"escapes"):
        Fluent.log_figure(figure(), "../loss.png")


# tables -----------------------------------------------------------------------------------
def test_log_table_round_trips_a_dataframe(run: dockyard.ActiveRun) -> None:
    frame = pd.DataFrame({"id": np.arange(1000), "score": np.linspace(0, 1, 1000),
                          "label": ["yes", "no"] * 500,
                          "when": pd.date_range("2024-01-01", periods=1000, freq="h")})
    assert Fluent.log_table(frame, "eval/preds.parquet") == "eval/preds.parquet"
    back = pd.read_parquet(io.BytesIO(read(run.id, "eval/preds.parquet")))
    pd.testing.assert_frame_equal(back, frame)
    indexed = frame.set_index("label").head(3)
    assert Fluent.log_table(indexed, "indexed") == "indexed.parquet"
    pd.testing.assert_frame_equal(pd.read_parquet(io.BytesIO(read(run.id, "indexed.parquet"))),
                                  indexed)


def test_log_table_takes_dicts_and_arrow(run: dockyard.ActiveRun) -> None:
    flush()  # the explicit functions see what the store holds
    client = _client()
    media.log_table(client, run.id, {"a": [1, 2], "b": ["x", "y"]}, "d.parquet")
    media.log_table(client, run.id, pa.table({"a": [1.5]}), "t.parquet")
    assert pq.read_table(io.BytesIO(read(run.id, "d.parquet"))).to_pydict() == {
        "a": [1, 2], "b": ["x", "y"]}
    assert pq.read_table(io.BytesIO(read(run.id, "t.parquet"))).to_pydict() == {"a": [1.5]}


def test_log_table_refuses(run: dockyard.ActiveRun) -> None:
    with pytest.raises(InvalidArgument, match=r"tables are written as \.parquet.*'\.csv'"):
        Fluent.log_table(pd.DataFrame({"a": [1]}), "preds.csv")
    with pytest.raises(InvalidArgument, match="a table is a pandas DataFrame"):
        Fluent.log_table([1, 2, 3], "preds.parquet")
    with pytest.raises(InvalidArgument, match="cannot be stored as Parquet"):
        Fluent.log_table({"a": [1, 2], "b": [1]}, "preds.parquet")
    with pytest.raises(InvalidArgument, match="escapes"):
        Fluent.log_table({"a": [1]}, "eval/../../preds.parquet")


# images -----------------------------------------------------------------------------------
@pytest.mark.parametrize("image, colour", [
    (np.arange(12, dtype=np.uint8).reshape(3, 4), 0),
    (np.arange(36, dtype=np.uint8).reshape(3, 4, 3), 2),
    (np.arange(48, dtype=np.uint8).reshape(3, 4, 4), 6),
])
def test_log_image_writes_exact_pixels(run: dockyard.ActiveRun, image: np.ndarray,
                                       colour: int) -> None:
    assert Fluent.log_image(image, "images/x") == "images/x.png"
    width, height, got_colour, pixels = png_pixels(read(run.id, "images/x.png"))
    assert (width, height, got_colour) == (4, 3, colour)
    assert np.array_equal(pixels.reshape(image.shape), image)


def test_log_image_scales_floats(run: dockyard.ActiveRun) -> None:
    Fluent.log_image(np.array([[0.0, 0.5, 1.0]]), "grey.png")
    assert png_pixels(read(run.id, "grey.png"))[3].ravel().tolist() == [0, 128, 255]


def test_log_image_takes_a_pil_image(run: dockyard.ActiveRun) -> None:
    from PIL import Image

    Fluent.log_image(Image.new("RGB", (5, 2), (10, 20, 30)), "pil.png")
    assert png_size(read(run.id, "pil.png")) == (5, 2)


@pytest.mark.parametrize("image, message", [
    (np.zeros((3, 4, 2), np.uint8), r"H×W×3 \(RGB\).*got shape \(3, 4, 2\)"),
    (np.zeros(5, np.uint8), r"got shape \(5,\)"),
    (np.zeros((0, 4), np.uint8), "empty"),
    (np.full((2, 2), 1.5), r"values in \[0, 1\]"),
    (np.array([[0.0, np.nan]]), "NaN"),
    (np.array([[0, 300]]), r"\[0, 255\]"),
    (np.array([["a"]]), "dtype"),
])
def test_log_image_refuses_bad_arrays(run: dockyard.ActiveRun, image: np.ndarray,
                                      message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        Fluent.log_image(image, "bad.png")


def test_log_image_refuses_other_suffixes(run: dockyard.ActiveRun) -> None:
    with pytest.raises(InvalidArgument, match=r"images are written as \.png"):
        Fluent.log_image(np.zeros((2, 2), np.uint8), "x.jpg")


# text and dicts ---------------------------------------------------------------------------
def test_log_text(run: dockyard.ActiveRun) -> None:
    assert Fluent.log_text("héllo\nworld", "notes/readme.md") == "notes/readme.md"
    assert read(run.id, "notes/readme.md").decode() == "héllo\nworld"
    with pytest.raises(InvalidArgument, match="text must be a string"):
        Fluent.log_text(b"bytes", "x.txt")
    with pytest.raises(InvalidArgument, match="absolute"):
        Fluent.log_text("x", "/etc/x.txt")


def test_log_dict_as_json_and_yaml(run: dockyard.ActiveRun) -> None:
    values = {"model": "forest", "depth": np.int64(8), "lr": np.float32(0.5),
              "layers": [1, 2], "nested": {"a": True}}
    plain = {"model": "forest", "depth": 8, "lr": 0.5, "layers": [1, 2], "nested": {"a": True}}
    assert Fluent.log_dict(values, "config.json") == "config.json"
    assert Fluent.log_dict(values, "config") == "config.json"
    assert json.loads(read(run.id, "config.json")) == plain
    Fluent.log_dict(values, "config.yaml")
    Fluent.log_dict(values, "config.yml")
    assert yaml.safe_load(read(run.id, "config.yaml")) == plain
    assert read(run.id, "config.yaml").startswith(b"model: forest\n")
    assert yaml.safe_load(read(run.id, "config.yml")) == plain


def test_log_dict_refuses(run: dockyard.ActiveRun) -> None:
    with pytest.raises(InvalidArgument, match=r"dicts are written as \.json, \.yaml, \.yml"):
        Fluent.log_dict({"a": 1}, "config.toml")
    with pytest.raises(InvalidArgument, match="takes a mapping"):
        Fluent.log_dict([1, 2], "config.json")
    with pytest.raises(InvalidArgument, match="cannot be written as JSON"):
        Fluent.log_dict({"a": object()}, "config.json")


# the plot helpers -------------------------------------------------------------------------
def test_confusion_matrix_matches_scikit_learn(run: dockyard.ActiveRun) -> None:
    y_true = ["cat", "dog", "cat", "bird", "dog", "dog", "cat"]
    y_pred = ["cat", "cat", "cat", "bird", "dog", "bird", "dog"]
    logged = Fluent.log_confusion_matrix(y_true, y_pred)
    assert (logged.artifact_file, logged.table_file) == ("confusion_matrix.png",
                                                         "confusion_matrix.parquet")
    assert logged.labels == ["bird", "cat", "dog"]
    assert np.array_equal(logged.matrix, metrics.confusion_matrix(y_true, y_pred))
    assert png_size(read(run.id, "confusion_matrix.png"))[0] > 100
    table = pd.read_parquet(io.BytesIO(read(run.id, "confusion_matrix.parquet")))
    assert list(table.columns) == ["true", "predicted", "count"]
    assert table.set_index(["true", "predicted"])["count"][("dog", "bird")] == 1
    assert table["count"].sum() == len(y_true)

    for normalize in ("true", "pred", "all"):
        labels = ["dog", "cat"]
        got = Fluent.log_confusion_matrix(y_true, y_pred, f"cm-{normalize}.svg", labels,
                                          normalize)
        want = metrics.confusion_matrix(y_true, y_pred, labels=labels, normalize=normalize)
        assert got.labels == labels and np.allclose(got.matrix, want)
        table = pd.read_parquet(io.BytesIO(read(run.id, f"cm-{normalize}.parquet")))
        assert np.allclose(table["fraction"], want.ravel())
    assert read(run.id, "cm-all.svg").startswith(b"<?xml")


def test_confusion_matrix_refuses(run: dockyard.ActiveRun) -> None:
    with pytest.raises(InvalidArgument, match="y_true has 2 labels and y_pred 3"):
        Fluent.log_confusion_matrix([1, 2], [1, 2, 3])
    with pytest.raises(InvalidArgument, match="normalize is one of"):
        Fluent.log_confusion_matrix([1, 2], [1, 2], normalize="rows")
    with pytest.raises(InvalidArgument, match="figures are written as"):
        Fluent.log_confusion_matrix([1, 2], [1, 2], "cm.parquet")


def test_roc_curve_matches_scikit_learn(run: dockyard.ActiveRun, scores: tuple) -> None:
    y, s = scores
    curve = Fluent.log_roc_curve(y, s)
    fpr, tpr, thresholds = metrics.roc_curve(y, s)
    assert np.allclose(curve.table["fpr"], fpr) and np.allclose(curve.table["tpr"], tpr)
    assert np.array_equal(curve.table["threshold"], thresholds)
    assert curve.metric == "roc_auc" and curve.value == pytest.approx(metrics.roc_auc_score(y, s))
    assert png_size(read(run.id, "roc_curve.png")) == (500, 450)
    stored = pd.read_parquet(io.BytesIO(read(run.id, "roc_curve.parquet")))
    pd.testing.assert_frame_equal(stored, curve.table)
    assert dockyard.get_run(run.id).metrics["roc_auc"].value == pytest.approx(curve.value)


def test_roc_curve_with_labels_and_pos_label(run: dockyard.ActiveRun, scores: tuple) -> None:
    y, s = scores
    names = np.where(y == 1, "churn", "stay")
    curve = Fluent.log_roc_curve(names, s, "val/roc.png", pos_label="churn",
                                 metric_key="val_auc")
    assert curve.table_file == "val/roc.parquet"
    assert curve.value == pytest.approx(metrics.roc_auc_score(y, s))
    assert "val_auc" in dockyard.get_run(run.id).metrics


def test_precision_recall_curve_matches_scikit_learn(run: dockyard.ActiveRun,
                                                     scores: tuple) -> None:
    y, s = scores
    curve = Fluent.log_precision_recall_curve(y, s)
    precision, recall, thresholds = metrics.precision_recall_curve(y, s)
    assert np.allclose(curve.table["precision"], precision)
    assert np.allclose(curve.table["recall"], recall)
    assert np.allclose(curve.table["threshold"][:-1], thresholds)
    assert np.isnan(curve.table["threshold"].iloc[-1])
    assert curve.value == pytest.approx(metrics.average_precision_score(y, s))
    assert read(run.id, "pr_curve.png").startswith(b"\x89PNG")
    assert pq.read_metadata(io.BytesIO(read(run.id, "pr_curve.parquet"))).num_rows == len(
        precision)
    assert dockyard.get_run(run.id).metrics["average_precision"].value == pytest.approx(
        curve.value)


def test_curves_refuse_bad_input(run: dockyard.ActiveRun) -> None:
    with pytest.raises(InvalidArgument, match="binary; y_true has 3 classes.*one class"):
        Fluent.log_roc_curve([0, 1, 2], [0.1, 0.2, 0.3])
    with pytest.raises(InvalidArgument, match="pass pos_label"):
        Fluent.log_precision_recall_curve(["a", "b"], [0.1, 0.2])
    with pytest.raises(InvalidArgument, match="both classes"):
        Fluent.log_roc_curve([1, 1], [0.1, 0.2])
    with pytest.raises(InvalidArgument, match=r"predict_proba\(X\)\[:, 1\]"):
        Fluent.log_roc_curve([0, 1], [[0.9, 0.1], [0.2, 0.8]])
    with pytest.raises(InvalidArgument, match="finite"):
        Fluent.log_roc_curve([0, 1], [0.1, np.nan])
    with pytest.raises(InvalidArgument, match="metric key"):
        Fluent.log_roc_curve([0, 1], [0.1, 0.2], metric_key="bad!key")
    with pytest.raises(InvalidArgument, match="escapes"):
        Fluent.log_roc_curve([0, 1], [0.1, 0.2], "../roc.png")
    assert not _client().list_artifacts(run.id)


# runs -------------------------------------------------------------------------------------
def test_every_function_refuses_an_ended_run(scores: tuple) -> None:
    with dockyard.start_run() as active:
        pass
    client = _client()
    y, s = scores
    calls = [
        lambda: media.log_figure(client, active.id, figure(), "f.png"),
        lambda: media.log_table(client, active.id, {"a": [1]}, "t.parquet"),
        lambda: media.log_image(client, active.id, np.zeros((2, 2), np.uint8), "i.png"),
        lambda: media.log_text(client, active.id, "x", "x.txt"),
        lambda: media.log_dict(client, active.id, {"a": 1}, "d.json"),
        lambda: media.log_confusion_matrix(client, active.id, [0, 1], [0, 0]),
        lambda: media.log_roc_curve(client, active.id, y, s),
        lambda: media.log_precision_recall_curve(client, active.id, y, s),
    ]
    for call in calls:
        with pytest.raises(InvalidState, match="FINISHED; its artifacts can no longer change"):
            call()
    assert not client.list_artifacts(active.id)
    assert "roc_auc" not in client.get_run(active.id).metrics


def test_fluent_functions_need_an_active_run() -> None:
    with pytest.raises(InvalidState, match="no active run"):
        Fluent.log_text("x", "x.txt")


def test_missing_matplotlib_names_the_plots_extra(run: dockyard.ActiveRun,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from dockyard.errors import MissingExtra

    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # import fails as if absent
    with pytest.raises(MissingExtra, match=r"pip install 'dockyard\[plots\]'"):
        Fluent.log_confusion_matrix([0, 1], [0, 1])

    class Drawing:  # anything with savefig is a figure, matplotlib or not
        def savefig(self, stream: io.BytesIO, format: str) -> None:
            stream.write(f"<{format}/>".encode())

    Fluent.log_figure(Drawing(), "drawing.svg")
    assert read(run.id, "drawing.svg") == b"<svg/>"


def test_png_encoder_is_read_by_matplotlib() -> None:
    from matplotlib.image import imread

    pixels = np.random.default_rng(1).integers(0, 256, (7, 9, 3), dtype=np.uint8)
    back = imread(io.BytesIO(media.encode_png(pixels)), format="png")
    assert np.array_equal(np.round(back * 255).astype(np.uint8), pixels)
