"""The run that commits are produced by, so a version and its lineage commit together.

A task (or a transform) names its run around its work; the commit protocol reads it
inside its one transaction and writes there, with the version, the version's ``run``
reference, the run row (started if it is not yet) and the ``produced_by`` edge. A crash
between those writes leaves none of them. A separate process (a pod or a local
subprocess workload) gets the run through ``DHUB_RUN`` in its environment: the run's
identity only, never its parameters, since a pod's environment is in its spec.

A run row whose key is this run's and whose state is ``running`` belongs to this
execution: the key names one try of one task instance, which runs once (a deferred task
resumes in another process; a pod commits from another machine). A finished row under
the same key is an earlier execution of that try (``airflow tasks test``), started afresh.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from digitalhub_airflow.catalog.models import Project, Run, utcnow
from digitalhub_airflow.errors import InvalidSourceError
from digitalhub_airflow.keys import Key
from digitalhub_airflow.lineage.runs import (
    PRODUCED_BY,
    RUNNING,
    RunOutcome,
    RunSpec,
    add_edges,
    finish,
    restart_run,
    run_name,
    scrub,
    upstream_closure,
)

if TYPE_CHECKING:
    from digitalhub_airflow.catalog.engine import Catalog

#: The producing run of a workload process, as JSON (``ProducingRun.to_env``).
RUN_ENV = "DHUB_RUN"
#: The fields a workload's environment carries: what identifies the run, nothing more.
_IDENTITY = ("project", "name", "uid", "kind", "dag_id", "run_id", "task_id", "try_number")


@dataclass
class ProducingRun:
    """A run its commits are attributed to. ``spec.project`` may be empty until the first
    commit: the run then lives in the project of the first version it writes."""

    spec: RunSpec
    started_at: datetime

    @classmethod
    def start_now(cls, spec: RunSpec) -> ProducingRun:
        """A run starting now, on the catalog's clock (UTC)."""
        return cls(spec, utcnow())

    def bind(self, project: str) -> RunSpec:
        if not self.spec.project:
            self.spec = replace(self.spec, project=project)
        return self.spec

    def to_env(self) -> str:
        fields = asdict(self.spec)
        identity = {name: fields[name] for name in _IDENTITY}
        return json.dumps({"spec": identity, "started_at": self.started_at.isoformat()})

    @classmethod
    def from_env(cls, text: str) -> ProducingRun:
        try:
            data = json.loads(text)
            spec = RunSpec(**{k: v for k, v in data["spec"].items() if k in _IDENTITY})
            return cls(spec, datetime.fromisoformat(data["started_at"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidSourceError(f"{RUN_ENV} is not a producing run: {exc}") from exc

    def producer(self) -> dict[str, Any]:
        """The task identity recorded on each version this run writes."""
        spec = self.spec
        fields = {
            "dag_id": spec.dag_id,
            "run_id": spec.run_id,
            "task_id": spec.task_id,
            "try_number": spec.try_number,
        }
        return {k: v for k, v in fields.items() if v is not None}


_current: ContextVar[ProducingRun | None] = ContextVar("dhub_producing_run", default=None)
_from_env: dict[str, ProducingRun] = {}


@contextmanager
def producing(run: ProducingRun | None) -> Iterator[ProducingRun | None]:
    """Attribute the commits made inside the block to ``run`` (``None``: to the run of
    ``DHUB_RUN`` if this process has one, else to none)."""
    token = _current.set(run)
    try:
        yield run
    finally:
        _current.reset(token)


def current_run() -> ProducingRun | None:
    """The run set by :func:`producing`, else the one this process was started for."""
    run = _current.get()
    if run is not None:
        return run
    text = os.environ.get(RUN_ENV)
    if not text:
        return None
    if text not in _from_env:  # parsed once: the project it binds to stays bound
        _from_env[text] = ProducingRun.from_env(text)
    return _from_env[text]


def open_run(session: Session, run: ProducingRun, project: str) -> str:
    """The run's key, its row started in this transaction unless this execution has."""
    spec = run.bind(project)
    existing = session.scalars(select(Run).where(Run.key == spec.key)).first()
    if existing is None or existing.state != RUNNING:
        restart_run(session, spec, run.started_at, existing)
    return spec.key


def attach_output(session: Session, run: ProducingRun, version: Key, created: bool) -> str:
    """In the commit's transaction: the ``produced_by`` edge from ``version`` to the run.

    A version that existed before is left without the edge if it is upstream of the run
    already (an identity transform), so no write closes a cycle.
    """
    key = open_run(session, run, version.project)
    if created or str(version) not in upstream_closure(session, key):
        add_edges(session, [(str(version), PRODUCED_BY, key)])
    return key


def find_run(session: Session, run: ProducingRun) -> Run | None:
    """The run's row in any state, if there is one.

    A run not bound to a project yet (its workload committed in another process) is
    looked up in every project, by the unique key.
    """
    spec = run.spec
    if spec.project:
        keys = [spec.key]
    else:
        projects = session.scalars(select(Project.name)).all()
        keys = [str(Key(p, "run", spec.kind, run_name(spec.name), spec.uid)) for p in projects]
    if not keys:
        return None
    return session.scalars(select(Run).where(Run.key.in_(keys))).first()


def find_open_run(session: Session, run: ProducingRun) -> Run | None:
    """This execution's run row, if a commit (here or in a workload) started it."""
    row = find_run(session, run)
    return row if row is not None and row.state == RUNNING else None


def close_run(
    session: Session, run: ProducingRun, outcome: RunOutcome, project: str | None
) -> str | None:
    """Finish this execution's run with its outcome; start it too if no commit did.

    Returns the run key, or ``None`` when nothing bound the run to a project.
    """
    row = find_run(session, run)
    if row is None or row.state != RUNNING:
        if not (run.spec.project or project):
            return None
        row = restart_run(session, run.bind(project or ""), run.started_at, row)
    else:
        spec = run.spec
        row.operator = spec.operator or row.operator
        row.code_digest = spec.code_digest or row.code_digest
        row.parameters = scrub(spec.parameters) or row.parameters
        row.transform = scrub(spec.transform) or row.transform
        row.cache_key = spec.cache_key or row.cache_key
    finish(session, row, outcome)
    return row.key


def finish_producing_run(
    catalog: Catalog, run: ProducingRun, outcome: RunOutcome, project: str | None
) -> str | None:
    """:func:`close_run` in a transaction of its own: how a task's run ends.

    The one call the Airflow side makes when a task (an operator's execution or a
    ``@dataset_task`` try) is over; returns the run key, or ``None`` when nothing bound
    the run to a project (the task read and wrote no dataset)."""
    with catalog.session() as session:
        return close_run(session, run, outcome, project)
