"""Batching under concurrency, load shedding, timeouts and the prediction log of a live server."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import httpx
import pyarrow.dataset as ds

from tests.serve.test_app import v2_tensor


def batch_rows(metrics: str, model: str) -> tuple[float, float]:
    """(predict calls, rows) of ``model`` from the batch-size histogram."""
    count = float(re.search(rf'dockyard_serve_batch_rows_count{{model="{model}".*}} (\S+)',
                            metrics).group(1))
    total = float(re.search(rf'dockyard_serve_batch_rows_sum{{model="{model}".*}} (\S+)',
                            metrics).group(1))
    return count, total


async def fire(url: str, path: str, bodies: list[dict]) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=len(bodies))
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
        return await asyncio.gather(*(client.post(path, json=body) for body in bodies))


def test_concurrent_requests_are_coalesced_and_answered_in_order(serve) -> None:
    """32 concurrent requests to a model that takes 50 ms: far fewer calls, each answer its own."""
    server = serve("busy", max_batch_size=64)
    bodies = [v2_tensor([[float(i), 0.0]] * (1 + i % 3)) for i in range(32)]
    responses = asyncio.run(fire(server.url, "/v2/models/busy/infer", bodies))
    for i, response in enumerate(responses):
        assert response.status_code == 200, response.text
        assert response.json()["outputs"][0]["data"] == [2.0 * i] * (1 + i % 3)
    calls, rows = batch_rows(httpx.get(server.url + "/metrics").text, "busy")
    assert rows == sum(1 + i % 3 for i in range(32))
    assert calls <= 8, f"{calls} predict calls for 32 concurrent requests"


def test_overload_is_shed_with_503_while_health_answers(serve) -> None:
    server = serve("slow=slow", max_queue=2, max_batch_size=1)

    async def scenario() -> tuple[list[httpx.Response], list[int]]:
        load = asyncio.ensure_future(
            fire(server.url, "/v2/models/slow/infer", [v2_tensor([[1.0, 2.0]])] * 12))
        await asyncio.sleep(0.1)
        health = []
        async with httpx.AsyncClient(base_url=server.url, timeout=5) as client:
            for _ in range(3):
                started = time.monotonic()
                ready = await client.get("/v2/health/ready")
                health.append((ready.status_code, time.monotonic() - started))
            metrics = (await client.get("/metrics")).text
        return await load, health, metrics

    responses, health, metrics = asyncio.run(scenario())
    in_flight = re.search(r'dockyard_serve_in_flight_requests\{model="slow".*\} (\S+)', metrics)
    assert in_flight and float(in_flight.group(1)) >= 1, metrics  # answered while under load
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) >= 2 and statuses.count(503) >= 6, statuses
    shed = next(r for r in responses if r.status_code == 503)
    assert int(shed.headers["retry-after"]) >= 1
    assert "overloaded" in shed.json()["error"]
    assert all(status == 200 and seconds < 0.5 for status, seconds in health), health


def test_a_request_over_its_timeout_gets_504(serve) -> None:
    server = serve("slow=slow", timeout=0.05)
    response = httpx.post(server.url + "/v2/models/slow/infer", json=v2_tensor([[1.0, 2.0]]))
    assert response.status_code == 504 and "0.05" in response.json()["error"]


def test_every_prediction_is_logged_with_its_id(serve, tmp_path: Path) -> None:
    server = serve("logreg", prediction_log=True, log_uri=str(tmp_path / "store"),
                   log_spool_dir=str(tmp_path / "spool"), deployment="churn-prod",
                   log_flush_interval=0.05)
    ids = []
    with httpx.Client(base_url=server.url) as client:
        for rows in (1, 3):
            response = client.post("/v2/models/logreg/infer",
                                   json=v2_tensor([[0.5, 0.1, -0.3, 0.2]] * rows))
            ids += response.json()["parameters"]["prediction_ids"]
    assert server.app.prediction_log.flush(upload=True, timeout=30)
    table = ds.dataset(tmp_path / "store" / "predictions", partitioning="hive").to_table()
    assert sorted(table.column("prediction_id").to_pylist()) == sorted(ids)
    assert set(table.column("deployment").to_pylist()) == {"churn-prod"}
    assert set(table.column("model").to_pylist()) == {"logreg"}
    assert table.column("input.0").to_pylist()[0] == [0.5, 0.1, -0.3, 0.2]
    assert min(table.column("latency_ms").to_pylist()) > 0
