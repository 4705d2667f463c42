"""Reconcile: the services declared in ``dags/services/*.yaml`` running as declared.

Hourly, and by hand after editing a services file: every model alias is pinned again, so
a new ``@champion`` rolls its services forward; a server that died, or a Deployment edited
behind the catalog's back, is put back; when nothing differs nothing is started, stopped
or applied.
"""

from __future__ import annotations

from airflow.sdk import dag

from digitalhub_airflow.operators.serving import ReconcileServicesOperator


@dag(schedule="@hourly", catchup=False, tags=["dhub", "serving"], doc_md=__doc__)
def dhub_reconcile_services() -> None:
    ReconcileServicesOperator(task_id="reconcile", services_files="services/*.yaml")


dhub_reconcile_services()
