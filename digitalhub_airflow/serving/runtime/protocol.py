"""Open Inference Protocol v2 (REST) and MLflow ``/invocations`` bodies <-> numpy.

Requests become a :data:`Features` value: one 2-D ``[batch, n_features]`` array, or
named 1-D columns. Every refusal is an :class:`InferenceError` whose message names the
input and what was wrong, so a client can fix its request without reading server logs.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from digitalhub_airflow.errors import InferenceError

if TYPE_CHECKING:
    import numpy as np

    #: A request's features: one [batch, n] matrix, or 1-D columns by name.
    Features = np.ndarray | dict[str, np.ndarray]

#: OIP v2 tensor datatypes -> numpy dtype names (BYTES: Python str objects).
V2_TO_NUMPY: dict[str, str] = {
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
    "BYTES": "object",
}
NUMPY_TO_V2: dict[str, str] = {v: k for k, v in V2_TO_NUMPY.items() if k != "BYTES"}
#: The numpy kinds that ``np.asarray`` may infer from JSON data for each datatype family.
_ACCEPTED_KINDS = {"b": "b", "u": "iu", "i": "iu", "f": "iuf", "O": "U"}
MLFLOW_INPUT_FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")


@dataclass(frozen=True)
class InferRequest:
    """A decoded v2 infer request; ``request_id`` is None when the client gave none."""

    request_id: str | None
    inputs: dict[str, np.ndarray]
    outputs: list[str] | None


def parse_json(body: bytes) -> Any:
    if not body:
        raise InferenceError("the request body is empty; send a JSON object")
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InferenceError(f"malformed JSON body: {exc}") from exc


def v2_datatype(dtype: np.dtype) -> str:
    if dtype.kind in "OUS":
        return "BYTES"
    found = NUMPY_TO_V2.get(dtype.name)
    if found is None:
        raise InferenceError(f"cannot express numpy {dtype} as an OIP v2 datatype", 500)
    return found


def decode_tensor(spec: Any, where: str) -> np.ndarray:
    """One v2 tensor (``name``, ``shape``, ``datatype``, ``data``) as a shaped array."""
    import numpy as np

    if not isinstance(spec, dict):
        raise InferenceError(f"{where} must be an object with name, shape, datatype and data")
    missing = [f for f in ("name", "shape", "datatype", "data") if f not in spec]
    if missing:
        raise InferenceError(f"{where} lacks {', '.join(missing)}")
    name, shape, datatype, data = spec["name"], spec["shape"], spec["datatype"], spec["data"]
    label = f"input {name!r}"
    if not isinstance(name, str) or not name:
        raise InferenceError(f"{where}: name must be a non-empty string")
    if (
        not isinstance(shape, list)
        or not shape
        or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
    ):
        raise InferenceError(f"{label}: shape must be a list of non-negative integers")
    numpy_name = V2_TO_NUMPY.get(datatype) if isinstance(datatype, str) else None
    if numpy_name is None:
        raise InferenceError(
            f"{label}: datatype {datatype!r} is not one of {', '.join(V2_TO_NUMPY)}"
        )
    if not isinstance(data, list):
        raise InferenceError(f"{label}: data must be a JSON array")
    try:
        array = np.asarray(data)
    except (ValueError, OverflowError) as exc:
        raise InferenceError(f"{label}: data is not a regular array of {datatype}: {exc}") from exc
    expected = math.prod(shape)
    if array.size != expected:
        raise InferenceError(
            f"{label}: shape {shape} holds {expected} elements but data has {array.size}"
        )
    target = np.dtype(numpy_name)
    accepted = _ACCEPTED_KINDS[target.kind]
    if target.kind in "iu" and array.dtype.kind == "f":
        exact = np.array(data, dtype=object).reshape(-1)
        if all(type(v) is int for v in exact):  # integers beyond int64 (UINT64)
            array, accepted = exact, "O"
    if array.size and array.dtype.kind not in accepted:
        raise InferenceError(f"{label}: data is not {datatype} (found {_kind_word(array)})")
    if target.kind in "iu" and array.size:
        info = np.iinfo(target)
        if array.min() < info.min or array.max() > info.max:
            raise InferenceError(f"{label}: a value is outside the range of {datatype}")
    return array.astype(target, copy=False).reshape(shape)


def _kind_word(array: np.ndarray) -> str:
    return {"b": "booleans", "i": "integers", "u": "integers", "f": "numbers", "U": "strings"}.get(
        array.dtype.kind, "mixed values"
    )


def decode_infer_request(payload: Any) -> InferRequest:
    if not isinstance(payload, dict):
        raise InferenceError("the infer request must be a JSON object with 'inputs'")
    inputs = payload.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise InferenceError("the infer request needs a non-empty 'inputs' array")
    decoded: dict[str, np.ndarray] = {}
    for i, spec in enumerate(inputs):
        array = decode_tensor(spec, f"inputs[{i}]")
        if spec["name"] in decoded:
            raise InferenceError(f"input {spec['name']!r} is given twice")
        decoded[spec["name"]] = array
    request_id = payload.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise InferenceError("'id' must be a string")
    outputs = payload.get("outputs")
    names = None
    if outputs is not None:
        if not isinstance(outputs, list) or not all(
            isinstance(o, dict) and isinstance(o.get("name"), str) for o in outputs
        ):
            raise InferenceError("'outputs' must be a list of objects with a 'name'")
        names = [o["name"] for o in outputs]
    return InferRequest(request_id, decoded, names)


def encode_tensor(name: str, array: np.ndarray) -> dict[str, Any]:
    datatype = v2_datatype(array.dtype)
    flat = array.reshape(-1)
    data = [str(v) for v in flat] if datatype == "BYTES" else flat.tolist()
    return {"name": name, "datatype": datatype, "shape": list(array.shape), "data": data}


def infer_response(
    model_name: str,
    model_version: str,
    request_id: str | None,
    outputs: dict[str, np.ndarray],
) -> dict[str, Any]:
    body: dict[str, Any] = {"model_name": model_name, "model_version": model_version}
    if request_id is not None:
        body["id"] = request_id
    body["outputs"] = [encode_tensor(name, array) for name, array in outputs.items()]
    return body


# -- MLflow scoring format -----------------------------------------------------------
def decode_mlflow_json(payload: Any) -> Features:
    """An ``/invocations`` JSON body as named columns, or a matrix when it names none."""
    if not isinstance(payload, dict):
        raise InferenceError(
            f"the body must be a JSON object with one of {', '.join(MLFLOW_INPUT_FORMATS)}"
        )
    given = [f for f in MLFLOW_INPUT_FORMATS if f in payload]
    if len(given) != 1:
        raise InferenceError(
            f"the body must have exactly one of {', '.join(MLFLOW_INPUT_FORMATS)}; "
            f"found {', '.join(given) or 'none'}"
        )
    fmt = given[0]
    value = payload[fmt]
    if fmt == "dataframe_split":
        if not isinstance(value, dict) or not isinstance(value.get("data"), list):
            raise InferenceError("dataframe_split needs 'columns' and 'data' (a list of rows)")
        columns = value.get("columns")
        rows = value["data"]
        if columns is None:
            return _matrix(rows, fmt)
        if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
            raise InferenceError("dataframe_split 'columns' must be a list of names")
        if any(not isinstance(r, list) or len(r) != len(columns) for r in rows):
            raise InferenceError(f"every dataframe_split row must have {len(columns)} values")
        return _columns(
            columns, [list(c) for c in zip(*rows, strict=True)] if rows else [[]] * len(columns)
        )
    if fmt == "dataframe_records":
        if not isinstance(value, list) or not all(isinstance(r, dict) for r in value) or not value:
            raise InferenceError("dataframe_records must be a non-empty list of objects")
        columns = list(value[0])
        try:
            values = [[r[c] for r in value] for c in columns]
        except KeyError as exc:
            raise InferenceError(f"a dataframe_records row lacks column {exc.args[0]!r}") from exc
        return _columns(columns, values)
    if isinstance(value, dict):
        return _columns(list(value), [value[c] for c in value])
    if not isinstance(value, list):
        raise InferenceError(f"{fmt} must be a list of rows or an object of columns")
    array = _matrix(value, fmt)
    return array if array.ndim == 2 else array.reshape(len(array), -1)


def _matrix(rows: Any, fmt: str) -> np.ndarray:
    import numpy as np

    try:
        array = np.asarray(rows)
    except (ValueError, OverflowError) as exc:
        raise InferenceError(f"{fmt} rows are not a regular array: {exc}") from exc
    if array.dtype.kind not in "biufU":
        raise InferenceError(f"{fmt} rows mix value types; send one type or name the columns")
    return array


def _columns(names: list[str], values: list[Any]) -> dict[str, np.ndarray]:
    import numpy as np

    columns: dict[str, np.ndarray] = {}
    for name, column in zip(names, values, strict=True):
        if not isinstance(column, list):
            raise InferenceError(f"column {name!r} must be a list of values")
        try:
            array = np.asarray(column)
        except (ValueError, OverflowError) as exc:
            raise InferenceError(f"column {name!r} is not a list of scalars: {exc}") from exc
        if array.ndim != 1 or array.dtype.kind not in "biufU":
            raise InferenceError(f"column {name!r} must hold scalars of one type")
        columns[name] = array
    return columns


def mlflow_predictions(result: Any) -> dict[str, Any]:
    """``{"predictions": ...}`` as MLflow's scoring server writes it."""
    import numpy as np

    if hasattr(result, "to_dict") and hasattr(result, "columns"):  # a DataFrame
        return {"predictions": json.loads(result.to_json(orient="records"))}
    array = np.asarray(result)
    if array.dtype.kind in "OUS":
        return {"predictions": [str(v) for v in array.reshape(-1)]}
    return {"predictions": array.tolist()}


def error_body(message: str) -> bytes:
    return json.dumps({"error": message}).encode()
