"""Model signatures: what a model takes and returns, inferred from examples and enforced on predict.

A signature describes the input either as named columns or as one tensor:

- Columns (``list[ColumnSpec]``) for tabular models. Column dtypes are a
  small, serialisable set (:data:`COLUMN_DTYPES`): ``bool``, ``int32``,
  ``int64``, ``float32``, ``float64``, ``string``, ``datetime``, ``binary``
  and ``object`` (anything, passed through unchecked). Narrower numpy types
  widen on inference (``int8`` -> ``int32``, ``float16`` -> ``float32``,
  ``uint32`` -> ``int64``); pandas categoricals take their categories' type.
- A tensor (:class:`TensorSpec`) for array models: a numpy dtype name and a
  shape whose variable dimensions (always the batch dimension) are ``-1``.

:func:`to_input` is the one door every loaded model's ``predict`` goes
through: it accepts a DataFrame, a dict of columns, a list of records, a
single record or a numpy array, refuses anything that cannot be cast safely
with a :class:`~dockyard.errors.SchemaError` that names the column, what was
expected and what came, and returns the same frame or array for each form.
"""

from __future__ import annotations

import datetime as dt
import difflib
import warnings
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd
from pandas.api import types as ptypes
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from dockyard.errors import InvalidArgument, SchemaError

__all__ = [
    "COLUMN_DTYPES",
    "TENSOR_DTYPES",
    "ColumnDtype",
    "ColumnSpec",
    "ExtraColumns",
    "Signature",
    "TensorSpec",
    "infer_signature",
    "to_input",
]

ColumnDtype = Literal[
    "bool", "int32", "int64", "float32", "float64", "string", "datetime", "binary", "object"
]
COLUMN_DTYPES: tuple[str, ...] = get_args(ColumnDtype)
TENSOR_DTYPES: frozenset[str] = frozenset(
    {"bool", "float16", "float32", "float64", "str", "object"}
    | {f"{sign}int{bits}" for sign in ("", "u") for bits in (8, 16, 32, 64)}
)
"""Numpy dtype names a tensor may declare; ``str`` is a unicode array, ``object`` anything."""

ExtraColumns = Literal["drop", "ignore", "error"]

# What pandas itself gives a freshly built column, so that the model sees the
# same types it was trained on (``str`` and microseconds on pandas 3).
_STRING_DTYPE = pd.Series(["a"]).dtype
_DATETIME_UNIT = str(np.datetime_data(pd.Series(pd.to_datetime(["2000-01-01"])).dtype)[0])
_NULLABLE_DTYPES = {"bool": "boolean", "int32": "Int32", "int64": "Int64"}
_INFERRED_KINDS = {
    "boolean": "bool",
    "integer": "int",
    "floating": "float",
    "mixed-integer-float": "float",
    "decimal": "float",
    "string": "string",
    "bytes": "bytes",
    "datetime64": "datetime",
    "datetime": "datetime",
    "date": "datetime",
    "empty": "empty",
}
# Per column dtype: the kinds of values it takes, and what to ask for instead.
_ACCEPTS: dict[str, tuple[frozenset[str], str]] = {
    "bool": (frozenset({"bool"}), "send true/false"),
    "int32": (frozenset({"int", "float"}), "send whole numbers"),
    "int64": (frozenset({"int", "float"}), "send whole numbers"),
    "float32": (frozenset({"int", "float"}), "send numbers"),
    "float64": (frozenset({"int", "float"}), "send numbers"),
    "string": (frozenset({"string"}), "send text"),
    "datetime": (frozenset({"datetime", "string"}), "send timestamps or ISO 8601 strings"),
    "binary": (frozenset({"bytes"}), "send bytes"),
}
_UNOBJECT: dict[str, type] = {
    "integer": np.int64,
    "floating": np.float64,
    "mixed-integer-float": np.float64,
    "boolean": np.bool_,
    "string": np.str_,
}
_INPUT_FORMS = "a pandas DataFrame, a dict of columns, a list of records or a numpy array"


class ColumnSpec(BaseModel):
    """One named input or output column."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    dtype: ColumnDtype
    nullable: bool = False
    """Whether None/NaN/NaT may appear; inferred as True only when the example has a null."""

    @field_validator("name")
    @classmethod
    def _name_not_empty(cls, name: str) -> str:
        if not name:
            raise ValueError("a column name cannot be empty")
        return name


class TensorSpec(BaseModel):
    """One array: numpy dtype name and shape, ``-1`` for a variable dimension."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str | None = None
    dtype: str
    shape: tuple[int, ...]

    @field_validator("dtype")
    @classmethod
    def _known_dtype(cls, dtype: str) -> str:
        if dtype not in TENSOR_DTYPES:
            raise ValueError(
                f"tensor dtype {dtype!r} is not one of {', '.join(sorted(TENSOR_DTYPES))}"
            )
        return dtype

    @field_validator("shape")
    @classmethod
    def _valid_shape(cls, shape: tuple[int, ...]) -> tuple[int, ...]:
        if not shape or any(dim < -1 for dim in shape):
            raise ValueError(f"tensor shape {shape} needs at least one dimension, each -1 or more")
        return shape


Spec = list[ColumnSpec] | TensorSpec


class Signature(BaseModel):
    """A model's inputs and, when known, its outputs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    inputs: Spec
    outputs: Spec | None = None

    @model_validator(mode="after")
    def _columns_unique(self) -> Signature:
        for spec in (self.inputs, self.outputs):
            if isinstance(spec, list):
                names = [column.name for column in spec]
                if not names:
                    raise ValueError("a column signature needs at least one column")
                if len(set(names)) != len(names):
                    raise ValueError(f"column names repeat: {_names(names)}")
        return self

    @property
    def is_tensor(self) -> bool:
        """True when the input is one tensor rather than named columns."""
        return isinstance(self.inputs, TensorSpec)

    def to_dict(self) -> dict[str, Any]:
        """A plain dict for the package manifest (YAML and JSON safe)."""
        body = {"inputs": _spec_to_dict(self.inputs)}
        if self.outputs is not None:
            body["outputs"] = _spec_to_dict(self.outputs)
        return body

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Signature:
        """Read what :meth:`to_dict` wrote; raises InvalidArgument when it is malformed."""
        if not isinstance(d, Mapping) or "inputs" not in d or set(d) - {"inputs", "outputs"}:
            raise InvalidArgument("a signature is a mapping with 'inputs' and optional 'outputs'")
        outputs = d.get("outputs")
        try:
            return cls(
                inputs=_spec_from_dict(d["inputs"], "inputs"),
                outputs=None if outputs is None else _spec_from_dict(outputs, "outputs"),
            )
        except ValidationError as exc:
            raise InvalidArgument(f"invalid signature: {exc.errors()[0]['msg']}") from exc


def infer_signature(model_input: Any, model_output: Any = None) -> Signature:
    """The signature of an input example and, optionally, of the model's predictions on it.

    Named data (DataFrame, dict of columns, records, structured array) gives
    columns with their dtypes and nullability; an unnamed numeric or string
    array (or list of lists) gives a tensor whose first dimension is ``-1``.
    """
    data = _coerce(model_input)
    if isinstance(data, np.ndarray):
        inputs: Spec = _tensor_spec(data)
        if inputs.dtype == "object":
            raise SchemaError(
                "cannot infer a tensor from an array of mixed values; "
                "pass a DataFrame or a dict of columns so each column gets a name and type",
                column=None,
                expected="a numeric or string array",
                got="object array",
            )
    else:
        inputs = _column_specs(data)
    return Signature(inputs=inputs, outputs=_output_spec(model_output))


def to_input(
    data: Any, signature: Signature | None, *, extra_columns: ExtraColumns = "drop"
) -> pd.DataFrame | np.ndarray:
    """Convert ``data`` to what the model takes, checked against ``signature``.

    Column signature: a DataFrame with exactly the signature's columns, in its
    order, on a fresh ``RangeIndex``, cast safely to the declared dtypes
    (nullable ints and bools become pandas ``Int64``/``Int32``/``boolean``).
    A 2-D array whose width equals the number of columns is read in order.
    Columns not in the signature are dropped with a ``UserWarning``
    (``extra_columns="drop"``), dropped silently (``"ignore"``) or refused
    (``"error"``); the warning is attributed to whoever called the caller of
    ``to_input`` (the user's ``predict`` call when a flavor calls it directly).
    Tensor signature: an array of the declared dtype and shape; a dict holding
    only the tensor's name is read as that tensor.
    No signature: a DataFrame for named input, an array for array input.

    Raises SchemaError naming the column (or tensor), what was expected and
    what came.
    """
    if extra_columns not in get_args(ExtraColumns):
        raise InvalidArgument(
            f"extra_columns must be 'drop', 'ignore' or 'error', got {extra_columns!r}"
        )
    if signature is None:
        return _coerce(data)
    if isinstance(signature.inputs, TensorSpec):
        return _to_tensor(data, signature.inputs)
    coerced = _coerce(data)
    frame = (
        _frame_from_array(coerced, signature.inputs) if isinstance(coerced, np.ndarray) else coerced
    )
    return _to_columns(frame.reset_index(drop=True), signature.inputs, extra_columns)


def _spec_to_dict(spec: Spec) -> dict[str, Any]:
    if isinstance(spec, TensorSpec):
        return {"tensor": spec.model_dump(mode="json")}
    return {"columns": [column.model_dump() for column in spec]}


def _spec_from_dict(d: Any, where: str) -> Spec:
    try:
        if isinstance(d, Mapping) and set(d) == {"columns"} and isinstance(d["columns"], list):
            return [ColumnSpec.model_validate(column) for column in d["columns"]]
        if isinstance(d, Mapping) and set(d) == {"tensor"}:
            return TensorSpec.model_validate(d["tensor"])
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"])
        raise InvalidArgument(f"invalid signature {where}: {field}: {error['msg']}") from exc
    raise InvalidArgument(
        f"signature {where} must be {{'columns': [...]}} or {{'tensor': {{...}}}}, got {d!r}"
    )


def _coerce(data: Any) -> pd.DataFrame | np.ndarray:
    """Any accepted input form as a DataFrame (named) or an ndarray (unnamed)."""
    if isinstance(data, pd.DataFrame):
        frame = data
    elif isinstance(data, pd.Series):
        frame = data.to_frame() if data.name is not None else data.to_numpy()
    elif isinstance(data, np.ndarray):
        frame = pd.DataFrame(data) if data.dtype.names else data
    elif isinstance(data, Mapping):
        frame = _frame_from_columns(data)
    elif isinstance(data, (list, tuple)) and data and isinstance(data[0], Mapping):
        frame = _frame_from_records(data)
    elif isinstance(data, (list, tuple)):
        try:
            frame = np.asarray(data)
        except ValueError as exc:
            raise SchemaError(
                "rows have different lengths; send a rectangular list of lists",
                column=None,
                expected="rows of equal length",
                got="ragged rows",
            ) from exc
    else:
        got = type(data).__name__
        raise SchemaError(
            f"unsupported input: expected {_INPUT_FORMS}, got {got}",
            column=None,
            expected=_INPUT_FORMS,
            got=got,
        )
    if isinstance(frame, np.ndarray) and frame.ndim == 0:
        raise SchemaError(
            f"unsupported input: expected {_INPUT_FORMS}, got a single value {_show(frame.item())}",
            column=None,
            expected=_INPUT_FORMS,
            got="scalar",
        )
    if len(frame) == 0:
        raise SchemaError(
            "empty input: got 0 rows; send at least one row",
            column=None,
            expected="at least one row",
            got="0 rows",
        )
    if isinstance(frame, pd.DataFrame):
        return _string_labels(frame)
    return frame


def _frame_from_columns(data: Mapping[Any, Any]) -> pd.DataFrame:
    if data and all(np.ndim(value) == 0 for value in data.values()):
        return pd.DataFrame([data])
    try:
        return pd.DataFrame(dict(data))
    except ValueError as exc:
        lengths = ", ".join(f"{str(k)!r} has {len(v)}" for k, v in data.items() if np.ndim(v))
        raise SchemaError(
            f"columns have different lengths ({lengths}); send the same number of values in each",
            column=None,
            expected="columns of equal length",
            got=lengths,
        ) from exc


def _frame_from_records(records: list[Any] | tuple[Any, ...]) -> pd.DataFrame:
    try:
        frame = pd.DataFrame(list(records))
        widths = np.fromiter(map(len, records), dtype=np.int64, count=len(records))
    except (TypeError, ValueError):
        raise _uneven_records(records) from None
    # Each record's keys are a subset of the frame's columns, so equal counts mean equal keys.
    if not (widths == frame.shape[1]).all():
        raise _uneven_records(records)
    return frame


def _uneven_records(records: list[Any] | tuple[Any, ...]) -> SchemaError:
    keys = list(records[0])
    for row, record in enumerate(records):
        if not isinstance(record, Mapping):
            got = type(record).__name__
            return SchemaError(
                f"record {row} is a {got}, not a dict; send every record as a dict of columns",
                column=None,
                expected="dict",
                got=got,
            )
        if record.keys() != records[0].keys():
            missing = [key for key in keys if key not in record]
            extra = [key for key in record if key not in records[0]]
            got = " and ".join(
                part
                for part in (
                    f"lacks {_names(missing)}" if missing else "",
                    f"adds {_names(extra)}" if extra else "",
                )
                if part
            )
            return SchemaError(
                f"records have different keys: record {row} {got} (record 0 has {_names(keys)}); "
                "send the same keys in every record, with null for a missing value",
                column=(missing or extra)[0],
                expected=f"keys {_names(keys)}",
                got=got,
            )
    return SchemaError(
        "records could not be read as a table; send a list of dicts of column values",
        column=None,
        expected="list of dicts",
        got="unreadable records",
    )


def _string_labels(frame: pd.DataFrame) -> pd.DataFrame:
    if all(isinstance(label, str) for label in frame.columns):
        labels = list(frame.columns)
    else:
        labels = [str(label) for label in frame.columns]
        frame = frame.set_axis(labels, axis=1)
    if len(set(labels)) != len(labels):
        repeated = sorted({label for label in labels if labels.count(label) > 1})
        raise SchemaError(
            f"column names repeat: {_names(repeated)}; give each column a distinct name",
            column=repeated[0],
            expected="distinct column names",
            got=_names(repeated),
        )
    return frame


def _column_kind(s: pd.Series) -> str:
    """What the non-null values of ``s`` are: bool, int, float, string, bytes, datetime, empty..."""
    dtype = s.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return _column_kind(pd.Series(dtype.categories)) if len(dtype.categories) else "empty"
    if ptypes.is_bool_dtype(dtype):
        return "bool"
    if ptypes.is_integer_dtype(dtype):
        return "int"
    if ptypes.is_float_dtype(dtype):
        return "float"
    if ptypes.is_datetime64_any_dtype(dtype):
        return "datetime"
    return _INFERRED_KINDS.get(ptypes.infer_dtype(s, skipna=True), "other")


def _column_specs(frame: pd.DataFrame) -> list[ColumnSpec]:
    specs = []
    for name, s in frame.items():
        kind = _column_kind(s)
        if kind in ("int", "float"):
            dtype = _numeric_dtype(s.dtype, kind)
        else:
            dtype = {
                "bool": "bool",
                "string": "string",
                "bytes": "binary",
                "datetime": "datetime",
            }.get(kind, "object")
        specs.append(ColumnSpec(name=str(name), dtype=dtype, nullable=bool(s.isna().any())))
    return specs


def _numeric_dtype(dtype: Any, kind: str) -> ColumnDtype:
    if isinstance(dtype, pd.CategoricalDtype):
        dtype = dtype.categories.dtype
    numpy_dtype = np.dtype(getattr(dtype, "numpy_dtype", dtype))
    if kind == "float":
        return "float32" if numpy_dtype.kind == "f" and numpy_dtype.itemsize <= 4 else "float64"
    fits_int32 = numpy_dtype.kind in "iu" and numpy_dtype.itemsize <= (
        4 if numpy_dtype.kind == "i" else 2
    )
    return "int32" if fits_int32 else "int64"


def _tensor_spec(array: np.ndarray) -> TensorSpec:
    array = _unobject(array)
    if array.dtype.kind == "U":
        dtype = "str"
    else:
        dtype = array.dtype.name if array.dtype.name in TENSOR_DTYPES else "object"
    return TensorSpec(dtype=dtype, shape=(-1, *array.shape[1:]))


def _output_spec(output: Any) -> Spec | None:
    if output is None:
        return None
    data = _coerce(output)
    return _tensor_spec(data) if isinstance(data, np.ndarray) else _column_specs(data)


def _unobject(array: np.ndarray) -> np.ndarray:
    """An object array of plain numbers, booleans or strings as the matching numpy type."""
    if array.dtype != object:
        return array
    target = _UNOBJECT.get(ptypes.infer_dtype(array.ravel(), skipna=False))
    if target is None:
        return array
    try:
        return array.astype(target)
    except (OverflowError, TypeError, ValueError):
        return array


def _frame_from_array(array: np.ndarray, columns: list[ColumnSpec]) -> pd.DataFrame:
    names = [column.name for column in columns]
    if array.ndim == 1 and len(columns) == 1:
        return pd.DataFrame({names[0]: array})
    width = array.shape[1] if array.ndim == 2 else None
    if width != len(columns):
        got = (
            f"{width} columns"
            if width is not None
            else f"a {array.ndim}-D array of shape {array.shape}"
        )
        hint = "; wrap a single row in a list or use reshape(1, -1)" if array.ndim == 1 else ""
        raise SchemaError(
            f"expected a 2-D array with {len(columns)} columns ({_names(names)}), got {got}; "
            f"send one value per signature column, in that order{hint}",
            column=None,
            expected=f"{len(columns)} columns",
            got=got,
        )
    return pd.DataFrame({name: array[:, i] for i, name in enumerate(names)})


def _to_columns(
    frame: pd.DataFrame, columns: list[ColumnSpec], extra_columns: ExtraColumns
) -> pd.DataFrame:
    wanted = {column.name for column in columns}
    present = list(frame.columns)
    for column in columns:
        if column.name not in frame.columns:
            close = difflib.get_close_matches(column.name, present, n=1)
            raise SchemaError(
                f"column {column.name!r} is missing: expected {column.dtype}, "
                f"got columns {_names(present)}; add {column.name!r}"
                + (f" (did you mean {close[0]!r}?)" if close else ""),
                column=column.name,
                expected=column.dtype,
                got="missing",
            )
    extra = [name for name in present if name not in wanted]
    if extra and extra_columns == "error":
        raise SchemaError(
            f"{'columns' if len(extra) > 1 else 'column'} {_names(extra)} "
            f"{'are' if len(extra) > 1 else 'is'} not in the signature; remove "
            f"{'them' if len(extra) > 1 else 'it'} or pass extra_columns='drop'",
            column=extra[0],
            expected=_names([column.name for column in columns]),
            got=_names(extra),
        )
    if extra and extra_columns == "drop":
        # Points at whoever called the model's predict, two frames above to_input.
        warnings.warn(
            f"dropped columns not in the signature: {_names(extra)}", UserWarning, stacklevel=4
        )
    return pd.DataFrame({column.name: _cast(frame[column.name], column) for column in columns})


def _cast(s: pd.Series, column: ColumnSpec) -> pd.Series:
    null = s.isna().to_numpy()
    if not column.nullable and null.any():
        row = int(np.flatnonzero(null)[0])
        raise SchemaError(
            f"column {column.name!r}: expected {column.dtype} without nulls, got a null at row "
            f"{row}; send a value (the column is not nullable)",
            column=column.name,
            expected=f"{column.dtype} not null",
            got=f"null at row {row}",
        )
    if column.dtype == "object":
        return s.astype(object)
    if isinstance(s.dtype, pd.CategoricalDtype):
        s = s.astype(object)
    kind = _column_kind(s)
    if kind != "empty" and kind not in _ACCEPTS[column.dtype][0]:
        raise _rejected(s, null, column)
    if column.dtype in ("int32", "int64"):
        return _cast_int(s, null, column, kind)
    if column.dtype in ("float32", "float64"):
        values = pd.to_numeric(s).to_numpy(dtype=np.float64, na_value=np.nan)
        if column.dtype == "float32":
            _check_range(values, null, column, np.finfo(np.float32))
        return pd.Series(values.astype(column.dtype, copy=False))
    if column.dtype == "bool":
        return s.astype("boolean") if column.nullable else s.astype(bool)
    if column.dtype == "string":
        return s.astype(_STRING_DTYPE)
    if column.dtype == "binary":
        return s.astype(object)
    return _cast_datetime(s, null, column, kind)


def _cast_int(s: pd.Series, null: np.ndarray, column: ColumnSpec, kind: str) -> pd.Series:
    info = np.iinfo(column.dtype)
    if kind == "int" and info.bits == 64:
        if s.dtype.kind == "u":
            _check_range(s.to_numpy(dtype=np.uint64, na_value=0), null, column, info)
        ints = s
    else:
        values = pd.to_numeric(s).to_numpy(dtype=np.float64, na_value=np.nan)
        fractional = ~null & (values != np.trunc(values))
        if fractional.any():
            row = int(np.flatnonzero(fractional)[0])
            got = _show(values[row])
            raise SchemaError(
                f"column {column.name!r}: expected {column.dtype}, got a fractional number {got} "
                f"at row {row}; send whole numbers or declare the column float64",
                column=column.name,
                expected=column.dtype,
                got=got,
            )
        _check_range(values, null, column, info)
        ints = pd.Series(values)
    try:
        ints = ints.astype("Int64")
    except (OverflowError, TypeError, ValueError) as exc:
        raise SchemaError(
            f"column {column.name!r}: expected {column.dtype}, got values outside the int64 "
            "range; send smaller numbers",
            column=column.name,
            expected=column.dtype,
            got="out of range",
        ) from exc
    if column.nullable:
        return ints.astype(_NULLABLE_DTYPES[column.dtype])
    return pd.Series(ints.to_numpy(dtype=column.dtype))


def _check_range(values: np.ndarray, null: np.ndarray, column: ColumnSpec, info: Any) -> None:
    low, high = (-info.max, info.max) if isinstance(info, np.finfo) else (info.min, info.max)
    with np.errstate(invalid="ignore"):
        if isinstance(info, np.finfo):
            outside = np.isfinite(values) & (np.abs(values) > high)
        elif values.dtype.kind == "u":
            outside = values > high
        else:
            # high + 1 is exact in float64 for int32 and int64, high itself is not for int64
            outside = (values < low) | (values >= float(high) + 1)
    outside &= ~null
    if outside.any():
        row = int(np.flatnonzero(outside)[0])
        value = values[row]
        got = _show(
            int(value) if isinstance(info, np.iinfo) and float(value).is_integer() else value
        )
        bounds = f"±{high:g}" if isinstance(info, np.finfo) else f"[{low}, {high}]"
        wider = {
            "float32": " or declare the column float64",
            "int32": " or declare the column int64",
        }
        raise SchemaError(
            f"column {column.name!r}: expected {column.dtype}, got {got} at row {row}, outside the "
            f"{column.dtype} range {bounds}; send smaller values{wider.get(column.dtype, '')}",
            column=column.name,
            expected=column.dtype,
            got=got,
        )


def _cast_datetime(s: pd.Series, null: np.ndarray, column: ColumnSpec, kind: str) -> pd.Series:
    try:
        if kind == "string":
            parsed = pd.to_datetime(s, format="ISO8601", errors="coerce")
        else:
            parsed = pd.to_datetime(s)
        bad = ~null & parsed.isna().to_numpy()
    except (TypeError, ValueError, OverflowError):
        parsed, bad = s, ~null
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        got = _show(s.iloc[row])
        raise SchemaError(
            f"column {column.name!r}: expected datetime, got {got} at row {row}, which is not a "
            "timestamp; send ISO 8601 strings such as '2024-05-01T12:00:00'",
            column=column.name,
            expected="datetime",
            got=got,
        )
    return parsed.dt.as_unit(_DATETIME_UNIT)


def _rejected(s: pd.Series, null: np.ndarray, column: ColumnSpec) -> SchemaError:
    """The error for a column whose values are of the wrong type, showing the offending values."""
    accepted = {
        "bool": (bool, np.bool_),
        "string": (str,),
        "binary": (bytes, bytearray, memoryview),
        "datetime": (str, dt.date, np.datetime64),
    }.get(column.dtype, (int, float, np.integer, np.floating, Decimal))
    values = s[~null]
    positions = np.flatnonzero(~null)
    wrong = [
        (int(row), value)
        for row, value in zip(positions, values.tolist())
        if not isinstance(value, accepted)
        or (column.dtype != "bool" and isinstance(value, (bool, np.bool_)))
    ] or list(zip(positions.tolist(), values.tolist()))
    fix = _ACCEPTS[column.dtype][1]
    sample = [value for _, value in wrong[:3]]
    if all(isinstance(value, str) for value in sample):
        numeric = pd.to_numeric(pd.Series(sample, dtype=object), errors="coerce").notna().all()
        if numeric and column.dtype in ("int32", "int64", "float32", "float64"):
            what, fix = "numbers sent as strings", "send them as numbers, without quotes"
        else:
            what = "string values"
    elif all(isinstance(value, (bool, np.bool_)) for value in sample):
        what = "booleans"
        fix = f"{fix}, not true/false" if column.dtype != "bool" else fix
    elif all(isinstance(value, (int, np.integer)) for value in sample):
        what = "integers"
    elif all(isinstance(value, (int, float, np.integer, np.floating)) for value in sample):
        what = "numbers"
    else:
        what = f"{type(sample[0]).__name__} values"
    got = f"{what} ({', '.join(_show(value) for value in sample)})"
    return SchemaError(
        f"column {column.name!r}: expected {column.dtype}, got {got} at row {wrong[0][0]}; {fix}",
        column=column.name,
        expected=column.dtype,
        got=got,
    )


def _to_tensor(data: Any, spec: TensorSpec) -> np.ndarray:
    if isinstance(data, Mapping) and spec.name is not None and list(data) == [spec.name]:
        data = data[spec.name]
    coerced = _coerce(data)
    array = _unobject(coerced.to_numpy() if isinstance(coerced, pd.DataFrame) else coerced)
    label = f"tensor {spec.name!r}" if spec.name else "input tensor"
    expected = spec.shape
    if array.ndim == len(expected) and all(
        want in (-1, got) for want, got in zip(expected, array.shape)
    ):
        return _cast_tensor(array, spec, label)
    wanted = "(" + ", ".join("n" if dim == -1 else str(dim) for dim in expected)
    wanted += ",)" if len(expected) == 1 else ")"
    if array.ndim == len(expected):
        message = (
            f"{label}: expected shape {expected}, got shape {array.shape}; "
            f"send arrays of shape {wanted}"
        )
    else:
        hint = (
            "wrap a single example in a list or use reshape(1, ...)"
            if array.ndim == len(expected) - 1
            else f"send arrays of shape {wanted}"
        )
        message = (
            f"{label}: expected rank {len(expected)} with shape {expected}, "
            f"got rank {array.ndim} with shape {array.shape}; {hint}"
        )
    raise SchemaError(message, column=spec.name, expected=str(expected), got=str(array.shape))


def _cast_tensor(array: np.ndarray, spec: TensorSpec, label: str) -> np.ndarray:
    if spec.dtype == "object":
        return array.astype(object, copy=False)
    source = array.dtype
    target = np.dtype(np.str_ if spec.dtype == "str" else spec.dtype)
    if source == target or source.kind == target.kind == "U":
        return array

    def refused(got: str, fix: str) -> SchemaError:
        return SchemaError(
            f"{label}: expected {spec.dtype}, got {got}; {fix}",
            column=spec.name,
            expected=spec.dtype,
            got=got,
        )

    if source.kind not in "biuf" or target.kind not in "biuf":
        head = array.ravel()[:3]
        sample = ", ".join(_show(value) for value in head.tolist())
        numeric = pd.to_numeric(pd.Series(head, dtype=object), errors="coerce").notna().all()
        if source.kind == "U" and target.kind in "iuf" and numeric:
            raise refused(
                f"numbers sent as strings ({sample})", "send them as numbers, without quotes"
            )
        what = "string" if source.kind == "U" else source.name
        raise refused(f"{what} values ({sample})", f"send {spec.dtype} values")
    if (source.kind == "b") != (target.kind == "b"):
        raise refused(
            f"{source.name} values", f"send {spec.dtype} values; booleans and numbers do not mix"
        )
    # Signed and unsigned integers mix freely: JSON gives int64 where a model wants uint8, and
    # the range check below refuses what does not fit.
    integers = source.kind in "iu" and target.kind in "iu"
    if not integers and not np.can_cast(source, target, casting="same_kind"):
        raise refused(
            f"{source.name} values",
            f"{source.name} does not cast to {spec.dtype} safely; send {spec.dtype} values",
        )
    if target.kind in "iu":
        info = np.iinfo(target)
        low, high = array.min(), array.max()
        if low < info.min or high > info.max:
            raise refused(
                f"{_show(low if low < info.min else high)}, outside the {spec.dtype} range",
                f"send values between {info.min} and {info.max}",
            )
    elif source.kind == "f":
        finite = array[np.isfinite(array)]
        limit = np.finfo(target).max
        if finite.size and np.abs(finite).max() > limit:
            raise refused(
                f"{source.name} values beyond {spec.dtype}", f"send values within ±{limit:g}"
            )
    return array.astype(target)


def _names(names: list[Any]) -> str:
    return ", ".join(repr(name) for name in names)


def _show(value: Any) -> str:
    return repr(value.item() if isinstance(value, np.generic) else value)
