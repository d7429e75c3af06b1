"""Feature pipelines packaged with the model: saved, verified, trusted and run before predict."""

from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

import dockyard
from dockyard.deploy.batch import score_file
from dockyard.errors import IntegrityError, InvalidArgument, SchemaError, UntrustedModel
from dockyard.models import (
    FeatureStepError,
    FeatureSteps,
    load,
    read_manifest,
    save,
    transform_features,
)

PLANS = ("basic", "plus", "pro")


def raw_rows(n: int, seed: int) -> pd.DataFrame:
    """Raw customer rows, as callers send them."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "tenure": rng.integers(1, 72, n),
        "charges": rng.uniform(10.0, 120.0, n).round(2),
        "plan": pd.Series(rng.choice(PLANS, n), dtype="str"),
    })


def churned(raw: pd.DataFrame) -> np.ndarray:
    return ((raw["tenure"] < 20) & (raw["charges"] > 60)).to_numpy().astype(int)


def add_log_charges(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(log_charges=np.log1p(df["charges"]))


def add_one(df: pd.DataFrame, column: str) -> pd.DataFrame:
    return df.assign(**{column: df[column] + 1})


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    return raw_rows(300, seed=1)


@pytest.fixture(scope="module")
def column_transformer(raw: pd.DataFrame) -> ColumnTransformer:
    return ColumnTransformer([
        ("num", StandardScaler(), ["tenure", "charges"]),
        ("cat", OneHotEncoder(handle_unknown="ignore"), ["plan"]),
    ]).fit(raw)


@pytest.fixture(scope="module")
def steps(raw: pd.DataFrame) -> FeatureSteps:
    scale = ColumnTransformer([
        ("num", StandardScaler(), ["tenure_years", "log_charges"]),
        ("cat", OneHotEncoder(handle_unknown="ignore"), ["plan"]),
    ])
    first = FeatureSteps([
        ("tenure_years", lambda df: df.assign(tenure_years=df.tenure / 12)),
        ("log_charges", add_log_charges),
    ])
    scale.fit(first.transform(raw))
    return FeatureSteps([*first.steps, ("scale", scale)])


def fitted(features: Any, raw: pd.DataFrame) -> LogisticRegression:
    return LogisticRegression(max_iter=1000).fit(transform_features(features, raw), churned(raw))


# FeatureSteps itself


def test_steps_run_in_order_and_read_like_a_pipeline(steps: FeatureSteps,
                                                     raw: pd.DataFrame) -> None:
    assert steps.names == ["tenure_years", "log_charges", "scale"]
    assert len(steps) == 3
    assert repr(steps).startswith("FeatureSteps([('tenure_years', <lambda>), "
                                  "('log_charges', add_log_charges), ('scale', ")
    assert steps.fit(raw) is steps
    features = steps.fit_transform(raw)
    assert list(features.columns) == ["num__tenure_years", "num__log_charges",
                                      "cat__plan_basic", "cat__plan_plus", "cat__plan_pro"]
    years = (raw.tenure / 12 - (raw.tenure / 12).mean()) / (raw.tenure / 12).std(ddof=0)
    np.testing.assert_allclose(features["num__tenure_years"], years)
    assert features.index.equals(raw.index)


def test_an_array_answer_is_named_by_get_feature_names_out(
    column_transformer: ColumnTransformer, raw: pd.DataFrame
) -> None:
    assert isinstance(column_transformer.transform(raw), np.ndarray)
    features = transform_features(column_transformer, raw)
    assert list(features.columns) == list(column_transformer.get_feature_names_out())
    assert np.array_equal(features.to_numpy(), column_transformer.transform(raw))


def test_a_sparse_answer_is_made_dense(raw: pd.DataFrame) -> None:
    encoder = OneHotEncoder().fit(raw[["plan"]])
    features = transform_features(encoder, raw[["plan"]])
    assert list(features.columns) == ["plan_basic", "plan_plus", "plan_pro"]
    assert features.sum(axis=1).eq(1.0).all()


def test_a_failing_step_is_named(raw: pd.DataFrame) -> None:
    def boom(df: pd.DataFrame) -> pd.DataFrame:
        raise ValueError("charges must be positive")

    steps = FeatureSteps([("ok", add_log_charges), ("check_charges", boom)])
    with pytest.raises(FeatureStepError, match=r"feature step 'check_charges' raised "
                                               r"ValueError: charges must be positive") as info:
        steps.transform(raw)
    assert info.value.step == "check_charges"
    assert isinstance(info.value.__cause__, ValueError)


def test_a_step_must_return_a_frame_with_every_row(raw: pd.DataFrame) -> None:
    as_array = FeatureSteps([("to_numpy", lambda df: df.to_numpy())])
    with pytest.raises(FeatureStepError, match=r"'to_numpy' returned a ndarray, not a pandas "
                                               "DataFrame"):
        as_array.transform(raw)
    dropping = FeatureSteps([("dedupe", lambda df: df.drop_duplicates("plan"))])
    with pytest.raises(FeatureStepError, match=r"'dedupe' returned 3 rows for 300"):
        dropping.transform(raw)


@pytest.mark.parametrize(("steps", "message"), [
    ([], "at least one step"),
    ([("", add_log_charges)], "non-empty name"),
    ([("a", add_log_charges), ("a", add_log_charges)], "'a' is used twice"),
    ([("a", 3)], "'a' is a int"),
    (["a"], "a \\(name, function\\) pair"),
])
def test_bad_steps_are_refused(steps: list[Any], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        FeatureSteps(steps)


# Saving and loading


def test_feature_steps_round_trip(tmp_path: Path, steps: FeatureSteps,
                                  raw: pd.DataFrame) -> None:
    model = fitted(steps, raw)
    manifest = save(model, tmp_path / "m", features=steps, input_example=raw.head(5))

    assert manifest.format_version == 2
    assert manifest.executes_code_on_load is True
    assert manifest.features is not None
    assert manifest.features.model_dump() == {
        "kind": "steps",
        "format": "cloudpickle",
        "files": ["features.pkl"],
        "type": "dockyard.models.features:FeatureSteps",
        "steps": ["tenure_years", "log_charges", "scale"],
        "columns": ["num__tenure_years", "num__log_charges", "cat__plan_basic",
                    "cat__plan_plus", "cat__plan_pro"],
        "untrusted_types": [],
    }
    assert "features.pkl" in manifest.files
    assert any(line.startswith("cloudpickle==") for line in manifest.requirements)
    # The signature is the raw input; the outputs are the model's, on the features.
    signature = manifest.get_signature()
    assert [column.name for column in signature.inputs] == ["tenure", "charges", "plan"]
    assert signature.outputs.dtype == "int64"

    loaded = load(tmp_path / "m", trust=True)
    assert isinstance(loaded.features, FeatureSteps)
    assert loaded.features.names == steps.names
    fresh = raw_rows(50, seed=2)
    expected = steps.transform(fresh)
    assert np.array_equal(loaded.predict(fresh), model.predict(expected))
    np.testing.assert_array_equal(loaded.predict_proba(fresh), model.predict_proba(expected))
    features = loaded.transform(fresh)
    assert list(features.columns) == list(expected.columns)
    assert np.array_equal(features.to_numpy(), expected.to_numpy())
    assert np.array_equal(loaded.predict_prepared(fresh), model.predict(expected))
    assert "with features" in repr(loaded)


def test_column_transformer_pipeline_round_trip_loads_untrusted(
    tmp_path: Path, column_transformer: ColumnTransformer, raw: pd.DataFrame
) -> None:
    pipeline = Pipeline([("prep", column_transformer)])
    model = fitted(pipeline, raw)
    manifest = save(model, tmp_path / "m", features=pipeline, input_example=raw.head(5))
    document = yaml.safe_load((tmp_path / "m" / "dockyard-model.yaml").read_text())
    assert document["format_version"] == 2
    assert document["executes_code_on_load"] is False
    assert document["features"]["kind"] == "sklearn"
    assert document["features"]["format"] == "skops"
    assert document["features"]["files"] == ["features.skops"]
    assert document["features"]["steps"] == ["prep"]
    assert document["features"]["columns"] == list(column_transformer.get_feature_names_out())
    assert manifest.files["features.skops"] == document["files"]["features.skops"]

    loaded = load(tmp_path / "m")  # skops rebuilds only safe types: no trust needed
    fresh = raw_rows(40, seed=3)
    expected = transform_features(pipeline, fresh)
    assert np.array_equal(loaded.predict(fresh), model.predict(expected))
    # Any input form the signature takes gives the same predictions.
    records = fresh.to_dict(orient="records")
    assert np.array_equal(loaded.predict(records), model.predict(expected))
    features = loaded.transform(fresh)
    assert list(features.columns) == list(expected.columns)
    assert np.array_equal(features.to_numpy(), expected.to_numpy())


def test_a_package_without_features_is_unchanged(tmp_path: Path, raw: pd.DataFrame,
                                                 column_transformer: ColumnTransformer) -> None:
    X = transform_features(column_transformer, raw)
    manifest = save(fitted(column_transformer, raw), tmp_path / "m", input_example=X.head(3))
    assert manifest.format_version == 1 and manifest.features is None
    loaded = load(tmp_path / "m")
    assert loaded.features is None
    with pytest.raises(InvalidArgument, match="has no feature pipeline"):
        loaded.transform(X.head(3))


def test_cloudpickled_steps_are_refused_untrusted(tmp_path: Path, steps: FeatureSteps,
                                                  raw: pd.DataFrame) -> None:
    save(fitted(steps, raw), tmp_path / "m", features=steps, input_example=raw.head(3))
    with pytest.raises(UntrustedModel, match=r"its feature steps are saved with cloudpickle"):
        load(tmp_path / "m")


def test_untrusted_refusal_stands_even_if_the_manifest_flag_is_cleared(
    tmp_path: Path, steps: FeatureSteps, raw: pd.DataFrame
) -> None:
    save(fitted(steps, raw), tmp_path / "m", features=steps, input_example=raw.head(3))
    manifest = tmp_path / "m" / "dockyard-model.yaml"
    manifest.write_text(manifest.read_text().replace("executes_code_on_load: true",
                                                     "executes_code_on_load: false"))
    with pytest.raises(UntrustedModel):
        load(tmp_path / "m")


def test_a_skops_pipeline_of_user_functions_needs_trust(tmp_path: Path,
                                                        raw: pd.DataFrame) -> None:
    prep = ColumnTransformer([
        ("log", FunctionTransformer(np.log1p, feature_names_out="one-to-one"), ["charges"]),
        ("tenure", FunctionTransformer(_pick_tenure, feature_names_out="one-to-one"),
         ["tenure"]),
    ]).fit(raw)
    model = fitted(prep, raw)
    manifest = save(model, tmp_path / "m", features=prep, input_example=raw.head(3))
    assert manifest.features.format == "skops"
    assert "tests.models.test_features._pick_tenure" in manifest.features.untrusted_types
    assert manifest.executes_code_on_load is False
    with pytest.raises(UntrustedModel, match="_pick_tenure"):
        load(tmp_path / "m")
    loaded = load(tmp_path / "m", trust=True)
    assert list(loaded.transform(raw.head(2)).columns) == ["log__charges", "tenure__tenure"]
    assert np.array_equal(loaded.predict(raw), model.predict(transform_features(prep, raw)))


def _pick_tenure(values: Any) -> Any:
    return values


@pytest.mark.parametrize("kind", ["steps", "sklearn"])
def test_a_tampered_feature_file_is_refused(tmp_path: Path, kind: str, steps: FeatureSteps,
                                            column_transformer: ColumnTransformer,
                                            raw: pd.DataFrame) -> None:
    features = steps if kind == "steps" else column_transformer
    save(fitted(features, raw), tmp_path / "m", features=features, input_example=raw.head(3))
    name = read_manifest(tmp_path / "m").features.files[0]
    path = tmp_path / "m" / name
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match=name) as info:
        load(tmp_path / "m", trust=True)
    assert info.value.details["path"] == name


def test_a_missing_feature_file_is_refused(tmp_path: Path, raw: pd.DataFrame,
                                           column_transformer: ColumnTransformer) -> None:
    save(fitted(column_transformer, raw), tmp_path / "m", features=column_transformer,
         input_example=raw.head(3))
    (tmp_path / "m" / "features.skops").unlink()
    with pytest.raises(IntegrityError, match="features.skops is missing"):
        load(tmp_path / "m")


def _pick(df: pd.DataFrame) -> pd.DataFrame:
    if (df["charges"] < 0).any():
        raise ValueError("negative charges")
    return df[["tenure", "charges"]]


def test_a_step_failing_at_predict_time_is_named(tmp_path: Path, raw: pd.DataFrame) -> None:
    model = LogisticRegression().fit(raw[["tenure", "charges"]], churned(raw))
    save(model, tmp_path / "m", features=[("pick", _pick)], input_example=raw.head(3))
    loaded = load(tmp_path / "m", trust=True)
    bad = raw.head(2).assign(charges=[-1.0, 5.0])
    with pytest.raises(FeatureStepError, match=r"feature step 'pick' raised ValueError: "
                                               "negative charges"):
        loaded.predict(bad)


def test_raw_input_missing_a_column_fails_before_any_step(tmp_path: Path,
                                                          raw: pd.DataFrame) -> None:
    # The first step reads 'plan': had it run, the error would be a KeyError inside it.
    steps = FeatureSteps([
        ("plan_code", lambda df: df.assign(plan_code=df["plan"].map(PLANS.index))),
        ("pick", lambda df: df[["tenure", "charges", "plan_code"]]),
    ])
    model = fitted(steps, raw)
    save(model, tmp_path / "m", features=steps, input_example=raw.head(3))
    loaded = load(tmp_path / "m", trust=True)
    for call in (loaded.predict, loaded.transform, loaded.predict_proba):
        with pytest.raises(SchemaError, match="column 'plan' is missing"):
            call(raw.drop(columns="plan").head(3))


def test_functions_from_the_users_modules_are_saved_by_value(tmp_path: Path,
                                                             raw: pd.DataFrame) -> None:
    """The package keeps the step code it was trained with: it loads where this module is
    not importable (and would not pick up a later edit of it)."""
    steps = FeatureSteps([("bump", functools.partial(add_one, column="tenure")),
                          ("pick", _pick)])
    model = fitted(steps, raw)
    save(model, tmp_path / "m", features=steps, input_example=raw.head(3))
    code = (
        "import importlib.util, sys\n"
        "from dockyard.models import load\n"
        "assert importlib.util.find_spec('tests') is None, 'tests is importable'\n"
        "model = load(sys.argv[1], trust=True)\n"
        "print(model.transform({'tenure': [1], 'charges': [2.5], 'plan': ['pro']}).to_json())\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "m")], cwd=tmp_path,
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == '{"tenure":{"0":2},"charges":{"0":2.5}}'


@pytest.mark.parametrize(("options", "message"), [
    ({}, "needs input_example"),
    ({"input_example": np.zeros((2, 3))}, "takes named columns"),
])
def test_features_need_a_column_signature(tmp_path: Path, options: dict[str, Any],
                                          message: str, raw: pd.DataFrame,
                                          column_transformer: ColumnTransformer) -> None:
    model = fitted(column_transformer, raw)
    with pytest.raises(InvalidArgument, match=message):
        save(model, tmp_path / "m", features=column_transformer, **options)
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("features", [LogisticRegression(), object(), "scale"])
def test_features_must_be_a_transformer_or_steps(tmp_path: Path, features: Any,
                                                 raw: pd.DataFrame) -> None:
    model = LogisticRegression().fit(raw[["tenure", "charges"]], churned(raw))
    with pytest.raises(InvalidArgument, match="features= takes"):
        save(model, tmp_path / "m", features=features, input_example=raw.head(3))


# Every consumer of the package runs the features


def test_log_model_and_load_model_apply_the_features(steps: FeatureSteps,
                                                     raw: pd.DataFrame) -> None:
    model = fitted(steps, raw)
    with dockyard.start_run():
        info = dockyard.log_model(model, "model", features=steps, input_example=raw.head(5))
    assert info.manifest.features is not None
    assert info.manifest.features.steps == steps.names
    loaded = dockyard.load_model(info.uri)  # from the run it was logged to: trusted
    fresh = raw_rows(30, seed=4)
    assert np.array_equal(loaded.predict(fresh), model.predict(steps.transform(fresh)))


def test_batch_scoring_applies_the_features(tmp_path: Path, raw: pd.DataFrame,
                                            column_transformer: ColumnTransformer) -> None:
    model = fitted(column_transformer, raw)
    save(model, tmp_path / "m", features=column_transformer, input_example=raw.head(3))
    fresh = raw_rows(500, seed=5)
    fresh.to_parquet(tmp_path / "in.parquet")
    score_file(tmp_path / "m", tmp_path / "in.parquet", tmp_path / "out.parquet",
               chunk_rows=128)
    scored = pd.read_parquet(tmp_path / "out.parquet")
    expected = model.predict(transform_features(column_transformer, fresh))
    assert np.array_equal(scored["prediction"].to_numpy(), expected)


# PySpark warns on pandas >= 3 and passes a keyword pandas 3 deprecates (its own modules).
@pytest.mark.filterwarnings("ignore:PySpark does not yet fully support:FutureWarning:pyspark")
@pytest.mark.filterwarnings("ignore:The copy keyword is deprecated:DeprecationWarning:pyspark")
def test_spark_udf_applies_the_features(spark: Any, steps: FeatureSteps,
                                        raw: pd.DataFrame) -> None:
    from pyspark.sql import functions

    from dockyard.deploy.spark import spark_udf

    model = fitted(steps, raw)
    with dockyard.start_run():
        info = dockyard.log_model(model, "model", features=steps, input_example=raw.head(5))
    fresh = raw_rows(200, seed=6)
    fresh.insert(0, "id", np.arange(len(fresh)))
    predict = spark_udf(spark, info.uri)
    columns = [functions.col(name) for name in ("tenure", "charges", "plan")]
    scored = (spark.createDataFrame(fresh).select("id", predict(*columns).alias("p"))
              .toPandas().sort_values("id"))
    expected = model.predict(steps.transform(fresh.drop(columns="id")))
    assert np.array_equal(scored["p"].to_numpy(), expected)
