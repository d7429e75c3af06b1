"""Clients written elsewhere drive the server unmodified: tritonclient.http, kserve's REST client.

tritonclient runs in this interpreter. kserve pins pandas below 3, so it runs
from its own virtual environment in ``.clients/kserve-venv`` (``./dev test``
creates it; this module does too when it is missing).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from tests.serve.conftest import FEATURES

ROOT = Path(__file__).resolve().parents[2]
KSERVE_VENV = ROOT / ".clients" / "kserve-venv"
KSERVE_REQUIREMENT = "kserve==0.21.0"


@pytest.fixture(scope="module")
def server(serve):
    return serve("logreg", "table")


def test_tritonclient_http(server) -> None:
    client = triton.InferenceServerClient(url=f"127.0.0.1:{server.port}")
    try:
        assert client.is_server_live() and client.is_server_ready()
        assert client.is_model_ready("logreg")
        metadata = client.get_model_metadata("logreg")
        assert metadata["inputs"][0]["shape"] == [-1, FEATURES]
        assert client.get_server_metadata()["name"] == "dockyard"

        x = np.random.default_rng(0).normal(size=(5, FEATURES))
        tensor = triton.InferInput("x", list(x.shape), "FP64")
        tensor.set_data_from_numpy(x, binary_data=False)
        assert metadata["outputs"][0]["name"] == "predict"
        wanted = triton.InferRequestedOutput("predict", binary_data=False)
        result = client.infer("logreg", [tensor], outputs=[wanted], request_id="t-1")
        predictions = result.as_numpy("predict")
        assert predictions.shape == (5,) and set(predictions.tolist()) <= {0, 1}
        assert result.get_response()["id"] == "t-1"

        columns = []
        for name, datatype, values in (("x", "FP64", np.array([1.0, 4.0])),
                                       ("count", "INT64", np.array([1, 2])),
                                       ("city", "BYTES", np.array([b"a", b"b"], dtype=object))):
            column = triton.InferInput(name, [2], datatype)
            column.set_data_from_numpy(values, binary_data=False)
            columns.append(column)
        table = client.infer("table", columns)
        assert table.as_numpy("predict").tolist() == [2.0, 8.0]

        # tritonclient's defaults: binary inputs, and binary outputs when none are named.
        binary = triton.InferInput("x", list(x.shape), "FP64")
        binary.set_data_from_numpy(x)
        default = client.infer("logreg", [binary])
        assert default.as_numpy("predict").tolist() == predictions.tolist()
        assert default.get_output("predict")["parameters"]["binary_data_size"] == 5 * 8

        with pytest.raises(InferenceServerException, match="count"):
            client.infer("table", columns[::2])  # 'count' missing: the server's message
    finally:
        client.close()


KSERVE_SCRIPT = textwrap.dedent("""
    import asyncio, json, sys
    import numpy as np
    from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig

    async def main(url):
        out = {}
        v2 = InferenceRESTClient(RESTConfig(protocol="v2", retries=0))
        out["live"] = await v2.is_server_live(url)
        out["ready"] = await v2.is_server_ready(url)
        out["model_ready"] = await v2.is_model_ready(url, "logreg")
        x = np.linspace(-1, 1, 12).reshape(3, 4)
        tensor = InferInput(name="x", shape=list(x.shape), datatype="FP64")
        tensor.set_data_from_numpy(x, binary_data=False)
        request = InferRequest(model_name="logreg", infer_inputs=[tensor], request_id="k-1")
        response = await v2.infer(url, request, model_name="logreg")
        out["v2_id"] = response.id
        out["v2"] = response.outputs[0].as_numpy().tolist()
        await v2.close()
        v1 = InferenceRESTClient(RESTConfig(protocol="v1", retries=0))
        out["v1_live"] = await v1.is_server_live(url)
        out["v1_ready"] = await v1.is_model_ready(url, "logreg")
        answer = await v1.infer(url, {"instances": x.tolist()}, model_name="logreg")
        out["v1"] = answer["predictions"]
        await v1.close()
        print(json.dumps(out))

    asyncio.run(main(sys.argv[1]))
""")


@pytest.fixture(scope="session")
def kserve_python() -> Path:
    python = KSERVE_VENV / "bin" / "python"
    stamp = KSERVE_VENV / ".installed"
    if not stamp.exists() or stamp.read_text() != KSERVE_REQUIREMENT:
        base = getattr(sys, "_base_executable", sys.executable)
        subprocess.run([base, "-m", "venv", "--clear", str(KSERVE_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", KSERVE_REQUIREMENT],
                       check=True, timeout=280)
        stamp.write_text(KSERVE_REQUIREMENT)
    return python


def test_kserve_rest_client(server, kserve_python: Path) -> None:
    done = subprocess.run([str(kserve_python), "-c", KSERVE_SCRIPT, server.url],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["live"] and out["ready"] and out["model_ready"]
    assert out["v1_live"] and out["v1_ready"]
    assert out["v2_id"] == "k-1"
    assert len(out["v2"]) == 3 and set(out["v2"]) <= {0, 1}
    assert out["v1"] == out["v2"]
