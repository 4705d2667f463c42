"""A feature service as training input.

Either the request names the service (``feature_service="demo/wine_service"``, its first
dataset being the entity rows: keys, event times, label), and the point-in-time training
set is built and committed first; or its first dataset already is such a training set
(built by ``dhub features training-set`` or ``BuildTrainingSetOperator``). Both ways the
run is tagged with the service, the definition digest and the training set's key, the
model entity keeps them (under ``producer.features``), and the model's inputs default to
the service's features: never the entity key or the event time.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from digitalhub_airflow.errors import TrainingInputError

if TYPE_CHECKING:
    from digitalhub_airflow.datasets.versions import VersionInfo
    from digitalhub_airflow.hub import DataHub
    from digitalhub_airflow.training.runner import TrainingRequest

TAG_SERVICE = "dhub.feature_service"
TAG_DIGEST = "dhub.feature_digest"
TAG_TRAINING_SET = "dhub.training_set"


def training_set_facts(version: VersionInfo) -> dict[str, Any] | None:
    """What a training-set version says of its feature service, if it is one."""
    producer = version.producer or {}
    if not {"feature_service", "digest", "features"} <= producer.keys():
        return None
    return {
        "service": producer["feature_service"],
        "digest": producer["digest"],
        "training_set": version.key,
        "entities": producer.get("entities"),
        "features": list(producer["features"]),
    }


def build_for_request(hub: DataHub, request: TrainingRequest) -> TrainingRequest:
    """``request`` with its feature service's training set as its first dataset."""
    from digitalhub_airflow.features.training_set import build_training_set

    if not request.feature_service:
        return request
    if not request.datasets:
        raise TrainingInputError("a feature service needs entity rows: give them as datasets[0]")
    project, _, service = request.feature_service.rpartition("/")
    if project and project != request.project:
        raise TrainingInputError(
            f"feature service {request.feature_service!r} is not in project {request.project}"
        )
    target = f"{request.project}/{request.name}-training-set"
    built = build_training_set(hub, service, request.datasets[0], target)
    return replace(request, datasets=[built.key, *request.datasets[1:]])


def with_feature_facts(request: TrainingRequest, first: VersionInfo) -> TrainingRequest:
    """Tags, producer and default features from a training set's feature service."""
    facts = training_set_facts(first)
    if facts is None:
        return request
    tags = {
        TAG_SERVICE: facts["service"],
        TAG_DIGEST: facts["digest"],
        TAG_TRAINING_SET: facts["training_set"],
    }
    return replace(
        request,
        features=request.features or [f for f in facts["features"] if f != request.target],
        tags={**request.tags, **tags},
        producer={**(request.producer or {}), "features": facts},
    )
