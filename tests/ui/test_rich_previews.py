"""The run page previews what rich logging writes: a table with its types, images inline."""

from __future__ import annotations

import html
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from matplotlib.figure import Figure

from dockyard import Client
from dockyard.server.ui import PARQUET_PREVIEW_ROWS, artifact_preview
from dockyard.store.artifacts.local import LocalArtifactStore
from dockyard.train import media
from tests.services.server import ServerProcess


@dataclass
class Logged:
    url: str
    run_id: str


@pytest.fixture(scope="module")
def logged(ui_server: ServerProcess) -> Logged:
    """A run with rich artifacts, logged through a client of the live server."""
    client = Client(ui_server.url)
    exp = client.create_experiment("rich-logging-previews")
    run = client.create_run(exp.id, "evaluation")
    frame = pd.DataFrame({"id": np.arange(250), "score": np.linspace(0, 1, 250),
                          "label": ["<b>yes</b>", "no"] * 125})
    media.log_table(client, run.id, frame, "eval/preds.parquet")
    media.log_image(client, run.id, np.zeros((6, 9, 3), np.uint8), "images/black.png")
    fig = Figure(figsize=(2, 2))
    fig.add_subplot().plot([0, 1], [1, 0])
    media.log_figure(client, run.id, fig, "plots/line.svg")
    media.log_roc_curve(client, run.id, [0, 1, 0, 1, 1], [0.1, 0.8, 0.4, 0.35, 0.9])
    client.set_terminated(run.id)
    client.close()
    return Logged(ui_server.url, run.id)


@pytest.fixture(scope="module")
def http(logged: Logged) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=logged.url, timeout=30) as client:
        yield client


def preview_of(http: httpx.Client, run_id: str, path: str) -> str:
    page = http.get(f"/runs/{run_id}", params={"artifact": path})
    assert page.status_code == 200
    return page.text[page.text.index('id="preview"'):]


def test_a_logged_table_shows_rows_columns_and_types(http: httpx.Client, logged: Logged) -> None:
    shown = preview_of(http, logged.run_id, "eval/preds.parquet")
    assert "<th>id</th><th>score</th><th>label</th>" in shown
    assert '<tr class="types"><th>int64</th><th>double</th><th>large_string</th></tr>' in shown
    assert "first 100 of 250 rows, 3 columns" in shown
    body = shown[shown.index("<tbody>"):shown.index("</tbody>")]
    assert body.count("<tr>") == PARQUET_PREVIEW_ROWS
    assert "<td>&lt;b&gt;yes&lt;/b&gt;</td>" in body and "<b>yes</b>" not in body  # escaped


def test_a_small_table_shows_all_its_rows(http: httpx.Client, logged: Logged) -> None:
    shown = preview_of(http, logged.run_id, "roc_curve.parquet")
    assert "<th>fpr</th><th>tpr</th><th>threshold</th>" in shown
    assert re.search(r"all \d+ rows, 3 columns", shown)


@pytest.mark.parametrize("path, media_type", [
    ("images/black.png", "image/png"), ("plots/line.svg", "image/svg+xml"),
    ("roc_curve.png", "image/png"),
])
def test_images_show_inline(http: httpx.Client, logged: Logged, path: str,
                            media_type: str) -> None:
    shown = html.unescape(preview_of(http, logged.run_id, path))
    src = f"/api/v1/runs/{logged.run_id}/artifacts/{path}"
    assert f'<img src="{src}"' in shown.replace("%2F", "/")
    image = http.get(src)
    assert image.status_code == 200 and image.headers["content-type"].startswith(media_type)


def test_a_large_parquet_file_is_read_by_row_groups(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The preview opens the footer and the first row group, not the whole file."""
    store = LocalArtifactStore(str(tmp_path))
    rows = 200_000
    table = pa.table({"n": np.arange(rows), "text": np.repeat(np.array(["x" * 40]), rows)})
    path = store.root / "big.parquet"
    pq.write_table(table, path, row_group_size=10_000)
    read_groups: list[int] = []
    original = pq.ParquetFile.iter_batches

    def counting(self: pq.ParquetFile, *args: object, **kwargs: object) -> object:
        for batch in original(self, *args, **kwargs):
            read_groups.append(batch.num_rows)
            yield batch

    monkeypatch.setattr(pq.ParquetFile, "iter_batches", counting)
    shown = artifact_preview(store, "big.parquet")
    assert shown.kind == "table" and len(shown.rows) == PARQUET_PREVIEW_ROWS
    assert shown.rows[0] == [0, "x" * 40] and shown.types == ["int64", "string"]
    assert shown.message == "first 100 of 200,000 rows, 2 columns"
    assert sum(read_groups) == PARQUET_PREVIEW_ROWS


def test_a_broken_parquet_file_is_not_an_error_page(tmp_path: Path) -> None:
    store = LocalArtifactStore(str(tmp_path))
    (store.root / "bad.parquet").write_bytes(b"not parquet at all")
    shown = artifact_preview(store, "bad.parquet")
    assert shown.kind == "binary" and "not a readable Parquet file" in shown.message


def test_parquet_on_s3_is_read_by_ranges(s3_bucket: str, s3_endpoint: str) -> None:
    from dockyard.store.artifacts.s3 import S3ArtifactStore

    store = S3ArtifactStore(f"s3://{s3_bucket}/runs", endpoint_url=s3_endpoint)
    frame = pd.DataFrame({"a": np.arange(5000), "b": np.arange(5000) * 0.5})
    buffer = io.BytesIO()
    media._parquet_writer(pa.Table.from_pandas(frame))(buffer)
    buffer.seek(0)
    store.put_stream(buffer, "r1/t.parquet")
    ranges: list[str] = []
    store.client.meta.events.register("provide-client-params.s3.GetObject",
                                      lambda params, **_: ranges.append(params.get("Range", "")))
    shown = artifact_preview(store, "r1/t.parquet")
    assert shown.rows[:2] == [[0, 0.0], [1, 0.5]] and shown.types == ["int64", "double"]
    assert ranges and all(r.startswith("bytes=") for r in ranges)
