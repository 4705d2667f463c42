"""Training sets: Feast's point-in-time join, committed as a dataset version.

The entity rows (join keys and an event time per row) come from a dataset version; each
row gets every feature of the service as it was at that row's time, from the exact source
versions the service was applied with (Feast's ``get_historical_features``). The result
is committed with lineage: ``consumes`` edges to the entity version and the source
versions, the service name and the definition digest on the run and the version.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from digitalhub_airflow.features.config import open_feature_store
from digitalhub_airflow.features.errors import FeatureRequestError
from digitalhub_airflow.features.records import RUN_KIND, run_label
from digitalhub_airflow.features.refresh import refresh_views
from digitalhub_airflow.features.service import load_service, service_digest, service_views
from digitalhub_airflow.keys import as_dataset_key

if TYPE_CHECKING:
    from digitalhub_airflow.datasets.versions import VersionInfo
    from digitalhub_airflow.hub import DataHub

#: The event-time column of entity rows, Feast's convention.
EVENT_TIMESTAMP = "event_timestamp"
_ROW = "__dhub_row"


@dataclass
class TrainingSet:
    version: VersionInfo
    service: str
    digest: str
    run: str | None
    inputs: list[VersionInfo] = field(default_factory=list)

    @property
    def key(self) -> str:
        return self.version.key

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "rows": self.version.row_count,
            "feature_service": self.service,
            "digest": self.digest,
            "run": self.run,
            "inputs": [i.key for i in self.inputs],
        }


def entity_rows(hub: DataHub, key: str, join_keys: dict[str, Any], timestamp: str) -> Any:
    """The entity version as a DataFrame, its join keys and event time checked."""
    from feast.type_map import pa_to_feast_value_type

    table = hub.read_table(key)
    columns = {f.name: f.type for f in table.schema}
    for name, wanted in {**join_keys, timestamp: None}.items():
        if name not in columns:
            raise FeatureRequestError(f"entity rows {key} have no column {name!r}")
        got = pa_to_feast_value_type(str(columns[name]))
        if wanted is not None and got != wanted:
            raise FeatureRequestError(
                f"entity rows {key}: column {name!r} is {columns[name]}, "
                f"the entity's key is {wanted.name}"
            )
    if not str(columns[timestamp]).startswith("timestamp"):
        raise FeatureRequestError(f"entity rows {key}: {timestamp!r} is not a timestamp")
    frame = table.to_pandas()
    frame[_ROW] = range(len(frame))
    return frame


def historical_features(
    hub: DataHub, project: str, service: str, frame: Any, timestamp: str = EVENT_TIMESTAMP
) -> tuple[Any, str, list[VersionInfo]]:
    """Feast's point-in-time join of ``frame`` with ``service``, in ``frame``'s row order;
    with the digest and the source versions it read."""
    store = open_feature_store(hub, project)
    feature_service = load_service(store, service)
    pinned = refresh_views(hub, store, service_views(store, feature_service), follow=False)
    if timestamp != EVENT_TIMESTAMP:
        frame = frame.rename(columns={timestamp: EVENT_TIMESTAMP})
    joined = store.get_historical_features(entity_df=frame, features=feature_service).to_df()
    joined = joined.sort_values(_ROW).drop(columns=[_ROW]).reset_index(drop=True)
    return joined, service_digest(feature_service), [hub.resolve(p.version) for p in pinned]


def build_training_set(
    hub: DataHub,
    service: str,
    entities: str,
    target: str,
    *,
    timestamp: str = EVENT_TIMESTAMP,
    message: str = "",
) -> TrainingSet:
    """Join, commit to ``target`` and record lineage. Inside a task's producing run the
    commit is that run's; otherwise (the CLI) a run of its own is recorded."""
    from digitalhub_airflow.lineage.producing import (
        ProducingRun,
        current_run,
        finish_producing_run,
        producing,
    )
    from digitalhub_airflow.lineage.runs import SUCCESS, RunOutcome, RunSpec

    project = as_dataset_key(target, "table").project if "/" in target else ""
    if not project:
        raise FeatureRequestError(f"training-set target {target!r} names no project")
    store = open_feature_store(hub, project)
    feature_service = load_service(store, service)
    join_keys = {
        e.join_key: e.value_type
        for view in service_views(store, feature_service)
        for e in (store.get_entity(name) for name in view.entities)
    }
    entity_version = hub.resolve(entities)
    frame = entity_rows(hub, entity_version.key, join_keys, timestamp)
    joined, digest, sources = historical_features(hub, project, service, frame, timestamp)
    features = [f.name for p in feature_service.feature_view_projections for f in p.features]
    producer = {
        "feature_service": f"{project}/{service}",
        "digest": digest,
        "entities": entity_version.key,
        "features": features,
    }
    run = current_run()
    own = run is None
    if run is None:
        spec = RunSpec(project, run_label("training-set"), uuid.uuid4().hex[:16], RUN_KIND)
        spec.parameters = {**producer, "sources": [s.key for s in sources]}
        run = ProducingRun.start_now(spec)
    with producing(run):
        result = hub.commit(target, joined, kind="table", message=message, producer=producer)
    inputs = [entity_version, *sources]
    run_key = None
    if own:
        outcome = RunOutcome(SUCCESS, [i.key for i in inputs], [result.key])
        run_key = finish_producing_run(hub.catalog, run, outcome, project)
    return TrainingSet(result.version, service, digest, run_key, inputs)
