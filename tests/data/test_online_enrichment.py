"""A running model server enriches each request from the online store.

The model is trained on a point-in-time training frame; its feature steps
hold a ``FeatureLookup``, so the server (a separate process) adds the latest
materialized values to every request before the model sees it.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pandas as pd
from sklearn.linear_model import LinearRegression

import dockyard
from dockyard.data.feature_store import FeatureStore, FeatureTable
from dockyard.data.online import FeatureLookup
from dockyard.models import FeatureSteps
from tests.serve.test_feature_skew import Served, v2_frame


def _spend(day: int, values: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"customer_id": [1, 2, 3],
                         "event_timestamp": pd.Timestamp("2026-01-01") + pd.Timedelta(days=day),
                         "spend_30d": values})


def test_the_server_adds_online_features_to_each_request(tmp_path: Path) -> None:
    history = pd.concat([_spend(0, [10.0, 20.0, 30.0]), _spend(5, [11.0, 25.0, 90.0])])
    online = f"sqlite:///{tmp_path / 'online.db'}"
    store = FeatureStore([FeatureTable("customer", history, entity="customer_id",
                                       timestamp="event_timestamp")], online=online)
    labels = pd.DataFrame({"customer_id": [1, 2, 3, 1, 2, 3],
                           "event_timestamp": pd.to_datetime(["2026-01-02"] * 3
                                                             + ["2026-01-07"] * 3),
                           "visits": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]})
    train = store.get_training_frame(labels, ["customer:spend_30d"])  # as of each label time
    assert train["spend_30d"].tolist() == [10.0, 20.0, 30.0, 11.0, 25.0, 90.0]
    y = 2 * train["visits"] + train["spend_30d"]
    model = LinearRegression().fit(train[["visits", "spend_30d"]], y)
    store.materialize()  # the latest values, for serving

    steps = FeatureSteps([
        ("spend", FeatureLookup(online, ["customer:spend_30d"])),
        ("columns", lambda df: df[["visits", "spend_30d"]]),
    ])
    raw = pd.DataFrame({"customer_id": [3, 1], "visits": [1.5, 7.0]})
    with dockyard.start_run():
        info = dockyard.log_model(model, features=steps, input_example=raw)
    workdir = tmp_path / "serve"
    workdir.mkdir()
    served = Served(workdir, f"spend={info.uri}")
    body = {"inputs": [{"name": "customer_id", "shape": [2], "datatype": "INT64", "data": [3, 1]},
                       {"name": "visits", "shape": [2], "datatype": "FP64", "data": [1.5, 7.0]}]}
    try:
        with httpx.Client(base_url=served.url, timeout=30) as client:
            features = v2_frame(client.post("/v2/models/spend/transform", json=body).json())
            assert features["spend_30d"].tolist() == [90.0, 11.0]  # from the online store
            answer = client.post("/v2/models/spend/infer", json=body)
            assert answer.status_code == 200, answer.text
            expected = model.predict(pd.DataFrame({"visits": [1.5, 7.0],
                                                   "spend_30d": [90.0, 11.0]}))
            assert np.allclose(answer.json()["outputs"][0]["data"], expected)
            # New values materialized while the server runs are what the next request gets.
            FeatureStore([FeatureTable("customer", _spend(9, [12.0, 26.0, 95.0]),
                                       entity="customer_id", timestamp="event_timestamp")],
                         online=online).materialize()
            again = v2_frame(client.post("/v2/models/spend/transform", json=body).json())
            assert again["spend_30d"].tolist() == [95.0, 12.0]
            missing = client.post("/v2/models/spend/transform", json={"inputs": body["inputs"][1:]})
            assert missing.status_code == 422 and "customer_id" in missing.json()["error"]
    finally:
        served.stop()
        store.close()
