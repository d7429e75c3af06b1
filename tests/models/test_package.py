"""The package folder: manifest, atomic writes, integrity checks and the trust rule."""

from __future__ import annotations

import hashlib
import importlib.metadata
import subprocess
import sys
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

import dockyard.models
from dockyard.errors import IntegrityError, InvalidArgument, NotFound, SchemaError, UntrustedModel
from dockyard.models import (
    LoadedModel,
    ModelManifest,
    load,
    package_digest,
    read_manifest,
    save,
    verify,
)
from dockyard.models.signature import ColumnSpec, Signature


@pytest.fixture(scope="module")
def iris() -> tuple[pd.DataFrame, pd.Series]:
    X, y = load_iris(return_X_y=True, as_frame=True)
    X["size"] = np.where(X["sepal length (cm)"] > 5.8, "long", "short")
    return X, y


@pytest.fixture(scope="module")
def pipeline(iris: Any) -> Pipeline:
    X, y = iris
    prep = ColumnTransformer(
        [
            ("num", StandardScaler(), list(X.columns[:4])),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["size"]),
        ]
    )
    return Pipeline([("prep", prep), ("clf", LogisticRegression(max_iter=1000))]).fit(X, y)


@pytest.fixture
def package(tmp_path: Path, pipeline: Pipeline, iris: Any) -> Path:
    X, _ = iris
    save(pipeline, tmp_path / "model", input_example=X.head(3), run_id="run-123")
    return tmp_path / "model"


class Scale(BaseEstimator, TransformerMixin):
    """A custom transformer: its class is not one skops trusts by itself."""

    def __init__(self, factor: Any = 2.0) -> None:
        self.factor = factor

    def fit(self, X: Any, y: Any = None) -> Scale:
        return self

    def transform(self, X: Any) -> Any:
        return np.asarray(X, dtype=float) * np.real(self.factor)


# The manifest


def test_manifest_is_readable_yaml_with_every_field(package: Path, pipeline: Pipeline) -> None:
    document = yaml.safe_load((package / "dockyard-model.yaml").read_text())
    assert list(document) == list(ModelManifest.model_fields)
    assert document["format_version"] == 1
    assert document["flavor"] == "sklearn"
    assert document["loader"] == {
        "module": "dockyard.models.flavors.sklearn",
        "format": "skops",
        "options": {"untrusted_types": [], "trusted_copy": "model.joblib"},
    }
    assert document["model_files"] == ["model.skops", "model.joblib"]
    size = {"name": "size", "dtype": "string", "nullable": False}
    assert document["signature"]["inputs"]["columns"][-1] == size
    assert document["signature"]["outputs"] == {
        "tensor": {"name": None, "dtype": "int64", "shape": [-1]}
    }
    assert document["input_example"] == "input_example.json"
    assert document["python_version"] == ".".join(map(str, sys.version_info[:3]))
    assert document["run_id"] == "run-123"
    assert document["dockyard_version"] == dockyard.__version__
    assert document["created_at"].endswith("Z")
    assert document["executes_code_on_load"] is False
    assert document["metadata"] == {}
    assert sorted(document["files"]) == [
        "input_example.json", "model.joblib", "model.skops", "requirements.txt"]
    for name, digest in document["files"].items():
        assert hashlib.sha256((package / name).read_bytes()).hexdigest() == digest
    names = ["dockyard-model.yaml", "input_example.json", "model.joblib", "model.skops",
             "requirements.txt"]
    assert sorted(p.name for p in package.iterdir()) == names
    assert read_manifest(package) == read_manifest(package / "dockyard-model.yaml")


def test_requirements_are_pinned_and_only_what_the_model_uses(package: Path) -> None:
    requirements = read_manifest(package).requirements
    assert (package / "requirements.txt").read_text().splitlines() == requirements
    assert f"scikit-learn=={importlib.metadata.version('scikit-learn')}" in requirements
    assert f"skops=={importlib.metadata.version('skops')}" in requirements
    assert f"joblib=={importlib.metadata.version('joblib')}" in requirements
    names = {line.split("==")[0].lower() for line in requirements}
    assert names <= {"scikit-learn", "skops", "joblib", "numpy", "scipy", "pandas"}
    for unrelated in ("fastapi", "torch", "xgboost", "lightgbm", "sqlalchemy", "dockyard"):
        assert unrelated not in names


def test_input_example_round_trips_as_json_or_parquet(tmp_path: Path) -> None:
    plain = pd.DataFrame({"n": [1, 2], "x": [0.5, None], "s": ["a", "b"], "b": [True, False]})
    typed = pd.DataFrame(
        {"x": np.array([1.5, 2.5], dtype=np.float32), "t": pd.to_datetime(["2024-01-01", None])}
    )
    for name, example, file in [
        ("plain", plain, "input_example.json"),
        ("typed", typed, "input_example.parquet"),
        ("array", np.arange(6, dtype=np.float32).reshape(3, 2), "input_example.json"),
    ]:
        identity = make_pipeline(FunctionTransformer()).fit(example)  # no predict: transform
        manifest = save(identity, tmp_path / name, input_example=example)
        assert manifest.input_example == file
        back = load(tmp_path / name).input_example
        if isinstance(example, np.ndarray):
            np.testing.assert_array_equal(back, example)
            assert back.dtype == example.dtype
        else:
            pd.testing.assert_frame_equal(back, example, check_dtype=name == "typed")


def test_metadata_and_explicit_signature_are_kept(
    tmp_path: Path, pipeline: Pipeline, iris: Any
) -> None:
    X, _ = iris
    signature = Signature(
        inputs=[ColumnSpec(name=name, dtype="float64") for name in X.columns[:4]]
        + [ColumnSpec(name="size", dtype="string")]
    )
    manifest = save(pipeline, tmp_path / "m", signature=signature, metadata={"owner": "growth"})
    assert manifest.metadata == {"owner": "growth"} and manifest.input_example is None
    assert load(tmp_path / "m").signature == signature
    with pytest.raises(SchemaError):
        save(pipeline, tmp_path / "bad", signature=signature, input_example=X.drop(columns="size"))
    with pytest.raises(InvalidArgument, match="metadata"):
        save(pipeline, tmp_path / "bad", metadata={"when": object()})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]  # no half-written folders


def test_save_never_overwrites(tmp_path: Path, pipeline: Pipeline) -> None:
    target = tmp_path / "model"
    target.mkdir()
    save(pipeline, target)  # an empty folder is fine
    first = (target / "model.skops").read_bytes()
    with pytest.raises(InvalidArgument, match="not empty"):
        save(pipeline, target)
    assert (target / "model.skops").read_bytes() == first
    (tmp_path / "file").write_text("x")
    with pytest.raises(InvalidArgument, match="not a folder"):
        save(pipeline, tmp_path / "file")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "model"]


def test_nested_path_is_created(tmp_path: Path, pipeline: Pipeline) -> None:
    save(pipeline, tmp_path / "a" / "b" / "model")
    assert isinstance(load(tmp_path / "a" / "b" / "model"), LoadedModel)


def test_read_manifest_errors(tmp_path: Path, package: Path) -> None:
    with pytest.raises(NotFound, match="not a Dockyard model package"):
        read_manifest(tmp_path)
    path = package / "dockyard-model.yaml"
    text = path.read_text()
    path.write_text(text.replace("format_version: 1", "format_version: 9"))
    with pytest.raises(InvalidArgument, match="upgrade dockyard"):
        read_manifest(package)
    path.write_text(text.replace("flavor: sklearn\n", ""))
    with pytest.raises(InvalidArgument, match="flavor"):
        read_manifest(package)
    path.write_text("[just, a, list]")
    with pytest.raises(InvalidArgument, match="mapping"):
        read_manifest(package)


# Integrity


def test_a_changed_byte_names_the_file(package: Path) -> None:
    model_file = package / "model.skops"
    data = bytearray(model_file.read_bytes())
    data[len(data) // 2] ^= 0x01
    model_file.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="model.skops does not match its checksum") as info:
        load(package)
    assert info.value.details["path"] == "model.skops"
    with pytest.raises(IntegrityError):
        verify(package)


def test_a_changed_example_or_requirements_file_is_caught_too(package: Path) -> None:
    (package / "requirements.txt").write_text("numpy\n")
    with pytest.raises(IntegrityError) as info:
        load(package)
    assert info.value.details["path"] == "requirements.txt"


def test_a_deleted_file_is_named(package: Path) -> None:
    (package / "model.skops").unlink()
    with pytest.raises(IntegrityError, match="model.skops is missing") as info:
        load(package)
    assert info.value.details["path"] == "model.skops"


def test_an_unlisted_file_is_refused(package: Path) -> None:
    (package / "extra.py").write_text("print('hello')\n")
    with pytest.raises(IntegrityError, match="extra.py is in the model package") as info:
        load(package)
    assert info.value.details["path"] == "extra.py"
    (package / "extra.py").unlink()
    (package / ".DS_Store").write_bytes(b"\0")  # desktop litter is not part of the package
    load(package)


def test_the_manifest_cannot_point_outside_the_package(package: Path) -> None:
    path = package / "dockyard-model.yaml"
    document = yaml.safe_load(path.read_text())
    document["files"]["../outside"] = "0" * 64
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(IntegrityError, match="unsafe path"):
        load(package)


def test_package_digest_covers_every_file(
    package: Path, tmp_path: Path, pipeline: Pipeline
) -> None:
    digest = package_digest(package)
    assert digest == hashlib.sha256((package / "dockyard-model.yaml").read_bytes()).hexdigest()
    save(pipeline, tmp_path / "other", run_id="run-456")
    assert package_digest(tmp_path / "other") != digest


def test_the_recorded_digest_catches_a_rewritten_manifest(package: Path) -> None:
    digest = package_digest(package)
    assert load(package, digest=digest).manifest.run_id == "run-123"
    # Change a file and its checksum together: the checksums alone cannot tell.
    (package / "requirements.txt").write_text("numpy\n")
    path = package / "dockyard-model.yaml"
    document = yaml.safe_load(path.read_text())
    document["files"]["requirements.txt"] = hashlib.sha256(b"numpy\n").hexdigest()
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    load(package)
    with pytest.raises(IntegrityError, match="not the one that was logged") as info:
        load(package, digest=digest)
    assert info.value.details["path"] == "dockyard-model.yaml"


def test_large_packages_hash_beside_the_parser_and_still_fail(
    package: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dockyard.models import package as package_module

    monkeypatch.setattr(package_module, "_PARALLEL_HASH_BYTES", 0)
    row = {
        "sepal length (cm)": 5.0,
        "sepal width (cm)": 3.0,
        "petal length (cm)": 1.4,
        "petal width (cm)": 0.2,
        "size": "short",
    }
    assert load(package).predict(row).tolist() == [0]
    model_file = package / "model.skops"
    data = bytearray(model_file.read_bytes())
    data[-100] ^= 0xFF  # inside the zip directory: the parser fails, the checksum explains why
    model_file.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="model.skops"):
        load(package)


# Trust


def test_joblib_package_from_a_local_folder_needs_trust(
    tmp_path: Path, pipeline: Pipeline, iris: Any
) -> None:
    X, _ = iris
    save(pipeline, tmp_path / "m", serialization="joblib", input_example=X.head(2))
    with pytest.raises(UntrustedModel) as info:
        load(tmp_path / "m")
    message = str(info.value)
    assert "joblib files are pickles" in message and "runs code" in message
    assert "registry or run it was logged to" in message and "trust=True" in message
    assert info.value.error_code == "UNTRUSTED_MODEL" and info.value.http_status == 403
    model = load(tmp_path / "m", trust=True)
    np.testing.assert_array_equal(model.predict(X), pipeline.predict(X))


class _TouchOnLoad:
    """Unpickling this creates a file: proof that a pickle was read."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


def test_only_a_trusted_load_reads_the_joblib_copy(tmp_path: Path, pipeline: Pipeline,
                                                   iris: Any) -> None:
    X, _ = iris
    save(pipeline, tmp_path / "m", input_example=X.head(2))
    marker = tmp_path / "unpickled"
    joblib.dump(_TouchOnLoad(marker), tmp_path / "m" / "model.joblib")
    manifest_file = tmp_path / "m" / "dockyard-model.yaml"
    document = yaml.safe_load(manifest_file.read_text())
    document["files"]["model.joblib"] = hashlib.sha256(
        (tmp_path / "m" / "model.joblib").read_bytes()).hexdigest()
    manifest_file.write_text(yaml.safe_dump(document, sort_keys=False))

    loaded = load(tmp_path / "m")  # untrusted: the skops file, which runs no code
    np.testing.assert_array_equal(loaded.predict(X), pipeline.predict(X))
    assert not marker.exists()
    load(tmp_path / "m", trust=True)  # trusted: the fast joblib copy
    assert marker.exists()


def test_skops_alone_on_request(tmp_path: Path, pipeline: Pipeline, iris: Any) -> None:
    X, _ = iris
    manifest = save(pipeline, tmp_path / "m", serialization="skops")
    assert manifest.model_files == ["model.skops"] and "trusted_copy" not in manifest.loader.options
    np.testing.assert_array_equal(load(tmp_path / "m", trust=True).predict(X), pipeline.predict(X))


def test_the_manifest_cannot_talk_its_way_past_the_trust_rule(
    tmp_path: Path, pipeline: Pipeline
) -> None:
    save(pipeline, tmp_path / "m", serialization="joblib")
    path = tmp_path / "m" / "dockyard-model.yaml"
    path.write_text(
        path.read_text().replace("executes_code_on_load: true", "executes_code_on_load: false")
    )
    assert read_manifest(tmp_path / "m").executes_code_on_load is False
    with pytest.raises(UntrustedModel):
        load(tmp_path / "m")  # the format decides, not the flag


def test_skops_file_with_custom_types_needs_trust(tmp_path: Path, iris: Any) -> None:
    X, y = iris
    X = X.drop(columns="size")
    model = make_pipeline(Scale(3.0), LogisticRegression(max_iter=1000)).fit(X, y)
    manifest = save(model, tmp_path / "m", input_example=X.head(2))
    assert manifest.loader.format == "skops" and not manifest.executes_code_on_load
    assert f"{__name__}.Scale" in manifest.loader.options["untrusted_types"]
    with pytest.raises(UntrustedModel, match=f"{__name__}.Scale") as info:
        load(tmp_path / "m")
    assert "trust=True" in str(info.value)
    loaded = load(tmp_path / "m", trust=True)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_skops_that_cannot_save_falls_back_to_joblib_with_a_warning(
    tmp_path: Path, iris: Any
) -> None:
    X, y = iris
    X = X.drop(columns="size")
    model = make_pipeline(Scale(2 + 0j), LogisticRegression(max_iter=1000)).fit(X, y)
    with pytest.warns(UserWarning, match="skops cannot save this model.*joblib"):
        manifest = save(model, tmp_path / "m")
    assert manifest.loader.format == "joblib" and manifest.executes_code_on_load
    assert f"joblib=={importlib.metadata.version('joblib')}" in manifest.requirements
    with pytest.raises(UntrustedModel):
        load(tmp_path / "m")
    np.testing.assert_array_equal(load(tmp_path / "m", trust=True).predict(X), model.predict(X))
    with pytest.raises(InvalidArgument, match="skops cannot save"):
        save(model, tmp_path / "strict", serialization="skops")


def test_a_lambda_is_refused_with_advice(tmp_path: Path, iris: Any) -> None:
    X, y = iris
    X = X.drop(columns="size")
    model = make_pipeline(FunctionTransformer(lambda v: v * 2), LogisticRegression(max_iter=1000))
    model.fit(X, y)
    with (
        pytest.warns(UserWarning, match="cannot be imported back"),
        pytest.raises(InvalidArgument, match="not lambdas"),
    ):
        save(model, tmp_path / "m")
    assert not (tmp_path / "m").exists()


# The module surface


def test_importing_dockyard_models_imports_no_engine() -> None:
    code = (
        "import sys, dockyard.models\n"
        "engines = ['sklearn', 'skops', 'xgboost', 'lightgbm', 'onnx', 'onnxruntime', 'torch']\n"
        "print([name for name in engines if name in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_all_is_the_public_surface() -> None:
    for name in dockyard.models.__all__:
        assert hasattr(dockyard.models, name), name
    core = {"save", "load", "read_manifest", "ModelManifest", "LoadedModel", "PythonModel"}
    extension = {"FLAVORS", "Flavor", "register_flavor"}
    environment = {"infer_requirements", "check_environment", "Mismatch"}
    assert core | extension | environment <= set(dockyard.models.__all__)


def test_a_forest_needs_trust_because_skops_does_not_check_tree_arrays(
    tmp_path: Path, iris: Any
) -> None:
    from sklearn.ensemble import RandomForestClassifier

    X, y = iris
    X = X.drop(columns="size")
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y)
    manifest = save(forest, tmp_path / "m", input_example=X.head(2))
    assert "sklearn.tree._tree.Tree" in manifest.loader.options["untrusted_types"]
    with pytest.raises(UntrustedModel, match=r"sklearn\.tree\._tree\.Tree") as info:
        load(tmp_path / "m")
    assert "skops does not consider safe" in str(info.value)
    assert info.value.details["types"] == ["sklearn.tree._tree.Tree"]
    np.testing.assert_array_equal(load(tmp_path / "m", trust=True).predict(X), forest.predict(X))
