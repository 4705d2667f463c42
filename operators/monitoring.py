"""Monitoring operators of served models: drift of the inputs a server logged against the
model's training data, and the server's request, error and latency statistics. Each is a
thin wrapper over ``digitalhub_airflow.serving.monitoring.drift`` / ``service_stats``."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from digitalhub_airflow.hooks.mlflow import MlflowHook
from digitalhub_airflow.operators.base import DigitalHubOperator
from digitalhub_airflow.operators.quality import check_on_drift, settle_drift

if TYPE_CHECKING:
    from digitalhub_airflow.serving.deploy.services import ServiceRecord

log = logging.getLogger(__name__)


class DriftReportOperator(DigitalHubOperator):
    """Compare a window of the inputs a model server logged with the data its model was
    trained on (PSI per number, Jensen-Shannon per category, as data drift) and store the
    report; the task fails (or warns) over the failing thresholds.

    :param service: the service's key: its request log, its served model and that model's
        training version are read from the catalog (and the registry).
    :param requests: or the request-log dataset's key, with ``model_key`` or ``reference``.
    :param window: the last ``30m``, ``6h``, ``7d``... before ``until``; or
    :param since: the window's start (ISO 8601, e.g. ``{{ data_interval_start }}``).
    :param until: the window's end (default: now).
    :param model_key: the catalog model whose training version is the reference.
    :param reference: the training dataset version itself (overrides the model's).
    :param model: only the rows of this served model name (needed when a service serves
        several).
    :param thresholds: keyword overrides of :class:`~digitalhub_airflow.quality.drift.Thresholds`.
    :param on_drift: ``fail`` (the task fails on a ``fail`` status) or ``warn``.
    :param min_rows: fewer logged rows in the window is an error, not a report.
    :param mlflow_conn_id: the registry that pinned a service's models.
    """

    template_fields: Sequence[str] = (
        "service",
        "requests",
        "window",
        "since",
        "until",
        "model_key",
        "reference",
        "model",
        "on_drift",
    )
    ui_color = "#d5f5e3"

    def __init__(
        self,
        *,
        service: str | None = None,
        requests: str | None = None,
        window: str | None = None,
        since: str | None = None,
        until: str | None = None,
        model_key: str | None = None,
        reference: str | None = None,
        model: str | None = None,
        thresholds: dict[str, Any] | None = None,
        on_drift: str = "fail",
        min_rows: int | None = None,
        mlflow_conn_id: str = "mlflow_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.service = service
        self.requests = requests
        self.window = window
        self.since = since
        self.until = until
        self.model_key = model_key
        self.reference = reference
        self.model = model
        self.thresholds = dict(thresholds or {})
        self.on_drift = on_drift
        self.min_rows = min_rows
        self.mlflow_conn_id = mlflow_conn_id

    def declared_io(self) -> tuple[list[str], list[str]]:
        return [k for k in (self.reference, self.requests) if k], []

    def perform(self, context: Any) -> dict[str, Any]:
        from digitalhub_airflow.errors import InvalidOptionError
        from digitalhub_airflow.quality.drift import Thresholds
        from digitalhub_airflow.serving.monitoring.drift import (
            MIN_ROWS,
            parse_window,
            service_drift,
            serving_drift,
        )

        check_on_drift(self.on_drift)
        if (self.service is None) == (self.requests is None):
            raise InvalidOptionError("give either service= or requests=")
        if self.service is not None and self.model_key is not None:
            raise InvalidOptionError(
                "a service's model is the one it serves: give reference= to compare with "
                "another training version, not model_key="
            )
        window = parse_window(self.window, since=self.since, until=self.until)
        options: dict[str, Any] = {
            "reference": self.reference,
            "model": self.model,
            "thresholds": Thresholds.of(self.thresholds),
            "min_rows": MIN_ROWS if self.min_rows is None else self.min_rows,
        }
        with self.task_hub() as hub:
            if self.service is not None:
                tracking = MlflowHook(self.mlflow_conn_id).tracking()
                report = service_drift(hub, tracking, self.service, window, **options)
            else:
                report = serving_drift(
                    hub, self.requests, window, model_key=self.model_key, **options
                )
            for key in (report["reference"], report["window"]["last_version"]):
                self.task_io.read(hub.resolve(key))
        log.info(
            "drift of %s rows logged in %s from %s: %s",
            report["window"]["rows"],
            report["current"],
            report["reference"],
            report["status"],
        )
        settle_drift(report, self.on_drift)
        return report


class ServiceStatsOperator(DigitalHubOperator):
    """Read a running service's request, error and latency statistics (p50/p95/p99) from
    its ``/metrics`` and store them with the service.

    A ``kubernetes`` service is read through the API server's service proxy with the
    ``kubernetes_conn_id`` connection: the task needs no route into the cluster and does
    not pass the gateway. Behind an API-key gate the key is read from the exposure's
    Secret (the connection then needs ``get`` on that Secret).

    :param service: the service's key.
    :param timeout: seconds to wait for ``/metrics``.
    :param kubernetes_conn_id: the cluster of a ``kubernetes`` service.
    """

    template_fields: Sequence[str] = ("service",)
    ui_color = "#d5f5e3"

    def __init__(
        self,
        *,
        service: str,
        timeout: float = 10.0,
        kubernetes_conn_id: str = "kubernetes_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.service = service
        self.timeout = timeout
        self.kubernetes_conn_id = kubernetes_conn_id

    def perform(self, context: Any) -> dict[str, Any]:
        from digitalhub_airflow.serving.monitoring.stats import record_service_stats

        with self.task_hub() as hub:
            stats = record_service_stats(
                hub, self.service, timeout=self.timeout, read_cluster=self.read_in_cluster
            )
        for model, found in stats["models"].items():
            latency = found["latency_seconds"]
            log.info(
                "%s %s: %s requests, %s errors, p50 %s s, p99 %s s",
                self.service,
                model,
                found["requests"],
                found["errors"],
                latency["p50"],
                latency["p99"],
            )
        return stats

    def read_in_cluster(self, record: ServiceRecord) -> dict[str, Any]:
        """``/metrics`` of a Kubernetes service's pods, through the API server."""
        from airflow.sdk.log import mask_secret

        from digitalhub_airflow.hooks.kubernetes_apply import KubernetesApplyHook
        from digitalhub_airflow.serving.monitoring.stats import read_cluster_stats

        client = KubernetesApplyHook(conn_id=self.kubernetes_conn_id).client()
        return read_cluster_stats(client, record, timeout=self.timeout, on_secret=mask_secret)
