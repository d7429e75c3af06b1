"""A model as a Spark UDF predicts what the loaded model predicts, loading it once per task, on a
real local Spark (Java 17, ``local[2]``, bound to loopback)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pyspark.errors import PythonException
from pyspark.sql import SparkSession, functions
from pyspark.sql.types import DoubleType, LongType
from sklearn.datasets import load_iris
from sklearn.linear_model import LinearRegression, LogisticRegression

import dockyard
from dockyard.deploy.spark import spark_udf
from dockyard.errors import InvalidArgument, MissingExtra, NotFound

# PySpark warns on every pandas >= 3 check (pandas_udf makes one), and its toPandas passes a
# keyword pandas 3 deprecates; both come from pyspark's own modules.
pytestmark = [
    pytest.mark.filterwarnings(
        "ignore:PySpark does not yet fully support pandas:FutureWarning:pyspark"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated:DeprecationWarning:pyspark"),
]

COUNTING_MODEL = '''
"""Shipped with the model (code_paths): counts its loads and its predict calls in files."""
import os

import numpy as np

from dockyard.models import PythonModel


class CountingModel(PythonModel):
    def __init__(self, log):
        self.log = log

    def load_context(self, context):
        with open(os.path.join(self.log, "loads"), "a") as out:
            out.write(f"{os.getpid()}\\n")

    def predict(self, context, model_input):
        with open(os.path.join(self.log, "batches"), "a") as out:
            out.write(f"{os.getpid()} {len(model_input)}\\n")
        return (model_input["x"] * 2.0).to_numpy()
'''


@pytest.fixture(scope="module")
def iris() -> pd.DataFrame:
    X, _ = load_iris(return_X_y=True, as_frame=True)
    rng = np.random.default_rng(0)
    rows = X.sample(400, replace=True, random_state=0).reset_index(drop=True)
    rows = rows + rng.normal(scale=0.3, size=rows.shape)
    rows.insert(0, "id", np.arange(len(rows)))
    return rows


def features(frame: pd.DataFrame) -> list:
    return [functions.col(f"`{name}`") for name in frame.columns if name != "id"]


def scored(df, *columns) -> pd.DataFrame:
    return df.select("id", *columns).toPandas().sort_values("id").reset_index(drop=True)


def test_a_named_column_model_predicts_as_in_process(spark: SparkSession,
                                                     iris: pd.DataFrame) -> None:
    X, y = load_iris(return_X_y=True, as_frame=True)
    with dockyard.start_run():
        info = dockyard.log_model(LogisticRegression(max_iter=1_000).fit(X, y), "model",
                                  input_example=X[:5])
    dockyard.register_model(info.uri, "iris")
    dockyard.set_alias("iris", "champion", 1)

    predict = spark_udf(spark, "models:/iris@champion")
    assert predict.returnType == LongType()  # class labels: the signature's int64 output
    as_text = spark_udf(spark, "models:/iris@champion", result_type="string")
    df = spark.createDataFrame(iris)
    cols = features(iris)
    # The struct's fields go by name: shuffled, and with a field the model does not take.
    struct = functions.struct(*reversed(cols), functions.col("id").alias("extra"))
    # One UDF a query: the workers of one query are free for the next, its modules imported.
    by_position = scored(df, predict(*cols).alias("p"))["p"]
    by_name = scored(df, as_text(struct).alias("p"))["p"]
    expected = dockyard.load_model("models:/iris@champion").predict(iris, extra_columns="ignore")
    np.testing.assert_array_equal(by_position, expected)
    np.testing.assert_array_equal(by_name, expected.astype(str))


def test_a_tensor_model_predicts_as_in_process(spark: SparkSession, iris: pd.DataFrame,
                                               tmp_path: Path) -> None:
    X, y = load_iris(return_X_y=True)
    targets = np.column_stack([y, X[:, 0] * 3])
    package = tmp_path / "tensor-model"  # a local package folder: arrays in, arrays out
    dockyard.models.save(LinearRegression().fit(X, targets), package, input_example=X[:5])
    model = dockyard.models.load(package)
    assert model.signature.is_tensor

    predict = spark_udf(spark, str(package))
    assert predict.returnType.simpleString() == "array<double>"  # two outputs per row
    df = spark.createDataFrame(iris)
    cols = features(iris)
    by_columns = scored(df, predict(*cols).alias("p"))["p"]
    by_array = scored(df, predict(functions.array(*cols)).alias("p"))["p"]
    expected = model.predict(iris.drop(columns="id").to_numpy())
    np.testing.assert_array_equal(np.stack(by_columns.to_numpy()), expected)
    np.testing.assert_array_equal(np.stack(by_array.to_numpy()), expected)


def test_the_model_is_loaded_once_per_task(spark: SparkSession, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "dockyard_counting_model.py").write_text(COUNTING_MODEL)
    monkeypatch.syspath_prepend(str(code))
    from dockyard_counting_model import CountingModel  # written just above

    log = tmp_path / "log"
    log.mkdir()
    with dockyard.start_run():
        info = dockyard.log_model(CountingModel(str(log)), "model", code_paths=[
            code / "dockyard_counting_model.py"], input_example=pd.DataFrame({"x": [1.0, 2.0]}))
    predict = spark_udf(spark, info.uri)
    assert predict.returnType == DoubleType()

    df = spark.range(0, 200, numPartitions=2).select(
        "id", (functions.col("id") * 0.5).alias("x"))
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "20")
    try:
        out = scored(df, predict("x").alias("p"))
    finally:
        spark.conf.unset("spark.sql.execution.arrow.maxRecordsPerBatch")
    np.testing.assert_array_equal(out["p"], np.arange(200) * 0.5 * 2.0)

    driver = str(os.getpid())  # the driver loads the model too: when saving it, and to check it
    loads = [pid for pid in (log / "loads").read_text().split() if pid != driver]
    batches = [line.split() for line in (log / "batches").read_text().splitlines()
               if line.split()[0] != driver]
    assert len(loads) == 2  # one per task (two partitions)
    assert len(batches) == 10 and {rows for _, rows in batches} == {"20"}  # five per task


def test_mistakes_are_clear_errors(spark: SparkSession, monkeypatch: pytest.MonkeyPatch,
                                   tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        spark_udf(spark, "models:/nope/1")
    with pytest.raises(InvalidArgument, match="expected a pyspark SparkSession, got pandas"):
        spark_udf(pd.DataFrame(), "models:/nope/1")
    X, y = load_iris(return_X_y=True, as_frame=True)
    package = tmp_path / "model"
    dockyard.models.save(LogisticRegression(max_iter=1_000).fit(X, y), package,
                         input_example=X[:5])
    with pytest.raises(InvalidArgument, match="'nonsense type' is not a Spark SQL type"):
        spark_udf(spark, str(package), result_type="nonsense type")
    # What only a task can see fails the task, with Dockyard's message.
    predict = spark_udf(spark, str(package), trust=True)
    with pytest.raises(PythonException, match=r"the model takes 4 columns .* the UDF got 2"):
        spark.range(3).select(predict("id", "id")).collect()
    monkeypatch.setitem(sys.modules, "pyspark", None)  # as if the extra were not installed
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)
    with pytest.raises(MissingExtra, match=r"pip install 'dockyard\[spark\]'"):
        spark_udf(spark, str(package))
