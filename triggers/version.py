"""``NewVersionTrigger``: fires when a dataset's sequence passes a given number.

It polls the catalog from the triggerer, off the worker slots; each poll is one
indexed query run in a thread so the triggerer's event loop never blocks.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent


def latest_version(catalog_conn_id: str, store_conn_id: str, dataset: str) -> dict[str, Any] | None:
    """The latest version of ``dataset`` as JSON, or ``None`` when it has none yet."""
    from digitalhub_airflow.errors import NotFoundError
    from digitalhub_airflow.hooks.digitalhub import DigitalHubHook

    with DigitalHubHook(catalog_conn_id, store_conn_id).get_hub() as hub:
        try:
            return hub.resolve(dataset).to_json()
        except NotFoundError:
            return None


class NewVersionTrigger(BaseTrigger):
    def __init__(
        self,
        dataset: str,
        after_seq: int,
        poll_interval: float = 10.0,
        catalog_conn_id: str = "dhub_catalog",
        store_conn_id: str = "dhub_store",
    ) -> None:
        super().__init__()
        self.dataset = dataset
        self.after_seq = after_seq
        self.poll_interval = poll_interval
        self.catalog_conn_id = catalog_conn_id
        self.store_conn_id = store_conn_id

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "dataset": self.dataset,
                "after_seq": self.after_seq,
                "poll_interval": self.poll_interval,
                "catalog_conn_id": self.catalog_conn_id,
                "store_conn_id": self.store_conn_id,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        while True:
            try:
                version = await asyncio.to_thread(
                    latest_version, self.catalog_conn_id, self.store_conn_id, self.dataset
                )
            except Exception as exc:  # report to the task instead of dying silently
                yield TriggerEvent({"status": "error", "message": str(exc)})
                return
            if version is not None and version["seq"] > self.after_seq:
                yield TriggerEvent({"status": "success", "version": version})
                return
            await asyncio.sleep(self.poll_interval)
