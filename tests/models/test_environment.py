"""Requirements inferred from what a model really uses, and checks against the running environment."""

from __future__ import annotations

import importlib.metadata
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.stats import zscore
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from dockyard.errors import InvalidArgument
from dockyard.models import (
    Mismatch,
    PythonModel,
    check_environment,
    infer_requirements,
    load,
    read_manifest,
    save,
)
from dockyard.models.environment import distribution_of, merge_requirements


def pin(distribution: str) -> str:
    return f"{distribution}=={importlib.metadata.version(distribution)}"


@pytest.fixture(scope="module")
def ridge() -> Any:
    X, y = load_diabetes(return_X_y=True)
    return make_pipeline(StandardScaler(), Ridge()).fit(X, y)


def test_sklearn_model_needs_sklearn_and_numpy_only(ridge: Any) -> None:
    requirements = infer_requirements(ridge, "sklearn")
    assert requirements == sorted(requirements, key=str.lower)
    assert pin("scikit-learn") in requirements and pin("numpy") in requirements
    installed = {dist.metadata["Name"].lower() for dist in importlib.metadata.distributions()}
    assert {"fastapi", "torch", "xgboost", "pyarrow"} <= installed  # present, yet not needed
    names = {line.split("==")[0].lower() for line in requirements}
    assert names == {"scikit-learn", "numpy"}
    assert pin("skops") in infer_requirements(ridge, "sklearn", serialization="skops")
    assert pin("joblib") in infer_requirements(ridge, "sklearn", serialization="joblib")


def test_functions_a_model_refers_to_bring_their_distribution() -> None:
    X, y = load_diabetes(return_X_y=True)
    model = make_pipeline(FunctionTransformer(zscore), Ridge()).fit(X, y)
    assert pin("scipy") in infer_requirements(model)  # flavor detected


def test_other_engines_are_found_inside_a_pipeline() -> None:
    xgb = pytest.importorskip("xgboost")
    X, y = load_diabetes(return_X_y=True)
    model = make_pipeline(StandardScaler(), xgb.XGBRegressor(n_estimators=3)).fit(X, y)
    requirements = infer_requirements(model, "sklearn")
    assert pin("xgboost") in requirements and pin("scikit-learn") in requirements


class LocalModel(PythonModel):
    def predict(self, context: Any, model_input: Any) -> Any:
        return model_input


def test_local_code_and_the_standard_library_are_not_requirements() -> None:
    assert distribution_of(__name__) is None  # tests/ is not an installed distribution
    assert distribution_of("collections.abc") is None
    assert distribution_of("sklearn.linear_model._ridge") == "scikit-learn"
    assert infer_requirements(LocalModel()) == []


class Wrapper(PythonModel):
    """Delegates to a Dockyard package shipped as an artifact."""

    def load_context(self, context: Any) -> None:
        self.inner = load(context.artifacts["inner"]).raw

    def predict(self, context: Any, model_input: Any) -> Any:
        return self.inner.predict(model_input)


def test_a_python_model_needs_what_its_artifacts_need(tmp_path: Path, ridge: Any) -> None:
    save(ridge, tmp_path / "inner")
    manifest = save(Wrapper(), tmp_path / "outer", artifacts={"inner": tmp_path / "inner"})
    assert manifest.loader.format == "reference"
    assert pin("scikit-learn") in manifest.requirements  # seen in the loaded instance
    assert pin("skops") in manifest.requirements  # taken from the inner package's manifest


def test_user_can_replace_or_extend_the_requirements(tmp_path: Path, ridge: Any) -> None:
    manifest = save(
        ridge,
        tmp_path / "extended",
        extra_requirements=["scikit-learn>=1.4", "my-feature-lib==2.0"],
    )
    assert "scikit-learn>=1.4" in manifest.requirements
    assert pin("scikit-learn") not in manifest.requirements
    assert manifest.requirements[-1] == "my-feature-lib==2.0"
    assert (tmp_path / "extended" / "requirements.txt").read_text().splitlines() == (
        manifest.requirements
    )
    replaced = save(ridge, tmp_path / "replaced", requirements=["scikit-learn"])
    assert replaced.requirements == ["scikit-learn"]
    with pytest.raises(InvalidArgument, match="distribution name"):
        save(ridge, tmp_path / "bad", extra_requirements=["--index-url http://x"])
    assert merge_requirements(["A_b==1", "c==2"], ["a-B>=2"]) == ["c==2", "a-B>=2"]
    assert merge_requirements(["A_b==1"], ["a-B>=2", "d"], replace=False) == ["A_b==1", "d"]


def test_check_environment_reports_python_missing_and_changed_versions(
    tmp_path: Path, ridge: Any
) -> None:
    manifest = save(ridge, tmp_path / "m")
    assert check_environment(read_manifest(tmp_path / "m")) == []

    changed = manifest.model_copy(
        update={
            "python_version": "2.7.18",
            "requirements": [
                *manifest.requirements,
                "numpy==1.0.0",
                "dockyard-no-such-package==1.2.3",
                "scikit-learn>=1.0",
                "pandas<0.1; python_version < '3'",
            ],
        }
    )
    mismatches = check_environment(changed)
    running = ".".join(map(str, sys.version_info[:3]))
    assert mismatches == [
        Mismatch("python", "python", "2.7.18", running),
        Mismatch("version", "numpy", "numpy==1.0.0", np.__version__),
        Mismatch("missing", "dockyard-no-such-package", "dockyard-no-such-package==1.2.3", None),
    ]
    assert (
        str(mismatches[1]) == f"numpy {np.__version__} is installed; the model needs numpy==1.0.0"
    )
    assert "not installed" in str(mismatches[2])
    assert "Python 2.7.18" in str(mismatches[0])


def test_a_patch_release_of_python_is_not_a_mismatch(tmp_path: Path, ridge: Any) -> None:
    manifest = save(ridge, tmp_path / "m")
    major, minor = sys.version_info[:2]
    other_patch = manifest.model_copy(update={"python_version": f"{major}.{minor}.999"})
    assert check_environment(other_patch) == []
