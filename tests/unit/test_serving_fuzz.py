"""Every parse path of the model server, fuzzed through the ASGI app in this process.

Two small real iris models (a column signature on the numpy fast path, a tensor
signature on pyfunc) serve OIP v2 infer bodies, MLflow ``/invocations`` JSON in its four
formats, CSV, random bytes, deep nesting, huge numbers and wrong types. Whatever the
client sends, the answer is never a 500: a 200 with JSON, or a 4xx whose body is one
line of JSON with ``error``. A 500 is kept for server faults, logged with a request id
that the client gets instead of the exception's text.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from digitalhub_airflow.serving.runtime.app import ServingApp
from digitalhub_airflow.serving.runtime.protocol import MAX_JSON_DEPTH, V2_TO_NUMPY
from tests.serving_helpers import IRIS_COLUMNS, AsgiResponse, asgi_call, iris_app

MODELS = ["iris", "iris-tensor"]
FUZZ = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServingApp]:
    yield iris_app(tmp_path_factory.mktemp("iris-models"))


def assert_answered(response: AsgiResponse) -> None:
    """200 with JSON, or a 4xx with a one-line ``{"error": ...}``; never a 5xx."""
    assert response.status < 500, response.body[:500]
    assert response.headers["content-type"] == "application/json"
    body = json.loads(response.body)
    if response.status == 200:
        return
    assert 400 <= response.status < 500, response.status
    assert isinstance(body, dict) and isinstance(body["error"], str), body
    assert "\n" not in body["error"] and len(body["error"]) <= 1000


def post(app: ServingApp, path: str, body: bytes, **kwargs: Any) -> AsgiResponse:
    response = asgi_call(app, "POST", path, body, **kwargs)
    assert_answered(response)
    return response


# -- strategies --------------------------------------------------------------------------
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=20,
)
numbers = st.integers(min_value=-(2**64), max_value=2**64) | st.floats(
    allow_nan=False, allow_infinity=False
)
datatypes = st.sampled_from([*V2_TO_NUMPY, "FLOAT", "", "fp32"]) | st.text(max_size=5)
shapes = st.lists(st.integers(min_value=-2, max_value=5), min_size=0, max_size=3) | json_values


@st.composite
def tensors(draw: st.DrawFn) -> Any:
    """A v2 tensor that is mostly right: plausible shape, datatype and data."""
    if draw(st.integers(0, 9)) == 0:
        return draw(json_values)
    rows = draw(st.integers(0, 3))
    width = draw(st.sampled_from([4, 4, 4, 1, 3]))
    flat = draw(st.lists(numbers | scalars, min_size=rows * width, max_size=rows * width))
    data: Any = flat
    if draw(st.booleans()) and width:
        data = [flat[i * width : (i + 1) * width] for i in range(rows)]
    tensor: dict[str, Any] = {
        "name": draw(st.sampled_from(["input-0", "features", *IRIS_COLUMNS]) | st.text(max_size=4)),
        "shape": draw(st.just([rows, width]) | shapes),
        "datatype": draw(datatypes),
        "data": draw(st.just(data) | json_values),
    }
    for field in draw(st.lists(st.sampled_from(list(tensor)), max_size=1)):
        del tensor[field]
    return tensor


infer_bodies = (
    st.fixed_dictionaries(
        {"inputs": st.lists(tensors(), min_size=0, max_size=3)},
        optional={
            "id": st.text(max_size=5) | json_values,
            "outputs": st.lists(st.fixed_dictionaries({"name": st.text(max_size=8)}), max_size=2)
            | json_values,
            "parameters": json_values,
        },
    )
    | json_values
)


@st.composite
def mlflow_bodies(draw: st.DrawFn) -> Any:
    rows = draw(st.lists(st.lists(numbers | scalars, min_size=0, max_size=5), max_size=4))
    columns = draw(st.just(IRIS_COLUMNS) | st.lists(st.text(max_size=5), max_size=5))
    fmt = draw(st.sampled_from(["dataframe_split", "dataframe_records", "instances", "inputs"]))
    value: Any = {
        "dataframe_split": {"columns": columns, "data": rows},
        "dataframe_records": [dict(zip(columns, r, strict=False)) for r in rows],
        "instances": rows,
        "inputs": {c: [r[i] for r in rows if len(r) > i] for i, c in enumerate(columns)},
    }[fmt]
    if draw(st.integers(0, 4)) == 0:
        value = draw(json_values)
    body = {fmt: value}
    if draw(st.integers(0, 9)) == 0:
        body.update(draw(st.dictionaries(st.sampled_from(["inputs", "params", "x"]), json_values)))
    return body


csv_text = st.lists(
    st.lists(
        st.sampled_from([*IRIS_COLUMNS, "1", "2.5", "-1e999", "nan", "", '"', "x", "9" * 400]),
        max_size=5,
    ).map(",".join),
    max_size=5,
).map("\n".join)


# -- fuzzed parse paths ---------------------------------------------------------------------
@FUZZ
@given(body=infer_bodies, model=st.sampled_from(MODELS))
def test_v2_infer_bodies(app: ServingApp, body: Any, model: str) -> None:
    post(app, f"/v2/models/{model}/infer", json.dumps(body).encode())


@FUZZ
@given(body=mlflow_bodies(), model=st.sampled_from(MODELS))
@example(body={"instances": []}, model="iris")  # was a 500: reshape of no rows
def test_invocations_json_bodies(app: ServingApp, body: Any, model: str) -> None:
    post(app, "/invocations", json.dumps(body).encode(), query=f"model={model}".encode())


@settings(FUZZ, max_examples=25)
@given(text=csv_text, model=st.sampled_from(MODELS))
def test_invocations_csv_bodies(app: ServingApp, text: str, model: str) -> None:
    post(
        app,
        "/invocations",
        text.encode(),
        query=f"model={model}".encode(),
        headers={"content-type": "text/csv"},
    )


@settings(FUZZ, max_examples=40)
@given(
    raw=st.binary(max_size=200)
    | st.text(alphabet='{}[]",:0123456789.eE-+ \\tnull', max_size=80).map(str.encode),
    route=st.sampled_from(["v2", "json", "csv"]),
)
def test_random_bytes(app: ServingApp, raw: bytes, route: str) -> None:
    if route == "v2":
        post(app, "/v2/models/iris/infer", raw)
    else:
        content = "text/csv" if route == "csv" else "application/json"
        post(app, "/invocations", raw, query=b"model=iris", headers={"content-type": content})


@settings(FUZZ, max_examples=20)
@given(
    depth=st.integers(min_value=1, max_value=20_000),
    opener=st.sampled_from(["[", '{"a":']),
    closed=st.booleans(),
    path=st.sampled_from(["/v2/models/iris/infer", "/invocations?model=iris"]),
)
def test_deep_nesting(app: ServingApp, depth: int, opener: str, closed: bool, path: str) -> None:
    closer = "]" if opener == "[" else "}"
    text = opener * depth + "1" + (closer * depth if closed else "")
    route, _, query = path.partition("?")
    response = post(app, route, text.encode(), query=query.encode())
    if depth > MAX_JSON_DEPTH:
        assert response.status == 400
        assert response.json() == {"error": f"JSON nesting deeper than {MAX_JSON_DEPTH}"}


@settings(FUZZ, max_examples=25)
@given(
    number=st.sampled_from(["1e999", "-1e999", "NaN", "Infinity", "1" * 5000, "-0", "1e-400"])
    | st.integers(min_value=-(2**200), max_value=2**200).map(str),
    datatype=st.sampled_from(list(V2_TO_NUMPY)),
    model=st.sampled_from(MODELS),
)
def test_huge_numbers(app: ServingApp, number: str, datatype: str, model: str) -> None:
    data = ", ".join([number] * 4)
    tensor = f'{{"name": "x", "shape": [1, 4], "datatype": "{datatype}", "data": [{data}]}}'
    v2 = f'{{"inputs": [{tensor}]}}'
    post(app, f"/v2/models/{model}/infer", v2.encode())
    post(
        app,
        "/invocations",
        f'{{"instances": [[{data}]]}}'.encode(),
        query=f"model={model}".encode(),
    )


# -- fixed edge cases -------------------------------------------------------------------------
def test_nesting_at_the_limit_is_parsed_and_one_deeper_is_refused(app: ServingApp) -> None:
    at_limit = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    assert "nesting" not in post(app, "/v2/models/iris/infer", at_limit.encode()).json()["error"]
    deeper = "[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1)
    refused = post(app, "/v2/models/iris/infer", deeper.encode())
    assert refused.json() == {"error": f"JSON nesting deeper than {MAX_JSON_DEPTH}"}
    # Brackets inside strings (escaped quotes too) are text, not nesting.
    text = json.dumps({"inputs": [], "id": '\\"' + "[" * 500})
    assert "non-empty 'inputs'" in post(app, "/v2/models/iris/infer", text.encode()).json()["error"]


def test_headers_clients_get_wrong(app: ServingApp) -> None:
    body = b'{"instances": [[1, 2, 3, 4]]}'
    bad_length = post(
        app, "/invocations", body, query=b"model=iris", headers={"content-length": "x"}
    )
    assert bad_length.status == 400 and "content-length" in bad_length.json()["error"]
    odd_type = post(
        app,
        "/invocations",
        body,
        raw_headers=[(b"content-type", b"\xff/\xfe")],
        query=b"model=iris",
    )
    assert odd_type.status == 415
    odd_model = post(app, "/invocations", body, raw_headers=[(b"model", b"\xffiris")])
    assert odd_model.status == 404


class Broken:
    """A servable with a bug: every prediction raises a server-side error."""

    name = "broken"
    version = "1"
    feature_names = None

    def metadata(self) -> dict[str, Any]:
        return {"name": self.name}

    def predict(self, features: Any) -> tuple[Any, Any]:
        raise RuntimeError("secret detail /srv/models/broken")


def test_a_server_fault_is_a_500_with_a_request_id_and_no_detail(
    app: ServingApp, caplog: pytest.LogCaptureFixture
) -> None:
    app.servables["broken"] = Broken()
    app.expected.append("broken")
    try:
        body = b'{"inputs": [{"name": "x", "shape": [1], "datatype": "FP64", "data": [1.0]}]}'
        with caplog.at_level(logging.ERROR, logger="digitalhub_airflow.serving.runtime.app"):
            response = asgi_call(app, "POST", "/v2/models/broken/infer", body)
    finally:
        del app.servables["broken"]
        app.expected.remove("broken")
    assert response.status == 500
    found = response.json()
    assert set(found) == {"error", "request_id"} and found["error"] == "internal error"
    assert response.headers["x-request-id"] == found["request_id"]
    assert b"secret" not in response.body
    (record,) = [r for r in caplog.records if found["request_id"] in r.getMessage()]
    assert record.exc_info is not None and "secret detail" in str(record.exc_info[1])


def test_bodies_over_the_size_limit_are_413(app: ServingApp) -> None:
    small = ServingApp(app.plan.__class__(app.plan.models, max_body_bytes=100))
    small.servables, small.ready = app.servables, True
    response = post(small, "/v2/models/iris/infer", b"[" + b"0," * 100 + b"0]")
    assert response.status == 413
    declared = post(small, "/v2/models/iris/infer", b"{}", headers={"content-length": "5000"})
    assert declared.status == 413 and "at most 100" in declared.json()["error"]
