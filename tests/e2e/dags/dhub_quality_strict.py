"""Test DAG: validate the wine table with on_failure="fail" (the run must fail on a broken
version and list the failed expectations)."""

from __future__ import annotations

from airflow.sdk import Param, dag

from digitalhub_airflow.operators.quality import ValidateDatasetOperator


@dag(schedule=None, catchup=False, tags=["test"], params={"version": Param("", type="string")})
def dhub_quality_strict() -> None:
    ValidateDatasetOperator(
        task_id="validate",
        dataset="{{ params.version }}",
        suite="suites/wine.json",
        on_failure="fail",
        retries=0,
    )


dhub_quality_strict()
