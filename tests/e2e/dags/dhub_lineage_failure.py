"""Test DAG: a transform whose function raises; its run and its OpenLineage FAIL event
must say so, and nothing may be committed."""

from __future__ import annotations

from typing import Any

from airflow.sdk import dag

from digitalhub_airflow.operators import TransformDatasetOperator

RAW = "store://e2e/dataitem/table/raw"
BROKEN = "store://e2e/dataitem/table/broken"


def explode(raw: Any) -> Any:
    raise ValueError("sensor column is all NaN")


@dag(schedule=None, catchup=False, tags=["dhub", "test"])
def dhub_lineage_failure() -> None:
    TransformDatasetOperator(
        task_id="explode", inputs={"raw": RAW}, target=BROKEN, python_callable=explode, retries=0
    )


dhub_lineage_failure()
