"""``DigitalHubOperator``: what every operator of the suite shares.

Connections to the catalog and store, and a :class:`TaskIO` that records the versions
the task read and wrote, from which lineage and OpenLineage facets are built.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperator

from digitalhub_airflow.hooks.digitalhub import DigitalHubHook
from digitalhub_airflow.task_io import TaskIO


class DigitalHubOperator(BaseOperator):
    """Base of the suite's operators; subclasses fill ``self.task_io`` in ``execute``.

    :param catalog_conn_id: the catalog connection (postgres or sqlite); embedded if absent.
    :param store_conn_id: the store connection (aws or a folder); embedded if absent.
    """

    def __init__(
        self,
        *,
        catalog_conn_id: str = "dhub_catalog",
        store_conn_id: str = "dhub_store",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.catalog_conn_id = catalog_conn_id
        self.store_conn_id = store_conn_id
        self.task_io = TaskIO()

    @property
    def hook(self) -> DigitalHubHook:
        return DigitalHubHook(self.catalog_conn_id, self.store_conn_id)
