"""A version, its producing run and its ``produced_by`` edge commit together, on both
backends: a workload process (a pod's ``dhub commit``) given its task's run in
``DHUB_RUN`` is killed at the failpoints of the commit and leaves all or none of them."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select

from digitalhub_airflow.catalog.models import Relationship, Run, utcnow
from digitalhub_airflow.datasets.failpoints import PRODUCED_BY_POINT
from digitalhub_airflow.errors import NotFoundError
from digitalhub_airflow.hub import DataHub
from digitalhub_airflow.lineage.producing import (
    RUN_ENV,
    ProducingRun,
    close_run,
    find_open_run,
)
from digitalhub_airflow.lineage.runs import (
    PRODUCED_BY,
    RUNNING,
    SUCCESS,
    RunOutcome,
    RunSpec,
    get_run,
)

from ._helpers import table_key, write_csv

if TYPE_CHECKING:
    from .conftest import Dhub

DATASET = table_key("atomic", "events")
#: Killed before the catalog transaction commits: nothing of the commit may be visible.
ROLLED_BACK = (PRODUCED_BY_POINT, "commit.in_transaction")


def task_run() -> ProducingRun:
    """A task's run as an operator hands it to its workload: the project is not known
    until the workload commits."""
    spec = RunSpec(
        project="",
        name="etl.load_events",
        uid="0123456789abcdef",
        dag_id="etl",
        run_id="manual__1",
        task_id="load_events",
        try_number=1,
    )
    return ProducingRun(spec, utcnow())


def source(tmp_path: Path, tag: str) -> Path:
    return write_csv(tmp_path / tag / "events.csv", "id,tag", [f"{i},{tag}" for i in range(3)])


def edges(hub: DataHub) -> list[tuple[str, str, str]]:
    with hub.catalog.session() as session:
        rows = session.execute(
            select(Relationship.source, Relationship.relation, Relationship.target)
        )
        return sorted(tuple(r) for r in rows)


def runs(hub: DataHub) -> list[str]:
    with hub.catalog.session() as session:
        return list(session.scalars(select(Run.key)))


@pytest.mark.parametrize("point", [*ROLLED_BACK, "commit.after_transaction"])
def test_a_commit_killed_anywhere_leaves_its_version_and_produced_by_edge_together(
    hub: DataHub, dhub: Dhub, tmp_path: Path, point: str
) -> None:
    hub.init()
    run = task_run()
    killed = dhub.run(
        "commit", "atomic/events", str(source(tmp_path, "new")), "--json",
        DHUB_FAILPOINT=point, **{RUN_ENV: run.to_env()},
    )  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, (killed.returncode, killed.stderr)

    if point in ROLLED_BACK:
        with pytest.raises(NotFoundError):
            hub.resolve(DATASET)
        assert edges(hub) == [], "an edge without its version"
        assert runs(hub) == [], "a run row without the commit that started it"
        return
    version = hub.resolve(DATASET)
    run_key = run.bind("atomic").key
    assert edges(hub) == [(version.key, PRODUCED_BY, run_key)]
    assert version.producer == {
        "dag_id": "etl",
        "run_id": "manual__1",
        "task_id": "load_events",
        "try_number": 1,
        "run": run_key,
    }
    recorded = get_run(hub, run_key)
    assert recorded["state"] == RUNNING, "the workload died before its task could finish it"
    assert recorded["outputs"] == [version.key]
    assert recorded["parameters"] == {}, "a workload's environment carries no parameters"


def test_the_task_finishes_the_run_its_workload_started_keeping_the_edges(
    hub: DataHub, dhub: Dhub, tmp_path: Path
) -> None:
    hub.init()
    run = task_run()  # the operator's side: never bound to a project in its process
    first = dhub.json(
        "commit", "atomic/events", str(source(tmp_path, "a")), **{RUN_ENV: run.to_env()}
    )
    other = dhub.json(
        "commit", "atomic/other", str(source(tmp_path, "b")), **{RUN_ENV: run.to_env()}
    )
    run_key = task_run().bind("atomic").key  # the project of its first commit

    with hub.catalog.session() as session:
        found = find_open_run(session, run)
        assert found is not None and found.key == run_key
    run.spec.parameters = {"source": "events.csv", "api_token": "s3cr3t"}
    with hub.catalog.session() as session:
        assert close_run(session, run, RunOutcome(SUCCESS), None) == run_key

    recorded = get_run(hub, run_key)
    assert recorded["state"] == SUCCESS
    assert sorted(recorded["outputs"]) == sorted([first["key"], other["key"]])
    assert recorded["parameters"] == {"source": "events.csv", "api_token": "***"}
    with hub.catalog.session() as session:
        assert find_open_run(session, run) is None, "a finished run is no longer open"


def test_a_finished_run_under_the_same_key_is_started_afresh_by_the_next_execution(
    hub: DataHub, dhub: Dhub, tmp_path: Path
) -> None:
    hub.init()
    run = task_run()
    first = dhub.json(
        "commit", "atomic/events", str(source(tmp_path, "a")), **{RUN_ENV: run.to_env()}
    )
    with hub.catalog.session() as session:
        close_run(session, run, RunOutcome(SUCCESS), None)

    again = task_run()  # `airflow tasks test` of the same try: the same run key
    second = dhub.json(
        "commit", "atomic/events", str(source(tmp_path, "b")), **{RUN_ENV: again.to_env()}
    )
    recorded = get_run(hub, again.bind("atomic").key)
    assert recorded["state"] == RUNNING
    assert recorded["outputs"] == [second["key"]], "the earlier execution's edge went with it"
    assert first["key"] != second["key"]
