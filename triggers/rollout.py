"""``RolloutTrigger``: waits in the triggerer until Deployments have rolled out.

A rollout takes as long as image pulls and model loading take (minutes); the task
defers instead of holding a worker slot, and this trigger polls each Deployment's
status through the provider's async hook (``kubernetes_asyncio``).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent


class RolloutTrigger(BaseTrigger):
    """Fires ``success`` when every Deployment in ``rollouts`` (``namespace``, ``name``,
    ``generation``) is rolled out, ``failed`` when one fails or ``timeout`` passes.

    ``carry`` comes back in every event: what the resumed task needs (``airflow dags
    test`` hands the resumed method the event alone, not the deferral's kwargs).
    """

    def __init__(
        self,
        rollouts: list[dict[str, Any]],
        *,
        kubernetes_conn_id: str = "kubernetes_default",
        poll_interval: float = 5.0,
        timeout: float = 900.0,
        started_at: float | None = None,
        carry: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.rollouts = rollouts
        self.kubernetes_conn_id = kubernetes_conn_id
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.started_at = time.time() if started_at is None else started_at
        self.carry = carry or {}

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "rollouts": self.rollouts,
                "kubernetes_conn_id": self.kubernetes_conn_id,
                "poll_interval": self.poll_interval,
                "timeout": self.timeout,
                "started_at": self.started_at,
                "carry": self.carry,
            },
        )

    def event(self, status: str, **fields: Any) -> TriggerEvent:
        return TriggerEvent({"status": status, **fields, "carry": self.carry})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from airflow.providers.cncf.kubernetes.hooks.kubernetes import AsyncKubernetesHook
        from kubernetes_asyncio.client import AppsV1Api
        from kubernetes_asyncio.client.exceptions import ApiException

        from digitalhub_airflow.serving.deploy.rollout import DONE, FAILED, rollout_status

        hook = AsyncKubernetesHook(conn_id=self.kubernetes_conn_id)
        pending = list(self.rollouts)
        while True:
            messages = []
            try:
                async with hook.get_conn() as client:
                    api = AppsV1Api(client)
                    for rollout in list(pending):
                        response = await api.read_namespaced_deployment_status(
                            rollout["name"], rollout["namespace"], _preload_content=False
                        )
                        body = json.loads(await response.read())
                        if response.status >= 400:  # raw responses are not raised
                            where = f"{rollout['namespace']}/{rollout['name']}"
                            message = f"cannot read deployment {where}: {response.status} "
                            yield self.event("failed", message=message + body.get("message", ""))
                            return
                        status = rollout_status(body, rollout["generation"])
                        if status.state == FAILED:
                            yield self.event("failed", message=status.message)
                            return
                        if status.state == DONE:
                            pending.remove(rollout)
                        messages.append(status.message)
            except ApiException as exc:
                message = f"cannot read the rollout: {exc.status} {exc.reason}"
                yield self.event("failed", message=message)
                return
            except Exception as exc:  # report to the task instead of dying silently
                yield self.event("error", message=f"{type(exc).__name__}: {exc}")
                return
            if not pending:
                yield self.event("success", messages=messages)
                return
            if time.time() - self.started_at > self.timeout:
                waiting = "; ".join(messages)
                message = f"rollout not finished within {self.timeout:.0f} s: {waiting}"
                yield self.event("failed", message=message)
                return
            self.log.info("%s", "; ".join(messages))
            await asyncio.sleep(self.poll_interval)
