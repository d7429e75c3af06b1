"""Deployment benchmark: Dockyard's deployment targets and Ray Serve, one model, one run.

    .venv/bin/python benchmarks/deploy.py            # 15 s per point (about 4 minutes)
    .venv/bin/python benchmarks/deploy.py --quick    # 3 s per point, a smoke run
    .venv/bin/python benchmarks/deploy.py --json results.json

What it does:

1. Fits one scikit-learn LogisticRegression on 20 numeric features, saves it
   as a Dockyard package, registers it in a temporary record, and writes one
   Open Inference Protocol request body of one row.
2. Serves it, one endpoint at a time, on 127.0.0.1:

   - ``dockyard serve``: the model server alone (the floor: no routing);
   - a Dockyard local deployment: its router in front of one
     ``dockyard serve`` (what ``dockyard deploy --target local`` runs);
   - the same deployment during a 10% canary of a second version (the
     router's weighted split, two model servers);
   - Ray Serve, the peer: one replica of a plain ``@serve.deployment`` that
     parses the same request and calls the same model, on a local Ray head;
   - Dockyard on Ray Serve (``--target ray``): one replica behind Dockyard's
     ingress, on the same Ray head.

   Each endpoint's answer is checked against in-process predictions, then
   wrk drives it at concurrency 1 and 16 after a short warm-up.
3. Prints req/s, p50 and p99 per endpoint and concurrency, with ratios to
   Ray Serve and to the bare model server.

Everything runs on this machine, so client and servers share its cores:
compare the ratios, not the absolute figures. All traffic goes to 127.0.0.1
and every point is bounded in time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _serving_envs import ensure_wrk  # noqa: E402
from serving import PointFailed, run_wrk  # noqa: E402

from dockyard.deploy.local import free_port  # noqa: E402

LOOPBACK = "127.0.0.1"
FEATURES = 20
MODEL = "logreg"
POINTS = ((1, 1), (2, 16))  # (wrk threads, connections)


def wait_ready(url: str, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise PointFailed(f"{url} was not ready within {timeout:.0f} s")


# ------------------------------------------------------------------------------ endpoints
@contextmanager
def bare_server(record: dict[str, Any]) -> Iterator[str]:
    port = free_port()
    log = open(record["tmp"] / "serve.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "dockyard", "serve", "models:/logreg/1", "--port", str(port),
         "--no-access-log", "--no-prediction-log", "--log-level", "warning"],
        stdout=log, stderr=subprocess.STDOUT, env=record["env"])
    try:
        wait_ready(f"http://{LOOPBACK}:{port}/v2/health/ready")
        yield f"http://{LOOPBACK}:{port}/v2/models/{MODEL}/infer"
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        log.close()


@contextmanager
def local_deployment(record: dict[str, Any], canary: bool = False) -> Iterator[str]:
    from dockyard.client import Client
    from dockyard.deploy import deployments as ops
    from dockyard.deploy.local import LocalTarget
    from dockyard.entities.deployment import DeploymentSpec, Rollout, Route

    os.environ.update(record["env"])
    client = Client()
    name = "bench-canary" if canary else "bench"
    spec = DeploymentSpec(name=name, routes=[Route(model_name=MODEL, version="1")],
                          config={"port": free_port()}, rollout=Rollout(auto=False))
    target = LocalTarget(client)
    try:
        target.apply(ops.deploy(client, spec))
        deployment = ops.wait_until_ready(client, name, timeout=180)
        if canary:
            ops.canary(client, name, "models:/logreg/2", 10)
            deployment = ops.wait_until_ready(client, name, timeout=180)
        yield f"{deployment.endpoint}/v2/models/{MODEL}/infer"
    finally:
        target.stop(name)
        client.close()


@contextmanager
def ray_head(tmp: Path) -> Iterator[dict[str, Any]]:
    """A one-node Ray cluster on loopback (its own process group, stopped on exit)."""
    import signal

    port, serve_port = free_port(), free_port()
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE.parent),
                                                       os.environ.get("PYTHONPATH")]))}
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    log = tmp / "ray.log"
    with log.open("wb") as out:
        head = subprocess.Popen(
            [str(Path(sys.executable).parent / "ray"), "start", "--head", "--block",
             f"--node-ip-address={LOOPBACK}", f"--port={port}", "--num-cpus=2",
             "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={tmp / 'ray'}"],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while b"Ray runtime started" not in log.read_bytes():
            if head.poll() is not None or time.monotonic() > deadline:
                raise PointFailed(f"the Ray head did not start: {log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield {"address": f"{LOOPBACK}:{port}", "serve_port": serve_port}
    finally:
        head.send_signal(signal.SIGTERM)
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(head.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@contextmanager
def ray_peer(record: dict[str, Any], head: dict[str, Any]) -> Iterator[str]:
    """The peer: a plain Ray Serve deployment that parses the same request and predicts."""
    import ray
    from ray import serve
    from starlette.requests import Request
    from starlette.responses import JSONResponse

    @serve.deployment(num_replicas=1, ray_actor_options={"num_cpus": 0.5},
                      max_ongoing_requests=32)
    class LogReg:
        def __init__(self, path: str) -> None:
            import joblib

            self.model = joblib.load(path)

        async def __call__(self, request: Request) -> JSONResponse:
            body = await request.json()
            first = body["inputs"][0]
            rows = np.asarray(first["data"], dtype=np.float64).reshape(first["shape"])
            predicted = self.model.predict(rows)
            return JSONResponse({"model_name": MODEL, "outputs": [{
                "name": "predict", "shape": [len(predicted)], "datatype": "INT64",
                "data": predicted.tolist()}]})

    ray.init(address=head["address"], logging_level="ERROR", log_to_driver=False)
    # Per-request access logs cost Ray Serve more than the prediction: off, as for Dockyard.
    serve.start(http_options={"host": LOOPBACK, "port": head["serve_port"]},
                logging_config={"enable_access_log": False, "log_level": "WARNING"})
    try:
        serve.run(LogReg.bind(str(record["joblib"])), name="peer", route_prefix="/peer")
        yield f"http://{LOOPBACK}:{head['serve_port']}/peer"
    finally:
        serve.delete("peer")
        ray.shutdown()


@contextmanager
def dockyard_on_ray(record: dict[str, Any], head: dict[str, Any]) -> Iterator[str]:
    from dockyard.client import Client
    from dockyard.deploy import deployments as ops
    from dockyard.deploy.ray_serve import RayServeTarget
    from dockyard.entities.deployment import DeploymentSpec, Resources, Route, Scaling

    os.environ.update(record["env"])
    client = Client()
    spec = DeploymentSpec(name="bench-ray", target="ray",
                          routes=[Route(model_name=MODEL, version="1")],
                          scaling=Scaling(min_replicas=1, max_replicas=1),
                          resources=Resources(cpu="500m"),
                          config={"address": head["address"], "http_port": head["serve_port"],
                                  "max_ongoing_requests": 32})
    target = RayServeTarget(client, head["address"])
    try:
        endpoint = target.apply(ops.deploy(client, spec))
        yield f"{endpoint.rstrip('/')}/v2/models/{MODEL}/infer"
    finally:
        target.stop("bench-ray")
        client.close()


# ------------------------------------------------------------------------------ the run
def prepare(tmp: Path) -> dict[str, Any]:
    import joblib
    from sklearn.linear_model import LogisticRegression

    import dockyard

    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, FEATURES))
    y = (X[:, :3].sum(axis=1) > 0).astype(int)
    env = {**os.environ, "DOCKYARD_HOME": str(tmp / "home"),
           "DOCKYARD_URI": f"sqlite:///{tmp / 'record.db'}",
           "DOCKYARD_ARTIFACTS": str(tmp / "artifacts")}
    os.environ.update(env)
    models = [LogisticRegression(C=c, max_iter=500).fit(X, y) for c in (1.0, 0.5)]
    for model in models:
        with dockyard.start_run():
            info = dockyard.log_model(model, "model", input_example=X[:2])
        dockyard.register_model(info.uri, MODEL)
    joblib.dump(models[0], tmp / "logreg.joblib")
    row = X[:1]
    body = {"inputs": [{"name": "input-0", "shape": [1, FEATURES], "datatype": "FP64",
                        "data": row.ravel().tolist()}]}
    (tmp / "body.json").write_text(json.dumps(body))
    return {"tmp": tmp, "env": env, "body": tmp / "body.json", "joblib": tmp / "logreg.joblib",
            "expected": models[0].predict(row).tolist(), "body_json": body}


def measure(name: str, make: Callable[[], Any], record: dict[str, Any], wrk: str,
            seconds: int) -> dict[str, Any]:
    result: dict[str, Any] = {"endpoint": name, "points": {}}
    try:
        with make() as url:
            answer = httpx.post(url, json=record["body_json"], timeout=30)
            answer.raise_for_status()
            got = answer.json()["outputs"][0]["data"]
            if got != record["expected"]:
                raise PointFailed(f"{name} answered {got}, expected {record['expected']}")
            for threads, connections in POINTS:
                run_wrk(wrk, url, record["body"], threads, connections, 1)  # warm-up
                point = run_wrk(wrk, url, record["body"], threads, connections, seconds)
                result["points"][connections] = {k: point[k] for k in
                                                 ("rps", "p50_ms", "p99_ms", "errors")}
                print(f"  {name:<34} c={connections:<3} {point['rps']:>9,.0f} req/s  "
                      f"p50 {point['p50_ms']:6.2f} ms  p99 {point['p99_ms']:7.2f} ms  "
                      f"errors {point['errors']}", flush=True)
    except Exception as exc:  # one endpoint failing must not hide the others
        result["error"] = f"{type(exc).__name__}: {exc}"
        print(f"  {name:<34} FAILED: {result['error']}", flush=True)
    return result


def report(results: list[dict[str, Any]]) -> None:
    by_name = {r["endpoint"]: r for r in results}
    peer = by_name.get("Ray Serve (peer)", {}).get("points", {})
    bare = by_name.get("dockyard serve (no routing)", {}).get("points", {})
    print("\nratios (req/s; above 1 is faster)")
    for _, connections in POINTS:
        print(f"  concurrency {connections}")
        for r in results:
            point = r.get("points", {}).get(connections)
            if point is None:
                continue
            parts = []
            if connections in peer:
                parts.append(f"{point['rps'] / peer[connections]['rps']:.2f}x Ray Serve")
            if connections in bare:
                parts.append(f"{point['rps'] / bare[connections]['rps']:.2f}x the bare server")
            print(f"    {r['endpoint']:<34} {', '.join(parts)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 s per point instead of 15")
    parser.add_argument("--seconds", type=int, help="seconds per point")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray Serve endpoints")
    args = parser.parse_args(argv)
    seconds = args.seconds or (3 if args.quick else 15)
    wrk = ensure_wrk(None)
    tmp = Path(tempfile.mkdtemp(prefix="dockyard-deploy-bench-"))
    try:
        record = prepare(tmp)
        print(f"one-row requests of {FEATURES} features, {seconds} s per point, "
              f"{os.cpu_count()} cores shared by client and servers")
        results = [
            measure("dockyard serve (no routing)", lambda: bare_server(record), record, wrk,
                    seconds),
            measure("Dockyard local deployment", lambda: local_deployment(record), record, wrk,
                    seconds),
            measure("Dockyard local, 10% canary", lambda: local_deployment(record, True), record,
                    wrk, seconds),
        ]
        if not args.no_ray:
            with ray_head(tmp) as head:
                results.append(measure("Ray Serve (peer)", lambda: ray_peer(record, head),
                                       record, wrk, seconds))
                results.append(measure("Dockyard on Ray Serve", lambda: dockyard_on_ray(
                    record, head), record, wrk, seconds))
        report(results)
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))
        return 0 if all("error" not in r for r in results) else 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
