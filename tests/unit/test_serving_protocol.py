"""OIP v2 tensors and MLflow scoring bodies <-> numpy, without a server: every datatype
round-trips, and every malformed tensor is refused with a message naming it."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from digitalhub_airflow.errors import InferenceError
from digitalhub_airflow.serving.runtime.protocol import (
    V2_TO_NUMPY,
    decode_infer_request,
    decode_mlflow_json,
    decode_tensor,
    encode_tensor,
    infer_response,
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
