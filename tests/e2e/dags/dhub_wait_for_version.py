"""Test DAG: commit a file, then wait (deferrable and poking) for a version past v0."""

from __future__ import annotations

import os

from airflow.sdk import dag

from digitalhub_airflow.operators import CommitDatasetOperator, TagDatasetOperator
from digitalhub_airflow.sensors.version import NewVersionSensor

DATASET = "store://demo/dataitem/table/events"
TEMPLATED = "store://demo/dataitem/table/{{ params.dataset }}"


@dag(schedule=None, catchup=False, tags=["test"], params={"alias": "nightly", "dataset": "events"})
def dhub_wait_for_version() -> None:
    commit = CommitDatasetOperator(
        task_id="commit",
        target=TEMPLATED,
        source=os.environ.get("DHUB_TEST_SOURCE", "/nonexistent"),
        message="run {{ run_id }}",
        aliases=["{{ params.alias }}"],
    )
    deferred = NewVersionSensor(
        task_id="wait_deferred", dataset=DATASET, after_seq=0, deferrable=True, poke_interval=1
    )
    poked = NewVersionSensor(task_id="wait_poke", dataset=DATASET, after_seq=0, poke_interval=1)
    tag = TagDatasetOperator(task_id="tag", key=DATASET + ":v1", alias="checked")
    commit >> [deferred, poked] >> tag


dhub_wait_for_version()
