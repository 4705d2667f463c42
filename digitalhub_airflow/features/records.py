"""Feature store work recorded in the catalog: one run per apply or materialisation,
its parameters (the definition digest, views, window) and ``consumes`` edges to the exact
source versions it read."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from digitalhub_airflow.catalog.models import Run, utcnow
from digitalhub_airflow.lineage.runs import SUCCESS, RunOutcome, RunSpec, record_run, scrub

if TYPE_CHECKING:
    from digitalhub_airflow.hub import DataHub

#: Runs of this package: kind ``python`` (the run kinds are fixed), named ``features.<action>``.
RUN_KIND = "python"


#: Recent runs of a project looked through for feature-store ones.
SCANNED_RUNS = 500


def run_label(action: str) -> str:
    return f"features.{action}"


def record(
    hub: DataHub, project: str, action: str, parameters: dict[str, Any], inputs: list[str]
) -> str | None:
    """Record one finished feature-store run; returns its key.

    Inside a task's producing run (an operator) the parameters go on that run instead,
    which the task finishes with the versions it reports read; ``None`` is returned.
    """
    from digitalhub_airflow.lineage.producing import current_run

    task_run = current_run()
    if task_run is not None:
        task_run.spec.parameters = {
            **task_run.spec.parameters,
            "action": run_label(action),
            **scrub(parameters),
        }
        return None
    spec = RunSpec(
        project=project,
        name=run_label(action),
        uid=uuid.uuid4().hex[:16],
        kind=RUN_KIND,
        operator=f"features.{action}",
        parameters=parameters,
    )
    with hub.catalog.session() as session:
        return record_run(session, spec, RunOutcome(SUCCESS, inputs=inputs), utcnow())


def latest_runs(hub: DataHub, project: str, action: str, limit: int = 20) -> list[dict[str, Any]]:
    """The newest runs of ``action`` in ``project`` (its own runs, and tasks' runs that
    carry it in their parameters): key, when, parameters."""
    label = run_label(action)
    with hub.catalog.session() as session:
        rows = session.scalars(
            select(Run)
            .where(Run.project == project, Run.state == SUCCESS)
            .order_by(Run.started_at.desc())
            .limit(SCANNED_RUNS)
        ).all()
        found = [r for r in rows if r.name == label or (r.parameters or {}).get("action") == label]
        return [
            {"run": r.key, "at": r.started_at.isoformat(), "parameters": r.parameters or {}}
            for r in found[:limit]
        ]
