"""Open Inference Protocol v2 (REST) and MLflow ``/invocations`` bodies <-> numpy.

Requests become a :data:`Features` value: one 2-D ``[batch, n_features]`` array, or
named 1-D columns. Every refusal is an :class:`InferenceError` whose message names the
input and what was wrong, so a client can fix its request without reading server logs.

Limits, checked before anything is built from a body: the body size (413, in the app)
and the JSON nesting depth (:data:`MAX_JSON_DEPTH`, 400), found by a scan of the bytes
without recursion, so no body can exhaust the parser's stack.

Casts to the model's signature (:func:`cast_to_signature`) keep the *meaning* of every
value: a request is converted only where each value is the same number afterwards, and
is otherwise refused with a 400 naming the input, the datatype given and the one expected.

================================  ==================================================
given -> signature                accepted when
================================  ==================================================
same datatype                     always
FP16 -> FP32/FP64, FP32 -> FP64   always (exact widening)
INT*/UINT* -> INT*/UINT*          every value is in the target's range
                                  (INT32 -> INT64 always; -1 -> UINT8 refused)
INT*/UINT* -> FP64 / FP32 / FP16  every |value| <= 2**53 / 2**24 / 2**11 (exact there)
FP* -> INT*/UINT*                 every value is whole and in range (3.0 -> 3; 1.5 refused)
FP64 -> FP32/FP16, FP32 -> FP16   every value is finite in the target, and its shortest
                                  decimal there reads back as the same number: 6.8 or
                                  0.1 pass (the client's decimal is kept), 0.1000000001
                                  or 3.141592653589793 are refused (digits would be lost)
BOOL <-> anything else            refused (true is not 1 in meaning)
BYTES <-> numbers                 refused
================================  ==================================================
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from digitalhub_airflow.errors import InferenceError
from digitalhub_airflow.json_limits import MAX_JSON_DEPTH, json_depth

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
#: JSON bodies nested deeper than this (arrays and objects) are refused before parsing.
#: Error messages are one line of at most this many characters.
MAX_ERROR_CHARS = 1000


@dataclass(frozen=True)
class InferRequest:
    """A decoded v2 infer request; ``request_id`` is None when the client gave none."""

    request_id: str | None
    inputs: dict[str, np.ndarray]
    outputs: list[str] | None


def parse_json(body: bytes, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``body`` as JSON, refused (400) when empty, malformed or nested too deep."""
    if not body:
        raise InferenceError("the request body is empty; send a JSON object")
    check_json_depth(body, max_depth)
    try:
        return json.loads(body)
    except RecursionError as exc:  # not reached below the depth limit; kept as a guard
        raise InferenceError(f"JSON nesting deeper than {max_depth}") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise InferenceError(f"malformed JSON body: {exc}") from exc


def check_json_depth(body: bytes, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Refuse (400) a JSON body nested deeper than ``max_depth``."""
    if body.count(b"[") + body.count(b"{") > max_depth and json_depth(body) > max_depth:
        raise InferenceError(f"JSON nesting deeper than {max_depth}")


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
    if target.kind == "f" and array.size:
        with np.errstate(all="ignore"):
            cast = array.astype(target, copy=False)
        if (np.isfinite(array) & ~np.isfinite(cast)).any():
            raise InferenceError(f"{label}: a value is outside the range of {datatype}")
        return cast.reshape(shape)
    return array.astype(target, copy=False).reshape(shape)


def cast_to_signature(array: np.ndarray, target: np.dtype, what: str, expected: str) -> np.ndarray:
    """``array`` as ``target`` (a signature's dtype) when every value keeps its meaning.

    ``what`` names the input (``input 'x'``), ``expected`` what wants ``target``
    (``column 'alcohol'``); a refusal says both and the datatypes (see the module's table).
    """
    import numpy as np

    source = array.dtype
    if source == target or target.kind not in "biufOU":  # others: the model's own checks
        return array
    reason = _cast_refusal(array, target) if source.kind in "biuf" else None
    if target.kind in "OU":
        if source.kind in "OU":
            return array
        reason = "numbers are not strings"
    elif source.kind not in "biuf":
        reason = "strings are not numbers"
    elif (source.kind == "b") != (target.kind == "b"):
        reason = "booleans and numbers do not mix"
    if reason is not None:
        raise InferenceError(
            f"{what} is {v2_datatype(source)} but {expected} is {v2_datatype(target)}: {reason}"
        )
    with np.errstate(all="ignore"):
        return array.astype(target)


def _cast_refusal(array: np.ndarray, target: np.dtype) -> str | None:
    """Why casting numbers ``array`` to ``target`` would change a value; None if none."""
    import numpy as np

    source = array.dtype
    if not array.size or source.kind == "b" or target.kind == "b":
        return None
    if target.kind in "iu":
        info = np.iinfo(target)
        if source.kind == "f":
            if not np.isfinite(array).all():
                return "a value is not finite"
            if (np.floor(array) != array).any():
                return f"{_first(array, np.floor(array) != array)} is not a whole number"
            low, high = float(info.min), float(info.max + 1)  # exact powers of two
            outside = (array < low) | (array >= high)
        else:
            low_v, high_v = int(array.min()), int(array.max())
            if info.min <= low_v and high_v <= info.max:
                return None
            outside = (array < info.min) if low_v < info.min else (array > info.max)
        if outside.any():
            return f"{_first(array, outside)} is outside the range of {v2_datatype(target)}"
        return None
    # target is a float
    if source.kind in "iu":
        bound = 2 ** (np.finfo(target).nmant + 1)
        low_v, high_v = int(array.min()), int(array.max())
        if -bound <= low_v and high_v <= bound:
            return None
        value = low_v if low_v < -bound else high_v
        return f"{value} is beyond +-2**{np.finfo(target).nmant + 1}, where it would be rounded"
    if source.itemsize <= target.itemsize:
        return None  # exact widening
    with np.errstate(all="ignore"):
        narrowed = array.astype(target)
    overflow = np.isfinite(array) & ~np.isfinite(narrowed)
    if overflow.any():
        return f"{_first(array, overflow)} is outside the range of {v2_datatype(target)}"
    # Exact, or the narrowed value's shortest decimal reads back as the value sent.
    lost = (narrowed.astype(source) != array) & np.isfinite(array)
    if lost.any():
        lost &= narrowed.astype(str).astype(source) != array
    if lost.any():
        return (
            f"{_first(array, lost)} has more digits than {v2_datatype(target)} holds; "
            f"round it or send {v2_datatype(target)}"
        )
    return None


def _first(array: np.ndarray, mask: np.ndarray) -> str:
    return repr(array[mask].reshape(-1)[0].item())


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
    if not array.size and array.ndim < 2:
        raise InferenceError(f"{fmt} has no rows; send at least one")
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


def one_line(message: str, limit: int = MAX_ERROR_CHARS) -> str:
    """``message`` on one line (whitespace runs become one space), cut to ``limit``."""
    line = " ".join(message.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def error_body(message: str, **extra: str) -> bytes:
    return json.dumps({"error": one_line(message), **extra}).encode()
