"""Prometheus metrics of the model server, on a registry of its own.

With several uvicorn workers each process counts its own requests; ``dhub serve
--workers N`` sets ``PROMETHEUS_MULTIPROC_DIR`` (the values live in files there) and
:data:`WORKERS_DIR_ENV`, and ``/metrics`` then sums every worker's, as prometheus_client's
multiprocess mode does. The decision keys on our own variable: a library may set
``PROMETHEUS_MULTIPROC_DIR`` for itself when imported (Feast does, and MLflow imports it
through its request-header plugin), which must not switch a one-worker server's
``/metrics`` to an empty folder. Label children are cached: a request costs a few
dictionary lookups.
"""

from __future__ import annotations

import os
from typing import Any

#: Latency buckets (seconds) from 0.5 ms: a small model answers in about a millisecond.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
#: The model label of requests naming no served model (keeps label values bounded).
UNKNOWN_MODEL = "-"
#: The folder of the workers' metric files, set by ``dhub serve --workers N``.
WORKERS_DIR_ENV = "DHUB_SERVING_METRICS_DIR"


class ServingMetrics:
    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "dhub_serving_requests",
            "Requests answered, by model, protocol (v2, mlflow) and HTTP status.",
            ["model", "protocol", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "dhub_serving_request_seconds",
            "Time from the request's first byte read to its response, by model and protocol.",
            ["model", "protocol"],
            registry=self.registry,
            buckets=LATENCY_BUCKETS,
        )
        self.errors = Counter(
            "dhub_serving_errors",
            "Refused or failed requests, by model and reason.",
            ["model", "reason"],
            registry=self.registry,
        )
        self.predictions = Counter(
            "dhub_serving_predictions",
            "Rows predicted, by model.",
            ["model"],
            registry=self.registry,
        )
        self._children: dict[tuple[Any, ...], Any] = {}

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def observe(
        self, model: str, protocol: str, status: int, seconds: float, rows: int = 0
    ) -> None:
        self._child(self.requests, model, protocol, str(status)).inc()
        self._child(self.latency, model, protocol).observe(seconds)
        if rows:
            self._child(self.predictions, model).inc(rows)

    def error(self, model: str, reason: str) -> None:
        self._child(self.errors, model, reason).inc()

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

        workers_dir = os.environ.get(WORKERS_DIR_ENV)
        if workers_dir:
            from prometheus_client.multiprocess import MultiProcessCollector

            merged = CollectorRegistry()
            MultiProcessCollector(merged, path=workers_dir)  # type: ignore[no-untyped-call]
            return generate_latest(merged), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
