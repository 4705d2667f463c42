"""Test DAG: commit -> tag -> Python transform -> SQL transform, every suite operator
reporting OpenLineage; the CSV to commit comes from the run's conf (``source``)."""

from __future__ import annotations

from typing import Any

from airflow.sdk import dag

from digitalhub_airflow.operators import (
    CommitDatasetOperator,
    SqlTransformOperator,
    TagDatasetOperator,
    TransformDatasetOperator,
)

RAW = "store://e2e/dataitem/table/raw"
SCALED = "store://e2e/dataitem/table/scaled"
TOTALS = "store://e2e/dataitem/table/totals"


def scaled(raw: Any, factor: int) -> Any:
    return raw.assign(value=raw["value"] * factor)


@dag(schedule=None, catchup=False, tags=["dhub", "test"])
def dhub_lineage_chain() -> None:
    commit = CommitDatasetOperator(
        task_id="commit_raw", target=RAW, source="{{ dag_run.conf['source'] }}"
    )
    tag = TagDatasetOperator(task_id="tag_raw", key=RAW, alias="checked")
    scale = TransformDatasetOperator(
        task_id="scale",
        inputs={"raw": f"{RAW}@checked"},
        target=SCALED,
        python_callable=scaled,
        parameters={"factor": 10},
    )
    totals = SqlTransformOperator(
        task_id="totals",
        query=f"SELECT grp, sum(value) AS total FROM ds('{SCALED}') GROUP BY grp ORDER BY grp",
        target=TOTALS,
    )
    commit >> tag >> scale >> totals


dhub_lineage_chain()
