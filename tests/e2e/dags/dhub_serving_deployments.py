"""Test DAGs: deploy, roll back, undeploy and reconcile model servers (conf-driven).

conf: ``name``, ``target``, ``model`` (a model reference), ``spec`` (the other spec
fields), ``services_file`` (for the reconcile DAG).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from digitalhub_airflow.operators.serving import (
    DeployModelOperator,
    ReconcileServicesOperator,
    RollbackModelOperator,
    UndeployModelOperator,
)

START = pendulum.datetime(2026, 1, 1)
NAME = "{{ dag_run.conf['name'] }}"
TARGET = "{{ dag_run.conf['target'] }}"
FAST = {"poll_interval": 0.5, "ready_timeout": 180}

with DAG(
    "dhub_serving_deploy", schedule=None, start_date=START, render_template_as_native_obj=True
):
    DeployModelOperator(
        task_id="deploy",
        project="demo",
        name=NAME,
        target=TARGET,
        models={"wine": "{{ dag_run.conf['model'] }}"},
        spec="{{ dag_run.conf.get('spec', {}) }}",
        **FAST,
    )

with DAG("dhub_serving_rollback", schedule=None, start_date=START):
    RollbackModelOperator(task_id="rollback", project="demo", name=NAME, target=TARGET, **FAST)

with DAG("dhub_serving_undeploy", schedule=None, start_date=START):
    UndeployModelOperator(task_id="undeploy", project="demo", name=NAME, target=TARGET)

with DAG("dhub_serving_reconcile", schedule=None, start_date=START):
    ReconcileServicesOperator(
        task_id="reconcile", services_files="{{ dag_run.conf['services_file'] }}", **FAST
    )
