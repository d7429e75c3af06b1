"""Wire formats of the inference server: requests in, predictions out.

Three request forms decode into one :class:`ModelInput`, checked against the
model's :class:`~dockyard.models.signature.Signature`:

- :func:`decode_v2`: the Open Inference Protocol v2 (KServe V2) JSON body,
  ``{"id", "parameters", "inputs": [{"name", "shape", "datatype", "data"}],
  "outputs": [{"name"}]}``;
- :func:`decode_v1`: KServe V1, ``{"instances": [...]}`` or ``{"inputs": ...}``;
- :func:`decode_invocations`: the MLflow scoring server's ``/invocations``
  body: JSON with exactly one of ``dataframe_split``, ``dataframe_records``,
  ``instances`` or ``inputs`` (and optional ``params``), or CSV with a header.

Predictions encode back with :func:`encode_v2_response`,
:func:`encode_v1_response` and :func:`encode_invocations_response`; the
features of a model with a feature pipeline with :func:`encode_v2_response`
(one output per feature column) and :func:`encode_features_response`; errors
with :func:`encode_v2_error` (``{"error": ...}``) and :func:`encode_error`
(``{"error_code", "message", "details"}``). Every function returns bytes.

This is the serving hot path: JSON goes through orjson straight into numpy,
value types are checked once per column (``set(map(type, values))``), and no
pandas object is made unless the model itself takes a DataFrame. Every
mistake in a request raises :class:`ProtocolError` (400), or one of its
subclasses :class:`InputMismatch` (422: readable, but does not fit the
signature), :class:`TooManyRows` (413) and :class:`UnsupportedMediaType` (415);
the message names the input, what was expected and what came.

How values are held in a :class:`ModelInput` column, per signature dtype:
``int32``/``int64``/``float32``/``float64``/``bool`` as numpy arrays of that
dtype, except that a nullable ``int``/``bool`` column holding nulls is
``float64`` with NaN for the nulls; ``string`` as an object array of ``str``
(None for null); ``binary`` as an object array of ``bytes``; ``datetime`` as
``datetime64[us]`` (offsets are converted to UTC); ``object`` as an object
array of whatever came.
"""

from __future__ import annotations

import base64
import binascii
import csv
import difflib
import io
import math
import re
import sys
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import TYPE_CHECKING, Any, get_args

import numpy as np
import orjson

from dockyard.errors import DockyardError, InvalidArgument, SchemaError, TooLarge
from dockyard.models.signature import (
    _DATETIME_UNIT,
    _STRING_DTYPE,
    ColumnSpec,
    ExtraColumns,
    Signature,
    TensorSpec,
)

if TYPE_CHECKING:
    import pandas as pd

    from dockyard.models.package import LoadedModel

__all__ = [
    "V2_DATATYPES",
    "InputMismatch",
    "ModelInput",
    "ProtocolError",
    "TooManyRows",
    "UnsupportedMediaType",
    "accepts_arrays",
    "as_model_input",
    "decode_invocations",
    "decode_v1",
    "decode_v2",
    "encode_error",
    "encode_features_response",
    "encode_invocations_response",
    "encode_v1_response",
    "encode_v2_error",
    "encode_v2_response",
    "predict",
]

V2_DATATYPES: dict[str, str] = {
    "BOOL": "bool",
    "UINT8": "uint8",
    "UINT16": "uint16",
    "UINT32": "uint32",
    "UINT64": "uint64",
    "INT8": "int8",
    "INT16": "int16",
    "INT32": "int32",
    "INT64": "int64",
    "FP16": "float16",
    "FP32": "float32",
    "FP64": "float64",
    "BYTES": "string",
}
"""Open Inference Protocol datatypes and the dtype their JSON data is read as."""

_NUMPY_TO_V2 = {np.dtype(dtype): name for name, dtype in V2_DATATYPES.items() if name != "BYTES"}
_V2_ALIASES = {
    "FLOAT": "FP32",
    "FLOAT32": "FP32",
    "FLOAT64": "FP64",
    "DOUBLE": "FP64",
    "HALF": "FP16",
    "FLOAT16": "FP16",
    "INT": "INT64",
    "LONG": "INT64",
    "BOOLEAN": "BOOL",
    "STRING": "BYTES",
    "STR": "BYTES",
    "BINARY": "BYTES",
}
_INTS = frozenset(f"{sign}int{bits}" for sign in ("", "u") for bits in (8, 16, 32, 64))
_FLOATS = frozenset({"float16", "float32", "float64"})
_NULLABLE_TENSORS = _FLOATS | {"object"}  # null is NaN in a float tensor, None in an object one
_IINFO = {name: np.iinfo(name) for name in _INTS}
_FMAX = {name: float(np.finfo(name).max) for name in _FLOATS}
_EXTRA_COLUMNS = frozenset(get_args(ExtraColumns))
_SMALL = 32  # below this many values, Python loops beat numpy's per-call overhead
_NONE = type(None)
_NUMBER = frozenset({int, float})
_INT = frozenset({int})
_BOOL = frozenset({bool})
_STR = frozenset({str})
_JSON = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
_ISO_8601 = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}(?::\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?)?(?:Z|[+-]\d{2}:\d{2})?"
)
_FORMS = ("dataframe_split", "dataframe_records", "instances", "inputs")
_CSV_TRUE = frozenset({"true", "True", "TRUE"})
_CSV_FALSE = frozenset({"false", "False", "FALSE"})
_FIX = {
    "bool": "send true/false",
    "float": "send numbers",
    "int": "send whole numbers",
    "string": "send text",
    "str": "send text",
    "binary": 'send text or {"b64": "<base64>"}',
    "datetime": "send ISO 8601 strings such as '2024-05-01T12:00:00'",
}


# ---------------------------------------------------------------------------
# Errors


class ProtocolError(InvalidArgument):
    """A request the server cannot read as its protocol (HTTP 400).

    ``details`` holds ``input`` (the input, column or tensor it is about, or
    None), ``expected`` and ``got``. Subclasses carry the other statuses:
    :class:`InputMismatch` (422), :class:`TooManyRows` (413) and
    :class:`UnsupportedMediaType` (415).
    """

    error_code = "INVALID_ARGUMENT"
    http_status = 400

    def __init__(
        self,
        message: str,
        *,
        name: str | None = None,
        expected: str | None = None,
        got: str | None = None,
    ) -> None:
        super().__init__(message, input=name, expected=expected, got=got)


class InputMismatch(ProtocolError, SchemaError):
    """A readable request that does not fit the model's signature (HTTP 422)."""

    error_code = "SCHEMA_MISMATCH"
    http_status = 422


class TooManyRows(ProtocolError, TooLarge):
    """A request with more rows than the server takes in one call (HTTP 413)."""

    error_code = "TOO_LARGE"
    http_status = 413


class UnsupportedMediaType(ProtocolError):
    """A body in a content type or charset the endpoint does not read (HTTP 415)."""

    error_code = "UNSUPPORTED_MEDIA_TYPE"
    http_status = 415


# ---------------------------------------------------------------------------
# The decoded request


@dataclass(frozen=True, slots=True, eq=False)
class ModelInput:
    """One decoded request: the model's input plus what the request asked for.

    Exactly one of ``columns`` and ``tensor`` is set. ``columns`` maps each
    signature column, in signature order, to a 1-D array of ``n_rows``
    values (see the module docstring for how each dtype is held); without a
    signature it holds the columns as they came. ``tensor`` is one array
    whose first dimension is ``n_rows``.
    """

    columns: dict[str, np.ndarray] | None = None
    tensor: np.ndarray | None = None
    n_rows: int = 0
    id: str | None = None
    """The V2 request id, echoed in the response."""
    parameters: dict[str, Any] = field(default_factory=dict)
    """V2 ``parameters`` or MLflow ``params``."""
    outputs: tuple[str, ...] | None = None
    """The V2 outputs asked for by name, or None for all."""
    dropped: tuple[str, ...] = ()
    """Input names not in the signature, dropped (``extra_columns="drop"``)."""

    @property
    def is_tensor(self) -> bool:
        """True when the input is one tensor rather than named columns."""
        return self.tensor is not None


# ---------------------------------------------------------------------------
# Decoding: the three request forms


def decode_v2(
    body: bytes | bytearray | memoryview | str | Mapping[str, Any],
    signature: Signature | None,
    *,
    max_rows: int | None = None,
    extra_columns: ExtraColumns = "drop",
) -> ModelInput:
    """Decode an Open Inference Protocol v2 (KServe V2) request body.

    ``body`` is the raw JSON (or the already parsed object). Each input's
    ``data`` may be flat (row-major) or nested; its element count must match
    ``shape`` and its values the ``datatype``.

    Column signature: one input per column, of shape ``[n]`` or ``[n, 1]``
    and named as the column; or a single input holding a 2-D tensor
    ``[n, k]`` for a ``k``-column signature (read in signature order) when
    its name is not a column's. Inputs not in the signature are dropped
    (listed in ``ModelInput.dropped``) unless ``extra_columns="error"``.
    Tensor signature: exactly one input, of any name. No signature: one
    input gives a tensor, several give columns.

    Raises ProtocolError (or a subclass) for every mistake in the request.
    """
    _check_extra(extra_columns)
    doc = _object(_parse_json(body), "an inference request object with 'inputs'")
    request_id = doc.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise ProtocolError(
            f"'id' must be a string, got {_kind(request_id)}",
            name="id",
            expected="string",
            got=_kind(request_id),
        )
    parameters = _parameters(doc.get("parameters"), "parameters")
    outputs = _requested_outputs(doc.get("outputs"))
    raw_inputs = doc.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        got = "nothing" if raw_inputs is None else _kind(raw_inputs)
        raise ProtocolError(
            "'inputs' must be a non-empty list of {name, shape, datatype, data} objects, "
            f"got {got}",
            name="inputs",
            expected="list of input tensors",
            got=got,
        )
    inputs = [_v2_input(position, item) for position, item in enumerate(raw_inputs)]
    seen: set[str] = set()
    for tensor in inputs:
        if tensor.name in seen:
            raise ProtocolError(
                f"input {tensor.name!r} appears twice; send each input once",
                name=tensor.name,
                expected="distinct input names",
                got=f"{tensor.name!r} twice",
            )
        seen.add(tensor.name)
    common = {"id": request_id, "parameters": parameters, "outputs": outputs}

    spec = None if signature is None else signature.inputs
    if isinstance(spec, TensorSpec) or (spec is None and len(inputs) == 1):
        if len(inputs) != 1:
            expected = f"one input tensor{f' {spec.name!r}' if spec and spec.name else ''}"
            got = ", ".join(repr(t.name) for t in inputs)
            raise InputMismatch(
                f"the model takes {expected}, got {len(inputs)} inputs ({got}); send one input",
                name=None,
                expected=expected,
                got=f"{len(inputs)} inputs",
            )
        tensor = inputs[0]
        label = f"input {tensor.name!r}"
        if not tensor.shape:
            raise InputMismatch(
                f"{label}: expected a batch of at least one dimension, got shape []",
                name=tensor.name,
                expected="shape [n, ...]",
                got="[]",
            )
        _check_rows(tensor.shape[0], max_rows, label)
        if spec is not None:
            _check_tensor_shape(tensor.shape, spec, label)
        where = _Where(tensor.name, label, "position")
        types = _check_declared(tensor.values, tensor.datatype, where)
        if spec is None:
            target, nullable = V2_DATATYPES[tensor.datatype], False
        else:
            target, nullable = spec.dtype, spec.dtype in _NULLABLE_TENSORS
        array = _cast(tensor.values, target, nullable=nullable, where=where, types=types)
        return ModelInput(tensor=array.reshape(tensor.shape), n_rows=tensor.shape[0], **common)

    columns_spec = spec
    if (
        columns_spec is not None
        and len(inputs) == 1
        and len(inputs[0].shape) == 2
        and inputs[0].shape[1] == len(columns_spec)
        and inputs[0].name not in {column.name for column in columns_spec}
    ):
        # One [n, k] tensor for a k-column signature, as tritonclient users send it.
        tensor = inputs[0]
        n = tensor.shape[0]
        _check_rows(n, max_rows, f"input {tensor.name!r}")
        where = _Where(tensor.name, f"input {tensor.name!r}", "position")
        types = _check_declared(tensor.values, tensor.datatype, where)
        columns = _split_matrix(tensor, columns_spec, types)
        return ModelInput(columns=columns, n_rows=n, **common)

    known = None if columns_spec is None else {column.name for column in columns_spec}
    for tensor in inputs:
        if known is not None and tensor.name not in known:
            continue  # dropped or refused by name below, whatever its shape
        if len(tensor.shape) not in (1, 2) or (len(tensor.shape) == 2 and tensor.shape[1] != 1):
            hint = (
                f"; or send a single input of shape [n, {len(columns_spec)}] named other than "
                "a column, for all columns in signature order"
                if columns_spec is not None
                else ""
            )
            raise InputMismatch(
                f"input {tensor.name!r}: a column takes shape [n] or [n, 1], "
                f"got {list(tensor.shape)}{hint}",
                name=tensor.name,
                expected="[n] or [n, 1]",
                got=str(list(tensor.shape)),
            )
    named = {tensor.name: tensor.values for tensor in inputs}
    declared = {tensor.name: tensor.datatype for tensor in inputs}
    columns, n, dropped = _assemble(
        named,
        columns_spec,
        extra_columns=extra_columns,
        max_rows=max_rows,
        noun="input",
        declared=declared,
    )
    return ModelInput(columns=columns, n_rows=n, dropped=dropped, **common)


def decode_v1(
    body: bytes | bytearray | memoryview | str | Mapping[str, Any],
    signature: Signature | None,
    *,
    max_rows: int | None = None,
    extra_columns: ExtraColumns = "drop",
) -> ModelInput:
    """Decode a KServe V1 request body: ``{"instances": [...]}`` or ``{"inputs": ...}``.

    For a column signature each instance is a list of values in signature
    order, an object keyed by column name, or (one-column signature) a bare
    value; ``inputs`` may also be an object of column lists. For a tensor
    signature the instances are the rows of the tensor.

    Raises ProtocolError (or a subclass) for every mistake in the request.
    """
    _check_extra(extra_columns)
    doc = _object(_parse_json(body), "an object with 'instances' or 'inputs'")
    keys = [key for key in ("instances", "inputs") if key in doc]
    if len(keys) != 1:
        got = ", ".join(repr(key) for key in doc) or "no keys"
        raise ProtocolError(
            f"a V1 request has exactly one of 'instances' or 'inputs', got {got}",
            name=None,
            expected="'instances' or 'inputs'",
            got=got,
        )
    return _decode_data(doc[keys[0]], keys[0], signature, max_rows, extra_columns, {})


def decode_invocations(
    body: bytes | bytearray | memoryview | str | Mapping[str, Any],
    signature: Signature | None,
    *,
    content_type: str | None = "application/json",
    max_rows: int | None = None,
    extra_columns: ExtraColumns = "drop",
) -> ModelInput:
    """Decode an MLflow-compatible ``/invocations`` body.

    ``application/json``: an object with exactly one of ``dataframe_split``
    (``{"columns", "data", "index"}``), ``dataframe_records`` (a list of
    objects), ``instances`` or ``inputs`` (an object of column lists, or a
    nested list), and optional ``params`` (kept as ``parameters``).
    ``text/csv``: a header row, then one row per record; empty fields are
    null. Any other content type or a charset other than UTF-8 raises
    UnsupportedMediaType (415). Plain strings in a ``binary`` column are
    base64, as MLflow reads them.

    Raises ProtocolError (or a subclass) for every mistake in the request.
    """
    _check_extra(extra_columns)
    mime = _media_type(content_type)
    if mime == "text/csv":
        header, rows = _parse_csv(body)
        return _decode_csv(header, rows, signature, max_rows, extra_columns)
    doc = _object(_parse_json(body), f"an object with one of {_quoted(_FORMS)}")
    forms = [key for key in _FORMS if key in doc]
    if len(forms) != 1:
        got = ", ".join(repr(key) for key in doc) or "no keys"
        raise ProtocolError(
            f"the body must be a JSON object with exactly one of {_quoted(_FORMS)} "
            f"(and optional 'params'), got {got}",
            name=None,
            expected=f"one of {_quoted(_FORMS)}",
            got=got,
        )
    parameters = _parameters(doc.get("params"), "params")
    form = forms[0]
    data = doc[form]
    if form == "dataframe_split":
        return _decode_split(data, signature, max_rows, extra_columns, parameters)
    if form == "dataframe_records":
        if not isinstance(data, list):
            raise ProtocolError(
                f"'dataframe_records' must be a list of objects, got {_kind(data)}",
                name="dataframe_records",
                expected="list of objects",
                got=_kind(data),
            )
        if data and not all(type(record) is dict for record in data):
            raise ProtocolError(
                "'dataframe_records' must be a list of objects (one per row, keyed by column name)",
                name="dataframe_records",
                expected="list of objects",
                got="other values in the list",
            )
    return _decode_data(
        data, form, signature, max_rows, extra_columns, parameters, strings="base64"
    )


# ---------------------------------------------------------------------------
# Turning a ModelInput into what the model takes


def as_model_input(
    model_input: ModelInput, signature: Signature | None = None, *, arrays: bool = True
) -> np.ndarray | pd.DataFrame:
    """What a flavor's ``predict`` takes for ``model_input``.

    A tensor is returned as is. Columns become one 2-D numpy array (columns
    in order, numpy's common dtype) when ``arrays`` is True and every column
    is numeric or boolean: no pandas on that path. Otherwise they become the
    DataFrame :func:`~dockyard.models.signature.to_input` would make (nullable
    ints and bools as ``Int64``/``Int32``/``boolean``, strings as pandas'
    string dtype), for models fitted on named columns.
    """
    if model_input.tensor is not None:
        return model_input.tensor
    columns = model_input.columns or {}
    if arrays and columns and all(array.dtype.kind in "biuf" for array in columns.values()):
        values = list(columns.values())
        if len(values) == 1:
            return values[0].reshape(-1, 1)
        return np.column_stack(values)
    import pandas as pd

    specs = (
        {column.name: column for column in signature.inputs}
        if signature is not None and isinstance(signature.inputs, list)
        else {}
    )
    data: dict[str, Any] = {}
    for name, array in columns.items():
        column = specs.get(name)
        if column is None:
            data[name] = array
        elif column.nullable and column.dtype in ("int32", "int64"):
            data[name] = pd.array(array, dtype=column.dtype.capitalize())
        elif column.nullable and column.dtype == "bool":
            data[name] = pd.array(array, dtype="boolean")
        elif column.dtype == "string":
            data[name] = pd.Series(array, dtype=_STRING_DTYPE)
        else:
            data[name] = array
    return pd.DataFrame(data, index=pd.RangeIndex(model_input.n_rows))


def accepts_arrays(model: LoadedModel) -> bool:
    """Whether ``model`` gives the same predictions for a 2-D array as for a DataFrame.

    True for ONNX and PyTorch models, and for scikit-learn and XGBoost models
    fitted on arrays (no feature names); False for models fitted on named
    columns, LightGBM and Python models (whose contract is a DataFrame), and
    for every model with a feature pipeline (its steps take the DataFrame of
    the signature's columns).
    """
    if getattr(model, "features", None) is not None:
        return False
    flavor = model.flavor.name
    raw = model.raw
    if flavor in ("onnx", "pytorch"):
        return True
    if flavor == "sklearn":
        return getattr(raw, "feature_names_in_", None) is None
    if flavor == "xgboost":
        booster = raw.get_booster() if hasattr(raw, "get_booster") else raw
        return getattr(booster, "feature_names", None) is None
    return False


def predict(model: LoadedModel, model_input: ModelInput, *, proba: bool = False) -> Any:
    """The predictions (or class probabilities) of ``model`` for a decoded request.

    ``model_input`` was checked against the signature when it was decoded, so
    it goes to the flavor directly, as an array when :func:`accepts_arrays`
    (no pandas on that path) and as a DataFrame otherwise.
    """
    data = as_model_input(model_input, model.signature, arrays=accepts_arrays(model))
    return model.predict_prepared(data, proba=proba)


# ---------------------------------------------------------------------------
# Encoding


def encode_v2_response(
    predictions: Any,
    *,
    model_name: str,
    model_version: str | None = None,
    request: ModelInput | None = None,
    parameters: Mapping[str, Any] | None = None,
    signature: Signature | None = None,
) -> bytes:
    """The V2 inference response for ``predictions``, as JSON bytes.

    ``predictions`` is a numpy array (1-D or 2-D), a dict of arrays, a list,
    or a pandas DataFrame or Series. Output names come from the signature's
    outputs when present (a 2-D array whose width equals the number of
    output columns is split into one output per column), from the dict keys
    or DataFrame columns, and otherwise ``predict`` (one output) or
    ``output-0``, ``output-1``... (several). ``request`` supplies the id to
    echo and the outputs asked for; asking for an output the model does not
    give raises ProtocolError. NaN is written as null.
    """
    outputs = _named_outputs(predictions, signature)
    wanted = request.outputs if request is not None else None
    if wanted is not None:
        by_name = dict(outputs)
        unknown = [name for name in wanted if name not in by_name]
        if unknown:
            raise ProtocolError(
                f"output {unknown[0]!r} does not exist; the model gives {_quoted(list(by_name))}",
                name=unknown[0],
                expected=_quoted(list(by_name)),
                got=repr(unknown[0]),
            )
        outputs = [(name, by_name[name]) for name in wanted]
    body: dict[str, Any] = {"model_name": model_name}
    if model_version is not None:
        body["model_version"] = str(model_version)
    if request is not None and request.id is not None:
        body["id"] = request.id
    if parameters:
        body["parameters"] = dict(parameters)
    body["outputs"] = [_v2_output(name, array) for name, array in outputs]
    return _dumps(body)


def encode_v1_response(predictions: Any) -> bytes:
    """The KServe V1 response ``{"predictions": [...]}``: one entry per instance.

    Arrays become (nested) lists, a DataFrame or a dict of arrays becomes one
    object per row. NaN is written as null.
    """
    return _dumps({"predictions": _jsonable(predictions, records=True)})


def encode_invocations_response(predictions: Any) -> bytes:
    """The ``/invocations`` response ``{"predictions": ...}``, as MLflow writes it.

    Arrays and Series become lists, a DataFrame becomes a list of records
    and a dict stays a dict (of lists). NaN is written as null.
    """
    return _dumps({"predictions": _jsonable(predictions, records=False)})


def encode_features_response(features: pd.DataFrame) -> bytes:
    """The features of a V1 ``:transform`` request: ``{"columns": [...], "data": [[...], ...]}``.

    One list per input row, values in column order (the ``dataframe_split``
    form, which ``/invocations`` also takes). NaN is written as null; floats
    are written so that they read back bit for bit.
    """
    columns = [str(name) for name in features.columns]
    values = [_pandas_values(features[name]).tolist() for name in features.columns]
    rows = [list(row) for row in zip(*values)] if values else [[] for _ in range(len(features))]
    return _dumps({"columns": columns, "data": rows})


def encode_v2_error(error: BaseException | str) -> bytes:
    """The V2 error body ``{"error": "<message>"}``."""
    message = error if isinstance(error, str) else getattr(error, "message", None) or str(error)
    return orjson.dumps({"error": message})


def encode_error(error: BaseException | str) -> bytes:
    """The Dockyard error body ``{"error_code", "message", "details"}`` for V1 and ``/invocations``.

    A non-Dockyard exception (or a plain message) is reported as an internal
    error without its details.
    """
    if isinstance(error, DockyardError):
        return _dumps(error.to_dict())
    message = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    return orjson.dumps({"error_code": DockyardError.error_code, "message": message})


# ---------------------------------------------------------------------------
# Request structure


class _V2Input:
    """One V2 input after its structure was checked: values flat, in row-major order."""

    __slots__ = ("datatype", "name", "shape", "values")

    def __init__(self, name: str, shape: tuple[int, ...], datatype: str, values: list[Any]) -> None:
        self.name = name
        self.shape = shape
        self.datatype = datatype
        self.values = values


def _parse_json(body: Any) -> Any:
    if isinstance(body, (bytes, bytearray, memoryview, str)):
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise ProtocolError(
                f"the body is not valid JSON ({exc}); send a JSON object",
                name=None,
                expected="JSON",
                got="malformed JSON",
            ) from None
    return body


def _object(doc: Any, expected: str) -> dict[str, Any]:
    if not isinstance(doc, Mapping):
        raise ProtocolError(
            f"expected {expected}, got {_kind(doc)}", name=None, expected=expected, got=_kind(doc)
        )
    return dict(doc)


def _parameters(value: Any, key: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ProtocolError(
            f"{key!r} must be an object, got {_kind(value)}",
            name=key,
            expected="object",
            got=_kind(value),
        )
    return dict(value)


def _requested_outputs(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(
        isinstance(item, Mapping) and isinstance(item.get("name"), str) for item in value
    ):
        raise ProtocolError(
            "'outputs' must be a list of objects with a string 'name', e.g. "
            '[{"name": "predict"}]',
            name="outputs",
            expected="list of {name}",
            got=_kind(value),
        )
    return tuple(item["name"] for item in value) or None


def _v2_input(position: int, item: Any) -> _V2Input:
    if type(item) is not dict and not isinstance(item, Mapping):
        raise ProtocolError(
            f"inputs[{position}] must be an object with name, shape, datatype and data, got "
            f"{_kind(item)}",
            name=None,
            expected="object",
            got=_kind(item),
        )
    name = item.get("name")
    if type(name) is not str or not name:
        got = "nothing" if name is None else _kind(name)
        raise ProtocolError(
            f"inputs[{position}] needs a non-empty string 'name', got {got}",
            name=None,
            expected="string name",
            got=got,
        )
    shape = item.get("shape")
    if type(shape) is not list or not set(map(type, shape)) <= _INT or (shape and min(shape) < 0):
        got = "nothing" if shape is None else _show(shape)
        raise ProtocolError(
            f"input {name!r}: 'shape' must be a list of non-negative integers such as [2, 3], got {got}",
            name=name,
            expected="list of non-negative integers",
            got=got,
        )
    datatype = item.get("datatype")
    if type(datatype) is not str or datatype not in V2_DATATYPES:
        got = "nothing" if datatype is None else _show(datatype)
        close = None
        if isinstance(datatype, str):
            upper = datatype.upper()
            close = upper if upper in V2_DATATYPES else _V2_ALIASES.get(upper)
        hint = f" (did you mean {close!r}?)" if close else ""
        raise ProtocolError(
            f"input {name!r}: unknown datatype {got}{hint}; expected one of {', '.join(V2_DATATYPES)}",
            name=name,
            expected=", ".join(V2_DATATYPES),
            got=got,
        )
    parameters = item.get("parameters")
    if parameters is not None and not isinstance(parameters, Mapping):
        raise ProtocolError(
            f"input {name!r}: 'parameters' must be an object, got {_kind(parameters)}",
            name=name,
            expected="object",
            got=_kind(parameters),
        )
    if parameters and "binary_data_size" in parameters:
        raise ProtocolError(
            f"input {name!r}: the binary tensor data extension is not supported; send the values as "
            "JSON in 'data'",
            name=name,
            expected="JSON data",
            got="binary_data_size",
        )
    data = item.get("data")
    if not isinstance(data, list):
        got = "nothing" if data is None else _kind(data)
        raise ProtocolError(
            f"input {name!r}: 'data' must be a list of values (flat in row-major order, or nested), "
            f"got {got}",
            name=name,
            expected="list",
            got=got,
        )
    flat = _flatten(data)
    if flat is None:
        raise ProtocolError(
            f"input {name!r}: 'data' is not rectangular (nested lists of different lengths, or lists "
            f"mixed with values); send a flat list in row-major order or nested lists that "
            f"match shape {shape}",
            name=name,
            expected=f"shape {shape}",
            got="ragged data",
        )
    values, _ = flat
    size = math.prod(shape)
    if len(values) != size:
        raise ProtocolError(
            f"input {name!r}: shape {shape} holds {size} values, 'data' has {len(values)}; send "
            "a shape that matches the data",
            name=name,
            expected=f"{size} values",
            got=f"{len(values)} values",
        )
    return _V2Input(name, tuple(shape), datatype, values)


def _split_matrix(
    tensor: _V2Input, spec: list[ColumnSpec], types: set[type]
) -> dict[str, np.ndarray]:
    """The columns of one ``[n, k]`` input, cast once when every column has the same dtype."""
    n, width = tensor.shape
    dtypes = {(column.dtype, column.nullable) for column in spec}
    if len(dtypes) == 1:
        dtype, nullable = dtypes.pop()
        if dtype in _INTS or dtype in _FLOATS or dtype == "bool":
            try:
                where = _Where(tensor.name, f"input {tensor.name!r}", "position")
                matrix = _cast(tensor.values, dtype, nullable=nullable, where=where, types=types)
            except InputMismatch:
                pass  # cast column by column below, to name the column in the message
            else:
                matrix = matrix.reshape(n, width)
                return {column.name: matrix[:, j] for j, column in enumerate(spec)}
    return {
        column.name: _cast(
            tensor.values[j::width],
            column.dtype,
            nullable=column.nullable,
            where=_Where(
                column.name, f"input {tensor.name!r}, column {j} ({column.name!r})", "row"
            ),
        )
        for j, column in enumerate(spec)
    }


def _flatten(data: list[Any]) -> tuple[list[Any], tuple[int, ...]] | None:
    """Nested lists as one flat row-major list and their shape; None when not rectangular."""
    shape = [len(data)]
    level = data
    while level and type(level[0]) is list:
        if set(map(type, level)) != {list}:
            return None
        lengths = set(map(len, level))
        if len(lengths) != 1:
            return None
        shape.append(lengths.pop())
        level = list(chain.from_iterable(level))
    return level, tuple(shape)


def _media_type(content_type: str | None) -> str:
    parts = [part.strip() for part in (content_type or "application/json").split(";")]
    mime = parts[0].lower()
    options = {}
    for part in parts[1:]:
        key, _, value = part.partition("=")
        options[key.strip().lower()] = value.strip().strip('"').lower()
    charset = options.pop("charset", "utf-8")
    if charset not in ("utf-8", "utf8"):
        raise UnsupportedMediaType(
            f"the body must be UTF-8, got charset {charset!r}",
            name=None,
            expected="utf-8",
            got=charset,
        )
    if options:
        raise UnsupportedMediaType(
            f"unrecognized content type parameters: {', '.join(options)}; send "
            "'application/json' with a 'dataframe_split', 'dataframe_records', 'instances' or "
            "'inputs' key, or 'text/csv'",
            name=None,
            expected="application/json or text/csv",
            got=content_type,
        )
    if mime not in ("application/json", "text/csv"):
        raise UnsupportedMediaType(
            f"content type {mime!r} is not supported; send 'application/json' or 'text/csv'",
            name=None,
            expected="application/json or text/csv",
            got=mime,
        )
    return mime


def _parse_csv(body: Any) -> tuple[list[str], list[list[str]]]:
    if isinstance(body, (bytes, bytearray, memoryview)):
        try:
            text = bytes(body).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProtocolError(
                f"the CSV body is not UTF-8 ({exc.reason} at byte {exc.start})",
                name=None,
                expected="UTF-8 text",
                got="other bytes",
            ) from None
    elif isinstance(body, str):
        text = body
    else:
        raise ProtocolError(
            f"a CSV body is text, got {type(body).__name__}",
            name=None,
            expected="text",
            got=type(body).__name__,
        )
    try:
        rows = [row for row in csv.reader(io.StringIO(text.removeprefix("\ufeff"))) if row]
    except csv.Error as exc:
        raise ProtocolError(
            f"the body is not valid CSV ({exc})", name=None, expected="CSV", got="malformed CSV"
        ) from None
    if not rows:
        raise ProtocolError(
            "the CSV body is empty; send a header row with the column names, then the rows",
            name=None,
            expected="a header row",
            got="nothing",
        )
    header = rows[0]
    for number, row in enumerate(rows[1:], start=1):
        if len(row) != len(header):
            raise ProtocolError(
                f"CSV row {number} has {len(row)} fields, the header has {len(header)}; "
                "send the same number of fields in every row",
                name=None,
                expected=f"{len(header)} fields",
                got=f"{len(row)} fields",
            )
    return header, rows[1:]


# ---------------------------------------------------------------------------
# From rows, records and column lists to columns or a tensor


def _decode_data(
    data: Any,
    key: str,
    signature: Signature | None,
    max_rows: int | None,
    extra_columns: ExtraColumns,
    parameters: dict[str, Any],
    *,
    strings: str = "utf8",
) -> ModelInput:
    """``instances``, ``inputs`` or ``dataframe_records``: rows, records or column lists."""
    spec = None if signature is None else signature.inputs
    if key == "dataframe_records" and isinstance(spec, TensorSpec):
        raise InputMismatch(
            "the model takes one tensor, not named columns; send 'inputs' or 'instances' as a "
            "nested list",
            name=spec.name,
            expected="'inputs' or 'instances'",
            got="'dataframe_records'",
        )
    if isinstance(data, Mapping):
        if key in ("instances", "dataframe_records"):
            raise ProtocolError(
                f"{key!r} must be a list (one entry per row), got an object",
                name=key,
                expected="list",
                got="object",
            )
        named = dict(data)
        if isinstance(spec, TensorSpec):
            if len(named) != 1 or (spec.name is not None and spec.name not in named):
                expected = repr(spec.name) if spec.name else "one tensor"
                raise InputMismatch(
                    f"the model takes one tensor{f' {spec.name!r}' if spec.name else ''}; "
                    f"{key!r} holds {_quoted(list(named))}",
                    name=spec.name,
                    expected=expected,
                    got=_quoted(list(named)),
                )
            value = next(iter(named.values()))
            return _tensor_input(value, spec, f"{key}[{next(iter(named))!r}]", max_rows, parameters)
        return _named_columns(named, spec, key, max_rows, extra_columns, parameters, strings)
    if not isinstance(data, list):
        raise ProtocolError(
            f"{key!r} must be a list{' or an object of columns' if key == 'inputs' else ''}, "
            f"got {_kind(data)}",
            name=key,
            expected="list",
            got=_kind(data),
        )
    if isinstance(spec, TensorSpec) or (spec is None and not (data and type(data[0]) is dict)):
        return _tensor_input(data, spec, repr(key), max_rows, parameters)
    _check_rows(len(data), max_rows, repr(key))
    kinds = set(map(type, data))
    if kinds == {dict}:
        return _records(data, spec, key, max_rows, extra_columns, parameters, strings)
    if kinds == {list}:
        return _rows(data, None, spec, key, max_rows, extra_columns, parameters, strings)
    if not kinds & {list, dict} and spec is not None and len(spec) == 1:
        # A one-column signature: each instance is the value itself.
        columns, n, dropped = _assemble(
            {spec[0].name: data},
            spec,
            extra_columns=extra_columns,
            max_rows=max_rows,
            strings=strings,
        )
        return ModelInput(columns=columns, n_rows=n, dropped=dropped, parameters=parameters)
    rows = "" if spec is None else f"rows as lists of {len(spec)} values in signature order, or "
    raise ProtocolError(
        f"{key!r} must hold {rows}objects keyed by column name, all of one kind; got "
        f"{_type_names(kinds)}",
        name=key,
        expected="rows as lists or objects",
        got=_type_names(kinds),
    )


def _decode_split(
    data: Any,
    signature: Signature | None,
    max_rows: int | None,
    extra_columns: ExtraColumns,
    parameters: dict[str, Any],
) -> ModelInput:
    if not isinstance(data, Mapping):
        raise ProtocolError(
            f"'dataframe_split' must be an object with 'columns' and 'data', got {_kind(data)}",
            name="dataframe_split",
            expected="object",
            got=_kind(data),
        )
    unknown = [key for key in data if key not in ("columns", "data", "index")]
    if unknown:
        raise ProtocolError(
            f"'dataframe_split' takes 'columns', 'data' and 'index', got {_quoted(unknown)}",
            name="dataframe_split",
            expected="'columns', 'data', 'index'",
            got=_quoted(unknown),
        )
    rows = data.get("data")
    if not isinstance(rows, list) or not all(type(row) is list for row in rows):
        got = (
            "nothing"
            if rows is None
            else "a list holding other values than lists"
            if isinstance(rows, list)
            else _kind(rows)
        )
        raise ProtocolError(
            f"'dataframe_split' needs 'data' as a list of rows, each a list of values; got {got}",
            name="dataframe_split.data",
            expected="list of lists",
            got=got,
        )
    names = data.get("columns")
    if names is not None:
        if not isinstance(names, list) or not all(
            isinstance(name, (str, int, float)) and not isinstance(name, bool) for name in names
        ):
            raise ProtocolError(
                "'dataframe_split' needs 'columns' as a list of column names",
                name="dataframe_split.columns",
                expected="list of names",
                got=_kind(names),
            )
        names = [str(name) for name in names]
    index = data.get("index")
    if index is not None and (not isinstance(index, list) or len(index) != len(rows)):
        raise ProtocolError(
            f"'dataframe_split' 'index' must be a list of {len(rows)} labels, one per row",
            name="dataframe_split.index",
            expected=f"{len(rows)} labels",
            got=_kind(index) if not isinstance(index, list) else f"{len(index)} labels",
        )
    spec = None if signature is None else signature.inputs
    if isinstance(spec, TensorSpec):
        return _tensor_input(rows, spec, "'dataframe_split'", max_rows, parameters)
    return _rows(
        rows, names, spec, "dataframe_split", max_rows, extra_columns, parameters, "base64"
    )


def _decode_csv(
    header: list[str],
    rows: list[list[str]],
    signature: Signature | None,
    max_rows: int | None,
    extra_columns: ExtraColumns,
) -> ModelInput:
    _check_rows(len(rows), max_rows, "the CSV body")
    spec = None if signature is None else signature.inputs
    if isinstance(spec, TensorSpec):
        cells = [[_csv_value(cell, spec.dtype) for cell in row] for row in rows]
        return _tensor_input(cells, spec, "the CSV body", max_rows, {})
    if len(set(header)) != len(header):
        repeated = sorted({name for name in header if header.count(name) > 1})
        raise ProtocolError(
            f"CSV column names repeat: {_quoted(repeated)}; give each column a distinct name",
            name=repeated[0],
            expected="distinct column names",
            got=_quoted(repeated),
        )
    dtypes = {column.name: column.dtype for column in spec} if spec is not None else {}
    named = {}
    for j, name in enumerate(header):
        cells = [row[j] for row in rows]
        dtype = dtypes.get(name)
        if dtype is None and spec is not None:
            named[name] = cells  # not in the signature: dropped or refused by _assemble
        elif dtype is None:
            named[name] = _csv_inferred(cells)
        else:
            named[name] = [_csv_value(cell, dtype) for cell in cells]
    columns, n, dropped = _assemble(
        named, spec, extra_columns=extra_columns, max_rows=max_rows, strings="base64"
    )
    return ModelInput(columns=columns, n_rows=n, dropped=dropped)


def _csv_value(cell: str, dtype: str) -> Any:
    if cell == "":
        return None
    if dtype in _INTS or dtype in _FLOATS or dtype in ("int32", "int64", "float32", "float64"):
        return _csv_number(cell)
    if dtype == "bool":
        if cell in _CSV_TRUE:
            return True
        if cell in _CSV_FALSE:
            return False
        return cell
    if dtype == "object":
        return _csv_number(cell)
    return cell


def _csv_number(cell: str) -> Any:
    try:
        return int(cell)
    except ValueError:
        pass
    try:
        return float(cell)
    except ValueError:
        return cell


def _csv_inferred(cells: list[str]) -> list[Any]:
    values = [None if cell == "" else _csv_number(cell) for cell in cells]
    if str in set(map(type, values)):
        return [None if cell == "" else cell for cell in cells]
    return values


def _records(
    records: list[dict[str, Any]],
    spec: list[ColumnSpec] | None,
    key: str,
    max_rows: int | None,
    extra_columns: ExtraColumns,
    parameters: dict[str, Any],
    strings: str,
) -> ModelInput:
    names = list(dict.fromkeys(chain.from_iterable(records)))
    named: dict[str, list[Any]] = {}
    wanted = names if spec is None else [c.name for c in spec if c.name in names]
    for name in wanted:
        try:
            named[name] = [record[name] for record in records]
        except KeyError:
            row = next(i for i, record in enumerate(records) if name not in record)
            raise InputMismatch(
                f"{key!r}: record {row} lacks {name!r}; send every column in every record "
                "(null for a missing value)",
                name=name,
                expected=f"{name!r} in every record",
                got=f"missing in record {row}",
            ) from None
    for name in names:
        named.setdefault(name, [])  # names outside the signature: only their names matter
    columns, n, dropped = _assemble(
        named,
        spec,
        extra_columns=extra_columns,
        max_rows=max_rows,
        strings=strings,
        n_rows=len(records),
    )
    return ModelInput(columns=columns, n_rows=n, dropped=dropped, parameters=parameters)


def _rows(
    rows: list[list[Any]],
    names: list[str] | None,
    spec: list[ColumnSpec] | None,
    key: str,
    max_rows: int | None,
    extra_columns: ExtraColumns,
    parameters: dict[str, Any],
    strings: str,
) -> ModelInput:
    _check_rows(len(rows), max_rows, repr(key))
    if names is None:
        if spec is None:
            names = [str(j) for j in range(len(rows[0]) if rows else 0)]
        else:
            names = [column.name for column in spec]
        positional = True
    else:
        positional = False
    widths = set(map(len, rows))
    if widths and widths != {len(names)}:
        row = next(i for i, values in enumerate(rows) if len(values) != len(names))
        listed = f" ({_quoted(names)}{' in that order' if positional else ''})"
        raise InputMismatch(
            f"{key!r}: row {row} has {len(rows[row])} values, expected {len(names)}{listed}",
            name=None,
            expected=f"{len(names)} values per row",
            got=f"{len(rows[row])} values",
        )
    if len(set(names)) != len(names):
        repeated = sorted({name for name in names if names.count(name) > 1})
        raise ProtocolError(
            f"{key!r}: column names repeat: {_quoted(repeated)}; give each column a distinct name",
            name=repeated[0],
            expected="distinct column names",
            got=_quoted(repeated),
        )
    transposed = list(zip(*rows)) if rows else [() for _ in names]
    named = dict(zip(names, transposed))
    columns, n, dropped = _assemble(
        named,
        spec,
        extra_columns=extra_columns,
        max_rows=max_rows,
        strings=strings,
        n_rows=len(rows),
    )
    return ModelInput(columns=columns, n_rows=n, dropped=dropped, parameters=parameters)


def _named_columns(
    named: dict[str, Any],
    spec: list[ColumnSpec] | None,
    key: str,
    max_rows: int | None,
    extra_columns: ExtraColumns,
    parameters: dict[str, Any],
    strings: str,
) -> ModelInput:
    scalars = [type(value) is not list for value in named.values()]
    if named and all(scalars):
        named = {name: [value] for name, value in named.items()}  # a single row
    elif any(scalars):
        name = next(n for n, scalar in zip(named, scalars) if scalar)
        raise ProtocolError(
            f"{key!r}: column {name!r} must be a list of values like the other columns, "
            f"got {_kind(named[name])}",
            name=name,
            expected="list",
            got=_kind(named[name]),
        )
    columns, n, dropped = _assemble(
        named, spec, extra_columns=extra_columns, max_rows=max_rows, strings=strings
    )
    return ModelInput(columns=columns, n_rows=n, dropped=dropped, parameters=parameters)


def _assemble(
    named: Mapping[str, Sequence[Any]],
    spec: list[ColumnSpec] | None,
    *,
    extra_columns: ExtraColumns,
    max_rows: int | None,
    noun: str = "column",
    declared: Mapping[str, str] | None = None,
    strings: str = "utf8",
    n_rows: int | None = None,
) -> tuple[dict[str, np.ndarray], int, tuple[str, ...]]:
    """Columns checked against the signature: names, lengths, row limits, then values."""
    present = list(named)
    if not present:
        raise InputMismatch(
            "the request holds no columns"
            + (f"; the model takes {_quoted([c.name for c in spec])}" if spec else ""),
            name=None,
            expected="at least one column",
            got="none",
        )
    if spec is not None:
        wanted = [column.name for column in spec]
        missing = [column for column in spec if column.name not in named]
        if missing:
            column = missing[0]
            unknown = [name for name in present if name not in wanted]
            close = difflib.get_close_matches(column.name, unknown, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise InputMismatch(
                f"missing {noun} {column.name!r} ({column.dtype}){hint}: the model takes "
                f"{_quoted(wanted)}, got {_quoted(present)}",
                name=column.name,
                expected=_quoted(wanted),
                got=_quoted(present),
            )
        known = set(wanted)
        extra = tuple(name for name in present if name not in known)
        if extra and extra_columns == "error":
            raise InputMismatch(
                f"{noun} {extra[0]!r} is not in the signature; the model takes {_quoted(wanted)}",
                name=extra[0],
                expected=_quoted(wanted),
                got=_quoted(list(extra)),
            )
        order = wanted
    else:
        extra, order = (), present
    if n_rows is None:
        lengths = {name: len(named[name]) for name in order}
        if len(set(lengths.values())) > 1:
            listed = ", ".join(f"{name!r} has {length}" for name, length in lengths.items())
            raise InputMismatch(
                f"{noun}s have different lengths ({listed}); send the same number of rows in each",
                name=None,
                expected=f"{noun}s of equal length",
                got=listed,
            )
        n_rows = next(iter(lengths.values()))
    _check_rows(n_rows, max_rows, "the request")
    specs = {column.name: column for column in spec} if spec is not None else {}
    columns = {}
    for name in order:
        values = named[name]
        column = specs.get(name)
        if column is None and declared is None:
            columns[name] = _natural(values)
            continue
        where = _Where(name, f"{noun} {name!r}", "row")
        types = None if declared is None else _check_declared(values, declared[name], where)
        if column is not None:
            columns[name] = _cast(
                values,
                column.dtype,
                nullable=column.nullable,
                where=where,
                strings=strings,
                types=types,
            )
        else:
            columns[name] = _cast(
                values, V2_DATATYPES[declared[name]], nullable=True, where=where, types=types
            )
    return columns, n_rows, extra


def _tensor_input(
    data: Any,
    spec: TensorSpec | None,
    label: str,
    max_rows: int | None,
    parameters: dict[str, Any],
) -> ModelInput:
    if not isinstance(data, list):
        raise ProtocolError(
            f"{label}: a tensor is sent as a (nested) list of rows, got {_kind(data)}",
            name=None if spec is None else spec.name,
            expected="list",
            got=_kind(data),
        )
    _check_rows(len(data), max_rows, label)
    flat = _flatten(data)
    if flat is None:
        raise ProtocolError(
            f"{label}: the rows are not rectangular (lists of different lengths, or lists "
            "mixed with values); send every row with the same shape",
            name=None if spec is None else spec.name,
            expected="rectangular nested lists",
            got="ragged rows",
        )
    values, shape = flat
    what = label if spec is None or not spec.name else f"{label} (tensor {spec.name!r})"
    if spec is None:
        array = _natural(values)
    else:
        _check_tensor_shape(shape, spec, what)
        array = _cast(
            values,
            spec.dtype,
            nullable=spec.dtype in _NULLABLE_TENSORS,
            where=_Where(spec.name, what, "position"),
        )
    return ModelInput(tensor=array.reshape(shape), n_rows=shape[0], parameters=parameters)


def _check_tensor_shape(shape: tuple[int, ...], spec: TensorSpec, label: str) -> None:
    expected = list(spec.shape)
    if len(shape) == len(expected) and all(want in (-1, got) for want, got in zip(expected, shape)):
        return
    hint = (
        "; wrap a single example in a list (the first dimension is the batch)"
        if len(shape) == len(expected) - 1
        else ""
    )
    raise InputMismatch(
        f"{label}: expected shape {expected} (-1 is any size), got {list(shape)}{hint}",
        name=spec.name,
        expected=str(expected),
        got=str(list(shape)),
    )


def _check_rows(n: int, max_rows: int | None, where: str) -> None:
    if n == 0:
        raise InputMismatch(
            f"empty batch: {where} has 0 rows; send at least one row",
            name=None,
            expected="at least one row",
            got="0 rows",
        )
    if max_rows is not None and n > max_rows:
        raise TooManyRows(
            f"too many rows: {where} has {n}, this server takes at most {max_rows} per "
            "request; split the request",
            name=None,
            expected=f"at most {max_rows} rows",
            got=f"{n} rows",
        )


def _check_extra(extra_columns: str) -> None:
    if extra_columns not in _EXTRA_COLUMNS:
        raise InvalidArgument(
            f"extra_columns must be 'drop', 'ignore' or 'error', got {extra_columns!r}"
        )


# ---------------------------------------------------------------------------
# Values: from JSON lists to typed numpy arrays


def _check_declared(values: Sequence[Any], datatype: str, where: _Where) -> set[type]:
    """Refuse values that the V2 ``datatype`` the client declared cannot hold.

    Returns the set of the values' types, for :func:`_cast` to reuse.
    """
    all_types = set(map(type, values))
    types = all_types - {_NONE} if _NONE in all_types else all_types
    target = V2_DATATYPES[datatype]
    name, label, unit = where.name, where.label, where.unit
    if target == "bool":
        accepted: tuple[type, ...] = (bool,)
        fix = "send true/false"
    elif target == "string":
        accepted, fix = (str,), "send strings"
    else:
        accepted = (int, float)
        fix = "send numbers" if target in _FLOATS else "send whole numbers"
    if not types <= set(accepted):
        row, what = _offending(values, accepted, target)
        raise InputMismatch(
            f"{label}: datatype {datatype} cannot hold {what} at {unit} {row}; {fix} or declare "
            "the datatype that matches the data",
            name=name,
            expected=datatype,
            got=what,
        )
    if target in ("bool", "string", "float64") or (target == "int64" and float not in types):
        return all_types  # JSON numbers fit float64; the cast checks the int64 range
    try:
        array = np.array(values, dtype=np.float64)
    except OverflowError:
        row, got = _first_huge(values)
        raise InputMismatch(
            f"{label}: datatype {datatype} cannot hold {got} at {unit} {row}; send smaller values",
            name=name,
            expected=datatype,
            got=got,
        ) from None
    with np.errstate(invalid="ignore"):
        if target in _INTS:
            info = _IINFO[target]
            bad = ~np.isnan(array) & (
                (array != np.trunc(array)) | (array < info.min) | (array >= float(info.max) + 1)
            )
            bounds = f"whole numbers in [{info.min}, {info.max}]"
        else:
            limit = _FMAX[target]
            bad = np.isfinite(array) & (np.abs(array) > limit)
            bounds = f"numbers within ±{limit:g}"
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        got = _show(values[row])
        raise InputMismatch(
            f"{label}: datatype {datatype} cannot hold {got} at {unit} {row}; send {bounds} or "
            "declare a wider datatype",
            name=name,
            expected=datatype,
            got=got,
        )
    return all_types


def _cast(
    values: Sequence[Any],
    target: str,
    *,
    nullable: bool,
    where: _Where,
    strings: str = "utf8",
    types: set[type] | None = None,
) -> np.ndarray:
    """``values`` (from JSON) as a 1-D array of the column or tensor dtype ``target``.

    Refuses, with an InputMismatch naming the row, anything that does not cast
    safely: nulls where not nullable, fractions or out-of-range numbers for
    integers, booleans for numbers, strings for numbers and the other way round.
    """
    if types is None:
        types = set(map(type, values))
    has_null = _NONE in types
    if has_null:
        types.discard(_NONE)
        if not nullable:
            raise _null_error(where, target, list(values).index(None))
    if target == "object":
        return np.fromiter(values, dtype=object, count=len(values))
    if target in _INTS or target in _FLOATS:
        if not types <= _NUMBER:
            raise _wrong(values, where, target, (int, float))
        if target in _FLOATS:
            return _floats(values, types, target, nullable, where)
        return _ints(values, types, has_null, target, nullable, where)
    if target == "bool":
        if not types <= _BOOL:
            raise _wrong(values, where, target, (bool,))
        if has_null:
            return np.array(values, dtype=np.float64)
        return np.array(values, dtype=np.bool_)
    if target in ("string", "str"):
        if not types <= _STR:
            raise _wrong(values, where, target, (str,))
        if target == "str":
            return np.array(values, dtype=np.str_)
        return np.fromiter(values, dtype=object, count=len(values))
    if target == "binary":
        return _binary(values, where, strings)
    if target == "datetime":
        if not types <= _STR:
            raise _wrong(values, where, target, (str,))
        return _datetimes(values, where)
    raise InvalidArgument(f"unknown dtype {target!r}")  # signatures allow no other


class _Where:
    """What an error is about: the input's name, how to call it, and how rows are counted."""

    __slots__ = ("label", "name", "unit")

    def __init__(self, name: str | None, label: str, unit: str) -> None:
        self.name = name
        self.label = label
        self.unit = unit


def _floats(
    values: Sequence[Any], types: set[type], target: str, nullable: bool, where: _Where
) -> np.ndarray:
    limit = _FMAX[target]
    try:
        array = np.array(values, dtype=np.float64)
    except OverflowError:
        row, got = _first_huge(values)
        raise _range_error(where, target, got, row, f"±{limit:g}") from None
    if float in types and not nullable:
        row = _first_nan(values, array)
        if row is not None:
            raise _null_error(where, target, row)
    if target == "float64":
        return array
    with np.errstate(invalid="ignore"):
        if np.abs(array).max() > limit:  # NaN compares False; inf goes to the exact check
            outside = np.isfinite(array) & (np.abs(array) > limit)
            if outside.any():
                row = int(np.flatnonzero(outside)[0])
                raise _range_error(where, target, _show(values[row]), row, f"±{limit:g}")
    return array.astype(target)


def _first_nan(values: Sequence[Any], array: np.ndarray) -> int | None:
    """The row of the first NaN (null) in a float column without None, or None."""
    if len(values) < _SMALL:
        return next(
            (row for row, value in enumerate(values) if type(value) is float and math.isnan(value)),
            None,
        )
    nan = np.isnan(array)
    return int(np.flatnonzero(nan)[0]) if nan.any() else None


def _ints(
    values: Sequence[Any],
    types: set[type],
    has_null: bool,
    target: str,
    nullable: bool,
    where: _Where,
) -> np.ndarray:
    info = _IINFO[target]
    bounds = f"[{info.min}, {info.max}]"
    if not has_null and types <= _INT:
        try:
            array = np.array(values, dtype=np.int64)
        except OverflowError:
            try:
                array = np.array(values, dtype=np.uint64)
            except OverflowError:
                row, got = _first_huge(values)
                raise _range_error(where, target, got, row, bounds) from None
        if array.dtype == target:
            return array
        outside = (array < info.min) | (array > info.max)
        if outside.any():
            row = int(np.flatnonzero(outside)[0])
            raise _range_error(where, target, _show(values[row]), row, bounds)
        return array.astype(target)
    try:
        array = np.array(values, dtype=np.float64)
    except OverflowError:
        row, got = _first_huge(values)
        raise _range_error(where, target, got, row, bounds) from None
    null = np.isnan(array)
    if not nullable and null.any():
        raise _null_error(where, target, int(np.flatnonzero(null)[0]))
    with np.errstate(invalid="ignore"):
        fractional = ~null & (array != np.trunc(array))
        outside = ~null & ~fractional & ((array < info.min) | (array >= float(info.max) + 1))
    if fractional.any():
        row = int(np.flatnonzero(fractional)[0])
        got = _show(values[row])
        wider = " or declare the column float64" if where.unit == "row" else ""
        raise InputMismatch(
            f"{where.label}: expected {target}, got a fractional number {got} at {where.unit} "
            f"{row}; send whole numbers{wider}",
            name=where.name,
            expected=target,
            got=got,
        )
    if outside.any():
        row = int(np.flatnonzero(outside)[0])
        raise _range_error(where, target, _show(values[row]), row, bounds)
    if null.any():
        return array  # a nullable int column holding nulls: float64, NaN for null
    if float in types:
        return array.astype(target)
    return np.array(values, dtype=target)  # ints and nulls-free: exact, beyond 2**53 too


def _binary(values: Sequence[Any], where: _Where, strings: str) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    for row, value in enumerate(values):
        kind = type(value)
        if value is None or kind is bytes:
            out[row] = value
        elif kind is str and strings == "utf8":
            out[row] = value.encode("utf-8", "surrogatepass")
        elif kind is str or (kind is dict and len(value) == 1 and type(value.get("b64")) is str):
            text = value if kind is str else value["b64"]
            try:
                out[row] = base64.b64decode(text, validate=True)
            except (binascii.Error, ValueError):
                got = _show(text)
                raise InputMismatch(
                    f"{where.label}: expected base64 text for binary, got {got} at {where.unit} "
                    f"{row}; send the bytes base64-encoded",
                    name=where.name,
                    expected="base64",
                    got=got,
                ) from None
        else:
            raise _wrong(values, where, "binary", (str, bytes))
    return out


def _datetimes(values: Sequence[Any], where: _Where) -> np.ndarray:
    def refused(row: int) -> InputMismatch:
        got = _show(values[row])
        return InputMismatch(
            f"{where.label}: expected datetime, got {got} at {where.unit} {row}, which is not a "
            f"timestamp; {_FIX['datetime']}",
            name=where.name,
            expected="datetime",
            got=got,
        )

    unit = f"datetime64[{_DATETIME_UNIT}]"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numpy warns that it converts offsets to UTC
        if all(value is None or _ISO_8601.fullmatch(value) for value in values):
            try:
                return np.array(values, dtype=unit)
            except (ValueError, OverflowError):
                pass
        for row, value in enumerate(values):
            if value is None:
                continue
            if not _ISO_8601.fullmatch(value):
                raise refused(row)
            try:
                np.array([value], dtype=unit)
            except (ValueError, OverflowError):
                raise refused(row) from None
    raise refused(0)  # pragma: no cover - numpy refused the column but no single value


def _natural(values: Sequence[Any]) -> np.ndarray:
    """Values of a column without a signature, as the array numpy would infer, nulls as NaN."""
    types = set(map(type, values))
    has_null = _NONE in types
    types.discard(_NONE)
    try:
        if types <= _INT and types and not has_null:
            try:
                return np.array(values, dtype=np.int64)
            except OverflowError:
                return np.array(values, dtype=np.uint64)
        if types <= _NUMBER and types:
            return np.array(values, dtype=np.float64)
        if types == _BOOL and not has_null:
            return np.array(values, dtype=np.bool_)
    except OverflowError:
        pass
    return np.fromiter(values, dtype=object, count=len(values))


def _null_error(where: _Where, target: str, row: int) -> InputMismatch:
    why = (
        "the column is not nullable" if where.unit == "row" else f"a {target} tensor takes no nulls"
    )
    return InputMismatch(
        f"{where.label}: expected {target} without nulls, got null at {where.unit} {row}; send a "
        f"value ({why})",
        name=where.name,
        expected=f"{target} not null",
        got=f"null at {where.unit} {row}",
    )


def _range_error(where: _Where, target: str, got: str, row: int, bounds: str) -> InputMismatch:
    wider = {"int32": " or declare the column int64", "float32": " or declare the column float64"}
    hint = wider.get(target, "") if where.unit == "row" else ""
    return InputMismatch(
        f"{where.label}: expected {target}, got {got} at {where.unit} {row}, outside the "
        f"{target} range {bounds}; send smaller values{hint}",
        name=where.name,
        expected=target,
        got=got,
    )


def _wrong(
    values: Sequence[Any], where: _Where, target: str, accepted: tuple[type, ...]
) -> InputMismatch:
    row, what = _offending(values, accepted, target)
    family = "int" if target in _INTS else "float" if target in _FLOATS else target
    fix = _FIX.get(family, f"send {target} values")
    if what.startswith("numbers sent as strings"):
        fix = "send them as numbers, without quotes"
    elif what.startswith("booleans") and target != "bool":
        fix = f"{fix}, not true/false"
    return InputMismatch(
        f"{where.label}: expected {target}, got {what} at {where.unit} {row}; {fix}",
        name=where.name,
        expected=target,
        got=what,
    )


def _offending(values: Sequence[Any], accepted: tuple[type, ...], target: str) -> tuple[int, str]:
    """The first row whose value is refused, and up to three refused values described."""
    wrong = [
        (row, value)
        for row, value in enumerate(values)
        if value is not None and type(value) not in accepted
    ]
    sample = [value for _, value in wrong[:3]]
    if all(isinstance(value, str) for value in sample):
        numeric = all(_is_number_text(value) for value in sample)
        numeric_target = target in _INTS or target in _FLOATS
        what = "numbers sent as strings" if numeric and numeric_target else "strings"
    elif all(isinstance(value, bool) for value in sample):
        what = "booleans"
    elif all(isinstance(value, int) and not isinstance(value, bool) for value in sample):
        what = "integers"
    elif all(isinstance(value, (int, float)) and not isinstance(value, bool) for value in sample):
        what = "numbers"
    elif all(isinstance(value, list) for value in sample):
        what = "lists (a value must be a single value, not a list)"
    elif all(isinstance(value, dict) for value in sample):
        what = "objects"
    else:
        what = "values of mixed types"
    shown = ", ".join(_show(value) for value in sample)
    return wrong[0][0], f"{what} ({shown})"


def _is_number_text(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _first_huge(values: Sequence[Any]) -> tuple[int, str]:
    for row, value in enumerate(values):
        if type(value) is int and not -(2**63) <= value < 2**64:
            return row, _show(value)
    return 0, _show(values[0])  # pragma: no cover - only called after numpy overflowed


# ---------------------------------------------------------------------------
# Encoding helpers


def _named_outputs(predictions: Any, signature: Signature | None) -> list[tuple[str, np.ndarray]]:
    if isinstance(predictions, np.ndarray):
        return _name_one(
            predictions.reshape(1) if predictions.ndim == 0 else predictions, signature
        )
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(predictions, pd.DataFrame):
        return [(str(name), _pandas_values(predictions[name])) for name in predictions.columns]
    if isinstance(predictions, Mapping):
        return [(str(name), _output_array(value, str(name))) for name, value in predictions.items()]
    if isinstance(predictions, tuple) or (
        isinstance(predictions, list) and predictions and _ragged(predictions)
    ):
        return [
            (f"output-{i}", _output_array(value, f"output-{i}"))
            for i, value in enumerate(predictions)
        ]
    series_name = None
    if pd is not None and isinstance(predictions, pd.Series) and predictions.name is not None:
        series_name = str(predictions.name)
    return _name_one(_output_array(predictions, "predict"), signature, series_name)


def _name_one(
    array: np.ndarray, signature: Signature | None, series_name: str | None = None
) -> list[tuple[str, np.ndarray]]:
    """One output array, named (or split into named columns) by the signature's outputs."""
    outputs = None if signature is None else signature.outputs
    if isinstance(outputs, list):
        names = [column.name for column in outputs]
        if array.ndim == 2 and array.shape[1] == len(names) and len(names) > 1:
            return [(name, array[:, j]) for j, name in enumerate(names)]
        if len(names) == 1:
            return [(names[0], array)]
    if isinstance(outputs, TensorSpec) and outputs.name:
        return [(outputs.name, array)]
    return [(series_name or "predict", array)]


def _ragged(values: list[Any]) -> bool:
    """Whether a list holds arrays of different shapes (several outputs, not one)."""
    if not all(isinstance(value, (np.ndarray, list)) for value in values):
        return False
    return len({np.shape(value) for value in values}) > 1


def _output_array(value: Any, name: str) -> np.ndarray:
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(value, (pd.Series, pd.Index)):
        return _pandas_values(value)
    try:
        array = np.asarray(value)
    except ValueError:
        raise DockyardError(
            f"cannot encode the model's output {name!r}: its values are ragged (rows of "
            "different lengths)"
        ) from None
    if array.ndim == 0:
        array = array.reshape(1)
    return array


def _pandas_values(series: Any) -> np.ndarray:
    dtype = series.dtype
    numpy_dtype = getattr(dtype, "numpy_dtype", None)
    if numpy_dtype is not None and np.dtype(numpy_dtype).kind in "biuf":
        if series.isna().any():
            return series.to_numpy(dtype=np.float64, na_value=np.nan)
        return series.to_numpy(dtype=numpy_dtype)
    if str(dtype) == "category":
        series = series.astype(object)
    array = series.to_numpy()
    if array.dtype == object:
        array = np.array([None if _is_missing(v) else v for v in array], dtype=object)
    return array


def _is_missing(value: Any) -> bool:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return True
    pd = sys.modules.get("pandas")
    return pd is not None and (value is pd.NA or value is pd.NaT)


def _v2_output(name: str, array: np.ndarray) -> dict[str, Any]:
    shape = list(array.shape)
    if array.dtype == object:
        array = _unobject(array, name)
    elif not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder("="))
    datatype = _NUMPY_TO_V2.get(array.dtype)
    if datatype is not None:
        data: Any = np.ascontiguousarray(array).reshape(-1)
    elif array.dtype.kind == "M":
        datatype = "BYTES"
        data = [
            None if text == "NaT" else text for text in np.datetime_as_string(array.reshape(-1))
        ]
    elif array.dtype.kind in "USO":
        datatype = "BYTES"
        data = [_text(value) for value in array.reshape(-1).tolist()]
    else:
        raise DockyardError(
            f"cannot encode the model's output {name!r} of dtype {array.dtype} in the V2 protocol"
        )
    return {"name": name, "shape": shape, "datatype": datatype, "data": data}


def _unobject(array: np.ndarray, name: str) -> np.ndarray:
    values = array.reshape(-1).tolist()
    types = set(map(type, values))
    has_null = bool(types & {_NONE}) or any(_is_missing(v) for v in values)
    kinds = {t for t in types if t is not _NONE}
    if kinds <= _BOOL and kinds and not has_null:
        return array.astype(np.bool_)
    if kinds <= _INT and kinds and not has_null:
        try:
            return np.array(values, dtype=np.int64).reshape(array.shape)
        except OverflowError:
            pass
    if kinds <= _NUMBER | _BOOL and kinds:
        clean = [np.nan if _is_missing(v) else v for v in values]
        return np.array(clean, dtype=np.float64).reshape(array.shape)
    if all(isinstance(v, (str, bytes)) or _is_missing(v) for v in values):
        return array
    raise DockyardError(
        f"cannot encode the model's output {name!r} in the V2 protocol: it holds "
        f"{_type_names(kinds)}; use the V1 or /invocations endpoint"
    )


def _text(value: Any) -> Any:
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return base64.b64encode(value).decode("ascii")
    if _is_missing(value):
        return None
    return value if isinstance(value, str) else str(value)


def _jsonable(predictions: Any, *, records: bool) -> Any:
    if isinstance(predictions, np.ndarray):
        if predictions.dtype.kind not in "biuf":
            return predictions.tolist()
        if not predictions.dtype.isnative:
            return predictions.astype(predictions.dtype.newbyteorder("="))
        return np.ascontiguousarray(predictions)
    if isinstance(predictions, (list, tuple)) and any(
        isinstance(value, np.ndarray) for value in predictions
    ):
        return [_jsonable(value, records=False) for value in predictions]
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(predictions, pd.DataFrame):
        columns = {str(name): _pandas_values(predictions[name]) for name in predictions.columns}
        return _records_of(columns, len(predictions))
    if pd is not None and isinstance(predictions, (pd.Series, pd.Index)):
        return _pandas_values(predictions)
    if isinstance(predictions, Mapping):
        if records:
            columns = {str(k): _output_array(v, str(k)) for k, v in predictions.items()}
            lengths = {len(array) for array in columns.values()}
            if len(lengths) == 1:
                return _records_of(columns, lengths.pop())
        return {str(k): _jsonable(v, records=False) for k, v in predictions.items()}
    return predictions


def _records_of(columns: dict[str, np.ndarray], n: int) -> list[dict[str, Any]]:
    lists = {name: array.tolist() for name, array in columns.items()}
    names = list(lists)
    return [dict(zip(names, row)) for row in zip(*lists.values())] if names else [{}] * n


def _default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bytes):
        return _text(value)
    if _is_missing(value):
        return None
    if isinstance(value, (set, frozenset)):
        return list(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    try:
        return float(value)  # Decimal and other number types
    except (TypeError, ValueError):
        raise TypeError(f"{type(value).__name__} is not JSON serializable") from None


def _dumps(body: Any) -> bytes:
    try:
        return orjson.dumps(body, default=_default, option=_JSON)
    except orjson.JSONEncodeError as exc:
        raise DockyardError(f"cannot encode the model's output as JSON: {exc}") from None


# ---------------------------------------------------------------------------
# Small helpers


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return f"a number ({value!r})"
    if isinstance(value, str):
        return f"a string ({_show(value)})"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def _type_names(types: set[type]) -> str:
    names = {
        list: "lists",
        dict: "objects",
        str: "strings",
        int: "integers",
        float: "numbers",
        bool: "booleans",
        _NONE: "nulls",
    }
    return ", ".join(sorted(names.get(t, t.__name__) for t in types)) or "nothing"


def _quoted(names: Sequence[Any]) -> str:
    return ", ".join(repr(name) for name in names)


def _show(value: Any) -> str:
    text = repr(value.item() if isinstance(value, np.generic) else value)
    return text if len(text) <= 60 else text[:57] + "..."
