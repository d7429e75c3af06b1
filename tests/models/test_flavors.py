"""Every flavor round-trips real trained models, through each of the four input forms."""

from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from dockyard.errors import InvalidArgument, NotFound, SchemaError, UntrustedModel
from dockyard.models import (
    FLAVORS,
    Flavor,
    PythonModel,
    PythonModelContext,
    SavedModel,
    get_flavor,
    load,
    read_manifest,
    register_flavor,
    save,
)
from dockyard.models import flavors as flavor_table
from dockyard.models.signature import TensorSpec


def input_forms(frame: pd.DataFrame) -> dict[str, Any]:
    """The same rows as a DataFrame, a dict of columns, a list of records and a numpy array."""
    return {
        "dataframe": frame,
        "dict of columns": frame.to_dict("list"),
        "records": frame.to_dict("records"),
        "numpy": frame.to_numpy(),
    }


def assert_same_for_every_form(model: Any, frame: pd.DataFrame, expected: np.ndarray) -> None:
    for form, data in input_forms(frame).items():
        got = model.predict(data)
        if np.asarray(expected).dtype.kind == "f":
            np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6, err_msg=form)
        else:
            np.testing.assert_array_equal(got, expected, err_msg=form)


@pytest.fixture(scope="module")
def cancer() -> tuple[pd.DataFrame, pd.Series]:
    return load_breast_cancer(return_X_y=True, as_frame=True)


@pytest.fixture(scope="module")
def diabetes() -> tuple[pd.DataFrame, pd.Series]:
    return load_diabetes(return_X_y=True, as_frame=True)


@pytest.fixture(scope="module")
def iris_with_category() -> tuple[pd.DataFrame, pd.Series]:
    X, y = load_iris(return_X_y=True, as_frame=True)
    X["size"] = np.where(X["sepal length (cm)"] > 5.8, "long", "short")
    return X, y


def iris_pipeline(X: pd.DataFrame, y: pd.Series) -> Pipeline:
    numeric = [column for column in X.columns if column != "size"]
    prep = ColumnTransformer(
        [
            ("num", StandardScaler(), numeric),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["size"]),
        ]
    )
    return Pipeline([("prep", prep), ("clf", LogisticRegression(max_iter=1000))]).fit(X, y)


# scikit-learn


def test_sklearn_estimator_on_arrays_round_trips(tmp_path: Path, cancer: Any) -> None:
    X, y = cancer
    array = X.to_numpy()
    estimator = LogisticRegression(max_iter=5000).fit(array, y)
    manifest = save(estimator, tmp_path / "m", input_example=array[:5])
    assert (manifest.flavor, manifest.loader.format) == ("sklearn", "skops")
    assert not manifest.executes_code_on_load
    model = load(tmp_path / "m")
    assert model.signature is not None and model.signature.is_tensor
    head = X.head(40)
    assert_same_for_every_form(model, head, estimator.predict(head.to_numpy()))
    np.testing.assert_array_equal(
        model.predict_proba(head), estimator.predict_proba(head.to_numpy())
    )


def test_sklearn_pipeline_with_categorical_column_round_trips(
    tmp_path: Path, iris_with_category: Any
) -> None:
    X, y = iris_with_category
    pipeline = iris_pipeline(X, y)
    save(pipeline, tmp_path / "m", input_example=X.head(3))
    model = load(tmp_path / "m")
    assert [column.name for column in model.signature.inputs][-1] == "size"
    sample = X.sample(30, random_state=0)
    assert_same_for_every_form(model, sample, pipeline.predict(sample))
    np.testing.assert_array_equal(model.predict_proba(sample), pipeline.predict_proba(sample))
    assert type(model.raw) is Pipeline


def test_sklearn_joblib_needs_trust_and_then_round_trips(
    tmp_path: Path, iris_with_category: Any
) -> None:
    X, y = iris_with_category
    pipeline = iris_pipeline(X, y)
    manifest = save(pipeline, tmp_path / "m", input_example=X.head(3), serialization="joblib")
    assert manifest.loader.format == "joblib" and manifest.executes_code_on_load
    with pytest.raises(UntrustedModel):
        load(tmp_path / "m")
    model = load(tmp_path / "m", trust=True)
    sample = X.sample(30, random_state=1)
    assert_same_for_every_form(model, sample, pipeline.predict(sample))


def test_predict_refuses_input_that_breaks_the_signature(
    tmp_path: Path, iris_with_category: Any
) -> None:
    X, y = iris_with_category
    save(iris_pipeline(X, y), tmp_path / "m", input_example=X.head(3))
    model = load(tmp_path / "m")
    with pytest.raises(SchemaError, match="'size' is missing"):
        model.predict(X.drop(columns="size").head(2))
    with pytest.raises(SchemaError, match="petal width"):
        model.predict(X.head(2).assign(**{"petal width (cm)": ["wide", "narrow"]}))


# XGBoost and LightGBM


def test_xgboost_classifier_keeps_labels_and_probabilities(tmp_path: Path, cancer: Any) -> None:
    xgb = pytest.importorskip("xgboost")
    X, y = cancer
    classifier = xgb.XGBClassifier(n_estimators=20, max_depth=3, random_state=0).fit(X, y)
    manifest = save(classifier, tmp_path / "m", input_example=X.head(5))
    assert (manifest.flavor, manifest.loader.format) == ("xgboost", "xgboost-json")
    assert manifest.model_files == ["model.json"] and not manifest.executes_code_on_load
    model = load(tmp_path / "m")
    assert isinstance(model.raw, xgb.XGBClassifier)
    sample = X.sample(60, random_state=0)
    expected = classifier.predict(sample)
    assert set(np.unique(expected)) <= {0, 1}
    assert_same_for_every_form(model, sample, expected)
    np.testing.assert_array_equal(model.predict_proba(sample), classifier.predict_proba(sample))


def test_xgboost_booster_round_trips(tmp_path: Path, diabetes: Any) -> None:
    xgb = pytest.importorskip("xgboost")
    X, y = diabetes
    booster = xgb.train({"max_depth": 3}, xgb.DMatrix(X, label=y), num_boost_round=15)
    save(booster, tmp_path / "m", input_example=X.head(5))
    model = load(tmp_path / "m")
    sample = X.head(40)
    assert_same_for_every_form(model, sample, booster.predict(xgb.DMatrix(sample)))
    assert not hasattr(model, "predict_proba")


def test_lightgbm_regressor_round_trips(tmp_path: Path, diabetes: Any) -> None:
    lgb = pytest.importorskip("lightgbm")
    X, y = diabetes
    regressor = lgb.LGBMRegressor(n_estimators=30, random_state=0, verbose=-1).fit(X, y)
    manifest = save(regressor, tmp_path / "m", input_example=X.head(5))
    assert (manifest.flavor, manifest.loader.format) == ("lightgbm", "lightgbm-text")
    assert manifest.model_files == ["model.txt"]
    model = load(tmp_path / "m")
    sample = X.sample(50, random_state=0)
    for form, data in input_forms(sample).items():
        np.testing.assert_array_equal(model.predict(data), regressor.predict(sample), err_msg=form)


def test_lightgbm_classifier_keeps_labels(tmp_path: Path, iris_with_category: Any) -> None:
    lgb = pytest.importorskip("lightgbm")
    X, y = iris_with_category
    X = X.drop(columns="size")
    labels = np.array(["setosa", "versicolor", "virginica"])[y]
    classifier = lgb.LGBMClassifier(n_estimators=15, random_state=0, verbose=-1).fit(X, labels)
    save(classifier, tmp_path / "m", input_example=X.head(5))
    model = load(tmp_path / "m")
    sample = X.sample(40, random_state=0)
    assert_same_for_every_form(model, sample, classifier.predict(sample))
    np.testing.assert_array_equal(model.predict_proba(sample), classifier.predict_proba(sample))


# ONNX


def test_onnx_graph_converted_from_sklearn_round_trips(tmp_path: Path, cancer: Any) -> None:
    skl2onnx = pytest.importorskip("skl2onnx")
    ort = pytest.importorskip("onnxruntime")
    X, y = cancer
    array = X.to_numpy(dtype=np.float32)
    pipeline = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(max_iter=500))])
    pipeline.fit(array, y)
    proto = skl2onnx.to_onnx(pipeline, array[:1], options={"zipmap": False})
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    sample = array[:50]
    labels, probabilities = session.run(None, {"X": sample})

    manifest = save(proto, tmp_path / "m")  # no example: the signature comes from the graph
    assert manifest.model_files == ["model.onnx"] and not manifest.executes_code_on_load
    model = load(tmp_path / "m")
    assert model.signature.inputs == TensorSpec(name="X", dtype="float32", shape=(-1, 30))
    frame = pd.DataFrame(sample.astype(np.float64), columns=X.columns)
    assert_same_for_every_form(model, frame, labels)
    np.testing.assert_allclose(model.predict_proba(frame), probabilities, rtol=1e-6)


def test_onnx_file_path_and_zipmap_output(tmp_path: Path, iris_with_category: Any) -> None:
    skl2onnx = pytest.importorskip("skl2onnx")
    X, y = iris_with_category
    array = X.drop(columns="size").to_numpy(dtype=np.float32)
    classifier = LogisticRegression(max_iter=1000).fit(array, y)
    (tmp_path / "iris.onnx").write_bytes(
        skl2onnx.to_onnx(classifier, array[:1]).SerializeToString()
    )
    save(str(tmp_path / "iris.onnx"), tmp_path / "m", input_example=array[:3])
    model = load(tmp_path / "m")
    np.testing.assert_array_equal(model.predict(array), classifier.predict(array))
    np.testing.assert_allclose(
        model.predict_proba(array), classifier.predict_proba(array), atol=1e-5
    )


# PyTorch


def test_pytorch_mlp_round_trips_as_an_exported_program(tmp_path: Path, cancer: Any) -> None:
    torch = pytest.importorskip("torch")
    X, y = cancer
    scaled = StandardScaler().fit_transform(X).astype(np.float32)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(30, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    optimizer = torch.optim.Adam(net.parameters(), lr=0.01)
    inputs, targets = torch.from_numpy(scaled), torch.from_numpy(y.to_numpy().copy())
    for _ in range(30):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(inputs), targets)
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.3
    with torch.no_grad():
        expected = net(inputs[:64]).numpy()

    manifest = save(net, tmp_path / "m", input_example=scaled[:5])
    assert (manifest.flavor, manifest.loader.format) == ("pytorch", "torch-export")
    assert manifest.executes_code_on_load and "torch" in manifest.requirements[0]
    with pytest.raises(UntrustedModel, match="torch.export"):
        load(tmp_path / "m")
    model = load(tmp_path / "m", trust=True)
    frame = pd.DataFrame(scaled[:64].astype(np.float64), columns=X.columns)
    assert_same_for_every_form(model, frame, expected)
    assert net.training  # saving exported in eval mode and left the module as it was


def test_pytorch_without_an_example_falls_back_to_torch_save(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    net = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Tanh())
    with pytest.warns(UserWarning, match="torch.save because there is no input example"):
        manifest = save(net, tmp_path / "m")
    assert manifest.loader.format == "torch-pickle" and manifest.signature is None
    with pytest.raises(UntrustedModel, match="torch.save files are pickles"):
        load(tmp_path / "m")
    model = load(tmp_path / "m", trust=True)
    rows = np.arange(6, dtype=np.float64).reshape(2, 3)  # float64 in, cast to the weights' float32
    with torch.no_grad():
        expected = net(torch.from_numpy(rows.astype(np.float32))).numpy()
    np.testing.assert_array_equal(model.predict(rows), expected)
    with pytest.raises(InvalidArgument, match="cannot export"):
        save(net, tmp_path / "strict", serialization="export")


# PythonModel


class ThresholdModel(PythonModel):
    """Scores rows with weights read from an artifact; cutoff is plain JSON state."""

    def __init__(self, cutoff: float) -> None:
        self.cutoff = cutoff

    def load_context(self, context: PythonModelContext) -> None:
        self.weights = json.loads(Path(context.artifacts["weights"]).read_text())

    def predict(self, context: PythonModelContext, model_input: pd.DataFrame) -> np.ndarray:
        score = sum(model_input[name] * weight for name, weight in self.weights.items())
        return (score.to_numpy() > self.cutoff).astype(np.int64)


def test_python_model_saved_by_reference_loads_without_trust(
    tmp_path: Path, iris_with_category: Any
) -> None:
    X, _ = iris_with_category
    X = X.drop(columns="size")
    weights = tmp_path / "weights.json"
    weights.write_text(json.dumps({"petal length (cm)": 1.0, "petal width (cm)": 2.0}))
    manifest = save(
        ThresholdModel(cutoff=6.5),
        tmp_path / "m",
        input_example=X.head(3),
        artifacts={"weights": weights},
    )
    assert (manifest.flavor, manifest.loader.format) == ("python_model", "reference")
    assert not manifest.executes_code_on_load
    assert "artifacts/weights/weights.json" in manifest.files
    document = json.loads((tmp_path / "m" / "python_model.json").read_text())
    assert document == {"class": f"{__name__}:ThresholdModel", "state": {"cutoff": 6.5}}

    model = load(tmp_path / "m")
    assert isinstance(model.raw, ThresholdModel)
    expected = ((X["petal length (cm)"] + 2 * X["petal width (cm)"]) > 6.5).astype(np.int64)
    assert 0 < expected.sum() < len(expected)
    assert_same_for_every_form(model, X, expected.to_numpy())


def test_python_model_defined_in_a_function_is_pickled_and_needs_trust(tmp_path: Path) -> None:
    class Doubler(PythonModel):
        def predict(self, context: PythonModelContext, model_input: np.ndarray) -> np.ndarray:
            return model_input * 2

    with pytest.warns(UserWarning, match="cloudpickle"):
        manifest = save(Doubler(), tmp_path / "m", input_example=np.arange(6.0).reshape(3, 2))
    assert manifest.loader.format == "cloudpickle" and manifest.executes_code_on_load
    assert any(line.startswith("cloudpickle==") for line in manifest.requirements)
    with pytest.raises(UntrustedModel, match="cloudpickle"):
        load(tmp_path / "m")
    model = load(tmp_path / "m", trust=True)
    np.testing.assert_array_equal(model.predict([[1.0, 2.0]]), [[2.0, 4.0]])


def test_python_model_with_code_paths_needs_trust(tmp_path: Path) -> None:
    source = tmp_path / "src" / "shipped_scaler.py"
    source.parent.mkdir()
    source.write_text(
        "import numpy as np\n"
        "from dockyard.models import PythonModel\n\n\n"
        "class Scaler(PythonModel):\n"
        "    def __init__(self, factor):\n"
        "        self.factor = factor\n\n"
        "    def predict(self, context, model_input):\n"
        "        return np.asarray(model_input) * self.factor\n"
    )
    import sys

    sys.path.insert(0, str(source.parent))
    try:
        module = __import__("shipped_scaler")
        manifest = save(
            module.Scaler(3), tmp_path / "m", code_paths=[source], input_example=[[1.0]]
        )
    finally:
        sys.path.remove(str(source.parent))
    assert manifest.executes_code_on_load and "code/shipped_scaler.py" in manifest.files
    with pytest.raises(UntrustedModel, match="Python source"):
        load(tmp_path / "m")
    model = load(tmp_path / "m", trust=True)
    np.testing.assert_array_equal(model.predict([[2.0]]), [[6.0]])
    assert not list((tmp_path / "m" / "code").glob("__pycache__"))
    load(tmp_path / "m", trust=True)  # still exactly the files of the manifest


# The flavor table


class TinyModel:
    """A third-party model type no built-in flavor knows."""

    def __init__(self, slope: float) -> None:
        self.slope = slope


class TinyFlavor(Flavor):
    name = "tiny"
    requirements = ("numpy",)

    def detect(self, model: Any) -> bool:
        return isinstance(model, TinyModel)

    def save(self, model: Any, directory: Path, options: Any) -> SavedModel:
        (directory / "tiny.json").write_text(json.dumps({"slope": model.slope}))
        return SavedModel(["tiny.json"], "tiny-json")

    def load(self, directory: Path, manifest: Any, *, trust: bool) -> Any:
        return TinyModel(json.loads((directory / "tiny.json").read_text())["slope"])

    def predict(self, model: Any, data: Any) -> Any:
        return np.asarray(data)[:, 0] * model.slope


@pytest.fixture
def clean_table(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The flavor table as shipped, restored after the test."""
    saved = dict(FLAVORS)
    monkeypatch.setattr(flavor_table, "_entry_points_loaded", False)
    monkeypatch.setattr(flavor_table, "_entry_point_errors", {})
    yield FLAVORS
    FLAVORS.clear()
    FLAVORS.update(saved)


def test_register_flavor_adds_a_third_party_flavor(tmp_path: Path, clean_table: Any) -> None:
    with pytest.raises(InvalidArgument, match="no model flavor handles"):
        save(TinyModel(2.0), tmp_path / "before")
    register_flavor(TinyFlavor)
    assert next(iter(FLAVORS)) == "tiny"  # tried before the built-ins
    manifest = save(TinyModel(2.0), tmp_path / "m", input_example=np.array([[1.0], [2.0]]))
    assert manifest.flavor == "tiny" and manifest.loader.module == __name__
    np.testing.assert_array_equal(load(tmp_path / "m").predict([[5.0]]), [10.0])
    with pytest.raises(InvalidArgument, match="already registered"):
        register_flavor(TinyFlavor())
    register_flavor(TinyFlavor(), replace=True)
    with pytest.raises(InvalidArgument, match="must be a dockyard.models.Flavor"):
        register_flavor(object())  # type: ignore[arg-type]


def test_entry_points_are_loaded_lazily_once(
    tmp_path: Path, clean_table: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []

    def entry_points(**selection: Any) -> list[importlib.metadata.EntryPoint]:
        calls.append(selection)
        return [
            importlib.metadata.EntryPoint("tiny", f"{__name__}:TinyFlavor", "dockyard.flavors"),
            importlib.metadata.EntryPoint("broken", f"{__name__}:Missing", "dockyard.flavors"),
        ]

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    assert "tiny" not in FLAVORS  # nothing happens at import or before the first lookup
    assert isinstance(get_flavor("tiny"), TinyFlavor)
    save(TinyModel(3.0), tmp_path / "m")
    assert read_manifest(tmp_path / "m").flavor == "tiny"
    np.testing.assert_array_equal(load(tmp_path / "m").predict([[1.0]]), [3.0])
    with pytest.raises(NotFound, match="entry point failed to load"):
        get_flavor("broken")
    assert calls == [{"group": "dockyard.flavors"}]


def test_unknown_flavor_in_a_manifest_names_the_known_ones(tmp_path: Path, cancer: Any) -> None:
    X, y = cancer
    save(LogisticRegression(max_iter=5000).fit(X, y), tmp_path / "m")
    path = tmp_path / "m" / "dockyard-model.yaml"
    path.write_text(path.read_text().replace("flavor: sklearn", "flavor: catboost"))
    with pytest.raises(NotFound, match="no model flavor named 'catboost'.*sklearn"):
        load(tmp_path / "m")
