"""Every route of the inference server over real HTTP, and every way a request can be wrong."""

from __future__ import annotations

import json
import logging

import httpx
import numpy as np
import pytest

from tests.serve._models import BOOM

ROW = [0.1, -0.2, 0.3, 0.4]


def v2_tensor(rows: list[list[float]], name: str = "x", datatype: str = "FP64") -> dict:
    flat = [value for row in rows for value in row]
    return {"inputs": [{"name": name, "shape": [len(rows), len(rows[0])], "datatype": datatype,
                        "data": flat}]}


def v2_columns(**columns: tuple[str, list]) -> dict:
    return {"inputs": [{"name": name, "shape": [len(data)], "datatype": datatype, "data": data}
                       for name, (datatype, data) in columns.items()]}


TABLE = {"x": ("FP64", [1.0, 2.5]), "count": ("INT64", [1, 2]), "city": ("BYTES", ["a", "b"])}


@pytest.fixture(scope="module")
def url(serve) -> str:
    return serve("logreg", "table").url


@pytest.fixture(scope="module")
def http(url: str):
    with httpx.Client(base_url=url, timeout=30) as client:
        yield client


# ---------------------------------------------------------------- health and metadata


def test_health_and_server_metadata(http: httpx.Client) -> None:
    assert http.get("/v2/health/live").json() == {"live": True}
    ready = http.get("/v2/health/ready")
    assert ready.status_code == 200 and ready.json() == {"ready": True}
    meta = http.get("/v2").json()
    assert meta["name"] == "dockyard" and meta["version"]
    assert http.get("/").json() == {"status": "alive"}  # KServe V1 liveness
    assert http.get("/ping").status_code == 200  # MLflow's
    assert http.get("/health").status_code == 200
    assert http.get("/version").text


def test_model_metadata_and_readiness(http: httpx.Client) -> None:
    meta = http.get("/v2/models/logreg").json()
    assert meta["name"] == "logreg" and len(meta["versions"]) == 1
    assert meta["platform"] == "dockyard-sklearn"
    assert meta["inputs"] == [{"name": "input-0", "datatype": "FP64", "shape": [-1, 4]}]
    version = meta["versions"][0]
    assert http.get(f"/v2/models/logreg/versions/{version}").json() == meta
    assert http.get("/v2/models/logreg/ready").json() == {"name": "logreg", "ready": True}
    assert http.get(f"/v2/models/logreg/versions/{version}/ready").status_code == 200
    table = http.get("/v2/models/table").json()
    assert [(i["name"], i["datatype"], i["shape"]) for i in table["inputs"]] == [
        ("x", "FP64", [-1]), ("count", "INT64", [-1]), ("city", "BYTES", [-1])]
    assert http.get("/v1/models").json() == {"models": ["logreg", "table"]}
    assert http.get("/v1/models/table").json() == {"name": "table", "ready": True}


# ---------------------------------------------------------------- inference


def test_v2_infer_returns_predictions_and_a_prediction_id(http: httpx.Client) -> None:
    response = http.post("/v2/models/logreg/infer",
                         json={"id": "req-1", **v2_tensor([ROW, ROW])},
                         headers={"X-Request-Id": "trace-42"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_name"] == "logreg" and body["id"] == "req-1"
    [output] = body["outputs"]
    assert output["shape"] == [2] and output["datatype"] == "INT64"
    assert set(output["data"]) <= {0, 1}
    assert response.headers["x-request-id"] == "trace-42"
    base = response.headers["x-prediction-id"]
    assert body["parameters"]["prediction_ids"] == [f"{base}-0", f"{base}-1"]


def test_v2_versioned_infer_and_columns(http: httpx.Client) -> None:
    version = http.get("/v2/models/table").json()["versions"][0]
    response = http.post(f"/v2/models/table/versions/{version}/infer", json=v2_columns(**TABLE))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_version"] == version
    assert body["outputs"][0]["data"] == [2.0, 5.0]
    # A single-row request's prediction id is the header's.
    one = http.post("/v2/models/table/infer", json=v2_columns(
        x=("FP64", [3.0]), count=("INT64", [1]), city=("BYTES", ["c"])))
    assert one.json()["parameters"]["prediction_ids"] == [one.headers["x-prediction-id"]]


def test_v1_predict(http: httpx.Client) -> None:
    response = http.post("/v1/models/logreg:predict", json={"instances": [ROW, ROW, ROW]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body["predictions"]) == 3 and len(body["prediction_ids"]) == 3
    table = http.post("/v1/models/table:predict",
                      json={"instances": [{"x": 1.0, "count": 1, "city": "a"}]})
    assert table.json()["predictions"] == [2.0]


def test_invocations_forms_on_a_table_model(serve, packages) -> None:
    server = serve("table")
    bodies = [
        {"dataframe_split": {"columns": ["x", "count", "city"],
                             "data": [[1.0, 1, "a"], [4.0, 2, "b"]]}},
        {"dataframe_records": [{"x": 1.0, "count": 1, "city": "a"},
                               {"x": 4.0, "count": 2, "city": "b"}]},
        {"instances": [{"x": 1.0, "count": 1, "city": "a"}, {"x": 4.0, "count": 2, "city": "b"}]},
        {"inputs": {"x": [1.0, 4.0], "count": [1, 2], "city": ["a", "b"]}},
    ]
    with httpx.Client(base_url=server.url) as client:
        for body in bodies:
            response = client.post("/invocations", json=body)
            assert response.status_code == 200, (body, response.text)
            assert response.json()["predictions"] == [2.0, 8.0]
            assert response.headers["x-prediction-id"]
        csv = client.post("/invocations", content=b"x,count,city\n1.5,1,a\n",
                          headers={"content-type": "text/csv"})
        assert csv.json()["predictions"] == [3.0]
        # curl -d labels JSON as a form; it is read as JSON.
        form = client.post("/invocations", content=b'{"inputs": {"x": [1.0], "count": [1], '
                           b'"city": ["a"]}}',
                           headers={"content-type": "application/x-www-form-urlencoded"})
        assert form.status_code == 200, form.text


def test_invocations_on_a_tensor_model(serve) -> None:
    with httpx.Client(base_url=serve("logreg").url) as client:
        response = client.post("/invocations", json={"inputs": [ROW]})
        assert response.status_code == 200, response.text
        assert response.json()["predictions"][0] in (0, 1)


# ---------------------------------------------------------------- caller mistakes


def error_of(response: httpx.Response) -> str:
    body = response.json()
    return body["error"] if "error" in body else body["message"]


@pytest.mark.parametrize(("path", "body", "status", "words"), [
    ("/v2/models/logreg/infer", b"{not json", 400, ["JSON"]),
    ("/v2/models/logreg/infer", b'{"inputs": []}', 400, ["inputs"]),
    ("/v2/models/table/infer",
     {"inputs": [{"name": "x", "shape": [1], "datatype": "FP64", "data": [1.0]},
                 {"name": "count", "shape": [1], "datatype": "INT64", "data": [1]}]},
     422, ["city"]),  # missing input
    ("/v2/models/table/infer",
     v2_columns(x=("FP64", [1.0]), count=("INT64", [1]), cty=("BYTES", ["a"])),
     422, ["city"]),  # misnamed input
    ("/v2/models/table/infer",
     v2_columns(x=("BYTES", ["a"]), count=("INT64", [1]), city=("BYTES", ["a"])),
     422, ["x"]),  # wrong datatype
    ("/v2/models/table/infer",
     {"inputs": [{"name": "x", "shape": [2], "datatype": "FP64", "data": [1.0]},
                 {"name": "count", "shape": [1], "datatype": "INT64", "data": [1]},
                 {"name": "city", "shape": [1], "datatype": "BYTES", "data": ["a"]}]},
     400, ["x", "shape"]),  # data does not fill the shape
    ("/v2/models/logreg/infer", v2_tensor([[1.0, 2.0, 3.0]]), 422, ["4"]),  # wrong width
    ("/v2/models/table/infer",
     v2_columns(x=("FP64", [None]), count=("INT64", [1]), city=("BYTES", ["a"])),
     422, ["x", "null"]),  # null where none is allowed
    ("/v1/models/table:predict", {"instances": [{"x": "high", "count": 1, "city": "a"}]},
     422, ["x"]),
    ("/v1/models/logreg:predict", {"rows": [ROW]}, 400, ["instances"]),
    ("/invocations", {"dataframe_records": [{"x": 1.0}], "inputs": []}, 400, ["exactly one"]),
])
def test_mistakes_get_a_4xx_naming_the_input(
    http: httpx.Client, path: str, body, status: int, words: list[str]
) -> None:
    if isinstance(body, bytes):
        response = http.post(path, content=body, headers={"content-type": "application/json"})
    else:
        response = http.post(path, json=body)
    assert response.status_code == status, response.text
    message = error_of(response)
    for word in words:
        assert word.lower() in message.lower(), message
    if path.startswith("/v2"):
        assert set(response.json()) == {"error"}  # the V2 error body
    assert response.headers["x-request-id"]


def test_unknown_models_routes_and_methods(http: httpx.Client) -> None:
    missing = http.post("/v2/models/nope/infer", json=v2_tensor([ROW]))
    assert missing.status_code == 404 and "'logreg', 'table'" in missing.json()["error"]
    version = http.get("/v2/models/logreg/versions/999")
    assert version.status_code == 404 and "999" in version.json()["error"]
    assert http.post("/v1/models/nope:predict", json={"instances": [ROW]}).status_code == 404
    assert http.get("/v3/anything").status_code == 404
    wrong = http.get("/v2/models/logreg/infer")
    assert wrong.status_code == 405 and wrong.headers["allow"] == "POST"
    assert http.post("/v2/health/ready").status_code == 405


def test_too_large_bodies_and_too_many_rows(serve) -> None:
    server = serve("logreg", max_body_bytes=2048, max_rows=10)
    with httpx.Client(base_url=server.url) as client:
        big = client.post("/v2/models/logreg/infer", json=v2_tensor([ROW] * 200))
        assert big.status_code == 413 and "2048" in big.json()["error"]
        rows = client.post("/v2/models/logreg/infer", json=v2_tensor([ROW] * 11))
        assert rows.status_code == 413 and "10" in rows.json()["error"]


def binary_body(header: dict, *raw: bytes) -> tuple[bytes, dict]:
    text = json.dumps(header).encode()
    return text + b"".join(raw), {"inference-header-content-length": str(len(text))}


def test_binary_tensor_extension(http: httpx.Client) -> None:
    x = np.array([ROW, ROW[::-1]], dtype=np.float32)
    body, headers = binary_body({
        "inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP32",
                    "parameters": {"binary_data_size": x.nbytes}}],
        "outputs": [{"name": "predict", "parameters": {"binary_data": True}}],
    }, x.tobytes())
    response = http.post("/v2/models/logreg/infer", content=body, headers=headers)
    assert response.status_code == 200, response.text
    size = int(response.headers["inference-header-content-length"])
    head = json.loads(response.content[:size])
    [output] = head["outputs"]
    assert output["parameters"]["binary_data_size"] == 16 and "data" not in output
    binary = np.frombuffer(response.content[size:], dtype="<i8")
    plain = http.post("/v2/models/logreg/infer", json=v2_tensor(x.tolist(), datatype="FP32"))
    assert binary.tolist() == plain.json()["outputs"][0]["data"]

    words = [b"Oslo", "Zürich".encode()]
    raw_words = b"".join(len(w).to_bytes(4, "little") + w for w in words)
    body, headers = binary_body({"inputs": [
        {"name": "x", "shape": [2], "datatype": "FP64", "parameters": {"binary_data_size": 16}},
        {"name": "count", "shape": [2], "datatype": "INT64", "data": [1, 2]},
        {"name": "city", "shape": [2], "datatype": "BYTES",
         "parameters": {"binary_data_size": len(raw_words)}},
    ]}, np.array([1.0, 2.5]).tobytes(), raw_words)
    table = http.post("/v2/models/table/infer", content=body, headers=headers)
    assert table.status_code == 200, table.text
    assert table.json()["outputs"][0]["data"] == [2.0, 5.0]  # JSON unless asked otherwise


@pytest.mark.parametrize(("header", "raw", "status", "words"), [
    ({"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64",
                  "parameters": {"binary_data_size": 64}}]}, b"\0" * 32, 400, ["64"]),
    ({"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64",
                  "parameters": {"binary_data_size": 30}}]}, b"\0" * 30, 400, ["whole number"]),
    ({"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64",
                  "parameters": {"binary_data_size": 32}}]}, b"\0" * 40, 400, ["after"]),
])
def test_bad_binary_bodies(http: httpx.Client, header: dict, raw: bytes, status: int,
                           words: list[str]) -> None:
    body, headers = binary_body(header, raw)
    response = http.post("/v2/models/logreg/infer", content=body, headers=headers)
    assert response.status_code == status, response.text
    for word in words:
        assert word in response.json()["error"]
    torn = http.post("/v2/models/logreg/infer", content=b"{}",
                     headers={"inference-header-content-length": "99"})
    assert torn.status_code == 400 and "JSON part" in torn.json()["error"]
    v1 = http.post("/v1/models/logreg:predict", content=b"{}",
                   headers={"inference-header-content-length": "2"})
    assert v1.status_code == 415


def test_a_model_bug_is_a_500_with_its_class_and_request_id(
    http: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="dockyard.serve"):
        response = http.post(
            "/v2/models/table/infer",
            json=v2_columns(x=("FP64", [BOOM]), count=("INT64", [1]), city=("BYTES", ["a"])),
            headers={"X-Request-Id": "bug-1"},
        )
        v1 = http.post("/v1/models/table:predict",
                       json={"instances": [{"x": BOOM, "count": 1, "city": "a"}]})
    assert response.status_code == 500
    assert "ValueError" in response.json()["error"] and "bug-1" in response.json()["error"]
    assert v1.status_code == 500 and v1.json()["error_code"] == "MODEL_ERROR"
    assert v1.json()["details"]["error"] == "ValueError"
    [record] = [r for r in caplog.records if getattr(r, "request_id", None) == "bug-1"]
    assert record.exc_info is not None and record.exc_info[0] is ValueError


def test_metrics_count_requests_by_status_and_version(http: httpx.Client) -> None:
    http.post("/v2/models/logreg/infer", json=v2_tensor([ROW]))
    http.post("/v2/models/logreg/infer", content=b"[", headers={"content-type": "application/json"})
    text = http.get("/metrics").text
    version = http.get("/v2/models/logreg").json()["versions"][0]
    labels = f'model="logreg",protocol="v2",status="200",version="{version}"'
    assert f"dockyard_serve_requests_total{{{labels}}}" in text
    assert 'status="400"' in text
    for family in ("request_duration_seconds_bucket", "batch_rows_bucket", "queue_depth_requests",
                   "in_flight_requests", "prediction_log_lag_seconds", "model_load_seconds"):
        assert f"dockyard_serve_{family}" in text, family


def test_several_versions_of_one_model(serve, packages) -> None:
    """One name, two packages: the first answers unversioned calls, each its own versioned ones."""
    server = serve("twin=logreg", "twin=table")
    with httpx.Client(base_url=server.url) as client:
        meta = client.get("/v2/models/twin").json()
        assert meta["platform"] == "dockyard-sklearn"
        versions = [spec.version for spec in server.app.config.models]
        table = client.post(f"/v2/models/twin/versions/{versions[1]}/infer",
                            json=v2_columns(**TABLE))
        assert table.json()["outputs"][0]["data"] == [2.0, 5.0]
        default = client.post("/v2/models/twin/infer", json=v2_tensor([ROW]))
        assert default.status_code == 200 and default.json()["model_version"] == versions[0]
        assert np.isin(default.json()["outputs"][0]["data"], [0, 1]).all()
