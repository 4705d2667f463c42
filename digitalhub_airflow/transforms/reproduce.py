"""``dhub reproduce``: re-run a recorded transformation and compare version ids.

The run's recorded inputs are exact versions, so the same code and parameters must
give the same content and hence the same version id; nothing is committed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from digitalhub_airflow.catalog.models import Run
from digitalhub_airflow.errors import InvalidKeyError, NotFoundError
from digitalhub_airflow.lineage.runs import PRODUCED_BY, load_run
from digitalhub_airflow.transforms.transform import (
    PYTHON,
    Transform,
    compute,
    content_version_id,
    import_function,
    pin_inputs,
)


@dataclass
class Reproduction:
    run: str
    output: str
    recorded_version_id: str
    reproduced_version_id: str
    code_changed: bool

    @property
    def same(self) -> bool:
        return self.recorded_version_id == self.reproduced_version_id

    def to_json(self) -> dict[str, Any]:
        return {
            "run": self.run,
            "output": self.output,
            "recorded_version_id": self.recorded_version_id,
            "reproduced_version_id": self.reproduced_version_id,
            "same": self.same,
            "code_changed": self.code_changed,
        }


def producing_run(hub: Any, key: str) -> Run:
    """The transform run behind ``key``: a run key, or a version it produced."""
    from sqlalchemy import select

    from digitalhub_airflow.catalog.models import Relationship

    parsed = hub.key(key)
    with hub.catalog.session() as session:
        if parsed.entity_type == "run":
            return load_run(session, parsed)
        version = hub.resolve(parsed).key
        runs = select(Relationship.target).where(
            Relationship.source == version, Relationship.relation == PRODUCED_BY
        )
        run: Run | None = session.scalars(
            select(Run)
            .where(Run.key.in_(runs), Run.transform.is_not(None))
            .order_by(Run.started_at)
            .limit(1)
        ).first()
        if run is None:
            raise NotFoundError(f"no recorded transformation produced {version}")
        return run


def reproduce(hub: Any, key: str) -> Reproduction:
    """Re-run the transform that produced ``key`` (a version or a run) from its inputs."""
    from digitalhub_airflow.catalog.migrate import require_current

    require_current(hub.catalog)
    run = producing_run(hub, key)
    recorded = run.transform or {}
    if run.state != "success" or not run.output:
        raise InvalidKeyError(f"run {run.key} did not produce a version (state {run.state})")
    function = None
    if recorded.get("kind") == PYTHON:
        function = import_function(recorded["function"], recorded.get("source_file"))
    transform = Transform(
        output=recorded["output"],
        kind=recorded["kind"],
        inputs=recorded["inputs"],
        function=function,
        query=recorded.get("query"),
        parameters=recorded.get("parameters") or {},
    )
    pinned = pin_inputs(hub, transform.inputs)  # recorded keys carry exact version ids
    data = compute(hub, transform, pinned)
    recorded_id = hub.resolve(run.output).version_id
    return Reproduction(
        run=run.key,
        output=run.output,
        recorded_version_id=recorded_id,
        reproduced_version_id=content_version_id(data),
        code_changed=transform.code()[1] != run.code_digest,
    )
