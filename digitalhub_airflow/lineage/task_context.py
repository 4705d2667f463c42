"""The task a commit comes from, read from the environment its process was given.

Airflow exports ``AIRFLOW_CTX_*`` variables to every task process and to what it starts,
so a version committed by any code running in a task (a plain ``@task`` calling
``DataHub.commit``, a subprocess, a notebook kernel) names its DAG run and task. Only
variables are read here: the core imports no Airflow, and outside a task this is None.
"""

from __future__ import annotations

import os
from typing import Any

#: The version's ``producer`` field -> the variable Airflow exports to a task.
TASK_CONTEXT_ENV = {
    "dag_id": "AIRFLOW_CTX_DAG_ID",
    "run_id": "AIRFLOW_CTX_DAG_RUN_ID",
    "task_id": "AIRFLOW_CTX_TASK_ID",
    "try_number": "AIRFLOW_CTX_TRY_NUMBER",
}


def task_context_producer() -> dict[str, Any] | None:
    """The producing task from its process's environment, or None outside a task."""
    found: dict[str, Any] = {
        field: os.environ[name] for field, name in TASK_CONTEXT_ENV.items() if os.environ.get(name)
    }
    if "dag_id" not in found:
        return None
    if "try_number" in found:
        found["try_number"] = int(found["try_number"])
    return found
