"""The KServe documentation's own Open Inference Protocol v2 requests against a real
``dhub serve`` process, as a stock OIP client sends them.

The request is KServe's scikit-learn iris example (``iris-input.json`` of "Deploy
Scikit-learn models with InferenceService", V2 dataplane:
https://kserve.github.io/website/0.7/modelserving/v1beta1/sklearn/v2; the same iris rows
as "First InferenceService": https://kserve.github.io/website/latest/get_started/first_isvc/)::

    {"inputs": [{"name": "input-0", "shape": [2, 4], "datatype": "FP32",
                 "data": [[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]]}]}

and KServe's model answers ``"predict"`` ``[1, 1]``. Here it is sent (nested, and with
the flat ``data`` of 8 numbers the protocol allows) to two iris models registered in the
embedded MLflow: ``iris`` fitted on a DataFrame (column signature, FP64 columns) and
``iris-tensor`` fitted on a numpy array as in KServe's example (tensor signature
float64 ``[-1, 4]``). FP32 is widened to the signature's FP64; metadata lists the inputs
for both kinds of signature; health and server metadata answer as the protocol says.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from digitalhub_airflow.training.tracking import (
    embedded_tracking,
    ensure_experiment,
    tracking_session,
)
from tests.conftest import Backend
from tests.serving_helpers import IRIS_COLUMNS, RunningServer, fit_iris_models, running_server

KSERVE_ROWS = [[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]]
KSERVE_REQUEST = {
    "inputs": [{"name": "input-0", "shape": [2, 4], "datatype": "FP32", "data": KSERVE_ROWS}]
}
KSERVE_PREDICTIONS = [1, 1]
MODELS = ["iris", "iris-tensor"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    import mlflow
    import mlflow.sklearn

    home = tmp_path_factory.mktemp("kserve-home")
    backend = Backend(
        "embedded", f"sqlite:///{home / 'catalog.sqlite'}", None, str(home / "store"), home
    )
    with backend.hub() as hub:
        hub.init()
    tracking = embedded_tracking(home)
    refs = []
    with tracking_session(tracking) as client:
        experiment = ensure_experiment(client, tracking, "kserve-examples")
        for name, (model, signature) in fit_iris_models().items():
            with mlflow.start_run(experiment_id=experiment):
                info = mlflow.sklearn.log_model(
                    model,
                    name=name,
                    signature=signature,
                    registered_model_name=f"demo.{name}",
                    serialization_format="cloudpickle",
                    pip_requirements=["scikit-learn"],
                )
            refs += ["--model", f"{name}=models:/demo.{name}/{info.registered_model_version}"]
    with running_server({**backend.env(), "DHUB_USER": "kserve-tester"}, *refs) as running:
        yield running


def test_health_and_server_metadata(server: RunningServer) -> None:
    assert httpx.get(f"{server.url}/v2/health/live").json() == {"live": True}
    assert httpx.get(f"{server.url}/v2/health/ready").json() == {"ready": True}
    meta = httpx.get(f"{server.url}/v2").json()
    assert {"name", "version", "extensions"} <= set(meta)
    for model in MODELS:
        ready = httpx.get(f"{server.url}/v2/models/{model}/ready")
        assert ready.status_code == 200 and ready.json() == {"name": model, "ready": True}


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("layout", ["nested", "flat"])
def test_the_kserve_iris_request(server: RunningServer, model: str, layout: str) -> None:
    body = {"id": f"kserve-{layout}", **KSERVE_REQUEST}
    if layout == "flat":
        tensor = {**KSERVE_REQUEST["inputs"][0], "data": [v for r in KSERVE_ROWS for v in r]}
        body["inputs"] = [tensor]
    response = httpx.post(f"{server.url}/v2/models/{model}/infer", json=body, timeout=30)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["model_name"] == model and answer["id"] == f"kserve-{layout}"
    assert answer["outputs"] == [
        {"name": "predict", "datatype": "INT64", "shape": [2], "data": KSERVE_PREDICTIONS}
    ]


def test_metadata_lists_tensor_and_column_inputs(server: RunningServer) -> None:
    tensor = httpx.get(f"{server.url}/v2/models/iris-tensor").json()
    assert tensor["inputs"] == [{"name": "input-0", "datatype": "FP64", "shape": [-1, 4]}]
    assert tensor["outputs"] == [{"name": "predict", "datatype": "INT64", "shape": [-1]}]
    columns = httpx.get(f"{server.url}/v2/models/iris").json()
    assert columns["inputs"] == [
        {"name": c, "datatype": "FP64", "shape": [-1]} for c in IRIS_COLUMNS
    ]
    assert columns["outputs"] == tensor["outputs"]
    assert columns["platform"] == tensor["platform"] == "mlflow_sklearn"


@pytest.mark.parametrize("model", MODELS)
def test_casts_that_would_lose_meaning_are_a_clear_400(server: RunningServer, model: str) -> None:
    url = f"{server.url}/v2/models/{model}/infer"
    whole = {"name": "input-0", "shape": [1, 4], "datatype": "INT32", "data": [7, 3, 5, 2]}
    assert httpx.post(url, json={"inputs": [whole]}).status_code == 200  # INT32 -> FP64
    huge = {**whole, "datatype": "INT64", "data": [2**53 + 1, 3, 5, 2]}
    refused = httpx.post(url, json={"inputs": [huge]})
    assert refused.status_code == 400
    message = refused.json()["error"]
    assert "is INT64 but" in message and "FP64" in message and "2**53" in message
    wrong_shape = {**whole, "shape": [2, 2]}
    assert httpx.post(url, json={"inputs": [wrong_shape]}).status_code == 400


def test_deep_nesting_is_a_400_not_a_500(server: RunningServer) -> None:
    response = httpx.post(
        f"{server.url}/v2/models/iris/infer", content=b"[" * 100_000 + b"]" * 100_000
    )
    assert response.status_code == 400
    assert response.json() == {"error": "JSON nesting deeper than 64"}
