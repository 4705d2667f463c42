"""Test DAG: a notebook as a task (conf: notebook, target, output)."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from digitalhub_airflow.operators import RunNotebookOperator

with DAG("dhub_notebook_task", schedule=None, start_date=pendulum.datetime(2026, 1, 1)):
    RunNotebookOperator(
        task_id="run_notebook",
        notebook="{{ dag_run.conf['notebook'] }}",
        parameters={"target": "{{ dag_run.conf['target'] }}"},
        output_dataset="{{ dag_run.conf.get('output', '') }}",
        timeout=120,
    )
