"""``NewVersionSensor``: wait for a dataset version newer than a known one."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from airflow.sdk import BaseSensorOperator

from digitalhub_airflow.triggers.version import NewVersionTrigger, latest_version


class NewVersionSensor(BaseSensorOperator):
    """Succeed once ``dataset`` has a version with sequence above ``after_seq``.

    ``after_seq`` defaults to the latest sequence when the sensor first runs, so the
    sensor waits for the *next* commit. ``deferrable=True`` hands the wait to the
    triggerer. The version found is returned as XCom.
    """

    template_fields: Sequence[str] = ("dataset", "after_seq")

    def __init__(
        self,
        *,
        dataset: str,
        after_seq: int | str | None = None,
        deferrable: bool = False,
        catalog_conn_id: str = "dhub_catalog",
        store_conn_id: str = "dhub_store",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if self.mode == "reschedule" and after_seq is None:
            # Each reschedule builds the operator anew; a baseline taken then would
            # silently skip a version committed between two pokes.
            raise ValueError("NewVersionSensor in reschedule mode needs after_seq")
        self.dataset = dataset
        self.after_seq = after_seq
        self.deferrable = deferrable
        self.catalog_conn_id = catalog_conn_id
        self.store_conn_id = store_conn_id
        self._found: dict[str, Any] | None = None

    def _baseline(self) -> int:
        if self.after_seq is None or self.after_seq == "":
            current = latest_version(self.catalog_conn_id, self.store_conn_id, self.dataset)
            self.after_seq = current["seq"] if current else 0
        return int(self.after_seq)

    def execute(self, context: Any) -> Any:
        baseline = self._baseline()
        if not self.deferrable:
            super().execute(context)
            return self._found
        self.defer(
            trigger=NewVersionTrigger(
                self.dataset, baseline, self.poke_interval, self.catalog_conn_id, self.store_conn_id
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout),
        )
        return None

    def poke(self, context: Any) -> bool:
        version = latest_version(self.catalog_conn_id, self.store_conn_id, self.dataset)
        if version is not None and version["seq"] > int(self.after_seq or 0):
            self._found = version
            return True
        return False

    def execute_complete(self, context: Any, event: dict[str, Any]) -> dict[str, Any]:
        if event.get("status") != "success":
            from airflow.sdk.exceptions import AirflowException

            raise AirflowException(f"waiting for {self.dataset} failed: {event.get('message')}")
        version: dict[str, Any] = event["version"]
        self.log.info("new version v%s: %s", version["seq"], version["key"])
        return version
