"""Test DAG: the `dhub` CLI as a pod workload committing a file (conf: target, source)."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from digitalhub_airflow.operators.pods import DigitalHubPodOperator

ARGS = ["commit", "{{ dag_run.conf['target'] }}", "{{ dag_run.conf['source'] }}"]

with DAG("dhub_pod_workload", schedule=None, start_date=pendulum.datetime(2026, 1, 1)):
    DigitalHubPodOperator(
        task_id="commit_in_pod",
        module="digitalhub_airflow.cli",
        module_args=ARGS,
        resource_profile="1xa100",
        credentials_secret="dhub-credentials",
        namespace="ml",
    )
    DigitalHubPodOperator(
        task_id="commit_in_deferred_pod",
        module="digitalhub_airflow.cli",
        module_args=[*ARGS[:1], ARGS[1] + "-deferred", ARGS[2]],
        credentials_secret="dhub-credentials",
        namespace="ml",
        deferrable=True,
        poll_interval=1,
    )
