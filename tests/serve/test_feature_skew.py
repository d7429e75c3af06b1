"""Zero training/serving skew: a running ``dockyard serve`` computes the training features.

The model is logged with its feature pipeline (FeatureSteps around a fitted
ColumnTransformer); the server, a separate process, gets the same raw rows
and must compute bit for bit the features that training computed, and the
same predictions.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import dockyard
from dockyard.models import FeatureSteps, save
from tests.services.server import free_port, wait_for_http

PLANS = ["basic", "plus", "pro"]
V2_TYPES = {"tenure": "INT64", "charges": "FP64", "plan": "BYTES"}
NUMPY_OF = {"FP64": np.float64, "FP32": np.float32, "INT64": np.int64, "BOOL": np.bool_}


def raw_rows(n: int, seed: int, plans: list[str] = PLANS) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "tenure": rng.integers(1, 72, n),
        "charges": rng.uniform(10.0, 120.0, n),  # full float64 precision, not rounded
        "plan": pd.Series(rng.choice(plans, n), dtype="str"),
    })


def add_log_charges(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(log_charges=np.log1p(df["charges"]), charges_per_month=df.charges / 30.4)


class Served:
    """``python -m dockyard serve ARGS`` on a free loopback port, from a folder outside the
    repository (so the feature steps must come from the package, not from this module)."""

    def __init__(self, workdir: Path, *args: str) -> None:
        self.url = f"http://127.0.0.1:{free_port()}"
        self.log = workdir / "serve.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "dockyard", "serve", *args,
                 "--port", self.url.rsplit(":", 1)[1], "--no-prediction-log", "--no-access-log"],
                stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ), cwd=workdir,
            )
        wait_for_http(self.proc, self.url + "/v2/health/ready", self.log, 90)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)


@pytest.fixture
def trained(tmp_path: Path) -> dict[str, Any]:
    """Train behind the features and log the model with them."""
    train = raw_rows(400, seed=7)
    encode = ColumnTransformer([
        ("scale", StandardScaler(), ["tenure_years", "log_charges", "charges_per_month"]),
        ("plan", OneHotEncoder(handle_unknown="ignore"), ["plan"]),
    ])
    first = FeatureSteps([
        ("tenure_years", lambda df: df.assign(tenure_years=df.tenure / 12)),
        ("log_charges", add_log_charges),
    ])
    encode.fit(first.transform(train))
    features = FeatureSteps([*first.steps, ("encode", encode)])
    X = features.transform(train)
    y = ((train.tenure < 20) & (train.charges > 60)).to_numpy().astype(int)
    model = LogisticRegression(max_iter=1000).fit(X, y)
    with dockyard.start_run():
        info = dockyard.log_model(model, "model", features=features, input_example=train.head(5))
    plain = tmp_path / "plain"
    save(LogisticRegression().fit(train[["tenure", "charges"]], y), plain,
         input_example=train[["tenure", "charges"]].head(3))
    return {"features": features, "model": model, "uri": info.uri, "plain": plain}


@pytest.fixture
def server(trained: dict[str, Any], tmp_path: Path) -> Iterator[Served]:
    workdir = tmp_path / "serve"
    workdir.mkdir()
    served = Served(workdir, f"churn={trained['uri']}", f"plain={trained['plain']}")
    try:
        yield served
    finally:
        served.stop()


def v2_body(raw: pd.DataFrame) -> dict[str, Any]:
    return {"inputs": [
        {"name": name, "shape": [len(raw)], "datatype": V2_TYPES[name],
         "data": raw[name].tolist()}
        for name in raw.columns
    ]}


def v2_frame(answer: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame({
        output["name"]: np.asarray(output["data"], dtype=NUMPY_OF[output["datatype"]])
        for output in answer["outputs"]
    })


def assert_same_features(served: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert list(served.columns) == list(expected.columns)
    for name in expected.columns:
        assert served[name].dtype == expected[name].dtype, name
        assert np.array_equal(served[name].to_numpy(), expected[name].to_numpy()), name


def test_the_server_computes_the_training_features_bit_for_bit(
    trained: dict[str, Any], server: Served
) -> None:
    features, model = trained["features"], trained["model"]
    # Fresh rows, one plan the encoder never saw (it encodes as all zeros).
    raw = raw_rows(64, seed=11, plans=[*PLANS, "enterprise"])
    expected = features.transform(raw)
    with httpx.Client(base_url=server.url, timeout=30) as client:
        answer = client.post("/v2/models/churn/transform", json=v2_body(raw))
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["model_name"] == "churn"
        assert "prediction_ids" not in body.get("parameters", {})
        assert_same_features(v2_frame(body), expected)

        # The simple JSON form: KServe V1 instances, answered as columns and rows.
        v1 = client.post("/v1/models/churn:transform",
                         json={"instances": raw.to_dict(orient="records")})
        assert v1.status_code == 200, v1.text
        split = v1.json()
        assert split["columns"] == list(expected.columns)
        assert np.array_equal(np.asarray(split["data"], dtype=np.float64),
                              expected.to_numpy(dtype=np.float64))

        # The predictions are the training model's on the training features.
        infer = client.post("/v2/models/churn/infer", json=v2_body(raw))
        assert infer.status_code == 200, infer.text
        predictions = np.asarray(infer.json()["outputs"][0]["data"])
        assert np.array_equal(predictions, model.predict(expected))
        invocations = client.post(
            "/invocations", json={"dataframe_records": raw.to_dict(orient="records")})
        assert invocations.status_code == 200, invocations.text
        assert np.array_equal(invocations.json()["predictions"], model.predict(expected))

        # One row at a time, as most callers send them.
        for i in range(3):
            row = raw.iloc[[i]].reset_index(drop=True)
            one = client.post("/v2/models/churn/infer", json=v2_body(row)).json()
            assert one["outputs"][0]["data"] == model.predict(features.transform(row)).tolist()
            single = v2_frame(client.post("/v2/models/churn/transform", json=v2_body(row)).json())
            assert_same_features(single, features.transform(row))


def test_transform_errors_are_clear(server: Served) -> None:
    raw = raw_rows(2, seed=3)
    with httpx.Client(base_url=server.url, timeout=30) as client:
        plain = client.post("/v2/models/plain/transform", json=v2_body(raw[["tenure", "charges"]]))
        assert plain.status_code == 404
        assert "has no feature pipeline" in plain.json()["error"]
        v1 = client.post("/v1/models/plain:transform", json={"instances": [[1, 2.0]]})
        assert v1.status_code == 404 and v1.json()["error_code"] == "NOT_FOUND"

        # The raw input is checked against the signature before any step runs.
        missing = client.post("/v2/models/churn/transform",
                              json=v2_body(raw[["tenure", "charges"]]))
        assert missing.status_code == 422
        assert "'plan'" in missing.json()["error"]
        assert client.get("/v2/models/churn/transform").status_code == 405
