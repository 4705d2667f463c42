"""OIP v2 tensors and MLflow scoring bodies <-> numpy, without a server: every datatype
round-trips, and every malformed tensor is refused with a message naming it."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from digitalhub_airflow.errors import InferenceError
from digitalhub_airflow.serving.runtime.protocol import (
    MAX_JSON_DEPTH,
    V2_TO_NUMPY,
    cast_to_signature,
    check_json_depth,
    decode_infer_request,
    decode_mlflow_json,
    decode_tensor,
    encode_tensor,
    error_body,
    infer_response,
    json_depth,
    mlflow_predictions,
    parse_json,
)

SAMPLES: dict[str, list[Any]] = {
    "BOOL": [True, False, True, True],
    "UINT8": [0, 1, 254, 255],
    "UINT16": [0, 1, 2, 65535],
    "UINT32": [0, 1, 2, 4294967295],
    "UINT64": [0, 1, 2, 2**63],
    "INT8": [-128, 0, 1, 127],
    "INT16": [-32768, 0, 1, 32767],
    "INT32": [-(2**31), 0, 1, 2**31 - 1],
    "INT64": [-(2**63), 0, 1, 2**63 - 1],
    "FP16": [0.5, -1.0, 2.0, 65504.0],
    "FP32": [0.25, -1.5, 3.0, 2.0**100],
    "FP64": [0.1, -1e300, 3.0, 1e-300],
    "BYTES": ["a", "b", "héllo", ""],
}


def tensor(datatype: str, data: Any, shape: list[int] | None = None) -> dict[str, Any]:
    shape = [2, 2] if shape is None else shape
    return {"name": "x", "shape": shape, "datatype": datatype, "data": data}


def refused(spec: dict[str, Any], *words: str) -> None:
    with pytest.raises(InferenceError) as info:
        decode_tensor(spec, "inputs[0]")
    assert info.value.status == 400
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize("datatype", list(SAMPLES))
def test_every_datatype_round_trips_through_json(datatype: str) -> None:
    array = decode_tensor(tensor(datatype, SAMPLES[datatype]), "inputs[0]")
    assert array.shape == (2, 2)
    assert array.dtype == np.dtype(V2_TO_NUMPY[datatype])
    encoded = json.loads(json.dumps(encode_tensor("y", array)))
    assert encoded == {
        "name": "y",
        "datatype": datatype,
        "shape": [2, 2],
        "data": SAMPLES[datatype],
    }


def test_nested_data_equals_flat_row_major() -> None:
    flat = decode_tensor(tensor("FP32", [1, 2, 3, 4, 5, 6], [2, 3]), "i")
    nested = decode_tensor(tensor("FP32", [[1, 2, 3], [4, 5, 6]], [2, 3]), "i")
    assert np.array_equal(flat, nested) and flat[1, 0] == 4


def test_integers_widen_to_floats_but_not_back() -> None:
    assert decode_tensor(tensor("FP64", [1, 2, 3, 4]), "i").dtype == np.float64
    refused(tensor("INT64", [1.5, 2, 3, 4]), "not INT64", "numbers")
    refused(tensor("BOOL", [1, 0, 1, 0]), "not BOOL", "integers")
    refused(tensor("FP32", ["1", "2", "3", "4"]), "not FP32", "strings")
    refused(tensor("BYTES", [1, 2, 3, 4]), "not BYTES")


@pytest.mark.parametrize(
    ("datatype", "value"), [("UINT8", -1), ("UINT8", 256), ("INT8", 128), ("INT16", -40000)]
)
def test_values_outside_the_datatype_are_refused(datatype: str, value: int) -> None:
    refused(tensor(datatype, [value, 0, 0, 0]), f"outside the range of {datatype}")


def test_shape_must_match_the_data() -> None:
    refused(tensor("FP32", [1, 2, 3]), "shape [2, 2] holds 4 elements but data has 3")
    refused(tensor("FP32", [[1, 2], [3]]), "not a regular array")
    refused(tensor("FP32", [1, 2, 3, 4], [2, -2]), "non-negative integers")
    refused(tensor("FP32", [1, 2, 3, 4], []), "non-negative integers")
    refused({"name": "x", "shape": [1], "datatype": "FP32"}, "lacks data")
    refused(tensor("FLOAT", [1, 2, 3, 4]), "'FLOAT' is not one of")
    refused(tensor("FP32", "1234"), "data must be a JSON array")


def test_empty_batch_is_a_valid_tensor() -> None:
    assert decode_tensor(tensor("INT32", [], [0, 3]), "i").shape == (0, 3)


def test_infer_request_fields() -> None:
    request = decode_infer_request(
        {"id": "r-1", "inputs": [tensor("FP32", [1, 2, 3, 4])], "outputs": [{"name": "predict"}]}
    )
    assert request.request_id == "r-1" and request.outputs == ["predict"]
    assert list(request.inputs) == ["x"]
    for bad, words in [
        ([], "JSON object"),
        ({"inputs": []}, "non-empty 'inputs'"),
        ({"inputs": [tensor("FP32", [1, 2, 3, 4])] * 2}, "given twice"),
        ({"id": 5, "inputs": [tensor("FP32", [1, 2, 3, 4])]}, "'id' must be a string"),
        ({"inputs": [tensor("FP32", [1, 2, 3, 4])], "outputs": ["predict"]}, "'outputs'"),
    ]:
        with pytest.raises(InferenceError, match=words):
            decode_infer_request(bad)


def test_response_echoes_the_id_only_when_given() -> None:
    outputs = {"predict": np.array([1, 0])}
    with_id = infer_response("wine", "3", "r-9", outputs)
    assert with_id["id"] == "r-9" and with_id["model_version"] == "3"
    assert with_id["outputs"] == [
        {"name": "predict", "datatype": "INT64", "shape": [2], "data": [1, 0]}
    ]
    assert "id" not in infer_response("wine", "3", None, outputs)


def test_malformed_json() -> None:
    with pytest.raises(InferenceError, match="malformed JSON"):
        parse_json(b"{nope")
    with pytest.raises(InferenceError, match="empty"):
        parse_json(b"")


def test_mlflow_formats_give_the_same_columns() -> None:
    split = decode_mlflow_json(
        {"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2.5], [3, 4.5]]}}
    )
    records = decode_mlflow_json({"dataframe_records": [{"a": 1, "b": 2.5}, {"a": 3, "b": 4.5}]})
    inputs = decode_mlflow_json({"inputs": {"a": [1, 3], "b": [2.5, 4.5]}})
    for found in (split, records, inputs):
        assert isinstance(found, dict) and list(found) == ["a", "b"]
        assert found["a"].tolist() == [1, 3] and found["b"].tolist() == [2.5, 4.5]
    instances = decode_mlflow_json({"instances": [[1, 2.5], [3, 4.5]]})
    assert isinstance(instances, np.ndarray) and instances.shape == (2, 2)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({}, "exactly one of"),
        ({"instances": [], "inputs": []}, "found instances, inputs"),
        ({"dataframe_split": {"columns": ["a"], "data": [[1, 2]]}}, "must have 1 values"),
        ({"dataframe_records": [{"a": 1}, {"b": 2}]}, "lacks column 'a'"),
        ({"inputs": {"a": [[1], [2, 3]]}}, "column 'a'"),
        ({"instances": [[1, 2], [3]]}, "not a regular array"),
        ({"instances": [[1, None]]}, "mix value types"),
    ],
)
def test_mlflow_bodies_refused(body: Any, words: str) -> None:
    with pytest.raises(InferenceError, match=words):
        decode_mlflow_json(body)


def test_mlflow_predictions_shapes() -> None:
    assert mlflow_predictions(np.array([1, 2])) == {"predictions": [1, 2]}
    assert mlflow_predictions(np.array(["a"], dtype=object)) == {"predictions": ["a"]}
    assert mlflow_predictions(np.array([[0.1, 0.9]])) == {"predictions": [[0.1, 0.9]]}


# -- limits before parsing -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "depth"),
    [
        (b"1", 0),
        (b"[]", 1),
        (b'{"a": [[1, 2], [3]], "b": {}}', 3),
        (b'["[[[[", "]]]]]]", "\\\\", [["\\"[{"]]]', 3),  # brackets in strings are text
        (b"[" * 100_000, 100_000),
        (b"]]]" + b"[" * 5, 2),  # malformed: the parser stops at the first ]
    ],
)
def test_json_depth_is_found_without_parsing(text: bytes, depth: int) -> None:
    assert json_depth(text) == depth


def test_deep_json_is_refused_before_parsing() -> None:
    deep = b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1)
    for body in (deep, b'{"a":' * 10_000_000):  # the parser itself would hit RecursionError
        with pytest.raises(InferenceError, match=f"JSON nesting deeper than {MAX_JSON_DEPTH}"):
            parse_json(body)
    check_json_depth(b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH)
    assert parse_json(b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH) is not None


def test_error_bodies_are_one_bounded_line() -> None:
    body = json.loads(error_body("malformed CSV:\n  line 3\n" + "x" * 5000, request_id="r"))
    assert body["error"].startswith("malformed CSV: line 3 x")
    assert len(body["error"]) == 1000 and body["request_id"] == "r"


# -- casts to the signature's dtype -----------------------------------------------------------
def cast(values: list[Any], given: str, expected: str) -> np.ndarray:
    array = np.asarray(values, dtype=V2_TO_NUMPY[given])
    return cast_to_signature(array, np.dtype(V2_TO_NUMPY[expected]), "input 'x'", "column 'c'")


@pytest.mark.parametrize(
    ("given", "expected", "values"),
    [
        ("FP32", "FP64", [6.8, 2.8, -1e30]),
        ("FP16", "FP64", [0.5, 65504.0]),
        ("INT32", "INT64", [-(2**31), 2**31 - 1]),
        ("INT8", "INT16", [-128, 127]),
        ("UINT32", "INT64", [0, 2**32 - 1]),
        ("UINT8", "UINT64", [0, 255]),
        ("INT64", "UINT8", [0, 255]),  # in range
        ("INT64", "FP64", [-(2**53), 2**53]),
        ("INT32", "FP32", [2**24, -7]),
        ("FP64", "INT64", [3.0, -2.0]),  # whole numbers
        ("FP64", "FP32", [6.8, 0.1, 2.5, 1e30]),  # the decimal sent is kept
        ("FP64", "FP16", [65504.0, 0.1]),
    ],
)
def test_casts_that_keep_every_value(given: str, expected: str, values: list[Any]) -> None:
    found = cast(values, given, expected)
    assert found.dtype == np.dtype(V2_TO_NUMPY[expected])
    sent = np.asarray(values, dtype=V2_TO_NUMPY[given])
    if given.startswith("FP") and expected.startswith("FP") and found.itemsize < sent.itemsize:
        # each value exactly, or its shortest decimal at the narrower precision
        assert all(float(v) == w or float(str(v)) == w for v, w in zip(found, sent, strict=True))
    else:
        assert found.tolist() == sent.astype(found.dtype).tolist()


@pytest.mark.parametrize(
    ("given", "expected", "values", "why"),
    [
        ("INT64", "FP64", [2**53 + 1], "9007199254740993 is beyond +-2**53"),
        ("INT64", "FP32", [2**24 + 1], "beyond +-2**24"),
        ("INT64", "UINT8", [-1], "-1 is outside the range of UINT8"),
        ("UINT64", "INT64", [2**63], "outside the range of INT64"),
        ("FP64", "INT64", [1.5], "1.5 is not a whole number"),
        ("FP64", "INT64", [float("nan")], "not finite"),
        ("FP64", "FP32", [3.141592653589793], "more digits than FP32 holds"),
        ("FP64", "FP32", [0.1000000001], "more digits than FP32 holds"),
        ("FP64", "FP32", [1e300], "outside the range of FP32"),
        ("BOOL", "FP64", [True], "booleans and numbers"),
        ("INT64", "BOOL", [1], "booleans and numbers"),
        ("BYTES", "FP64", ["1.5"], "strings are not numbers"),
        ("FP64", "BYTES", [1.5], "numbers are not strings"),
    ],
)
def test_casts_that_would_change_a_value_are_refused(
    given: str, expected: str, values: list[Any], why: str
) -> None:
    with pytest.raises(InferenceError) as info:
        cast(values, given, expected)
    assert info.value.status == 400
    message = str(info.value)
    assert message.startswith(f"input 'x' is {given} but column 'c' is {expected}: "), message
    assert why in message


def test_declared_float_datatypes_refuse_overflow() -> None:
    refused(tensor("FP16", [70000.0, 0, 0, 0]), "outside the range of FP16")
    refused(tensor("FP32", [1e39, 0, 0, 0]), "outside the range of FP32")
    assert np.isinf(decode_tensor(tensor("FP32", [float("inf"), 0, 0, 0]), "i")).any()
