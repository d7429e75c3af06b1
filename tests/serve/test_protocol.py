"""The serving wire formats: V2, V1 and /invocations in, predictions and errors out."""

from __future__ import annotations

import base64
import random
import string
from collections.abc import Callable
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from dockyard.errors import DockyardError, InvalidArgument, SchemaError, error_from_body
from dockyard.models.package import LoadedModel, load, save
from dockyard.models.signature import ColumnSpec, Signature, TensorSpec, to_input
from dockyard.serve.protocol import (
    InputMismatch,
    ModelInput,
    ProtocolError,
    TooManyRows,
    UnsupportedMediaType,
    accepts_arrays,
    as_model_input,
    decode_invocations,
    decode_v1,
    decode_v2,
    encode_error,
    encode_invocations_response,
    encode_v1_response,
    encode_v2_error,
    encode_v2_response,
    predict,
)

COLUMNS = Signature(
    inputs=[
        ColumnSpec(name="age", dtype="int64"),
        ColumnSpec(name="income", dtype="float64"),
        ColumnSpec(name="city", dtype="string"),
        ColumnSpec(name="member", dtype="bool"),
    ],
    outputs=[ColumnSpec(name="spend", dtype="float64")],
)
ROWS = [
    {"age": 30, "income": 1500.5, "city": "Oslo", "member": True},
    {"age": 41, "income": 0.0, "city": "Bergen", "member": False},
    {"age": 25, "income": 320.25, "city": "Oslo", "member": True},
]
NAMES = [column.name for column in COLUMNS.inputs]

NUMERIC = Signature(
    inputs=[
        ColumnSpec(name="a", dtype="int64"),
        ColumnSpec(name="b", dtype="float64"),
        ColumnSpec(name="c", dtype="float32"),
    ]
)
NUMERIC_ROWS = [[1, 0.5, 2.0], [2, -1.25, 0.0], [3, 4.0, 1.5]]

TENSOR = Signature(inputs=TensorSpec(name="x", dtype="float32", shape=(-1, 3)))
MATRIX = [[0.5, 1.0, -2.0], [3.0, 0.25, 1.0], [1.5, 2.5, 0.0]]

V2_DATATYPE = {"age": "INT64", "income": "FP64", "city": "BYTES", "member": "BOOL"}


def _csv(header: list[str], rows: list[list[Any]]) -> bytes:
    def cell(value: Any) -> str:
        if value is None:
            return ""
        return str(value).lower() if isinstance(value, bool) else str(value)

    lines = [",".join(header)] + [",".join(cell(v) for v in row) for row in rows]
    return ("\n".join(lines) + "\n").encode()


def _column_forms() -> dict[str, Callable[[], ModelInput]]:
    """Every request form for ROWS against the column signature."""
    rows = [[row[name] for name in NAMES] for row in ROWS]
    columns = {name: [row[name] for row in ROWS] for name in NAMES}
    v2_inputs = [
        {"name": "age", "shape": [3], "datatype": "INT64", "data": columns["age"]},
        # [n, 1] with nested data, as some clients send a column
        {
            "name": "income",
            "shape": [3, 1],
            "datatype": "FP64",
            "data": [[v] for v in columns["income"]],
        },
        {"name": "city", "shape": [3], "datatype": "BYTES", "data": columns["city"]},
        {"name": "member", "shape": [3, 1], "datatype": "BOOL", "data": columns["member"]},
    ]
    json = orjson.dumps
    return {
        "v2": lambda: decode_v2(json({"id": "r-1", "inputs": v2_inputs}), COLUMNS),
        "v2 parsed": lambda: decode_v2({"inputs": v2_inputs}, COLUMNS),
        "v1 rows": lambda: decode_v1(json({"instances": rows}), COLUMNS),
        "v1 records": lambda: decode_v1(json({"instances": ROWS}), COLUMNS),
        "v1 inputs columns": lambda: decode_v1(json({"inputs": columns}), COLUMNS),
        "v1 inputs rows": lambda: decode_v1(json({"inputs": rows}), COLUMNS),
        "split": lambda: decode_invocations(
            json({"dataframe_split": {"columns": NAMES, "data": rows, "index": [7, 8, 9]}}),
            COLUMNS,
        ),
        "split reordered": lambda: decode_invocations(
            json(
                {
                    "dataframe_split": {
                        "columns": NAMES[::-1],
                        "data": [row[::-1] for row in rows],
                    }
                }
            ),
            COLUMNS,
        ),
        "records": lambda: decode_invocations(json({"dataframe_records": ROWS}), COLUMNS),
        "instances": lambda: decode_invocations(json({"instances": ROWS}), COLUMNS),
        "inputs columns": lambda: decode_invocations(json({"inputs": columns}), COLUMNS),
        "inputs rows": lambda: decode_invocations(json({"inputs": rows}), COLUMNS),
        "csv": lambda: decode_invocations(
            _csv(NAMES, rows), COLUMNS, content_type="text/csv; charset=utf-8"
        ),
    }


def _tensor_forms() -> dict[str, Callable[[], ModelInput]]:
    """Every request form for MATRIX against the tensor signature."""
    flat = [value for row in MATRIX for value in row]
    json = orjson.dumps
    v2 = {"name": "x", "shape": [3, 3], "datatype": "FP32"}
    return {
        "v2 flat": lambda: decode_v2(json({"inputs": [{**v2, "data": flat}]}), TENSOR),
        "v2 nested": lambda: decode_v2(json({"inputs": [{**v2, "data": MATRIX}]}), TENSOR),
        "v2 other name, FP64": lambda: decode_v2(
            json({"inputs": [{**v2, "name": "input-0", "datatype": "FP64", "data": flat}]}),
            TENSOR,
        ),
        "v1 instances": lambda: decode_v1(json({"instances": MATRIX}), TENSOR),
        "v1 inputs": lambda: decode_v1(json({"inputs": MATRIX}), TENSOR),
        "v1 named": lambda: decode_v1(json({"inputs": {"x": MATRIX}}), TENSOR),
        "instances": lambda: decode_invocations(json({"instances": MATRIX}), TENSOR),
        "inputs": lambda: decode_invocations(json({"inputs": MATRIX}), TENSOR),
        "split": lambda: decode_invocations(
            json({"dataframe_split": {"columns": ["p", "q", "r"], "data": MATRIX}}), TENSOR
        ),
        "csv": lambda: decode_invocations(
            _csv(["p", "q", "r"], MATRIX), TENSOR, content_type="text/csv"
        ),
    }


# ---------------------------------------------------------------------------
# Decoding: every form gives the same input


@pytest.mark.parametrize("form", list(_column_forms()))
def test_every_form_gives_the_same_columns(form: str) -> None:
    decoded = _column_forms()[form]()
    assert decoded.tensor is None and not decoded.is_tensor
    assert decoded.n_rows == 3
    assert list(decoded.columns) == NAMES  # signature order, whatever order came
    np.testing.assert_array_equal(decoded.columns["age"], np.array([30, 41, 25]))
    assert decoded.columns["age"].dtype == np.int64
    np.testing.assert_array_equal(decoded.columns["income"], np.array([1500.5, 0.0, 320.25]))
    assert decoded.columns["income"].dtype == np.float64
    assert decoded.columns["city"].dtype == object
    assert decoded.columns["city"].tolist() == ["Oslo", "Bergen", "Oslo"]
    assert decoded.columns["member"].dtype == np.bool_
    assert decoded.columns["member"].tolist() == [True, False, True]


@pytest.mark.parametrize("form", list(_tensor_forms()))
def test_every_form_gives_the_same_tensor(form: str) -> None:
    decoded = _tensor_forms()[form]()
    assert decoded.columns is None and decoded.is_tensor
    assert decoded.n_rows == 3
    assert decoded.tensor.dtype == np.float32
    np.testing.assert_array_equal(decoded.tensor, np.array(MATRIX, dtype=np.float32))


def test_v2_carries_id_parameters_and_requested_outputs() -> None:
    body = {
        "id": "req-7",
        "parameters": {"threshold": 0.5},
        "inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}],
        "outputs": [{"name": "predict"}],
    }
    decoded = decode_v2(orjson.dumps(body), TENSOR)
    assert decoded.id == "req-7"
    assert decoded.parameters == {"threshold": 0.5}
    assert decoded.outputs == ("predict",)
    params = decode_invocations(orjson.dumps({"inputs": [[1, 2, 3]], "params": {"k": 2}}), TENSOR)
    assert params.parameters == {"k": 2}


def test_v2_one_matrix_input_for_a_numeric_column_signature() -> None:
    """tritonclient users send one [n, k] tensor; it reads as the k columns in order."""
    body = {
        "inputs": [{"name": "input-0", "shape": [3, 3], "datatype": "FP64", "data": NUMERIC_ROWS}]
    }
    decoded = decode_v2(orjson.dumps(body), NUMERIC)
    by_columns = decode_v1(orjson.dumps({"instances": NUMERIC_ROWS}), NUMERIC)
    for name in ("a", "b", "c"):
        assert decoded.columns[name].dtype == by_columns.columns[name].dtype
        np.testing.assert_array_equal(decoded.columns[name], by_columns.columns[name])
    assert decoded.columns["a"].dtype == np.int64 and decoded.columns["c"].dtype == np.float32

    same_dtype = Signature(inputs=[ColumnSpec(name=f"f{i}", dtype="float64") for i in range(3)])
    decoded = decode_v2(orjson.dumps(body), same_dtype)
    np.testing.assert_array_equal(as_model_input(decoded), np.array(NUMERIC_ROWS, dtype=float))

    # A fraction in an int column is still named by its column.
    bad = {"inputs": [{**body["inputs"][0], "data": [[1.5, 0.5, 2.0]], "shape": [1, 3]}]}
    with pytest.raises(InputMismatch, match=r"column 0 \('a'\).*fractional number 1.5"):
        decode_v2(orjson.dumps(bad), NUMERIC)


def test_extra_columns_are_dropped_and_reported_or_refused() -> None:
    body = orjson.dumps({"instances": [{**ROWS[0], "note": "vip"}]})
    decoded = decode_v1(body, COLUMNS)
    assert list(decoded.columns) == NAMES and decoded.dropped == ("note",)
    assert decode_v1(body, COLUMNS, extra_columns="ignore").dropped == ("note",)
    with pytest.raises(InputMismatch, match="column 'note' is not in the signature") as caught:
        decode_v1(body, COLUMNS, extra_columns="error")
    assert "'age', 'income', 'city', 'member'" in str(caught.value)
    with pytest.raises(InvalidArgument, match="extra_columns must be"):
        decode_v1(body, COLUMNS, extra_columns="keep")  # type: ignore[arg-type]


def test_nullable_columns_take_null_and_keep_numpy_types() -> None:
    signature = Signature(
        inputs=[
            ColumnSpec(name="n", dtype="int64", nullable=True),
            ColumnSpec(name="f", dtype="float32", nullable=True),
            ColumnSpec(name="b", dtype="bool", nullable=True),
            ColumnSpec(name="s", dtype="string", nullable=True),
        ]
    )
    decoded = decode_v1(
        orjson.dumps({"instances": [[1, 0.5, True, "x"], [None, None, None, None]]}), signature
    )
    n, f, b, s = decoded.columns.values()
    assert n.dtype == np.float64 and n[0] == 1 and np.isnan(n[1])
    assert f.dtype == np.float32 and np.isnan(f[1])
    assert b.dtype == np.float64 and b[0] == 1.0 and np.isnan(b[1])
    assert s.tolist() == ["x", None]
    # nullable but without nulls: the plain dtype
    plain = decode_v1(orjson.dumps({"instances": [[1, 0.5, True, "x"]]}), signature)
    assert plain.columns["n"].dtype == np.int64 and plain.columns["b"].dtype == np.bool_


def test_the_frame_path_builds_what_to_input_builds() -> None:
    """A model fitted on named columns gets the same DataFrame as LoadedModel.predict gives it."""
    signature = Signature(
        inputs=[
            ColumnSpec(name="i32", dtype="int32"),
            ColumnSpec(name="n", dtype="int64", nullable=True),
            ColumnSpec(name="f32", dtype="float32"),
            ColumnSpec(name="flag", dtype="bool", nullable=True),
            ColumnSpec(name="s", dtype="string", nullable=True),
            ColumnSpec(name="when", dtype="datetime"),
            ColumnSpec(name="raw", dtype="binary"),
            ColumnSpec(name="any", dtype="object"),
        ]
    )
    records = [
        {
            "i32": 1,
            "n": 5,
            "f32": 0.5,
            "flag": True,
            "s": "a",
            "when": "2024-05-01T12:00:00",
            "raw": "hi",
            "any": "x",
        },
        {
            "i32": 2,
            "n": None,
            "f32": 1.5,
            "flag": None,
            "s": None,
            "when": "2024-05-02",
            "raw": "yo",
            "any": 3,
        },
    ]
    decoded = decode_v1(orjson.dumps({"instances": records}), signature)
    assert decoded.columns["when"].dtype == np.dtype("datetime64[us]")
    assert decoded.columns["raw"].tolist() == [b"hi", b"yo"]
    frame = as_model_input(decoded, signature, arrays=True)  # not all numeric: a frame anyway
    expected = to_input(
        [{**record, "raw": record["raw"].encode()} for record in records], signature
    )
    pd.testing.assert_frame_equal(frame, expected)


def test_binary_columns_read_base64_where_mlflow_does() -> None:
    signature = Signature(inputs=[ColumnSpec(name="raw", dtype="binary")])
    payload = base64.b64encode(b"\x00\xffdata").decode()
    split = orjson.dumps({"dataframe_split": {"columns": ["raw"], "data": [[payload]]}})
    assert decode_invocations(split, signature).columns["raw"].tolist() == [b"\x00\xffdata"]
    tagged = orjson.dumps({"instances": [{"raw": {"b64": payload}}]})
    assert decode_v1(tagged, signature).columns["raw"].tolist() == [b"\x00\xffdata"]
    v2 = {"inputs": [{"name": "raw", "shape": [1], "datatype": "BYTES", "data": ["text"]}]}
    assert decode_v2(orjson.dumps(v2), signature).columns["raw"].tolist() == [b"text"]
    with pytest.raises(InputMismatch, match="expected base64 text for binary, got 'not base64!'"):
        decode_invocations(orjson.dumps({"dataframe_records": [{"raw": "not base64!"}]}), signature)


def test_without_a_signature_named_input_gives_columns_and_unnamed_a_tensor() -> None:
    columns = decode_v1(
        orjson.dumps({"instances": [{"a": 1, "b": "x"}, {"a": 2.5, "b": None}]}), None
    )
    assert columns.columns["a"].dtype == np.float64 and columns.columns["b"].tolist() == ["x", None]
    tensor = decode_v1(orjson.dumps({"instances": [[1, 2], [3, 4]]}), None)
    assert tensor.tensor.dtype == np.int64 and tensor.tensor.shape == (2, 2)
    v2 = decode_v2(
        orjson.dumps(
            {"inputs": [{"name": "t", "shape": [2], "datatype": "UINT8", "data": [1, 2]}]}
        ),
        None,
    )
    assert v2.tensor.dtype == np.uint8
    csv = decode_invocations(b"a,b\n1,x\n2,\n", None, content_type="text/csv")
    assert csv.columns["a"].dtype == np.int64 and csv.columns["b"].tolist() == ["x", None]


# ---------------------------------------------------------------------------
# Bad input: every mistake is a ProtocolError with a message that says what to do

_ONE = {"age": 30, "income": 1.5, "city": "Oslo", "member": True}


def _v2(*inputs: dict[str, Any], **extra: Any) -> bytes:
    return orjson.dumps({"inputs": list(inputs), **extra})


def _col(
    name: str, data: list[Any], datatype: str | None = None, shape: list[int] | None = None
) -> dict[str, Any]:
    return {
        "name": name,
        "shape": shape if shape is not None else [len(data)],
        "datatype": datatype or V2_DATATYPE.get(name, "FP64"),
        "data": data,
    }


def _v2_row(**overrides: Any) -> bytes:
    values = {**_ONE, **overrides}
    return _v2(*(_col(name, [value]) for name, value in values.items()))


BAD_INPUTS: list[tuple[str, Callable[[], Any], type[ProtocolError], int, list[str]]] = [
    (
        "malformed JSON",
        lambda: decode_v2(b'{"inputs": [', COLUMNS),
        ProtocolError,
        400,
        ["the body is not valid JSON", "send a JSON object"],
    ),
    (
        "wrong top-level type",
        lambda: decode_v2(b"[1, 2, 3]", COLUMNS),
        ProtocolError,
        400,
        ["expected an inference request object with 'inputs', got a list"],
    ),
    (
        "no inputs",
        lambda: decode_v2(b'{"id": "x"}', COLUMNS),
        ProtocolError,
        400,
        ["'inputs' must be a non-empty list", "got nothing"],
    ),
    (
        "unknown datatype",
        lambda: decode_v2(_v2(_col("age", [30], "FLOAT")), COLUMNS),
        ProtocolError,
        400,
        ["input 'age': unknown datatype 'FLOAT' (did you mean 'FP32'?)", "BOOL"],
    ),
    (
        "lowercase datatype",
        lambda: decode_v2(_v2(_col("age", [30], "int64")), COLUMNS),
        ProtocolError,
        400,
        ["unknown datatype 'int64' (did you mean 'INT64'?)"],
    ),
    (
        "missing input",
        lambda: decode_v2(
            _v2(_col("age", [30]), _col("city", ["Oslo"]), _col("member", [True])), COLUMNS
        ),
        InputMismatch,
        422,
        [
            "missing input 'income' (float64)",
            "the model takes 'age', 'income', 'city', 'member'",
            "got 'age', 'city', 'member'",
        ],
    ),
    (
        "misnamed input",
        lambda: decode_v1(
            orjson.dumps(
                {"instances": [{"age": 30, "incme": 1.5, "city": "Oslo", "member": True}]}
            ),
            COLUMNS,
        ),
        InputMismatch,
        422,
        ["missing column 'income' (float64) (did you mean 'incme'?)"],
    ),
    (
        "extra input refused",
        lambda: decode_v2(_v2_row(zip=5), COLUMNS, extra_columns="error"),
        InputMismatch,
        422,
        ["input 'zip' is not in the signature; the model takes 'age', 'income', 'city', 'member'"],
    ),
    (
        "text for FP64",
        lambda: decode_v2(_v2_row(income="abc"), COLUMNS),
        InputMismatch,
        422,
        ["input 'income': datatype FP64 cannot hold strings ('abc') at row 0"],
    ),
    (
        "text for a float column",
        lambda: decode_v1(orjson.dumps({"instances": [{**_ONE, "income": "abc"}]}), COLUMNS),
        InputMismatch,
        422,
        ["column 'income': expected float64, got strings ('abc') at row 0", "send numbers"],
    ),
    (
        "numbers sent as strings",
        lambda: decode_v1(orjson.dumps({"instances": [{**_ONE, "age": "30"}]}), COLUMNS),
        InputMismatch,
        422,
        ["expected int64, got numbers sent as strings ('30')", "without quotes"],
    ),
    (
        "fraction for INT64",
        lambda: decode_v2(_v2_row(age=3.5), COLUMNS),
        InputMismatch,
        422,
        ["input 'age': datatype INT64 cannot hold 3.5 at row 0"],
    ),
    (
        "fraction for an int column",
        lambda: decode_v1(orjson.dumps({"instances": [_ONE, {**_ONE, "age": 3.5}]}), COLUMNS),
        InputMismatch,
        422,
        [
            "column 'age': expected int64, got a fractional number 3.5 at row 1",
            "declare the column float64",
        ],
    ),
    (
        "integer over the column's range",
        lambda: decode_v1(
            orjson.dumps({"inputs": {"n": [1, 2**40]}}),
            Signature(inputs=[ColumnSpec(name="n", dtype="int32")]),
        ),
        InputMismatch,
        422,
        [
            "column 'n': expected int32, got 1099511627776 at row 1",
            "outside the int32 range",
            "declare the column int64",
        ],
    ),
    (
        "integer over the datatype's range",
        lambda: decode_v2(_v2(_col("t", [1, 300], "UINT8")), None),
        InputMismatch,
        422,
        ["input 't': datatype UINT8 cannot hold 300 at position 1", "whole numbers in [0, 255]"],
    ),
    (
        "integer over int64",
        lambda: decode_v2(_v2_row(age=2**63), COLUMNS),
        InputMismatch,
        422,
        ["expected int64, got 9223372036854775808", "outside the int64 range"],
    ),
    (
        "boolean for a number",
        lambda: decode_v1(orjson.dumps({"instances": [{**_ONE, "income": True}]}), COLUMNS),
        InputMismatch,
        422,
        ["expected float64, got booleans (True)", "not true/false"],
    ),
    (
        "text for a bool column",
        lambda: decode_v1(orjson.dumps({"instances": [{**_ONE, "member": "yes"}]}), COLUMNS),
        InputMismatch,
        422,
        ["column 'member': expected bool, got strings ('yes')", "true/false"],
    ),
    (
        "number for a string column",
        lambda: decode_v1(orjson.dumps({"instances": [{**_ONE, "city": 7}]}), COLUMNS),
        InputMismatch,
        422,
        ["column 'city': expected string, got integers (7)", "send text"],
    ),
    (
        "null where not nullable",
        lambda: decode_v1(orjson.dumps({"instances": [_ONE, {**_ONE, "income": None}]}), COLUMNS),
        InputMismatch,
        422,
        [
            "column 'income': expected float64 without nulls, got null at row 1",
            "the column is not nullable",
        ],
    ),
    (
        "NaN where not nullable",
        lambda: decode_invocations(
            b"age,income,city,member\n30,nan,Oslo,true\n", COLUMNS, content_type="text/csv"
        ),
        InputMismatch,
        422,
        ["column 'income': expected float64 without nulls, got null at row 0"],
    ),
    (
        "element count does not match shape",
        lambda: decode_v2(_v2(_col("age", [30, 31], shape=[3])), COLUMNS),
        ProtocolError,
        400,
        ["input 'age': shape [3] holds 3 values, 'data' has 2"],
    ),
    (
        "ragged nested data",
        lambda: decode_v2(_v2(_col("x", [[1, 2, 3], [4, 5]], "FP32", [2, 3])), TENSOR),
        ProtocolError,
        400,
        ["input 'x': 'data' is not rectangular"],
    ),
    (
        "wrong shape for a column",
        lambda: decode_v2(_v2(_col("age", [1, 2, 3, 4, 5, 6], shape=[2, 3])), COLUMNS),
        InputMismatch,
        422,
        ["input 'age': a column takes shape [n] or [n, 1], got [2, 3]"],
    ),
    (
        "wrong shape for a tensor",
        lambda: decode_v1(orjson.dumps({"instances": [[1.0, 2.0]]}), TENSOR),
        InputMismatch,
        422,
        ["tensor 'x'", "expected shape [-1, 3] (-1 is any size), got [1, 2]"],
    ),
    (
        "a single example without its batch",
        lambda: decode_invocations(orjson.dumps({"inputs": [1.0, 2.0, 3.0]}), TENSOR),
        InputMismatch,
        422,
        ["got [3]", "wrap a single example in a list"],
    ),
    (
        "two inputs for a tensor model",
        lambda: decode_v2(_v2(_col("x", [1.0]), _col("y", [2.0])), TENSOR),
        InputMismatch,
        422,
        ["the model takes one input tensor 'x', got 2 inputs ('x', 'y')"],
    ),
    (
        "columns of different lengths",
        lambda: decode_v1(
            orjson.dumps(
                {
                    "inputs": {
                        "age": [1, 2],
                        "income": [1.0],
                        "city": ["a", "b"],
                        "member": [True, False],
                    }
                }
            ),
            COLUMNS,
        ),
        InputMismatch,
        422,
        ["columns have different lengths ('age' has 2, 'income' has 1"],
    ),
    (
        "row of the wrong width",
        lambda: decode_v1(orjson.dumps({"instances": [[30, 1.5, "Oslo"]]}), COLUMNS),
        InputMismatch,
        422,
        ["row 0 has 3 values, expected 4 ('age', 'income', 'city', 'member' in that order)"],
    ),
    (
        "record lacking a column",
        lambda: decode_invocations(
            orjson.dumps({"dataframe_records": [_ONE, {"age": 1}]}), COLUMNS
        ),
        InputMismatch,
        422,
        ["record 1 lacks 'income'", "null for a missing value"],
    ),
    (
        "empty batch",
        lambda: decode_v1(b'{"instances": []}', COLUMNS),
        InputMismatch,
        422,
        ["empty batch: 'instances' has 0 rows; send at least one row"],
    ),
    (
        "empty V2 batch",
        lambda: decode_v2(_v2(_col("x", [], "FP32", [0, 3])), TENSOR),
        InputMismatch,
        422,
        ["empty batch", "0 rows"],
    ),
    (
        "too many rows",
        lambda: decode_v1(orjson.dumps({"instances": [_ONE] * 3}), COLUMNS, max_rows=2),
        TooManyRows,
        413,
        ["too many rows", "has 3, this server takes at most 2 per request"],
    ),
    (
        "no known key for /invocations",
        lambda: decode_invocations(b'{"data": [[1, 2]]}', COLUMNS),
        ProtocolError,
        400,
        [
            "exactly one of 'dataframe_split', 'dataframe_records', 'instances', 'inputs'",
            "got 'data'",
        ],
    ),
    (
        "two keys for V1",
        lambda: decode_v1(b'{"instances": [[1]], "inputs": [[1]]}', COLUMNS),
        ProtocolError,
        400,
        ["exactly one of 'instances' or 'inputs'"],
    ),
    (
        "unknown key in dataframe_split",
        lambda: decode_invocations(
            b'{"dataframe_split": {"columns": ["a"], "data": [[1]], "dtype": 1}}', COLUMNS
        ),
        ProtocolError,
        400,
        ["'dataframe_split' takes 'columns', 'data' and 'index', got 'dtype'"],
    ),
    (
        "unsupported content type",
        lambda: decode_invocations(b"a,b", COLUMNS, content_type="text/plain"),
        UnsupportedMediaType,
        415,
        ["content type 'text/plain' is not supported"],
    ),
    (
        "charset other than UTF-8",
        lambda: decode_invocations(
            b"{}", COLUMNS, content_type="application/json; charset=latin-1"
        ),
        UnsupportedMediaType,
        415,
        ["the body must be UTF-8, got charset 'latin-1'"],
    ),
    (
        "CSV row of the wrong width",
        lambda: decode_invocations(b"age,income\n1,2,3\n", COLUMNS, content_type="text/csv"),
        ProtocolError,
        400,
        ["CSV row 1 has 3 fields, the header has 2"],
    ),
    (
        "id not a string",
        lambda: decode_v2(_v2(_col("x", [1.0, 2.0, 3.0], "FP32", [1, 3]), id=7), TENSOR),
        ProtocolError,
        400,
        ["'id' must be a string, got a number (7)"],
    ),
    (
        "binary tensor extension",
        lambda: decode_v2(
            _v2({**_col("x", [], "FP32", [1, 3]), "parameters": {"binary_data_size": 12}}), TENSOR
        ),
        ProtocolError,
        400,
        ["binary tensor data extension is not supported"],
    ),
    (
        "a timestamp that is not one",
        lambda: decode_v1(
            orjson.dumps({"instances": ["2024-13-45", "tomorrow"]}),
            Signature(inputs=[ColumnSpec(name="t", dtype="datetime")]),
        ),
        InputMismatch,
        422,
        ["column 't': expected datetime, got '2024-13-45' at row 0", "ISO 8601"],
    ),
]


@pytest.mark.parametrize(
    ("call", "error", "status", "fragments"),
    [case[1:] for case in BAD_INPUTS],
    ids=[case[0] for case in BAD_INPUTS],
)
def test_bad_input_gets_an_error_that_says_what_to_do(
    call: Callable[[], Any], error: type[ProtocolError], status: int, fragments: list[str]
) -> None:
    with pytest.raises(ProtocolError) as caught:
        call()
    assert type(caught.value) is error
    assert caught.value.http_status == status
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert set(caught.value.details) == {"input", "expected", "got"}


def test_error_classes_map_to_statuses_and_codes() -> None:
    assert issubclass(InputMismatch, SchemaError)  # code catching SchemaError still works
    with pytest.raises(InputMismatch) as caught:
        decode_v2(_v2_row(age=3.5), COLUMNS)
    assert caught.value.details["input"] == "age"
    body = orjson.loads(encode_error(caught.value))
    assert body["error_code"] == "SCHEMA_MISMATCH" and "3.5" in body["message"]
    assert body["details"] == {"input": "age", "expected": "INT64", "got": "3.5"}
    # a Dockyard client rebuilds the error class from the body
    assert isinstance(error_from_body(422, body), SchemaError)
    assert orjson.loads(encode_v2_error(caught.value)) == {"error": caught.value.message}
    assert orjson.loads(encode_v2_error("model not ready")) == {"error": "model not ready"}
    internal = orjson.loads(encode_error(RuntimeError("boom")))
    assert internal == {"error_code": "INTERNAL_ERROR", "message": "RuntimeError: boom"}


# ---------------------------------------------------------------------------
# Fuzzing: nothing but ProtocolError comes out of a decoder

_KEYS = [
    "inputs",
    "outputs",
    "id",
    "parameters",
    "name",
    "shape",
    "datatype",
    "data",
    "instances",
    "dataframe_split",
    "dataframe_records",
    "columns",
    "index",
    "params",
    "b64",
    "age",
    "income",
    "city",
    "member",
    "x",
    "a",
    "b",
    "c",
]
_DATATYPES = ["BOOL", "UINT8", "INT8", "INT32", "INT64", "UINT64", "FP16", "FP32", "FP64", "BYTES"]


def _random_value(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth > 4 or roll < 0.45:
        return rng.choice(
            [
                None,
                True,
                False,
                0,
                1,
                -1,
                3.5,
                -0.0,
                1e308,
                -1e308,
                2**63,
                2**64 - 1,
                -(2**63),
                255,
                256,
                "",
                "abc",
                "30",
                "2024-05-01",
                "2024-05-01T10:00:00Z",
                "NaN",
                "Zm9v",
                rng.randint(-(10**6), 10**6),
                rng.random() * 1000,
                "".join(rng.choices(string.printable, k=rng.randint(0, 8))),
                rng.choice(_DATATYPES),
                rng.choice(_KEYS),
            ]
        )
    if roll < 0.75:
        return [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {rng.choice(_KEYS): _random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))}


def _mutate(rng: random.Random, value: Any) -> Any:
    """The value with one node replaced, dropped or duplicated at random."""
    if isinstance(value, dict) and value and rng.random() < 0.7:
        key = rng.choice(list(value))
        mutated = dict(value)
        action = rng.random()
        if action < 0.2:
            del mutated[key]
        elif action < 0.4:
            mutated[key] = _random_value(rng)
        else:
            mutated[key] = _mutate(rng, value[key])
        return mutated
    if isinstance(value, list) and value and rng.random() < 0.7:
        i = rng.randrange(len(value))
        mutated = list(value)
        action = rng.random()
        if action < 0.2:
            del mutated[i]
        elif action < 0.3:
            mutated.append(mutated[i])
        elif action < 0.5:
            mutated[i] = _random_value(rng)
        else:
            mutated[i] = _mutate(rng, value[i])
        return mutated
    return _random_value(rng)


def _valid_bodies() -> list[Any]:
    rows = [[row[name] for name in NAMES] for row in ROWS]
    return [
        {
            "id": "a",
            "inputs": [_col(name, [row[name] for row in ROWS]) for name in NAMES],
            "outputs": [{"name": "predict"}],
        },
        {"inputs": [{"name": "x", "shape": [3, 3], "datatype": "FP32", "data": MATRIX}]},
        {"inputs": [{"name": "m", "shape": [3, 3], "datatype": "FP64", "data": NUMERIC_ROWS}]},
        {"instances": ROWS},
        {"instances": rows},
        {"inputs": {name: [row[name] for row in ROWS] for name in NAMES}},
        {"inputs": MATRIX},
        {"dataframe_split": {"columns": NAMES, "data": rows, "index": [0, 1, 2]}},
        {"dataframe_records": ROWS, "params": {"k": 1}},
    ]


_SIGNATURES = [
    COLUMNS,
    NUMERIC,
    TENSOR,
    None,
    Signature(inputs=TensorSpec(dtype="uint8", shape=(-1,))),
    Signature(inputs=TensorSpec(dtype="str", shape=(-1, 2))),
    Signature(
        inputs=[
            ColumnSpec(name="age", dtype="int32", nullable=True),
            ColumnSpec(name="city", dtype="datetime"),
            ColumnSpec(name="x", dtype="binary", nullable=True),
            ColumnSpec(name="a", dtype="object"),
            ColumnSpec(name="member", dtype="bool", nullable=True),
        ]
    ),
]


def _decoders() -> list[Callable[[Any, Signature | None], Any]]:
    return [
        lambda body, sig: decode_v2(body, sig, max_rows=50, extra_columns="error"),
        lambda body, sig: decode_v2(body, sig),
        lambda body, sig: decode_v1(body, sig, max_rows=50),
        lambda body, sig: decode_invocations(body, sig),
        lambda body, sig: decode_invocations(body, sig, content_type="text/csv", max_rows=50),
    ]


def test_fuzzed_bodies_raise_only_protocol_errors() -> None:
    rng = random.Random(20240501)
    bodies: list[Any] = []
    valid = _valid_bodies()
    for _ in range(600):
        bodies.append(orjson.dumps(_mutate(rng, _mutate(rng, rng.choice(valid)))))
    for _ in range(300):
        bodies.append(orjson.dumps(_random_value(rng)))
    for _ in range(200):
        bodies.append(rng.randbytes(rng.randint(0, 64)))
    for _ in range(100):  # text that a CSV reader sees
        bodies.append(
            "\n".join(
                ",".join(
                    rng.choice(["", "1", "2.5", "x", "true", '"a,b"', "nan", "NaT", "\x00"])
                    for _ in range(rng.randint(1, 4))
                )
                for _ in range(rng.randint(0, 4))
            ).encode()
        )
    bodies.append(_mutate(rng, valid[0]))  # an already parsed body
    decoded = 0
    for body in bodies:
        for sig in _SIGNATURES:
            for decode in _decoders():
                try:
                    result = decode(body, sig)
                except ProtocolError as exc:
                    assert 400 <= exc.http_status < 500 and exc.message
                else:
                    decoded += 1
                    assert isinstance(result, ModelInput) and result.n_rows >= 1
    assert decoded > 100  # the mutations leave many bodies valid, so the fuzz reaches the casts


# ---------------------------------------------------------------------------
# The fast path: no pandas


def test_single_row_v2_makes_no_pandas_objects(monkeypatch: pytest.MonkeyPatch) -> None:
    body = _v2(*(_col(name, [value]) for name, value in zip("abc", NUMERIC_ROWS[0])))
    body = body.replace(b'"FP64","data":[1]', b'"INT64","data":[1]')
    tritonclient = _v2(_col("input-0", [NUMERIC_ROWS[0]], "FP64", [1, 3]))

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("pandas object made on the fast path")

    for cls in (pd.DataFrame, pd.Series, pd.Index):
        monkeypatch.setattr(cls, "__init__", refuse)
    monkeypatch.setattr(pd, "DataFrame", refuse)
    monkeypatch.setattr(pd, "Series", refuse)
    for request in (body, tritonclient):
        decoded = decode_v2(request, NUMERIC)
        array = as_model_input(decoded, NUMERIC, arrays=True)
        np.testing.assert_array_equal(array, np.array([NUMERIC_ROWS[0]]))
        response = encode_v2_response(
            array.sum(axis=1), model_name="m", request=decoded, signature=NUMERIC
        )
        assert orjson.loads(response)["outputs"][0]["data"] == [3.5]
    with pytest.raises(AssertionError, match="pandas object made"):
        as_model_input(decoded, NUMERIC, arrays=False)  # the patch does catch pandas


# ---------------------------------------------------------------------------
# Encoding


def test_v2_response_names_types_and_shapes_outputs() -> None:
    request = decode_v2(_v2(_col("x", [1.0, 2.0, 3.0], "FP32", [1, 3]), id="r-9"), TENSOR)
    body = orjson.loads(
        encode_v2_response(
            np.array([0.5, np.nan], dtype=np.float32),
            model_name="churn",
            model_version=3,  # type: ignore[arg-type]
            request=request,
            parameters={"cached": False},
        )
    )
    assert body == {
        "model_name": "churn",
        "model_version": "3",
        "id": "r-9",
        "parameters": {"cached": False},
        "outputs": [{"name": "predict", "shape": [2], "datatype": "FP32", "data": [0.5, None]}],
    }
    matrix = orjson.loads(
        encode_v2_response(np.arange(6, dtype=np.int8).reshape(2, 3), model_name="m")
    )
    assert matrix["outputs"] == [
        {"name": "predict", "shape": [2, 3], "datatype": "INT8", "data": [0, 1, 2, 3, 4, 5]}
    ]
    assert "id" not in matrix and "model_version" not in matrix


def test_v2_output_names_come_from_the_signature_the_dict_or_the_frame() -> None:
    named = Signature(
        inputs=COLUMNS.inputs,
        outputs=[ColumnSpec(name="p0", dtype="float64"), ColumnSpec(name="p1", dtype="float64")],
    )
    split = orjson.loads(
        encode_v2_response(np.array([[0.2, 0.8]]), model_name="m", signature=named)
    )
    assert [(o["name"], o["data"]) for o in split["outputs"]] == [("p0", [0.2]), ("p1", [0.8])]
    one = orjson.loads(encode_v2_response(np.array([1.0]), model_name="m", signature=COLUMNS))
    assert one["outputs"][0]["name"] == "spend"
    tensor = Signature(
        inputs=TENSOR.inputs, outputs=TensorSpec(name="logits", dtype="float32", shape=(-1,))
    )
    assert (
        orjson.loads(encode_v2_response([1.5], model_name="m", signature=tensor))["outputs"][0][
            "name"
        ]
        == "logits"
    )

    several = orjson.loads(
        encode_v2_response(
            {"label": np.array(["yes", "no"]), "score": np.array([0.9, 0.1]), "ok": [True, False]},
            model_name="m",
        )
    )
    assert [(o["name"], o["datatype"], o["data"]) for o in several["outputs"]] == [
        ("label", "BYTES", ["yes", "no"]),
        ("score", "FP64", [0.9, 0.1]),
        ("ok", "BOOL", [True, False]),
    ]
    frame = pd.DataFrame(
        {
            "n": pd.array([1, None], dtype="Int64"),
            "s": ["a", None],
            "u": np.array([1, 2], dtype=np.uint16),
        }
    )
    outputs = orjson.loads(encode_v2_response(frame, model_name="m"))["outputs"]
    assert [(o["name"], o["datatype"], o["data"]) for o in outputs] == [
        ("n", "FP64", [1.0, None]),
        ("s", "BYTES", ["a", None]),
        ("u", "UINT16", [1, 2]),
    ]
    tuple_outputs = orjson.loads(encode_v2_response((np.ones(2), np.zeros((2, 2))), model_name="m"))
    assert [o["name"] for o in tuple_outputs["outputs"]] == ["output-0", "output-1"]
    dates = orjson.loads(
        encode_v2_response(
            np.array(["2024-05-01T00:00", "NaT"], dtype="datetime64[s]"), model_name="m"
        )
    )
    assert dates["outputs"][0]["data"] == ["2024-05-01T00:00:00", None]


def test_v2_requested_outputs_filter_and_refuse_unknown_names() -> None:
    def ask(*names: str) -> ModelInput:
        return decode_v2(
            _v2(_col("x", [1.0, 2.0, 3.0], "FP32", [1, 3]), outputs=[{"name": n} for n in names]),
            TENSOR,
        )

    predictions = {"label": np.array([1]), "proba": np.array([[0.3, 0.7]])}
    body = orjson.loads(encode_v2_response(predictions, model_name="m", request=ask("proba")))
    assert [o["name"] for o in body["outputs"]] == ["proba"]
    assert body["outputs"][0]["shape"] == [1, 2]
    with pytest.raises(
        ProtocolError, match="output 'score' does not exist; the model gives 'label', 'proba'"
    ):
        encode_v2_response(predictions, model_name="m", request=ask("score"))


def test_v1_and_invocations_responses() -> None:
    assert orjson.loads(encode_v1_response(np.array([1.5, np.nan]))) == {"predictions": [1.5, None]}
    assert orjson.loads(encode_v1_response(np.array([[1, 2], [3, 4]]))) == {
        "predictions": [[1, 2], [3, 4]]
    }
    assert orjson.loads(encode_v1_response(np.array(["a", "b"]))) == {"predictions": ["a", "b"]}
    frame = pd.DataFrame({"label": ["a", "b"], "p": [0.25, np.nan]})
    records = [{"label": "a", "p": 0.25}, {"label": "b", "p": None}]
    assert orjson.loads(encode_v1_response(frame)) == {"predictions": records}
    assert orjson.loads(encode_invocations_response(frame)) == {"predictions": records}
    as_dict = {"label": np.array(["a", "b"]), "p": np.array([0.25, 0.5])}
    assert orjson.loads(encode_v1_response(as_dict)) == {
        "predictions": [{"label": "a", "p": 0.25}, {"label": "b", "p": 0.5}]
    }
    # MLflow keeps a dict a dict of lists
    assert orjson.loads(encode_invocations_response(as_dict)) == {
        "predictions": {"label": ["a", "b"], "p": [0.25, 0.5]}
    }
    assert orjson.loads(encode_invocations_response(pd.Series([1, 2]))) == {"predictions": [1, 2]}
    assert orjson.loads(encode_invocations_response([np.float32(0.5), np.int64(2), None])) == {
        "predictions": [0.5, 2, None]
    }
    # non-contiguous and big-endian arrays too
    strided = np.arange(12, dtype=np.float64).reshape(3, 4)[:, 1]
    assert orjson.loads(encode_v1_response(strided))["predictions"] == [1.0, 5.0, 9.0]
    swapped = np.array([1.0, 2.0], dtype=">f8")
    assert orjson.loads(encode_v2_response(swapped, model_name="m"))["outputs"][0]["data"] == [1, 2]
    assert orjson.loads(encode_v1_response(swapped))["predictions"] == [1.0, 2.0]
    with pytest.raises(DockyardError, match="holds objects; use the V1 or /invocations endpoint"):
        encode_v2_response([{"a": 1}], model_name="m")
    assert orjson.loads(encode_v1_response([{"a": 1}])) == {"predictions": [{"a": 1}]}


# ---------------------------------------------------------------------------
# Round trips through real models


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def named_model(tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    """A pipeline fitted on a DataFrame with a text column: it takes named columns."""
    train = pd.DataFrame(
        {
            "age": [20, 35, 50, 62, 41, 28],
            "income": [100.0, 2500.0, 800.0, 50.0, 1500.5, 320.25],
            "city": ["Oslo", "Bergen", "Oslo", "Tromsø", "Bergen", "Oslo"],
            "member": [True, False, True, False, False, True],
        }
    )
    target = [10.0, 40.0, 25.0, 5.0, 31.0, 12.0]
    encode = ColumnTransformer(
        [("city", OneHotEncoder(handle_unknown="ignore"), ["city"])], remainder="passthrough"
    )
    model = make_pipeline(encode, LinearRegression()).fit(train, target)
    path = tmp_path_factory.mktemp("named") / "model"
    save(model, path, signature=COLUMNS)
    return load(path, trust=True)


@pytest.fixture(scope="module")
def array_model(tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    """A classifier fitted on a plain float32 array, served through a tensor signature."""
    rng = np.random.default_rng(0)
    features = rng.normal(size=(40, 3)).astype(np.float32)
    labels = (features.sum(axis=1) > 0).astype(int)
    model = LogisticRegression().fit(features, labels)
    path = tmp_path_factory.mktemp("array") / "model"
    save(model, path, signature=TENSOR)
    return load(path, trust=True)


def _predictions(body: bytes, protocol: str) -> list[Any]:
    document = orjson.loads(body)
    if protocol == "v2":
        return document["outputs"][0]["data"]
    return document["predictions"]


@pytest.mark.parametrize("form", list(_column_forms()))
def test_round_trip_through_a_model_fitted_on_named_columns(
    named_model: LoadedModel, form: str
) -> None:
    assert not accepts_arrays(named_model)
    expected = named_model.predict(_frame(ROWS))
    decoded = _column_forms()[form]()
    predictions = predict(named_model, decoded)
    np.testing.assert_allclose(predictions, expected)
    v2 = encode_v2_response(
        predictions, model_name="spend", request=decoded, signature=named_model.signature
    )
    assert orjson.loads(v2)["outputs"][0]["name"] == "spend"
    for protocol, body in (
        ("v2", v2),
        ("v1", encode_v1_response(predictions)),
        ("invocations", encode_invocations_response(predictions)),
    ):
        np.testing.assert_allclose(_predictions(body, protocol), expected)


@pytest.mark.parametrize("form", list(_tensor_forms()))
def test_round_trip_through_a_model_fitted_on_arrays(array_model: LoadedModel, form: str) -> None:
    assert accepts_arrays(array_model)
    matrix = np.array(MATRIX, dtype=np.float32)
    decoded = _tensor_forms()[form]()
    labels = predict(array_model, decoded)
    np.testing.assert_array_equal(labels, array_model.predict(matrix))
    np.testing.assert_allclose(
        predict(array_model, decoded, proba=True), array_model.predict_proba(matrix)
    )
    for protocol, body in (
        ("v2", encode_v2_response(labels, model_name="clf", request=decoded)),
        ("v1", encode_v1_response(labels)),
        ("invocations", encode_invocations_response(labels)),
    ):
        assert _predictions(body, protocol) == labels.tolist()


def test_array_models_get_one_2d_array_from_named_columns(array_model: LoadedModel) -> None:
    """A model fitted on arrays is served columns as one array, without pandas."""
    signature = Signature(inputs=[ColumnSpec(name=n, dtype="float32") for n in ("p", "q", "r")])
    decoded = decode_v1(orjson.dumps({"instances": MATRIX}), signature)
    array = as_model_input(decoded, signature, arrays=accepts_arrays(array_model))
    assert isinstance(array, np.ndarray) and array.shape == (3, 3) and array.dtype == np.float32
    np.testing.assert_array_equal(
        array_model.flavor.predict(array_model.raw, array),
        array_model.predict(np.array(MATRIX, dtype=np.float32)),
    )
    single = decode_v1(
        orjson.dumps({"instances": [1.5, 2.5]}), Signature(inputs=signature.inputs[:1])
    )
    assert as_model_input(single).shape == (2, 1)


def test_predict_proba_is_refused_for_models_without_it(named_model: LoadedModel) -> None:
    decoded = decode_v1(orjson.dumps({"instances": ROWS}), COLUMNS)
    with pytest.raises(InvalidArgument, match="does not predict probabilities"):
        predict(named_model, decoded, proba=True)
