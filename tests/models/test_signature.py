"""Model signatures: inference from each input form, round trips, and what predict refuses."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from dockyard.errors import InvalidArgument, SchemaError
from dockyard.models.signature import (
    ColumnSpec,
    Signature,
    TensorSpec,
    infer_signature,
    to_input,
)


@pytest.fixture
def people() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": [30, 41, 52],
            "height": [1.7, np.nan, 1.8],
            "city": ["Oslo", None, "Lima"],
            "member": [True, False, True],
            "visits": pd.array([1, None, 3], dtype="Int64"),
            "joined": pd.to_datetime(["2024-01-01", "2024-02-01", None]),
            "score": np.array([0.5, 0.25, 1.0], dtype=np.float32),
            "rank": np.array([1, 2, 3], dtype=np.int8),
        }
    )


@pytest.fixture
def signature(people: pd.DataFrame) -> Signature:
    return infer_signature(people, np.array([0.1, 0.2, 0.3]))


def columns(**dtypes: str) -> Signature:
    return Signature(inputs=[ColumnSpec(name=name, dtype=dtype) for name, dtype in dtypes.items()])


def tensor(dtype: str, *shape: int, name: str | None = None) -> Signature:
    return Signature(inputs=TensorSpec(name=name, dtype=dtype, shape=shape))


def refused(data: Any, signature: Signature | None, **kwargs: Any) -> SchemaError:
    with pytest.raises(SchemaError) as info:
        to_input(data, signature, **kwargs)
    return info.value


# Inference


def test_dataframe_gives_columns_with_dtypes_and_nullability(signature: Signature) -> None:
    assert signature.inputs == [
        ColumnSpec(name="age", dtype="int64"),
        ColumnSpec(name="height", dtype="float64", nullable=True),
        ColumnSpec(name="city", dtype="string", nullable=True),
        ColumnSpec(name="member", dtype="bool"),
        ColumnSpec(name="visits", dtype="int64", nullable=True),
        ColumnSpec(name="joined", dtype="datetime", nullable=True),
        ColumnSpec(name="score", dtype="float32"),
        ColumnSpec(name="rank", dtype="int32"),
    ]
    assert signature.outputs == TensorSpec(dtype="float64", shape=(-1,))
    assert not signature.is_tensor


def test_dict_records_and_single_record_infer_the_same_columns() -> None:
    expected = [ColumnSpec(name="x", dtype="int64"), ColumnSpec(name="label", dtype="string")]
    assert infer_signature({"x": [1, 2], "label": ["a", "b"]}).inputs == expected
    assert infer_signature([{"x": 1, "label": "a"}, {"x": 2, "label": "b"}]).inputs == expected
    assert infer_signature({"x": 1, "label": "a"}).inputs == expected


def test_records_with_a_null_give_a_nullable_column() -> None:
    signature = infer_signature([{"x": 1.5, "note": None}, {"x": None, "note": "late"}])
    assert signature.inputs == [
        ColumnSpec(name="x", dtype="float64", nullable=True),
        ColumnSpec(name="note", dtype="string", nullable=True),
    ]


def test_unnamed_numeric_arrays_give_tensors() -> None:
    images = np.zeros((4, 28, 28), dtype=np.uint8)
    assert infer_signature(images).inputs == TensorSpec(dtype="uint8", shape=(-1, 28, 28))
    assert infer_signature([[1.0, 2.0], [3.0, 4.0]]).inputs == TensorSpec(
        dtype="float64", shape=(-1, 2)
    )
    assert infer_signature(np.arange(3, dtype=np.float32)).is_tensor


def test_structured_array_gives_columns() -> None:
    rows = np.array([(1, 2.5)], dtype=[("n", "i8"), ("x", "f4")])
    assert infer_signature(rows).inputs == [
        ColumnSpec(name="n", dtype="int64"),
        ColumnSpec(name="x", dtype="float32"),
    ]


def test_array_of_mixed_values_needs_names() -> None:
    with pytest.raises(SchemaError, match="pass a DataFrame or a dict of columns"):
        infer_signature(np.array([[1, "a"]], dtype=object))


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        (np.array([[0.2, 0.8]]), TensorSpec(dtype="float64", shape=(-1, 2))),
        (["cat", "dog"], TensorSpec(dtype="str", shape=(-1,))),
        (pd.Series([1, 0]), TensorSpec(dtype="int64", shape=(-1,))),
        (
            pd.Series([1, None], name="label"),
            [ColumnSpec(name="label", dtype="float64", nullable=True)],
        ),
        (
            pd.DataFrame({"p": [0.1], "label": ["a"]}),
            [ColumnSpec(name="p", dtype="float64"), ColumnSpec(name="label", dtype="string")],
        ),
    ],
)
def test_output_inference(output: Any, expected: Any) -> None:
    assert infer_signature({"x": [1.0, 2.0]}, output).outputs == expected


def test_categorical_and_narrow_columns_widen() -> None:
    frame = pd.DataFrame(
        {
            "colour": pd.Categorical(["red", "blue"]),
            "small": np.array([1, 2], dtype=np.uint16),
            "wide": np.array([1, 2], dtype=np.uint32),
            "half": np.array([1, 2], dtype=np.float16),
            "blob": [b"\x00", b"\x01"],
            "anything": [[1], {"a": 2}],
        }
    )
    assert [(c.name, c.dtype) for c in infer_signature(frame).inputs] == [
        ("colour", "string"),
        ("small", "int32"),
        ("wide", "int64"),
        ("half", "float32"),
        ("blob", "binary"),
        ("anything", "object"),
    ]


# Serialisation


def test_round_trip_through_dict(signature: Signature) -> None:
    d = signature.to_dict()
    assert d["inputs"]["columns"][1] == {"name": "height", "dtype": "float64", "nullable": True}
    assert d["outputs"] == {"tensor": {"name": None, "dtype": "float64", "shape": [-1]}}
    assert Signature.from_dict(d) == signature
    only_tensor = tensor("float32", -1, 3, name="x")
    assert only_tensor.to_dict() == {
        "inputs": {"tensor": {"name": "x", "dtype": "float32", "shape": [-1, 3]}}
    }
    assert Signature.from_dict(only_tensor.to_dict()) == only_tensor


def test_round_trip_through_yaml(signature: Signature) -> None:
    assert Signature.from_dict(yaml.safe_load(yaml.safe_dump(signature.to_dict()))) == signature


@pytest.mark.parametrize(
    ("d", "message"),
    [
        ({"outputs": {}}, "a signature is a mapping with 'inputs'"),
        ({"inputs": [{"name": "a", "dtype": "int64"}]}, "must be {'columns': [...]}"),
        (
            {"inputs": {"columns": [{"name": "a", "dtype": "int16"}]}},
            "invalid signature inputs: dtype",
        ),
        (
            {"inputs": {"tensor": {"dtype": "complex64", "shape": [-1]}}},
            "'complex64' is not one of",
        ),
        ({"inputs": {"columns": [{"name": "a", "dtype": "bool"}] * 2}}, "column names repeat: 'a'"),
        ({"inputs": {"columns": []}}, "needs at least one column"),
    ],
)
def test_malformed_dict_is_refused(d: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message.replace("[", r"\[").replace("(", r"\(")):
        Signature.from_dict(d)


# One result for every input form


def test_four_input_forms_give_the_same_frame(people: pd.DataFrame, signature: Signature) -> None:
    forms = [people, people.to_dict("list"), people.to_dict("records"), people.to_numpy()]
    results = [to_input(form, signature) for form in forms]
    for result in results[1:]:
        pd.testing.assert_frame_equal(result, results[0])
    assert list(results[0].columns) == [column.name for column in signature.inputs]  # type: ignore[union-attr]
    assert results[0].dtypes.astype(str).to_dict() == {
        "age": "int64",
        "height": "float64",
        "city": str(pd.Series(["a"]).dtype),
        "member": "bool",
        "visits": "Int64",
        "joined": str(pd.Series(pd.to_datetime(["2000-01-01"])).dtype),
        "score": "float32",
        "rank": "int32",
    }
    assert results[0]["visits"].isna().tolist() == [False, True, False]


def test_reordered_and_reindexed_frame_is_put_in_signature_order(
    people: pd.DataFrame, signature: Signature
) -> None:
    shuffled = people[people.columns[::-1]].set_axis([10, 20, 30])
    pd.testing.assert_frame_equal(to_input(shuffled, signature), to_input(people, signature))


def test_single_record_is_one_row(signature: Signature, people: pd.DataFrame) -> None:
    record = people.to_dict("records")[0]
    pd.testing.assert_frame_equal(to_input(record, signature), to_input(people.iloc[:1], signature))


def test_four_input_forms_give_the_same_tensor() -> None:
    values = np.arange(12, dtype=np.float32).reshape(3, 4)
    signature = infer_signature(values)
    frame = pd.DataFrame(values, columns=list("abcd"))
    for form in (values, frame, frame.to_dict("list"), frame.to_dict("records"), values.tolist()):
        result = to_input(form, signature)
        assert isinstance(result, np.ndarray) and result.dtype == np.float32
        np.testing.assert_array_equal(result, values)


def test_named_tensor_accepts_a_dict_with_its_name() -> None:
    result = to_input({"pixels": [[0, 255]]}, tensor("uint8", -1, 2, name="pixels"))
    assert result.dtype == np.uint8 and result.tolist() == [[0, 255]]


def test_safe_casts_are_made() -> None:
    result = to_input(
        {"f": [1, 2], "n": [1.0, 2.0], "small": [7, -7]},
        columns(f="float32", n="int64", small="int32"),
    )
    assert result.dtypes.astype(str).tolist() == ["float32", "int64", "int32"]
    assert (
        to_input(np.array([[1, 2]], dtype=np.int64), tensor("float32", -1, 2)).dtype == np.float32
    )


def test_iso_strings_become_datetimes() -> None:
    result = to_input({"at": ["2024-05-01T12:00:00", "2024-05-02"]}, columns(at="datetime"))
    assert result["at"].tolist() == [pd.Timestamp("2024-05-01 12:00"), pd.Timestamp("2024-05-02")]


def test_no_signature_keeps_the_form() -> None:
    assert isinstance(to_input([{"a": 1}], None), pd.DataFrame)
    assert isinstance(to_input({"a": [1]}, None), pd.DataFrame)
    assert isinstance(to_input(np.zeros((2, 2)), None), np.ndarray)


def test_ten_thousand_rows_are_fast(people: pd.DataFrame, signature: Signature) -> None:
    big = pd.concat([people] * 3400, ignore_index=True)
    for form in (big, big.to_dict("list"), big.to_dict("records"), big.to_numpy()):
        start = time.perf_counter()
        assert len(to_input(form, signature)) == len(big)
        assert time.perf_counter() - start < 1.0


# What is refused, and what the message says


def test_missing_column_names_it_and_suggests_a_close_match(
    people: pd.DataFrame, signature: Signature
) -> None:
    error = refused(people.rename(columns={"age": "Age"}), signature)
    assert str(error).startswith("column 'age' is missing: expected int64, got columns 'Age', ")
    assert str(error).endswith("add 'age' (did you mean 'Age'?)")
    assert error.details == {"column": "age", "expected": "int64", "got": "missing"}


def test_uncastable_type_shows_the_values(people: pd.DataFrame, signature: Signature) -> None:
    error = refused(people.assign(age=["forty-two", 41, 52]), signature)
    assert str(error) == (
        "column 'age': expected int64, got string values ('forty-two') at row 0; send whole numbers"
    )
    assert error.details["column"] == "age"
    error = refused({"city": [1, 2]}, columns(city="string"))
    assert str(error) == "column 'city': expected string, got integers (1, 2) at row 0; send text"
    error = refused({"x": [1.0, {"a": 1}]}, columns(x="float64"))
    assert (
        str(error)
        == "column 'x': expected float64, got dict values ({'a': 1}) at row 1; send numbers"
    )


def test_fractional_float_to_int() -> None:
    error = refused({"age": [30.0, 41.5]}, columns(age="int64"))
    assert str(error) == (
        "column 'age': expected int64, got a fractional number 41.5 at row 1; "
        "send whole numbers or declare the column float64"
    )


def test_numeric_strings_are_not_numbers() -> None:
    error = refused({"height": ["1.7", "1.8"]}, columns(height="float64"))
    assert str(error) == (
        "column 'height': expected float64, got numbers sent as strings ('1.7', '1.8') at row 0; "
        "send them as numbers, without quotes"
    )


def test_bool_and_int_do_not_mix() -> None:
    error = refused({"n": [True, False]}, columns(n="int64"))
    assert str(error) == (
        "column 'n': expected int64, got booleans (True, False) at row 0; "
        "send whole numbers, not true/false"
    )
    error = refused({"member": [1, 0]}, columns(member="bool"))
    assert (
        str(error)
        == "column 'member': expected bool, got integers (1, 0) at row 0; send true/false"
    )


def test_int_overflowing_int32() -> None:
    error = refused({"n": [1, 3_000_000_000]}, columns(n="int32"))
    assert str(error) == (
        "column 'n': expected int32, got 3000000000 at row 1, outside the int32 range "
        "[-2147483648, 2147483647]; send smaller values or declare the column int64"
    )


def test_float_overflowing_float32() -> None:
    error = refused({"x": [1.0, -1e300]}, columns(x="float32"))
    assert str(error).startswith("column 'x': expected float32, got -1e+300 at row 1, outside")


def test_null_in_a_non_nullable_column_names_the_row(
    people: pd.DataFrame, signature: Signature
) -> None:
    error = refused(people.assign(age=[30, None, 52]), signature)
    assert str(error) == (
        "column 'age': expected int64 without nulls, got a null at row 1; "
        "send a value (the column is not nullable)"
    )
    assert error.details == {"column": "age", "expected": "int64 not null", "got": "null at row 1"}


def test_nullable_column_takes_nulls(people: pd.DataFrame, signature: Signature) -> None:
    result = to_input(people.assign(height=None, visits=[None, 2.0, None]), signature)
    assert result["height"].isna().all()
    assert result["visits"].tolist() == [pd.NA, 2, pd.NA]


def test_wrong_tensor_shape_names_both_shapes() -> None:
    error = refused(np.zeros((3, 3), dtype=np.float32), tensor("float32", -1, 4))
    assert str(error) == (
        "input tensor: expected shape (-1, 4), got shape (3, 3); send arrays of shape (n, 4)"
    )
    assert error.details == {"column": None, "expected": "(-1, 4)", "got": "(3, 3)"}


def test_wrong_tensor_rank() -> None:
    error = refused(np.zeros(4, dtype=np.float32), tensor("float32", -1, 4, name="x"))
    assert str(error) == (
        "tensor 'x': expected rank 2 with shape (-1, 4), got rank 1 with shape (4,); "
        "wrap a single example in a list or use reshape(1, ...)"
    )


@pytest.mark.parametrize(
    ("data", "dtype", "message"),
    [
        (
            np.zeros((1, 2)),
            "int64",
            (
                "input tensor: expected int64, got float64 values; "
                "float64 does not cast to int64 safely; send int64 values"
            ),
        ),
        (
            np.array([[300, 2]]),
            "uint8",
            (
                "input tensor: expected uint8, got 300, outside the uint8 range; "
                "send values between 0 and 255"
            ),
        ),
        (
            np.array([[True, False]]),
            "float32",
            (
                "input tensor: expected float32, got bool values; "
                "send float32 values; booleans and numbers do not mix"
            ),
        ),
        (
            [["1", "2"]],
            "float32",
            (
                "input tensor: expected float32, got numbers sent as strings ('1', '2'); "
                "send them as numbers, without quotes"
            ),
        ),
        (
            [[1.0, None]],
            "float32",
            "input tensor: expected float32, got object values (1.0, None); send float32 values",
        ),
    ],
)
def test_wrong_tensor_dtype_is_cast_only_when_safe(data: Any, dtype: str, message: str) -> None:
    assert str(refused(data, tensor(dtype, -1, 2))) == message


def test_extra_column_is_refused_on_request(people: pd.DataFrame, signature: Signature) -> None:
    error = refused(people.assign(note="x"), signature, extra_columns="error")
    assert str(error) == (
        "column 'note' is not in the signature; remove it or pass extra_columns='drop'"
    )
    error = refused(people.assign(a=1, b=2), signature, extra_columns="error")
    assert str(error).startswith("columns 'a', 'b' are not in the signature; remove them")
    assert error.details["got"] == "'a', 'b'"


def test_extra_column_is_dropped_with_a_warning(people: pd.DataFrame, signature: Signature) -> None:
    with pytest.warns(UserWarning, match="dropped columns not in the signature: 'note', 'id'"):
        result = to_input(people.assign(note="x", id=1), signature)
    assert "note" not in result.columns
    pd.testing.assert_frame_equal(
        to_input(people.assign(note="x"), signature, extra_columns="ignore"),
        to_input(people, signature),
    )


@pytest.mark.parametrize("data", [[], {}, pd.DataFrame({"age": []}), np.zeros((0, 8))])
def test_empty_input(data: Any, signature: Signature) -> None:
    assert str(refused(data, signature)) == "empty input: got 0 rows; send at least one row"


@pytest.mark.parametrize(("data", "name"), [({1, 2}, "set"), ("age=3", "str"), (None, "NoneType")])
def test_unsupported_input_type(data: Any, name: str, signature: Signature) -> None:
    assert str(refused(data, signature)) == (
        "unsupported input: expected a pandas DataFrame, a dict of columns, a list of records "
        f"or a numpy array, got {name}"
    )


def test_array_of_wrong_width_for_columns() -> None:
    error = refused(np.zeros((2, 3)), columns(a="float64", b="float64"))
    assert str(error) == (
        "expected a 2-D array with 2 columns ('a', 'b'), got 3 columns; "
        "send one value per signature column, in that order"
    )
    error = refused(np.zeros(2), columns(a="float64", b="float64"))
    assert "got a 1-D array of shape (2,)" in str(error)
    assert str(error).endswith("wrap a single row in a list or use reshape(1, -1)")


def test_records_with_inconsistent_keys() -> None:
    error = refused([{"age": 1, "height": 1.7}, {"age": 2, "heigth": 1.8}], columns(age="int64"))
    assert str(error) == (
        "records have different keys: record 1 lacks 'height' and adds 'heigth' "
        "(record 0 has 'age', 'height'); send the same keys in every record, with null for a "
        "missing value"
    )
    error = refused([{"age": 1}, {"age": 2, "height": 1.8}], columns(age="int64"))
    assert str(error).startswith("records have different keys: record 1 adds 'height' (record 0")


def test_columns_of_different_lengths() -> None:
    error = refused({"a": [1, 2], "b": [1]}, columns(a="int64", b="int64"))
    assert str(error) == (
        "columns have different lengths ('a' has 2, 'b' has 1); "
        "send the same number of values in each"
    )


def test_ragged_list_of_lists() -> None:
    error = refused([[1.0, 2.0], [3.0]], tensor("float64", -1, 2))
    assert str(error) == "rows have different lengths; send a rectangular list of lists"


def test_unparseable_datetime() -> None:
    error = refused({"at": ["2024-05-01", "yesterday"]}, columns(at="datetime"))
    assert str(error) == (
        "column 'at': expected datetime, got 'yesterday' at row 1, which is not a timestamp; "
        "send ISO 8601 strings such as '2024-05-01T12:00:00'"
    )


def test_unknown_extra_columns_mode_is_refused(signature: Signature, people: pd.DataFrame) -> None:
    with pytest.raises(InvalidArgument, match="extra_columns must be 'drop', 'ignore' or 'error'"):
        to_input(people, signature, extra_columns="keep")  # type: ignore[arg-type]
