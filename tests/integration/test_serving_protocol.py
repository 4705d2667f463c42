"""Open Inference Protocol v2 and MLflow ``/invocations`` conformance of a real
``dhub serve`` process, with real HTTP clients (httpx).

One server for the module (embedded catalog and MLflow): ``wine`` is a bare random forest
(numpy fast path), ``wine-prep`` the default pipeline with a column transformer (pandas
path). Every answer is compared with stock ``mlflow.pyfunc`` predictions on the same rows;
every refusal must be a 4xx ``{"error": ...}`` naming the problem, and the server must
keep answering afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
import pytest

from digitalhub_airflow.training.tracking import (
    TrackingConfig,
    embedded_tracking,
    ensure_experiment,
    tracking_session,
)
from tests.conftest import Backend
from tests.serving_helpers import (
    RunningServer,
    TrainedModel,
    running_server,
    train_champion,
)
from tests.training_helpers import TARGET, wine_frame

ROWS = 5


@dataclass
class Served:
    server: RunningServer
    fast: TrainedModel
    prep: TrainedModel
    frame: Any  # the wine features of ROWS rows
    pyfuncs: dict[str, Any]  # stock mlflow.pyfunc models per served name

    def expected(self, model: str, frame: Any = None) -> list[int]:
        return self.pyfuncs[model].predict(self.frame if frame is None else frame).tolist()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    import mlflow
    import mlflow.pyfunc

    home = tmp_path_factory.mktemp("serve-home")
    backend = Backend(
        "embedded", f"sqlite:///{home / 'catalog.sqlite'}", None, str(home / "store"), home
    )
    tracking = embedded_tracking(home)
    with backend.hub() as hub:
        hub.init()
        fast = train_champion(hub, tracking)
        prep = train_champion(hub, tracking, {"estimator": "random_forest", "n_estimators": 10})
    frame = wine_frame().drop(columns=[TARGET]).sample(ROWS, random_state=3)
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(tracking.tracking_uri)
    mlflow.set_registry_uri(tracking.tracking_uri)
    try:
        odd_uri = log_odd_class_model(tracking)
        pyfuncs = {
            "wine": mlflow.pyfunc.load_model(fast.version_uri),
            "wine-prep": mlflow.pyfunc.load_model(prep.version_uri),
            "odd": mlflow.pyfunc.load_model(odd_uri),
        }
    finally:
        mlflow.set_tracking_uri(previous)
    chain = home / "wine-odd.yaml"
    chain.write_text("name: wine-odd\nsteps:\n  - model: wine\n  - model: odd\n")
    env = {**backend.env(), "DHUB_USER": "integration-tester"}
    args = ["--model", f"wine={fast.alias_uri}", "--model", f"wine-prep={prep.version_uri}"]
    args += ["--model", f"odd={odd_uri}", "--pipeline", str(chain)]
    with running_server(env, *args, "--max-body-bytes", "200000") as server:
        yield Served(server, fast, prep, frame, pyfuncs)


def log_odd_class_model(tracking: TrackingConfig) -> str:
    """A second stage for a model -> model pipeline: is the wine class odd? (one INT64
    input column, ``wine_class``)."""
    import mlflow
    import mlflow.sklearn
    import pandas as pd
    from mlflow.models import infer_signature
    from sklearn.tree import DecisionTreeClassifier

    x = pd.DataFrame({"wine_class": [0, 1, 2]})
    model = DecisionTreeClassifier(random_state=0).fit(x, [0, 1, 0])
    with tracking_session(tracking) as client:
        experiment = ensure_experiment(client, tracking, "serving-tests")
        with mlflow.start_run(experiment_id=experiment):
            info = mlflow.sklearn.log_model(
                model,
                name="odd",
                signature=infer_signature(x, model.predict(x)),
                registered_model_name="demo.odd-class",
                serialization_format="cloudpickle",
            )
    return f"models:/demo.odd-class/{info.registered_model_version}"


def matrix_request(frame: Any, datatype: str = "FP64", **extra: Any) -> dict[str, Any]:
    data = frame.to_numpy()
    return {
        **extra,
        "inputs": [
            {
                "name": "features",
                "shape": list(data.shape),
                "datatype": datatype,
                "data": data.ravel().tolist(),
            }
        ],
    }


def infer(served: Served, model: str, body: Any, **kwargs: Any) -> httpx.Response:
    return httpx.post(
        f"{served.server.url}/v2/models/{model}/infer", json=body, timeout=30, **kwargs
    )


def assert_refused(response: httpx.Response, status: int, *words: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    message = response.json()["error"]
    for word in words:
        assert word in message, message


def assert_still_serving(served: Served) -> None:
    response = infer(served, "wine", matrix_request(served.frame))
    assert response.status_code == 200
    assert response.json()["outputs"][0]["data"] == served.expected("wine")


# -- health and metadata ---------------------------------------------------------------
def test_health_and_server_metadata(served: Served) -> None:
    url = served.server.url
    assert httpx.get(f"{url}/v2/health/live").json() == {"live": True}
    assert httpx.get(f"{url}/v2/health/ready").json() == {"ready": True}
    meta = httpx.get(f"{url}/v2").json()
    assert meta["name"] == "dhub-serve" and "version" in meta and meta["extensions"] == []
    ready = httpx.get(f"{url}/v2/models/wine/ready")
    assert ready.status_code == 200 and ready.json() == {"name": "wine", "ready": True}


def test_model_metadata_comes_from_the_signature_and_the_pinned_version(served: Served) -> None:
    meta = httpx.get(f"{served.server.url}/v2/models/wine").json()
    assert meta["name"] == "wine"
    assert meta["versions"] == [served.fast.version]  # the alias resolved at startup
    assert meta["platform"] == "mlflow_sklearn"
    assert [i["name"] for i in meta["inputs"]] == served.fast.feature_names
    assert {i["datatype"] for i in meta["inputs"]} == {"FP64"}
    assert meta["outputs"] == [{"name": "predict", "datatype": "INT64", "shape": [-1]}]
    versioned = httpx.get(f"{served.server.url}/v2/models/wine/versions/{served.fast.version}")
    assert versioned.json() == meta


# -- inference ------------------------------------------------------------------------
@pytest.mark.parametrize("model", ["wine", "wine-prep"])
def test_matrix_infer_equals_stock_pyfunc_predictions(served: Served, model: str) -> None:
    response = infer(served, model, matrix_request(served.frame, id="req-42"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == "req-42"
    assert body["model_name"] == model
    version = served.fast.version if model == "wine" else served.prep.version
    assert body["model_version"] == version
    (output,) = body["outputs"]
    assert output["name"] == "predict" and output["datatype"] == "INT64"
    assert output["shape"] == [ROWS]
    assert output["data"] == served.expected(model)


@pytest.mark.parametrize("datatype", ["FP32", "FP64", "INT64"])
def test_one_tensor_per_column_in_any_order(served: Served, datatype: str) -> None:
    """Columns by name; integers and FP32 widen to the signature's FP64 as MLflow would."""
    frame = {
        "FP32": served.frame.astype(np.float32).astype(np.float64),
        "FP64": served.frame,
        "INT64": served.frame.round(0),
    }[datatype]
    inputs = []
    for i, column in enumerate(reversed(frame.columns)):
        values = frame[column].tolist()
        if datatype == "INT64":
            values = [int(v) for v in values]
        shape = [ROWS, 1] if i % 2 else [ROWS]
        inputs.append({"name": column, "shape": shape, "datatype": datatype, "data": values})
    response = infer(served, "wine", {"inputs": inputs})
    assert response.status_code == 200, response.text
    assert response.json()["outputs"][0]["data"] == served.expected("wine", frame)
    assert "id" not in response.json()  # echoed only when given


def test_nested_data_is_accepted_row_major(served: Served) -> None:
    body = matrix_request(served.frame)
    body["inputs"][0]["data"] = served.frame.to_numpy().tolist()
    response = infer(served, "wine", body)
    assert response.json()["outputs"][0]["data"] == served.expected("wine")


def test_requested_outputs(served: Served) -> None:
    ok = infer(served, "wine", {**matrix_request(served.frame), "outputs": [{"name": "predict"}]})
    assert ok.status_code == 200
    assert_refused(
        infer(served, "wine", {**matrix_request(served.frame), "outputs": [{"name": "proba"}]}),
        400,
        "proba",
    )


# -- MLflow scoring format ---------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["dataframe_split", "dataframe_records", "instances", "inputs"])
@pytest.mark.parametrize("model", ["wine", "wine-prep"])
def test_invocations_formats(served: Served, fmt: str, model: str) -> None:
    frame = served.frame
    payload: Any = {
        "dataframe_split": {"columns": list(frame.columns), "data": frame.to_numpy().tolist()},
        "dataframe_records": frame.to_dict(orient="records"),
        "instances": frame.to_numpy().tolist(),
        "inputs": {c: frame[c].tolist() for c in frame.columns},
    }[fmt]
    response = httpx.post(
        f"{served.server.url}/invocations", params={"model": model}, json={fmt: payload}
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": served.expected(model)}


def test_invocations_csv_and_model_header(served: Served) -> None:
    response = httpx.post(
        f"{served.server.url}/invocations",
        content=served.frame.to_csv(index=False).encode(),
        headers={"content-type": "text/csv", "model": "wine"},
    )
    assert response.json() == {"predictions": served.expected("wine")}


def test_invocations_refusals(served: Served) -> None:
    url = f"{served.server.url}/invocations"
    frame = served.frame
    split = {"columns": list(frame.columns), "data": frame.to_numpy().tolist()}
    assert_refused(httpx.post(url, json={"dataframe_split": split}), 400, "wine, wine-prep")
    assert_refused(
        httpx.post(url, params={"model": "wine"}, json={"rows": []}), 400, "dataframe_split"
    )
    assert_refused(
        httpx.post(
            url, params={"model": "wine"}, content=b"x", headers={"content-type": "text/xml"}
        ),
        415,
        "text/xml",
    )
    assert_refused(
        httpx.post(url, params={"model": "nope"}, json={"dataframe_split": split}), 404, "nope"
    )
    assert_still_serving(served)


# -- refusals -----------------------------------------------------------------------------
def test_wrong_shape(served: Served) -> None:
    narrow = matrix_request(served.frame.iloc[:, :5])
    assert_refused(infer(served, "wine", narrow), 400, "[batch, 13]", "[5, 5]")
    lying = matrix_request(served.frame)
    lying["inputs"][0]["shape"] = [ROWS, 12]
    assert_refused(infer(served, "wine", lying), 400, "features", "60 elements", "65")
    columns = [{"name": "alcohol", "shape": [2], "datatype": "FP64", "data": [1.0, 2.0]}]
    assert_refused(infer(served, "wine", {"inputs": columns}), 400, "missing input(s)", "proline")
    assert_still_serving(served)


@pytest.mark.parametrize(
    ("datatype", "data", "words"),
    [
        ("BYTES", "strings", ("BYTES", "FP64")),
        ("FP64", "strings", ("not FP64", "strings")),
        ("INT64", "floats", ("not INT64",)),
        ("INT8", "big", ("outside the range of INT8",)),
        ("FP128", "floats", ("FP128", "BOOL, UINT8")),
    ],
)
def test_wrong_datatype(served: Served, datatype: str, data: str, words: tuple[str, ...]) -> None:
    values = {
        "strings": ["a"] * (ROWS * 13),
        "floats": [0.5] * (ROWS * 13),
        "big": [1000] * (ROWS * 13),
    }[data]
    body = {"inputs": [{"name": "x", "shape": [ROWS, 13], "datatype": datatype, "data": values}]}
    assert_refused(infer(served, "wine", body), 400, *words)
    assert_still_serving(served)


def test_unknown_model_or_version(served: Served) -> None:
    body = matrix_request(served.frame)
    assert_refused(infer(served, "ghost", body), 404, "'ghost' is not served", "wine")
    url = f"{served.server.url}/v2/models/wine/versions/999/infer"
    assert_refused(httpx.post(url, json=body), 404, "not 999")
    assert_refused(httpx.get(f"{served.server.url}/v2/models/ghost"), 404, "ghost")
    assert_refused(httpx.get(f"{served.server.url}/v2/models/ghost/ready"), 404, "ghost")
    assert_still_serving(served)


def test_malformed_json_and_bad_request_bodies(served: Served) -> None:
    url = f"{served.server.url}/v2/models/wine/infer"
    assert_refused(httpx.post(url, content=b'{"inputs": ['), 400, "malformed JSON")
    assert_refused(httpx.post(url, content=b""), 400, "empty")
    assert_refused(httpx.post(url, json={"inputs": []}), 400, "non-empty 'inputs'")
    assert_refused(httpx.post(url, json={"inputs": [{"name": "x"}]}), 400, "lacks shape")
    assert_refused(httpx.get(url), 405, "POST")
    assert_still_serving(served)


def test_oversized_payload_gets_413(served: Served) -> None:
    rows = 4000  # 52,000 values of "0.0, ": about 260 KB of JSON
    data = [0.0] * (rows * 13)
    body = {"inputs": [{"name": "x", "shape": [rows, 13], "datatype": "FP64", "data": data}]}
    assert_refused(infer(served, "wine", body), 413, "at most 200000")
    assert_still_serving(served)


def test_fast_path_only_where_the_estimator_takes_a_matrix(served: Served) -> None:
    """The bare forest predicts on numpy; the column transformer needs a DataFrame."""
    log = served.server.log_text()
    assert f"loaded model wine version {served.fast.version} " in log
    assert "(numpy fast path: on)" in log.split("loaded model wine ")[1].splitlines()[0]
    assert "(numpy fast path: off)" in log.split("loaded model wine-prep ")[1].splitlines()[0]


@pytest.mark.parametrize("model", ["wine", "wine-prep"])
def test_every_row_of_the_table_predicts_as_stock_pyfunc(served: Served, model: str) -> None:
    """The fast path (wine) and the pandas path (wine-prep) on all 178 rows at once."""
    frame = wine_frame().drop(columns=[TARGET])
    expected = served.expected(model, frame)
    v2 = infer(served, model, matrix_request(frame))
    assert v2.json()["outputs"][0]["data"] == expected
    split = {"columns": list(frame.columns), "data": frame.to_numpy().tolist()}
    invocations = httpx.post(
        f"{served.server.url}/invocations", params={"model": model}, json={"dataframe_split": split}
    )
    assert invocations.json() == {"predictions": expected}


def test_a_model_to_model_pipeline(served: Served) -> None:
    """wine's class numbers are the input of the second model."""
    import pandas as pd

    classes = pd.DataFrame({"wine_class": served.expected("wine")})
    response = infer(served, "wine-odd", matrix_request(served.frame))
    assert response.status_code == 200, response.text
    assert response.json()["outputs"][0]["data"] == served.expected("odd", classes)
    meta = httpx.get(f"{served.server.url}/v2/models/wine-odd").json()
    assert [i["name"] for i in meta["inputs"]] == served.fast.feature_names
    assert meta["outputs"] == [{"name": "predict", "datatype": "INT64", "shape": [-1]}]
