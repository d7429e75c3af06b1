"""A model as a Spark UDF: its predictions as a column of a Spark DataFrame.

:func:`spark_udf` loads the model once on the driver (so that a wrong URI, an
untrusted or changed package fails there, not in every task), adds its
package folder to the job's files (``SparkContext.addFile``) and returns an
iterator pandas UDF. Each task fetches the folder (``SparkFiles``), loads the
model once, checks it against the package digest the driver saw, and predicts
every Arrow batch of its partition with it::

    predict = spark_udf(spark, "models:/churn@champion")
    scored = df.withColumn("prediction", predict(*feature_columns))
    scored = df.withColumn("prediction", predict(struct(*feature_columns)))

pyspark is an optional engine (``pip install 'dockyard[spark]'``); it is
imported by the functions that need it. The executors import Dockyard and the
model's engine (scikit-learn ...), so they must be installed where they run.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dockyard.errors import InvalidArgument, MissingExtra

if TYPE_CHECKING:
    from dockyard.client import Client
    from dockyard.models.signature import Signature

__all__ = ["spark_udf"]

# Column and tensor dtypes of a signature's outputs -> Spark SQL types.
_SPARK_TYPES = {
    "bool": "boolean", "string": "string", "str": "string", "object": "string",
    "datetime": "timestamp", "binary": "binary",
    **{f"float{bits}": "double" for bits in (16, 32, 64)},
    **{f"{sign}int{bits}": "long" for sign in ("", "u") for bits in (8, 16, 32, 64)},
}


@dataclass(frozen=True)
class _Package:
    """What a task needs to load the model: where the package is and what it must be."""

    name: str
    """The folder's name among the job's files (``SparkFiles.get(name)``): the digest."""
    digest: str
    trust: bool
    returns: Any
    """The UDF's result type, a pyspark DataType."""


def spark_udf(spark: Any, model_uri: str, *, result_type: Any = None,
              client: Client | None = None, trust: bool | None = None) -> Any:
    """A pyspark UDF that predicts with the model ``model_uri`` names.

    ``model_uri`` is ``models:/name@alias``, ``models:/name/3``,
    ``runs:/<run_id>/model`` or a local package folder, loaded on the driver
    as ``client.load_model(model_uri, trust=trust)`` does (without
    ``client``, as :func:`dockyard.load_model` does), then shipped to the
    executors once. Each task loads the model once (not once per batch).

    Call the UDF with the model's input columns, in the signature's order
    (``udf(*columns)``), or with one struct of named columns
    (``udf(struct(*columns))``: matched by name, other fields ignored). A
    tensor model takes its features as several numeric columns or as one
    array column (``udf(array(*columns))``), reshaped to the signature's
    shape. A model without a signature gets the columns as a 2-D array, or
    as a pandas DataFrame when they come in a struct.

    ``result_type`` is a Spark type (a DataType or a DDL string such as
    ``"double"`` or ``"array<double>"``); by default it follows the
    signature's outputs: ``double`` for floats (and when there are no
    outputs), ``long`` for integers, ``string`` for text, ``array<...>`` for
    a tensor of several values per row and ``struct<...>`` for several named
    columns. Raises MissingExtra without pyspark, InvalidArgument for a
    session without a SparkContext (Spark Connect), and what loading the
    model raises (NotFound, UntrustedModel, IntegrityError).
    """
    try:
        from pyspark.sql import SparkSession
        from pyspark.sql.functions import pandas_udf
    except ImportError as exc:
        raise MissingExtra("spark_udf needs pyspark: pip install 'dockyard[spark]'",
                           module="pyspark", extra="spark") from exc
    if not isinstance(spark, SparkSession):
        kind = type(spark)
        raise InvalidArgument(f"expected a pyspark SparkSession, got {kind.__module__}."
                              f"{kind.__name__} (Spark Connect sessions cannot ship the model "
                              "package to the executors)")
    from dockyard.manage.packages import is_model_uri
    from dockyard.models import package_digest

    if client is not None:
        model = client.load_model(model_uri, trust=trust)
    else:
        from dockyard.train.fluent import load_model

        model = load_model(model_uri, trust=trust)
    digest = package_digest(model.path)
    # Loaded by the tasks from a folder: trusted as the driver's load was (the record is).
    trusted = (trust is not False) if is_model_uri(str(model_uri)) else bool(trust)
    returns = _data_type(result_type) if result_type is not None else _result_type(
        model.signature)
    package = _Package(_ship(spark.sparkContext, model.path, digest), digest, trusted, returns)
    del model  # the driver has checked it; only the tasks predict

    def predict(batches: Iterator[tuple[pd.Series, ...]]) -> Iterator[pd.Series]:
        return _predict(package, batches)

    predict.__name__ = "dockyard_predict"  # the result column's default name: dockyard_predict(x)
    return pandas_udf(predict, returnType=returns)  # type: ignore[call-overload]


# ---------------------------------------------------------------------- on the driver
def _ship(context: Any, path: Path, digest: str) -> str:
    """Add the package folder to the job's files (once) and return the name tasks find it by.

    Spark knows a file by its name, and refuses a second path of the same name: the folder
    shipped is named by the package digest, as in the model cache; a package folder of any
    other name is copied into the cache first.
    """
    if path.name != digest:
        path = _cached_copy(path, digest)
    added = {uri.rstrip("/").rsplit("/", 1)[-1] for uri in context.listFiles}
    if digest not in added:  # the same digest is the same bytes, wherever it was added from
        context.addFile(str(path), recursive=True)
    return digest


def _cached_copy(path: Path, digest: str) -> Path:
    from dockyard.config import get_settings
    from dockyard.manage.packages import CACHE_DIR
    from dockyard.models.package import MANIFEST_NAME

    target = get_settings().home / CACHE_DIR / digest
    if (target / MANIFEST_NAME).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{digest}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        shutil.copytree(path, staging)
        try:
            staging.rename(target)
        except OSError:
            if not (target / MANIFEST_NAME).is_file():  # not a concurrent copy of the same
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _data_type(value: Any) -> Any:
    from pyspark.sql.types import DataType

    if isinstance(value, DataType):
        return value
    if not isinstance(value, str):
        raise InvalidArgument(f"result_type must be a pyspark DataType or a type name such as "
                              f"'double', got {value!r}")
    # DataType.fromDDL is public from Spark 4 on; this is what it calls.
    from pyspark.sql.types import _parse_datatype_string

    try:
        return _parse_datatype_string(value)
    except Exception as exc:  # pyspark's parse errors have no common base class
        raise InvalidArgument(f"result_type {value!r} is not a Spark SQL type: {exc}") from exc


def _result_type(signature: Signature | None) -> Any:
    """The UDF's type for the signature's outputs."""
    from pyspark.sql.types import ArrayType, DoubleType, StructField, StructType

    outputs = None if signature is None else signature.outputs
    if outputs is None:
        return DoubleType()
    if isinstance(outputs, list):
        if len(outputs) == 1:
            return _data_type(_SPARK_TYPES[outputs[0].dtype])
        return StructType([StructField(column.name, _data_type(_SPARK_TYPES[column.dtype]))
                           for column in outputs])
    result = _data_type(_SPARK_TYPES[outputs.dtype])
    for _ in range(len(outputs.shape[1:]) - (outputs.shape[1:] == (1,))):
        result = ArrayType(result)
    return result


# ---------------------------------------------------------------------- in the executors
def _predict(package: _Package, batches: Iterator[Any]) -> Iterator[Any]:
    """One task: load the model once, then predict each batch of the partition."""
    from pyspark import SparkFiles

    from dockyard.models import load

    model = load(SparkFiles.get(package.name), trust=package.trust, digest=package.digest)
    for batch in batches:
        columns = batch if isinstance(batch, tuple) else (batch,)
        output = model.predict(_model_input(columns, model.signature), extra_columns="ignore")
        yield _result(output, package.returns)


def _model_input(columns: tuple[Any, ...], signature: Signature | None) -> Any:
    """The UDF's arguments as the model takes them."""
    if len(columns) == 1 and isinstance(columns[0], pd.DataFrame):
        return columns[0]  # a struct: named columns
    if signature is not None and not signature.is_tensor:
        names = [column.name for column in signature.inputs]
        if len(columns) != len(names):
            raise InvalidArgument(
                f"the model takes {len(names)} columns ({', '.join(map(repr, names))}), the UDF "
                f"got {len(columns)}; pass them in this order, or pass struct(...) of named "
                "columns")
        return pd.DataFrame({name: column.reset_index(drop=True)
                             for name, column in zip(names, columns)})
    shape = None if signature is None else signature.inputs.shape
    if len(columns) == 1 and _holds_arrays(columns[0]):  # an array column: an array per row
        try:
            array = np.stack(columns[0].to_numpy())
        except ValueError as exc:
            raise InvalidArgument(f"the rows of the array column must all have the same "
                                  f"shape: {exc}") from exc
        if shape is not None and -1 not in shape[1:] and array.shape[1:] != shape[1:]:
            array = array.reshape(-1, *shape[1:])  # flat rows of a tensor model's shape
        return array
    array = np.column_stack([column.to_numpy() for column in columns])
    return array[:, 0] if shape is not None and len(shape) == 1 else array


def _holds_arrays(column: pd.Series) -> bool:
    return column.dtype == object and len(column) > 0 and isinstance(column.iloc[0],
                                                                       (np.ndarray, list))


def _result(output: Any, returns: Any) -> Any:
    """The model's output for a batch, as the pandas Series (or DataFrame) Spark takes."""
    from pyspark.sql.types import ArrayType, StringType, StructType

    if isinstance(returns, StructType):
        names = returns.fieldNames()
        if isinstance(output, Mapping):
            output = pd.DataFrame({str(key): np.asarray(value).tolist()
                                   for key, value in output.items()})
        if not isinstance(output, pd.DataFrame):
            array = np.asarray(output)
            output = pd.DataFrame(array.reshape(len(array), -1))
        frame = output.reset_index(drop=True)
        if set(map(str, frame.columns)) == set(names):
            return frame.set_axis(list(map(str, frame.columns)), axis=1)[names]
        if frame.shape[1] != len(names):
            raise InvalidArgument(f"the model returns {frame.shape[1]} columns, the result type "
                                  f"has {len(names)} fields ({', '.join(names)})")
        return frame.set_axis(names, axis=1)
    if isinstance(output, pd.DataFrame):
        output = output.to_numpy() if isinstance(returns, ArrayType) or output.shape[1] != 1 \
            else output.iloc[:, 0]
    if isinstance(output, pd.Series):
        output = output.reset_index(drop=True)
    else:
        array = np.asarray(output)
        if isinstance(returns, ArrayType):
            return pd.Series(array.tolist())
        if array.ndim == 2 and array.shape[1] == 1:
            array = array[:, 0]
        if array.ndim != 1:
            raise InvalidArgument(f"the model returns {array.shape[1:]} values per row; pass "
                                  "result_type='array<double>' (or the type they have)")
        output = pd.Series(array)
    if isinstance(returns, StringType) and not pd.api.types.is_string_dtype(output.dtype):
        output = output.astype(str)  # Spark casts numbers to double or long, not to text
    return output
