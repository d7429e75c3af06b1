"""Packages in the record: log, register, alias, load, on every backend.

The same user story runs on the embedded store, against a live server, and
with artifacts on an S3-compatible server.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier

import dockyard
from dockyard.errors import (
    AlreadyExists,
    IntegrityError,
    InvalidArgument,
    InvalidState,
    NotFound,
    UntrustedModel,
)
from dockyard.models import read_manifest, verify
from tests.services.server import ServerProcess


def _overwrite(backend: str, run_id: str, path: str, content: bytes, tmp_path: Path,
               request: pytest.FixtureRequest) -> None:
    """Change a file of a finished run's artifacts behind Dockyard's back."""
    client = dockyard.Client()
    if backend == "server":
        # The server refuses to change a finished run's artifacts; change its folder instead.
        with pytest.raises(InvalidState, match="can no longer change"):
            client.log_artifact(run_id, __file__, "model")
        server: ServerProcess = request.getfixturevalue("dockyard_server")
        run = client.get_run(run_id)
        (Path(server.artifacts) / run.artifact_location / path).write_bytes(content)
        return
    local = tmp_path / Path(path).name
    local.write_bytes(content)
    client.run_artifacts(run_id).put_file(local, path)


@pytest.fixture(params=["embedded", "server", "s3"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "server":
        server: ServerProcess = request.getfixturevalue("dockyard_server")
        monkeypatch.setenv("DOCKYARD_URI", server.url)
    elif request.param == "s3":
        bucket = request.getfixturevalue("s3_bucket")
        monkeypatch.setenv("DOCKYARD_S3_ENDPOINT_URL", request.getfixturevalue("s3_endpoint"))
        monkeypatch.setenv("DOCKYARD_ARTIFACTS", f"s3://{bucket}/artifacts")
    dockyard.set_tracking_uri(None)
    return request.param


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.Series]:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return X, y


@pytest.fixture(scope="module")
def forest(data: tuple[pd.DataFrame, pd.Series]) -> RandomForestClassifier:
    X, y = data
    return RandomForestClassifier(n_estimators=15, random_state=0).fit(X, y)


def _name() -> str:
    import uuid

    return f"churn-{uuid.uuid4().hex[:8]}"


def _log(model: Any, X: pd.DataFrame, **options: Any) -> dockyard.models.ModelManifest:
    with dockyard.start_run():
        return dockyard.log_model(model, "model", input_example=X[:5], **options)


def test_log_register_alias_load(backend: str, data: Any, forest: RandomForestClassifier) -> None:
    X, _ = data
    name = _name()
    with dockyard.start_run() as run:
        info = dockyard.log_model(forest, "model", input_example=X[:5])
    assert info.uri == f"runs:/{run.id}/model" and info.flavor == "sklearn"
    assert len(info.package_digest) == 64
    mv = dockyard.register_model(info.uri, name)
    assert (mv.version, mv.package_digest, mv.source) == (1, info.package_digest, info.uri)
    assert [c["name"] for c in mv.signature["inputs"]["columns"]][:2] == list(X.columns[:2])
    dockyard.set_alias(name, "champion", mv.version)

    model = dockyard.load_model(f"models:/{name}@champion")
    rows = X[100:140]
    expected = forest.predict(rows)
    for form in (rows, rows.to_dict("list"), rows.to_dict("records"), rows.to_numpy()):
        np.testing.assert_array_equal(model.predict(form), expected)
    np.testing.assert_array_equal(dockyard.load_model(info.uri).predict(rows), expected)
    np.testing.assert_array_equal(
        dockyard.load_model(f"models:/{name}/latest").predict(rows), expected)


def test_a_package_changed_in_the_store_after_registration_is_refused(
    backend: str, data: Any, forest: RandomForestClassifier, tmp_path: Path,
    request: pytest.FixtureRequest, _isolated_home: Path,
) -> None:
    X, _ = data
    info = _log(forest, X)
    name = _name()
    dockyard.register_model(info.uri, name)
    client = dockyard.Client()
    cached = _isolated_home / "model-cache" / info.package_digest

    _overwrite(backend, info.run_id, "model/requirements.txt", b"numpy\n", tmp_path, request)
    with pytest.raises(IntegrityError, match="requirements.txt") as caught:
        dockyard.load_model(f"models:/{name}/1")
    assert caught.value.details["path"] == "requirements.txt"
    assert not cached.exists()  # a copy that failed its checks is not kept

    manifest = b"".join(client.iter_artifact(info.run_id, "model/dockyard-model.yaml"))
    _overwrite(backend, info.run_id, "model/dockyard-model.yaml", manifest + b"\n# edited\n",
               tmp_path, request)
    with pytest.raises(IntegrityError, match="changed after it was registered"):
        dockyard.load_model(f"models:/{name}/1")
    with pytest.raises(IntegrityError, match="changed after it was registered"):
        dockyard.register_model(f"models:/{name}/1", _name())


def test_the_cache_is_used_and_repaired(data: Any, forest: RandomForestClassifier,
                                        _isolated_home: Path) -> None:
    X, _ = data
    info = _log(forest, X)
    name = _name()
    dockyard.register_model(info.uri, name)
    uri = f"models:/{name}/1"
    first = dockyard.Client().download_model(uri)
    assert first == _isolated_home / "model-cache" / info.package_digest
    dockyard.load_model(uri)
    stamp = first.with_name(first.name + ".verified")
    assert stamp.is_file()

    # A changed cached file is caught even though its size and name are the same.
    model_file = first / "model.joblib"
    data_bytes = bytearray(model_file.read_bytes())
    data_bytes[len(data_bytes) // 2] ^= 0x01
    model_file.write_bytes(bytes(data_bytes))
    model = dockyard.load_model(uri)  # fetched again from the store
    np.testing.assert_array_equal(model.predict(X[:20]), forest.predict(X[:20]))
    verify(first)

    # With the store's copy gone, the verified cache still serves the model.
    dockyard.Client().run_artifacts(info.run_id).delete("model/model.joblib")
    np.testing.assert_array_equal(dockyard.load_model(uri).predict(X[:20]), forest.predict(X[:20]))


def test_download_into_a_folder(backend: str, data: Any, forest: RandomForestClassifier,
                                tmp_path: Path) -> None:
    X, _ = data
    info = _log(forest, X)
    target = dockyard.Client().download_model(info.uri, tmp_path / "pkg")
    assert target == tmp_path / "pkg"
    assert verify(target).run_id == info.run_id == read_manifest(target).run_id
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(InvalidArgument, match="not an empty folder"):
        dockyard.Client().download_model(info.uri, tmp_path / "busy")
    assert (tmp_path / "busy" / "notes.txt").read_text() == "mine"


def test_trust_comes_from_the_store(data: Any, forest: RandomForestClassifier,
                                    tmp_path: Path) -> None:
    X, _ = data
    info = _log(forest, X, serialization="joblib")
    np.testing.assert_array_equal(dockyard.load_model(info.uri).predict(X[:5]), forest.predict(X[:5]))
    local = dockyard.Client().download_model(info.uri, tmp_path / "copy")
    with pytest.raises(UntrustedModel, match="trust=True"):
        dockyard.load_model(local)
    assert dockyard.load_model(local, trust=True).predict(X[:5]).tolist() == forest.predict(
        X[:5]).tolist()


def test_mistakes_get_clear_errors(data: Any, forest: RandomForestClassifier) -> None:
    X, _ = data
    with pytest.raises(InvalidState, match="start_run"):
        dockyard.log_model(forest, "model")
    with dockyard.start_run() as run:
        dockyard.log_model(forest, "model", input_example=X[:2])
        with pytest.raises(AlreadyExists, match="already holds a model package"):
            dockyard.log_model(forest, "model")
        with pytest.raises(InvalidArgument, match="artifact_path"):
            dockyard.log_model(forest, "/")
        with pytest.raises(InvalidArgument, match="escapes"):
            dockyard.log_model(forest, "../elsewhere")
        with pytest.raises(InvalidArgument, match="must be a string"):
            dockyard.log_model(forest, 3)
        dockyard.log_artifact(__file__, "notes")
    with pytest.raises(InvalidState, match="FINISHED"):
        dockyard.Client().log_model(run.id, forest, "again")
    with pytest.raises(NotFound, match="no model package at runs:/.*/notes"):
        dockyard.register_model(f"runs:/{run.id}/notes", _name())
    with pytest.raises(NotFound, match="does not exist"):
        dockyard.register_model(f"runs:/{'0' * 32}/model", _name())
    with pytest.raises(InvalidArgument, match="accepted forms"):
        dockyard.register_model("s3://bucket/model", _name())
    with pytest.raises(NotFound, match="has no alias 'champion'"):
        name = _name()
        dockyard.register_model(f"runs:/{run.id}/model", name)
        dockyard.load_model(f"models:/{name}@champion")


def test_register_over_rest_reads_the_package(data: Any, forest: RandomForestClassifier,
                                              dockyard_server: ServerProcess,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import httpx

    monkeypatch.setenv("DOCKYARD_URI", dockyard_server.url)
    X, _ = data
    info = _log(forest, X)
    url = f"{dockyard_server.url}/api/v1/models:register"
    name = _name()
    response = httpx.post(url, json={"source": info.uri, "name": name, "card": "# Churn"})
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["name"], body["version"], body["package_digest"]) == (
        name, 1, info.package_digest)
    assert body["signature"] == info.signature and body["card"] == "# Churn"
    events = dockyard.Client().search_audit_events(resource_type="model-version",
                                                   resource_id=f"{name}/1")
    assert [(e.action, e.request["package_digest"]) for e in events] == [
        ("register_model", info.package_digest)]

    missing = httpx.post(url, json={"source": f"runs:/{info.run_id}/nothing", "name": name})
    assert missing.status_code == 404 and "no model package" in missing.json()["message"]
    bad = httpx.post(url, json={"source": "models:/", "name": name})
    assert bad.status_code == 400 and "accepted forms" in bad.json()["message"]
    unnamed = httpx.post(url, json={"source": info.uri})
    assert unnamed.status_code in (400, 422) and "name" in unnamed.text


def test_a_refused_registration_leaves_no_model_behind(data: Any,
                                                       forest: RandomForestClassifier) -> None:
    X, _ = data
    info = _log(forest, X)
    client = dockyard.Client()
    for bad in ({"card": "x" * 1_000_001}, {"tags": {"bad key\n": "v"}}, {"description": 5}):
        name = _name()
        with pytest.raises(InvalidArgument):
            dockyard.register_model(info.uri, name, **bad)
        with pytest.raises(NotFound):
            client.get_registered_model(name)
