"""Recording runs: the ``run`` entity and its ``consumes``/``produced_by`` edges.

A run is started before the work and finished after it, in one transaction that writes
its state and all its edges, so a reader never sees half a run's lineage. Edges never
close a cycle: an output that is already upstream of the run (an identity transform
returning an existing version) is recorded on the run, not as a ``produced_by`` edge.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from digitalhub_airflow.catalog.models import Relationship, Run, utcnow
from digitalhub_airflow.errors import InvalidKeyError, NotFoundError
from digitalhub_airflow.keys import NAME_PATTERN, Key, as_key
from digitalhub_airflow.settings import current_user

CONSUMES = "consumes"
PRODUCED_BY = "produced_by"
#: Relations that point upstream; lineage walks only these.
UPSTREAM_RELATIONS = (PRODUCED_BY, CONSUMES)

RUNNING, SUCCESS, FAILED, SKIPPED = "running", "success", "failed", "skipped"
SECRET_NAME = re.compile(
    r"pass(word|wd)?|secret|token|api[_-]?key|private[_-]?key|credential|auth|dsn|conn", re.I
)
REDACTED = "***"
_NAME_RE = re.compile(NAME_PATTERN)


def run_name(*parts: str) -> str:
    """A valid key name from free text such as ``<dag_id>.<task_id>``."""
    cleaned = [re.sub(r"[^a-z0-9._-]+", "-", p.lower()).strip("-_.") for p in parts]
    text = re.sub(r"\.{2,}", ".", ".".join(p for p in cleaned if p))[:63].rstrip("-_.")
    return text if _NAME_RE.fullmatch(text) else "run"


def digest_text(*parts: Any) -> str:
    """A stable hex digest of text parts (run ids, cache keys, code digests)."""
    hasher = hashlib.sha256()
    for part in parts:
        hasher.update(str(part).encode())
        hasher.update(b"\x00")
    return hasher.hexdigest()


def scrub(parameters: Any) -> Any:
    """Parameters as recorded: values under secret-looking names are replaced."""
    if isinstance(parameters, dict):
        return {
            str(k): REDACTED if SECRET_NAME.search(str(k)) else scrub(v)
            for k, v in parameters.items()
        }
    if isinstance(parameters, list | tuple):
        return [scrub(v) for v in parameters]
    if parameters is None or isinstance(parameters, bool | int | float | str):
        return parameters
    return repr(parameters)


@dataclass
class RunSpec:
    """What identifies a run and what it ran with, known before it starts."""

    project: str
    name: str
    uid: str
    kind: str = "airflow"
    dag_id: str | None = None
    run_id: str | None = None
    task_id: str | None = None
    try_number: int | None = None
    operator: str | None = None
    code_digest: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    transform: dict[str, Any] | None = None
    cache_key: str | None = None

    @property
    def key(self) -> str:
        return str(Key(self.project, "run", self.kind, run_name(self.name), self.uid))


@dataclass
class RunOutcome:
    """What a run did: versions read and written (keys with exact version ids)."""

    state: str
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    error: str | None = None
    cache_hit: bool = False
    reused_run: str | None = None


def start_run(session: Session, spec: RunSpec, started_at: datetime | None = None) -> str:
    """Insert the run as ``running`` (a retried start of the same key starts it afresh)."""
    existing = session.scalars(select(Run).where(Run.key == spec.key)).first()
    return restart_run(session, spec, started_at or utcnow(), existing).key


def restart_run(session: Session, spec: RunSpec, started_at: datetime, existing: Run | None) -> Run:
    """Insert the run as ``running``, replacing ``existing`` (its row under the same key,
    looked up by the caller) and that row's edges."""
    key = spec.key
    if existing is not None:
        session.execute(delete(Relationship).where(Relationship.source == key))
        session.execute(delete(Relationship).where(Relationship.target == key))
        session.delete(existing)
        session.flush()
    run = Run(
        key=key,
        project=spec.project,
        kind=spec.kind,
        name=run_name(spec.name),
        dag_id=spec.dag_id,
        run_id=spec.run_id,
        task_id=spec.task_id,
        try_number=spec.try_number,
        operator=spec.operator,
        code_digest=spec.code_digest,
        parameters=scrub(spec.parameters),
        transform=scrub(spec.transform),
        cache_key=spec.cache_key,
        cache_hit=False,
        state=RUNNING,
        started_at=started_at,
        created_by=current_user(),
    )
    session.add(run)
    return run


def record_run(session: Session, spec: RunSpec, outcome: RunOutcome, started_at: datetime) -> str:
    """A whole run, start and finish, in the caller's one transaction."""
    key = start_run(session, spec, started_at)
    finish_run(session, key, outcome)
    return key


def finish_run(session: Session, key: str, outcome: RunOutcome) -> list[str]:
    """Write the run's state and edges; return outputs left without an edge (cycles).

    Commits made under the run wrote their ``produced_by`` edges already, with their
    versions (:mod:`digitalhub_airflow.lineage.producing`): those stay, even on failure,
    since the versions exist. An edge that the run's ``consumes`` edges turn into a cycle
    (an identity transform returning its input) is removed and noted on the run.
    """
    run = session.scalars(select(Run).where(Run.key == key)).first()
    if run is None:
        raise NotFoundError(f"run {key} does not exist")
    return finish(session, run, outcome)


def finish(session: Session, run: Run, outcome: RunOutcome) -> list[str]:
    """:func:`finish_run` on a run row the caller holds."""
    key = run.key
    run.state = outcome.state
    run.ended_at = utcnow()
    run.error = outcome.error
    run.cache_hit = outcome.cache_hit
    run.reused_run = outcome.reused_run
    if outcome.outputs:
        run.output = outcome.outputs[0]
    inputs = list(dict.fromkeys(outcome.inputs))
    add_edges(session, [(key, CONSUMES, i) for i in inputs])
    produced = [] if outcome.cache_hit or outcome.state != SUCCESS else outcome.outputs
    if inputs:
        produced = [*produced_by(session, key), *produced]
    # Edges into ``key`` cannot change what is upstream of it: one closure for all outputs
    # (none for a run that read and wrote nothing new, such as a tag or a validation).
    upstream = upstream_closure(session, key) if inputs and produced else set()
    skipped, kept = [], []
    for output in dict.fromkeys(produced):
        if output in upstream:
            skipped.append(output)
            session.execute(
                delete(Relationship).where(
                    Relationship.source == output,
                    Relationship.relation == PRODUCED_BY,
                    Relationship.target == key,
                )
            )
        else:
            kept.append((output, PRODUCED_BY, key))
    add_edges(session, kept)
    if skipped:
        run.transform = {**(run.transform or {}), "outputs_already_upstream": skipped}
    session.flush()
    return skipped


def produced_by(session: Session, key: str) -> list[str]:
    """The versions with a ``produced_by`` edge to the run ``key``."""
    return list(
        session.scalars(
            select(Relationship.source).where(
                Relationship.target == key, Relationship.relation == PRODUCED_BY
            )
        )
    )


def add_edges(session: Session, edges: Iterable[tuple[str, str, str]]) -> None:
    """Insert the edges the catalog lacks (an edge is recorded once), in one statement."""
    rows = [
        {"source": source, "relation": relation, "target": target, "created_at": utcnow()}
        for source, relation, target in dict.fromkeys(edges)
    ]
    if not rows:
        return
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    session.execute(insert(Relationship).values(rows).on_conflict_do_nothing())


def upstream_closure(session: Session, key: str) -> set[str]:
    """Every entity upstream of ``key``, in one recursive query (terminates on any graph)."""
    rel = Relationship.__table__
    upstream = rel.c.relation.in_(UPSTREAM_RELATIONS)
    seed = select(rel.c.target.label("node")).where(rel.c.source == key, upstream)
    walk = seed.cte("closure", recursive=True)
    step = select(rel.c.target).join(walk, rel.c.source == walk.c.node).where(upstream)
    walk = walk.union(step)
    return set(session.scalars(select(walk.c.node)))


def find_cached(session: Session, cache_key: str) -> Run | None:
    """The latest successful run with this cache key that wrote an output."""
    return session.scalars(
        select(Run)
        .where(Run.cache_key == cache_key, Run.state == SUCCESS, Run.output.is_not(None))
        .order_by(Run.started_at.desc(), Run.id.desc())
        .limit(1)
    ).first()


def run_to_json(run: Run) -> dict[str, Any]:
    return {
        "key": run.key,
        "project": run.project,
        "kind": run.kind,
        "name": run.name,
        "dag_id": run.dag_id,
        "run_id": run.run_id,
        "task_id": run.task_id,
        "try_number": run.try_number,
        "operator": run.operator,
        "code_digest": run.code_digest,
        "parameters": run.parameters,
        "transform": run.transform,
        "cache_key": run.cache_key,
        "cache_hit": run.cache_hit,
        "reused_run": run.reused_run,
        "output": run.output,
        "state": run.state,
        "error": run.error,
        "started_at": run.started_at.isoformat(),
        "ended_at": run.ended_at.isoformat() if run.ended_at else None,
        "created_by": run.created_by,
    }


def run_edges(session: Session, key: str) -> dict[str, list[str]]:
    """The versions a run consumed and produced."""
    consumed = session.scalars(
        select(Relationship.target).where(
            Relationship.source == key, Relationship.relation == CONSUMES
        )
    ).all()
    return {"inputs": sorted(consumed), "outputs": sorted(produced_by(session, key))}


def load_run(session: Session, key: str | Key) -> Run:
    parsed = as_key(key)
    if parsed.entity_type != "run" or parsed.version is None:
        raise InvalidKeyError(f"{key} is not a run key (store://<project>/run/<kind>/<name>:<id>)")
    run = session.scalars(select(Run).where(Run.key == str(parsed))).first()
    if run is None:
        raise NotFoundError(f"run {parsed} does not exist")
    return run


def get_run(hub: Any, key: str | Key) -> dict[str, Any]:
    """A run entity as JSON, with the versions it consumed and produced."""
    from digitalhub_airflow.catalog.migrate import require_current

    require_current(hub.catalog)
    with hub.catalog.session() as session:
        run = load_run(session, key)
        return {**run_to_json(run), **run_edges(session, run.key)}
