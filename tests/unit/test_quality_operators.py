"""The quality operators' Airflow surface: templated fields, suite paths from the DAG
folder, light imports (DAG files parse without GX, pandas or DuckDB)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.unit.dhub_testlib import REPO


def test_template_fields_are_attributes(tmp_path: Path) -> None:
    from airflow.sdk import DAG

    from digitalhub_airflow.operators.quality import (
        CompareProfilesOperator,
        ProfileDatasetOperator,
        ValidateDatasetOperator,
    )

    dag_file = tmp_path / "dags" / "my_dag.py"
    dag_file.parent.mkdir()
    with DAG("q", schedule=None) as dag:
        dag.fileloc = str(dag_file)
        operators = [
            ValidateDatasetOperator(
                task_id="v", dataset="{{ params.key }}", suite="suites/s.json", on_failure="warn"
            ),
            ProfileDatasetOperator(task_id="p", dataset="{{ params.key }}"),
            CompareProfilesOperator(
                task_id="d",
                reference="demo/wine:v1",
                current="demo/wine:v2",
                thresholds={"psi_fail": 0.5},
            ),
        ]
    for op in operators:
        assert op.template_fields, type(op).__name__
        for field in op.template_fields:
            assert hasattr(op, field), f"{type(op).__name__}.{field}"
    validate = operators[0]
    assert {"dataset", "suite", "on_failure", "result_format"} <= set(validate.template_fields)
    assert validate.suite_location() == str(dag_file.parent / "suites" / "s.json")
    validate.suite = "store://demo/suite/gx/wine"
    assert validate.suite_location() == "store://demo/suite/gx/wine"


def test_the_quality_dag_parses_without_heavy_imports() -> None:
    code = f"""
import runpy, sys
runpy.run_path({str(REPO / "dags" / "dhub_quality_wine.py")!r})
heavy = ("great_expectations", "pandas", "duckdb", "pyarrow", "sklearn")
print(",".join(m for m in heavy if m in sys.modules))
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.strip().splitlines()[-1:] in ([], [""]), result.stdout
