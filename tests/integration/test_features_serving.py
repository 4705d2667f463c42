"""A feature service from training to serving, on the embedded backend: the model is
trained on the service's point-in-time training set (its MLflow run and model entity
name the service, the definition digest and the training set), then served behind the
online store: a request carries only entity ids, the server fetches the features and
predicts what the model predicts on the training set's rows (no skew)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from digitalhub_airflow.features.apply import apply_definitions
from digitalhub_airflow.features.materialize import materialize
from digitalhub_airflow.training.model_catalog import get_model
from digitalhub_airflow.training.runner import TrainingRequest, train_model
from digitalhub_airflow.training.tracking import embedded_tracking, tracking_session
from tests.conftest import Backend
from tests.serving_helpers import asgi_call
from tests.training_helpers import ESTIMATORS

from .test_features_store import write_definitions

N = 40


@pytest.fixture
def served_features(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import pandas as pd

    home = tmp_path / "home"
    home.mkdir()
    backend = Backend(
        "embedded", f"sqlite:///{home / 'catalog.sqlite'}", None, str(home / "store"), home
    )
    for name, value in backend.env().items():
        if name.startswith("DHUB_"):
            monkeypatch.setenv(name, value)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    rng = np.random.default_rng(7)
    ids = np.arange(1, N + 1)
    orders = pd.DataFrame(
        {
            "wine_id": ids,
            "event_timestamp": [now - timedelta(hours=1)] * N,
            "alcohol": rng.uniform(10, 15, N),
            "hue": rng.integers(0, 100, N),
        }
    )
    labels = pd.DataFrame(
        {"wine_id": ids, "event_timestamp": [now] * N, "quality": (orders["alcohol"] > 12.5)}
    )
    labels["quality"] = labels["quality"].astype("int64")
    with backend.hub() as hub:
        hub.init()
        hub.commit("demo/wine-orders", orders)
        entities = hub.commit("demo/wine-labels", labels).version
        applied = apply_definitions(hub, write_definitions(tmp_path / "defs"))
        materialize(hub, "demo", now)
        yield hub, embedded_tracking(home), entities, applied, tmp_path


def train_on_service(hub, tracking, entities: str):
    """A model trained on ``wine_service``, the labels being the entity rows."""
    request = TrainingRequest(
        project="demo",
        name="wine-fs",
        entrypoint=ESTIMATORS,
        datasets=[entities],
        target="quality",
        params={"estimator": "random_forest", "n_estimators": 10},
        feature_service="demo/wine_service",
    )
    return train_model(hub, tracking, request)


def test_trained_on_a_feature_service_and_served_from_entity_ids(served_features) -> None:
    from digitalhub_airflow.serving.runtime.app import ServingApp
    from digitalhub_airflow.serving.runtime.server import ServeOptions, prepare

    hub, tracking, entities, applied, tmp_path = served_features
    outcome = train_on_service(hub, tracking, entities.key)
    training_set = outcome.datasets[0]
    assert training_set.startswith("store://demo/dataitem/table/wine-fs-training-set:")
    with tracking_session(tracking) as client:
        tags = client.get_run(outcome.run_id).data.tags
    assert tags["dhub.feature_service"] == "demo/wine_service"
    assert tags["dhub.feature_digest"] == applied.digest
    assert tags["dhub.training_set"] == training_set
    assert json.loads(tags["dhub.features"]) == ["alcohol", "hue"]  # no id, no event time
    model = get_model(hub, outcome.model_key)
    assert model.producer["features"]["digest"] == applied.digest

    options = ServeOptions(models=[f"wine={outcome.model_uri}"], features=["demo/wine_service"])
    plan, _ = prepare(hub, tracking, options, tmp_path / "serve")
    assert plan.models[0].features == {
        "project": "demo",
        "service": "wine_service",
        "digest": applied.digest,
    }
    app = ServingApp(plan)
    app.load()
    assert app.ready, app.load_error

    ids = [3, 1, 40]
    body = {"inputs": [{"name": "wine_id", "shape": [3], "datatype": "INT64", "data": ids}]}
    response = asgi_call(app, "POST", "/v2/models/wine/infer", json.dumps(body).encode())
    assert response.status == 200, response.body
    served = response.json()["outputs"][0]["data"]
    rows = hub.read_table(training_set).to_pandas().set_index("wine_id").loc[ids]
    columns = {name: rows[name].to_numpy() for name in ("alcohol", "hue")}
    _, offline = app.servables["wine"].model.predict(columns)
    logged, predicted = app.servables["wine"].predict({"wine_id": np.array(ids)})
    assert served == predicted.tolist() == offline.tolist()
    assert list(logged.columns) == ["alcohol", "hue"]  # the request log gets these
    assert logged["alcohol"].tolist() == rows["alcohol"].tolist()

    invocations = asgi_call(
        app,
        "POST",
        "/invocations",
        json.dumps({"dataframe_split": {"columns": ["wine_id"], "data": [[1], [2]]}}).encode(),
        headers={"content-type": "application/json"},
    )
    assert invocations.status == 200, invocations.body
    missing = {"inputs": [{"name": "wine_id", "shape": [2], "datatype": "INT64", "data": [1, 999]}]}
    refused = asgi_call(app, "POST", "/v2/models/wine/infer", json.dumps(missing).encode())
    assert refused.status == 400
    assert "row 1 (wine_id=999): entity not in the online store" in refused.json()["error"]
    meta = asgi_call(app, "GET", "/v2/models/wine").json()
    assert meta["inputs"] == [{"name": "wine_id", "datatype": "INT64", "shape": [-1]}]


SERVICE = """
name: wine-fs
target: local
models: {{wine: "{model}"}}
features:
  wine:
    service: demo/wine_service
    defaults: {{alcohol: {alcohol}, hue: 50}}
"""


def served_from_yaml(hub, tracking, model: str, alcohol: str, workdir: Path):
    """The server plan of a services YAML entry, through the command line it deploys with."""
    import yaml

    from digitalhub_airflow.cli.main import build_parser
    from digitalhub_airflow.serving.deploy.spec import spec_from_json
    from digitalhub_airflow.serving.runtime.server import ServeOptions, prepare

    spec = spec_from_json(yaml.safe_load(SERVICE.format(model=model, alcohol=alcohol)), "demo")
    args = build_parser(spec.serve_args()).parse_args(spec.serve_args())
    options = ServeOptions(
        models=args.model,
        project=args.project,
        features=args.features,
        feature_defaults=args.feature_default,
    )
    return prepare(hub, tracking, options, workdir)[0]


def test_declared_defaults_stand_in_for_missing_entities(served_features) -> None:
    from digitalhub_airflow.features.errors import FeatureRequestError
    from digitalhub_airflow.serving.runtime.app import ServingApp

    hub, tracking, entities, _, tmp_path = served_features
    model = train_on_service(hub, tracking, entities.key).model_uri
    with pytest.raises(FeatureRequestError, match=r"default of feature 'alcohol' must be Float64"):
        served_from_yaml(hub, tracking, model, "high", tmp_path / "bad")

    plan = served_from_yaml(hub, tracking, model, "12", tmp_path / "serve")
    assert plan.models[0].features["defaults"] == {"alcohol": 12.0, "hue": 50}  # typed
    app = ServingApp(plan)
    app.load()
    assert app.ready, app.load_error
    body = {"inputs": [{"name": "wine_id", "shape": [2], "datatype": "INT64", "data": [1, 999]}]}
    response = asgi_call(app, "POST", "/v2/models/wine/infer", json.dumps(body).encode())
    assert response.status == 200, response.body
    logged, predicted = app.servables["wine"].predict({"wine_id": np.array([1, 999])})
    assert logged.iloc[1].tolist() == [12.0, 50]  # the declared defaults, not zeros
    _, on_defaults = app.servables["wine"].model.predict(
        {"alcohol": np.array([12.0]), "hue": np.array([50])}
    )
    assert response.json()["outputs"][0]["data"][1] == predicted[1] == on_defaults[0]
    meta = asgi_call(app, "GET", "/v2/models/wine").json()
    assert meta["parameters"]["feature_defaults"] == {"alcohol": 12.0, "hue": 50}
