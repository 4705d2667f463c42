"""The feature-store DAG inside real Airflow (`airflow dags test`): the wine table gets
entity ids and event times, the definitions in dags/features/ are applied, the online
store is materialised and a training set committed; the tasks' catalog runs consume the
exact source version and carry the definition digest; the model trained on the feature
service records the service, the digest and its training set."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from digitalhub_airflow.browse.read_model import list_models
from digitalhub_airflow.catalog.models import Run
from digitalhub_airflow.features.online import OnlineFeatures
from digitalhub_airflow.hub import DataHub
from digitalhub_airflow.lineage.runs import get_run
from tests.conftest import Backend
from tests.e2e.conftest import AirflowEnv, catalog_env

pytestmark = pytest.mark.e2e
WINE = "store://demo/dataitem/table/wine"
FEATURES = ["alcohol", "malic_acid", "flavanoids", "color_intensity", "hue", "proline"]


def task_run(hub: DataHub, task_id: str) -> dict:
    with hub.catalog.session() as session:
        key = session.scalars(
            select(Run.key).where(Run.task_id == task_id).order_by(Run.started_at.desc())
        ).first()
    assert key, f"no catalog run of task {task_id}"
    return get_run(hub, key)


@pytest.mark.parametrize("backend", ["real"], indirect=True)  # embedded: `make demo`, integration
def test_the_feature_store_dag_serves_what_it_trains_on(
    airflow: AirflowEnv, backend: Backend, hub: DataHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sklearn.datasets import load_wine

    wine = load_wine(as_frame=True).frame
    hub.commit(WINE, wine)
    airflow.run("dags", "test", "dhub_feature_store_wine", env=catalog_env(backend))

    orders = hub.resolve("store://demo/dataitem/table/wine-orders")
    materialized = task_run(hub, "materialize")
    assert materialized["state"] == "success"
    assert materialized["inputs"] == [orders.key]
    applied = task_run(hub, "apply_features")
    digest = applied["parameters"]["digest"]
    assert len(digest) == 64

    train = hub.read_table("store://demo/dataitem/table/wine-train").to_pandas()
    assert len(train) == len(wine)
    assert train["wine_id"].tolist() == list(range(1, len(wine) + 1))
    assert train[FEATURES].to_numpy().tolist() == wine[FEATURES].to_numpy().tolist()

    monkeypatch.setenv("DHUB_HOME", str(backend.home))
    online = OnlineFeatures.open(hub, "demo", "wine_service")
    assert online.digest == digest
    served = online.lookup({"wine_id": [7, 9]})
    assert [served[f] for f in FEATURES] == [train.loc[[6, 8], f].tolist() for f in FEATURES]

    assert task_run(hub, "train")["state"] == "success"
    (model,) = [m for m in list_models(hub, "demo") if m["name"] == "wine-fs-classifier"]
    facts = model["producer"]["features"]
    assert facts["service"] == "demo/wine_service" and facts["digest"] == digest
    assert facts["entities"] == hub.resolve("store://demo/dataitem/table/wine-labels").key
    training_set = hub.resolve(facts["training_set"])
    assert training_set.key.startswith("store://demo/dataitem/table/wine-fs-classifier-training")
    assert model["datasets"] == [training_set.key]
    assert facts["features"] == FEATURES  # not the id, not the event time
