"""A live server seeded through the SDK with runs the UI tests look at."""

from __future__ import annotations

import struct
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dockyard import Client
from dockyard.entities import Metric, Param, Run, RunTag
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
