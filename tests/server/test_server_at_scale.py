"""The server on its at-scale backends: PostgreSQL metadata and S3 artifacts."""

from __future__ import annotations

from pathlib import Path

import pytest

import dockyard
from tests.services.s3 import DUMMY_CREDENTIALS
from tests.services.server import ServerProcess


def test_server_on_postgres_and_s3(
    tmp_path: Path, postgres_uri: str, s3_endpoint: str, s3_bucket: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = ServerProcess(
        tmp_path, uri=postgres_uri, artifacts=f"s3://{s3_bucket}/dockyard",
        env={"DOCKYARD_S3_ENDPOINT_URL": s3_endpoint, **DUMMY_CREDENTIALS},
    )
    server.start()
    try:
        monkeypatch.setenv("DOCKYARD_URI", server.url)
        dockyard.set_tracking_uri(None)
        dockyard.set_experiment("at-scale")
        report = tmp_path / "report.txt"
        report.write_bytes(b"r" * 3_000_000)
        with dockyard.start_run(name="pg-s3") as run:
            dockyard.log_params({"max_depth": 8})
            for i in range(500):
                dockyard.log_metric("loss", 1 / (i + 1), step=i)
            dockyard.log_metric("auc", 0.9)
            dockyard.log_artifact(report, "eval")
        found = dockyard.search_runs("at-scale", "metrics.auc > 0.8 and params.max_depth = '8'")
        assert [r.id for r in found] == [run.id]
        client = dockyard.Client()
        assert len(client.get_metric_history(run.id, "loss")) == 500
        out = client.download_artifacts(run.id, "eval/report.txt", tmp_path / "dl")
        assert out.read_bytes() == report.read_bytes()
        # the bytes really live in the bucket, under the run's folder
        import boto3

        s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=s3_bucket)["Contents"]]
        assert keys == [f"dockyard/{run.experiment_id}/{run.id}/artifacts/eval/report.txt"]
    finally:
        server.stop()


def test_several_workers_share_one_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = ServerProcess(tmp_path, args=("--workers", "2"))
    server.start()
    try:
        monkeypatch.setenv("DOCKYARD_URI", server.url)
        dockyard.set_tracking_uri(None)
        dockyard.set_experiment("two-workers")
        ids = []
        for i in range(20):  # enough requests to reach both workers
            with dockyard.start_run(name=f"r{i}") as run:
                dockyard.log_metric("m", float(i))
            ids.append(run.id)
        found = dockyard.search_runs("two-workers", "metrics.m >= 10", ["metrics.m ASC"])
        assert [r.id for r in found] == ids[10:]
    finally:
        server.stop()
