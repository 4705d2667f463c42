"""The feature store on both backends: definitions from a folder, applied into Feast's
registry (a file beside the store, or SQL on the catalog's PostgreSQL), materialised into
the online store (SQLite or PostgreSQL), joined point-in-time into a committed training
set, and looked up online: the same values both ways."""

from __future__ import annotations

import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from digitalhub_airflow.features.apply import apply_definitions
from digitalhub_airflow.features.errors import (
    FeatureDefinitionError,
    FeatureRequestError,
    MissingEntityError,
)
from digitalhub_airflow.features.materialize import materialize
from digitalhub_airflow.features.online import OnlineFeatures
from digitalhub_airflow.features.training_set import build_training_set
from digitalhub_airflow.lineage.runs import get_run
from tests.ui_testlib import open_catalog

if TYPE_CHECKING:
    from conftest import Backend

    from digitalhub_airflow.hub import DataHub

DEFINITIONS = """
from datetime import timedelta

from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
from feast.types import Float64, Int64

wine = Entity(name="wine", join_keys=["wine_id"], value_type=ValueType.INT64)
orders = FileSource(
    name="wine_orders", path="store://demo/dataitem/table/{source}",
    timestamp_field="event_timestamp",
)
wine_features = FeatureView(
    name="wine_features", entities=[wine], ttl=timedelta(days=30), source=orders,
    schema=[Field(name="alcohol", dtype=Float64), Field(name="{column}", dtype=Int64)],
)
wine_service = FeatureService(name="wine_service", features=[wine_features])
"""

N = 12


def write_definitions(folder: Path, source: str = "wine-orders", column: str = "hue") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "wine.py").write_text(
        textwrap.dedent(DEFINITIONS).format(source=source, column=column), encoding="utf-8"
    )
    return folder


def orders_frame(now: datetime, n: int = N):
    """Three events per wine: 3 days, 2 days and 1 hour before ``now``; values differ."""
    import pandas as pd

    rows = [
        {
            "wine_id": i,
            "event_timestamp": now - age,
            "alcohol": 10.0 + i + k / 10,
            "hue": 100 * i + k,
        }
        for i in range(1, n + 1)
        for k, age in enumerate((timedelta(days=3), timedelta(days=2), timedelta(hours=1)))
    ]
    return pd.DataFrame(rows)


@pytest.fixture
def feature_hub(hub: DataHub, backend: Backend, monkeypatch: pytest.MonkeyPatch) -> DataHub:
    monkeypatch.setenv("DHUB_HOME", str(backend.home))
    return hub


def test_training_set_and_online_features_agree(feature_hub: DataHub, tmp_path: Path) -> None:
    """No skew: N entities at time T get the same features from the committed training
    set (offline, point-in-time) and from the online store, value for value."""
    import pandas as pd

    hub = feature_hub
    now = datetime.now(timezone.utc).replace(microsecond=0)
    source = hub.commit("demo/wine-orders", orders_frame(now)).version
    applied = apply_definitions(hub, write_definitions(tmp_path / "defs"))
    assert applied.project == "demo"
    assert [s.version for s in applied.sources] == [source.key]
    recorded = get_run(hub, applied.run)
    assert recorded["parameters"]["digest"] == applied.digest
    assert recorded["inputs"] == [source.key]

    done = materialize(hub, "demo", now)
    assert done.rows == 3 * N
    assert source.key in get_run(hub, done.run)["inputs"]

    ids = list(range(1, N + 1))
    entities = pd.DataFrame({"wine_id": ids, "event_timestamp": [now] * N, "label": [1] * N})
    entity_version = hub.commit("demo/wine-entities", entities).version
    built = build_training_set(hub, "wine_service", entity_version.key, "demo/wine-train")
    assert built.digest == applied.digest
    assert {i.key for i in built.inputs} == {entity_version.key, source.key}
    train = hub.read_table(built.key).to_pandas()
    assert train["wine_id"].tolist() == ids  # the entity rows' order

    online = OnlineFeatures.open(hub, "demo", "wine_service")
    served = online.lookup({"wine_id": ids})
    assert served == {"alcohol": train["alcohol"].tolist(), "hue": train["hue"].tolist()}
    assert served["hue"][0] == 102  # the newest event, one hour before T


def test_point_in_time_join_never_sees_the_future(feature_hub: DataHub, tmp_path: Path) -> None:
    import pandas as pd

    hub = feature_hub
    now = datetime.now(timezone.utc).replace(microsecond=0)
    hub.commit("demo/wine-orders", orders_frame(now, 2))
    apply_definitions(hub, write_definitions(tmp_path / "defs"))
    times = [now - timedelta(days=2, hours=12), now - timedelta(hours=2), now]
    entities = pd.DataFrame({"wine_id": [1, 1, 1], "event_timestamp": times})
    key = hub.commit("demo/asked", entities).key
    train = hub.read_table(build_training_set(hub, "wine_service", key, "demo/t").key)
    assert train.column("hue").to_pylist() == [100, 101, 102]


def test_materialize_follows_new_source_versions(feature_hub: DataHub, tmp_path: Path) -> None:
    hub = feature_hub
    now = datetime.now(timezone.utc).replace(microsecond=0)
    hub.commit("demo/wine-orders", orders_frame(now - timedelta(hours=2), 2))
    apply_definitions(hub, write_definitions(tmp_path / "defs"))
    materialize(hub, "demo", now - timedelta(hours=1))
    frame = orders_frame(now, 2)
    frame.loc[frame["wine_id"] == 1, "hue"] = 7
    newer = hub.commit("demo/wine-orders", frame).version
    done = materialize(hub, "demo", now)
    assert [s.version for s in done.sources] == [newer.key]
    assert OnlineFeatures.open(hub, "demo", "wine_service").lookup({"wine_id": [1]})["hue"] == [7]
    with pytest.raises(FeatureRequestError, match="empty materialisation window"):
        materialize(hub, "demo", now)


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
def test_bad_definitions_are_refused_before_anything_is_registered(
    feature_hub: DataHub, tmp_path: Path
) -> None:
    from digitalhub_airflow.features.config import open_feature_store

    hub = feature_hub
    now = datetime.now(timezone.utc)
    hub.commit("demo/wine-orders", orders_frame(now, 2))
    with pytest.raises(FeatureDefinitionError, match="wine-gone"):
        apply_definitions(hub, write_definitions(tmp_path / "a", source="wine-gone"))
    with pytest.raises(FeatureDefinitionError, match="'colour' is not in"):
        apply_definitions(hub, write_definitions(tmp_path / "b", column="colour"))
    csv = tmp_path / "orders.csv"
    orders_frame(now, 2).to_csv(csv, index=False)
    hub.commit("demo/wine-csv", csv)
    with pytest.raises(FeatureDefinitionError, match="csv table, not a Parquet table"):
        apply_definitions(hub, write_definitions(tmp_path / "c", source="wine-csv"))
    assert open_feature_store(hub, "demo").list_feature_views() == []


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
def test_bad_requests_get_typed_errors(feature_hub: DataHub, tmp_path: Path) -> None:
    import pandas as pd

    hub = feature_hub
    now = datetime.now(timezone.utc).replace(microsecond=0)
    hub.commit("demo/wine-orders", orders_frame(now, 2))
    apply_definitions(hub, write_definitions(tmp_path / "defs"))
    materialize(hub, "demo", now)
    online = OnlineFeatures.open(hub, "demo", "wine_service")
    with pytest.raises(MissingEntityError, match=r"row 1 \(wine_id=99\): entity not in") as exc:
        online.lookup({"wine_id": [1, 99]})
    assert exc.value.rows == [1]
    with pytest.raises(FeatureRequestError, match="must be INT64, got str"):
        online.lookup({"wine_id": ["1"]})
    with pytest.raises(FeatureRequestError, match="needs entity key"):
        online.lookup({"id": [1]})
    defaulted = OnlineFeatures.open(hub, "demo", "wine_service", {"alcohol": 0.0, "hue": -1})
    assert defaulted.lookup({"wine_id": [99]}) == {"alcohol": [0.0], "hue": [-1]}
    for defaults, message in (
        ({"hue": 0.5}, "'hue' must be Int64, got float 0.5"),
        ({"alcohol": True}, "'alcohol' must be Float64, got bool True"),
        ({"alcohol": "nan"}, "'alcohol' must be Float64, got str 'nan'"),
    ):
        with pytest.raises(FeatureRequestError, match=message):
            OnlineFeatures.open(hub, "demo", "wine_service", defaults)
    with pytest.raises(FeatureRequestError, match="no feature service 'nope'"):
        OnlineFeatures.open(hub, "demo", "nope")
    with open_catalog(hub) as catalog:  # the Catalog page: view, source version, freshness
        page = catalog.ok("/dhub/ui/features/demo")
        source = hub.resolve("demo/wine-orders")
        assert "wine_features" in page and source.version_id[:12] in page
        assert "materialised to" in page and now.isoformat()[:10] in page
        assert catalog.get("/dhub/ui/features/demo", as_user="nobody").status_code == 403
        assert 'href="/dhub/ui/features/demo"' in catalog.ok("/dhub/ui/projects/demo")

    # a new source version that lost a feature column is refused, the view stays pinned
    hub.commit("demo/wine-orders", orders_frame(now, 2).drop(columns=["hue"]))
    with pytest.raises(FeatureDefinitionError, match="'hue' is not in"):
        materialize(hub, "demo", now + timedelta(hours=1))
    # entity rows whose key has the wrong type
    wrong = pd.DataFrame({"wine_id": ["1"], "event_timestamp": [now]})
    key = hub.commit("demo/wrong", wrong).key
    with pytest.raises(FeatureRequestError, match="'wine_id' is string"):
        build_training_set(hub, "wine_service", key, "demo/t")


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
def test_the_cli_names_a_bad_definition_in_one_line(dhub, tmp_path: Path) -> None:
    proc = dhub.run("features", "apply", str(write_definitions(tmp_path / "d", source="gone")))
    assert proc.returncode == FeatureDefinitionError.exit_code == 30
    assert proc.stderr.count("\n") == 1
    assert "dhub: error: data source 'wine_orders'" in proc.stderr and "gone" in proc.stderr
