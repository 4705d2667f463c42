"""The producing run a workload process gets in ``DHUB_RUN``: identity only, checked."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pandas as pd
import pytest

from digitalhub_airflow.errors import InvalidSourceError, NotFoundError
from digitalhub_airflow.hub import DataHub
from digitalhub_airflow.lineage.producing import RUN_ENV, ProducingRun, current_run, producing
from digitalhub_airflow.lineage.runs import RunSpec, get_run

STARTED = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc)


def task_run() -> ProducingRun:
    spec = RunSpec(
        project="",
        name="etl.load",
        uid="00000000000000aa",
        dag_id="etl",
        task_id="load",
        try_number=2,
        parameters={"source": "in.csv", "password": "hunter2"},
    )
    return ProducingRun(spec, STARTED)


def test_a_workload_gets_the_runs_identity_and_never_its_parameters() -> None:
    text = task_run().to_env()
    assert "hunter2" not in text and "in.csv" not in text
    back = ProducingRun.from_env(text)
    assert back.started_at == STARTED
    assert (back.spec.name, back.spec.uid, back.spec.try_number) == (
        "etl.load",
        "00000000000000aa",
        2,
    )
    assert back.spec.parameters == {}
    assert back.bind("demo").key == "store://demo/run/airflow/etl.load:00000000000000aa"


@pytest.mark.parametrize("text", ["not json", '{"spec": {}}', '{"spec": {"name": "x"}}'])
def test_a_malformed_dhub_run_refuses_the_commit_and_writes_nothing(
    ehub: DataHub, monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    monkeypatch.setenv(RUN_ENV, text)
    with pytest.raises(InvalidSourceError, match=RUN_ENV):
        ehub.commit("demo/events", pd.DataFrame({"id": [1]}))
    monkeypatch.delenv(RUN_ENV)
    with pytest.raises(NotFoundError):
        ehub.resolve("store://demo/dataitem/table/events")


def test_the_run_set_in_process_wins_over_the_environment(
    ehub: DataHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    outer = task_run()
    monkeypatch.setenv(RUN_ENV, outer.to_env())
    inner = ProducingRun(RunSpec("", "etl.other", "00000000000000bb", dag_id="etl"), STARTED)
    with producing(inner):
        assert current_run() is inner
        version = ehub.commit("demo/events", pd.DataFrame({"id": [1]})).version
    assert version.producer["run"] == "store://demo/run/airflow/etl.other:00000000000000bb"
    assert get_run(ehub, version.producer["run"])["outputs"] == [version.key]
    assert json.loads(current_run().to_env())["spec"]["uid"] == "00000000000000aa"
