"""A live server seeded through the SDK with runs the UI tests look at."""

from __future__ import annotations

import hashlib
import struct
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dockyard import Client
from dockyard.entities import Metric, Param, Run, RunSource, RunTag
from tests.services.server import ServerProcess

LONG_STEPS = 100_000


def png(width: int = 8, height: int = 8) -> bytes:
    """A small valid PNG: a red square."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\x00" + b"\xd0\x30\x30" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))


@dataclass
class Seeded:
    url: str
    experiment_id: str
    experiment_name: str
    runs: list[Run]
    long_run: Run
    empty_experiment_id: str

    def run(self, name: str) -> Run:
        return next(r for r in self.runs if r.name == name)


@pytest.fixture(scope="session")
def ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("ui-server"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def seeded(ui_server: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    client = Client(ui_server.url)
    name = f"ui-{uuid.uuid4().hex[:8]}"
    exp = client.create_experiment(name, description="runs for the UI tests")
    empty = client.create_experiment(f"{name}-empty")
    files = tmp_path_factory.mktemp("artifacts")
    (files / "notes.txt").write_text("first line\nsecond line\n")
    (files / "config.json").write_text('{"model": "forest", "depth": 8, "nested": {"a": [1, 2]}}')
    (files / "table.csv").write_text("name,score\nalpha,0.91\nbeta,0.87\n")
    (files / "plot.png").write_bytes(png())
    pq.write_table(pa.table({"id": list(range(100)), "label": ["yes", "no"] * 50}),
                   files / "data.parquet")
    (files / "sub").mkdir()
    (files / "sub" / "inner.txt").write_text("inside a folder")

    runs = []
    for i in range(12):
        run = client.create_run(exp.id, f"run-{i:02d}")
        client.log_batch(
            run.id,
            metrics=[Metric(key=k, value=v, step=s, timestamp=1_700_000_000_000 + 1000 * s)
                     for s in range(30)
                     for k, v in (("auc", 0.5 + 0.4 * (i + 1) / 12 * s / 29),
                                  ("loss", 1.0 / (1 + s + i)))],
            params=[Param(key="max_depth", value=str((2, 4, 8, 16)[i % 4])),
                    Param(key="lr", value="0.1" if i % 3 else "0.01"),
                    Param(key="optimizer", value="adam")],
            tags=[RunTag(key="team", value="growth" if i % 2 else "core")])
        if i == 0:
            client.log_artifacts(run.id, files)
        client.set_terminated(run.id, "FAILED" if i == 5 else "FINISHED")
        runs.append(client.get_run(run.id))

    long_run = client.create_run(exp.id, "long-history")
    for start in range(0, LONG_STEPS, 10_000):
        client.log_batch(long_run.id, metrics=[
            Metric(key="loss", value=(50.0 if s == 61_234 else 1.0 / (1 + s / 1000)), step=s,
                   timestamp=1_700_000_000_000 + s)
            for s in range(start, start + 10_000)])
    client.set_terminated(long_run.id)
    client.close()
    return Seeded(ui_server.url, exp.id, name, runs, long_run, empty.id)


# the model registry ------------------------------------------------------------------------
DIGEST = "ab" * 32
SIGNATURE = {"inputs": {"columns": [{"name": "tenure_months", "dtype": "int64", "nullable": False},
                                    {"name": "plan", "dtype": "string", "nullable": True}]},
             "outputs": {"tensor": {"dtype": "float64", "shape": [-1]}}}
CARD = """# Churn model

Predicts which customers cancel in the next **30 days**.

- trained on May 2024 accounts
- evaluated on June 2024

| metric | value |
| --- | --- |
| auc | 0.91 |

<script>alert("card")</script>

[a bad link](javascript:alert(1))
"""
XSS_NAME = "xss <img src=x onerror=alert(1)>"
URL_NAME = "q #1?%&=+ model"
PAGING_MODELS = 11


@dataclass
class SeededModels:
    url: str
    name: str
    """Two versions: v1 (no package in the artifact store), v2 (a real package, Production)."""
    runs: list[Run]
    digest: str
    """The package digest of v2."""
    uplift: str
    no_versions: str
    paging_prefix: str


@pytest.fixture(scope="session")
def seeded_models(ui_server: ServerProcess,
                  tmp_path_factory: pytest.TempPathFactory) -> SeededModels:
    """A registry: models with versions, aliases and stages, seeded through the client."""
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    from dockyard.models import save

    client = Client(ui_server.url)
    exp = client.create_experiment("churn-training", description="runs whose models are registered")
    source = RunSource(user="ann", entry_point="train.py", git_commit="3e1f" * 10, git_dirty=False,
                       python_version="3.11.9")
    first = client.create_run(exp.id, "train-2024-05", source=source)
    client.log_batch(first.id, params=[Param(key="C", value="1.0")])
    client.set_terminated(first.id)
    second = client.create_run(exp.id, "train-2024-06", source=source)
    frame = pd.DataFrame({"tenure_months": [1, 5, 12, 30, 2, 44],
                          "monthly_charges": [70.0, 55.5, 80.2, 20.0, 99.9, 35.0]})
    package = tmp_path_factory.mktemp("package") / "model"
    manifest = save(LogisticRegression().fit(frame, [1, 1, 0, 0, 1, 0]), package,
                    input_example=frame.head(3))
    client.log_artifacts(second.id, package, "model")
    digest = hashlib.sha256((package / "dockyard-model.yaml").read_bytes()).hexdigest()
    signature = manifest.signature
    client.set_terminated(second.id)

    name = "churn"
    client.create_registered_model(name, "Predicts which customers cancel in the next 30 days",
                                   tags={"team": "growth"}, owner="ann", task="classification")
    client.create_model_version(name, f"runs:/{first.id}/model", DIGEST, SIGNATURE,
                                "baseline logistic regression", {"data": "2024-05"}, CARD)
    client.create_model_version(name, f"runs:/{second.id}/model", digest, signature,
                                "more features", {"data": "2024-06"},
                                "# Churn v2\n\nAdds *monthly charges*.")
    client.set_alias(name, "champion", 2)
    client.set_alias(name, "challenger", 1)
    client.transition_stage(name, 2, "Production")

    uplift = "churn-uplift"
    client.create_registered_model(uplift, "Who responds to a retention offer", owner="bo",
                                   task="uplift")
    client.create_model_version(uplift, f"runs:/{second.id}/model", digest, signature)
    client.set_alias(uplift, "candidate", 1)
    client.transition_stage(uplift, 1, "Staging")

    no_versions = "fraud-detector"
    client.create_registered_model(no_versions, "Flags card payments", task="classification")
    for i in range(PAGING_MODELS):
        client.create_registered_model(f"zz-paging-{i:02d}")

    client.create_registered_model(XSS_NAME, '<script>alert("description")</script>')
    client.create_model_version(XSS_NAME, f"runs:/{first.id}/model", None,
                                {"inputs": {"columns": [{"name": "<b>col</b>", "dtype": "int64"}]}},
                                "<i>version</i>", {"k": "<v>"}, "<script>alert(1)</script>")
    client.create_registered_model(URL_NAME)
    client.create_model_version(URL_NAME, f"runs:/{first.id}/model",
                                signature={"inputs": {"features": 3}, "note": "hand-made"})
    client.create_model_version(URL_NAME, f"runs:/{first.id}/model")
    runs = [client.get_run(first.id), client.get_run(second.id)]
    client.close()
    return SeededModels(ui_server.url, name, runs, digest, uplift, no_versions, "zz-paging-")
