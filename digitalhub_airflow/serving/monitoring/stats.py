"""Per-model request, error and latency statistics of a running model server, read from
its Prometheus ``/metrics`` and stored with its ``service`` entity.

A local service is read at its URL; a Kubernetes one by whoever holds the cluster's
credentials (the operator, through the API server's service proxy), which hands the
text in. Counters are the server's totals since it started. Latency quantiles are estimated from
the histogram buckets as Prometheus' ``histogram_quantile`` does: linear within the bucket
that holds the rank, so an estimate is as exact as the bucket bounds around it.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from digitalhub_airflow.errors import DeploymentError, InvalidSourceError

if TYPE_CHECKING:
    from digitalhub_airflow.hub import DataHub
    from digitalhub_airflow.kube.client import KubeClient
    from digitalhub_airflow.serving.deploy.services import ServiceRecord

REQUESTS = "dhub_serving_requests_total"
ERRORS = "dhub_serving_errors_total"
PREDICTIONS = "dhub_serving_predictions_total"
LATENCY = "dhub_serving_request_seconds"
QUANTILES = {"p50": 0.5, "p95": 0.95, "p99": 0.99}


def histogram_quantile(q: float, buckets: dict[float, float]) -> float | None:
    """The ``q`` quantile of cumulative ``{upper bound: count}`` buckets (``+Inf``
    included); ``None`` without observations. A rank in the ``+Inf`` bucket gives the
    highest finite bound, as Prometheus does."""
    bounds = sorted(buckets)
    total = buckets[bounds[-1]] if bounds else 0.0
    if not total:
        return None
    rank = q * total
    lower, below = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower
            if count == below:
                return bound
            return lower + (bound - lower) * (rank - below) / (count - below)
        lower, below = bound, count
    return lower


def parse_metrics(text: str) -> dict[str, Any]:
    """Statistics per served model and in total from a ``/metrics`` text."""
    from prometheus_client.parser import text_string_to_metric_families

    models: dict[str, dict[str, Any]] = defaultdict(_empty)
    try:
        samples = [s for family in text_string_to_metric_families(text) for s in family.samples]
    except ValueError as exc:
        raise InvalidSourceError(f"not Prometheus metrics text: {exc}") from exc
    for sample in samples:
        labels, value = sample.labels, sample.value
        model = labels.get("model")
        if model is None:
            continue
        found = models[model]
        if sample.name == REQUESTS:
            found["requests"] += value
            _add(found["statuses"], labels.get("status", "?"), value)
            _add(found["protocols"], labels.get("protocol", "?"), value)
        elif sample.name == ERRORS:
            _add(found["error_reasons"], labels.get("reason", "?"), value)
        elif sample.name == PREDICTIONS:
            found["predictions"] += value
        elif sample.name == f"{LATENCY}_bucket":
            _add(found["buckets"], float(labels["le"]), value)
        elif sample.name == f"{LATENCY}_sum":
            found["latency_sum"] += value
    total = _empty()
    for found in models.values():
        for name in ("requests", "predictions", "latency_sum"):
            total[name] += found[name]
        for name in ("statuses", "protocols", "error_reasons", "buckets"):
            for label, value in found[name].items():
                _add(total[name], label, value)
    return {
        "models": {name: _summary(found) for name, found in sorted(models.items())},
        "total": _summary(total),
    }


def _empty() -> dict[str, Any]:
    return {
        "requests": 0.0,
        "predictions": 0.0,
        "latency_sum": 0.0,
        "statuses": {},
        "protocols": {},
        "error_reasons": {},
        "buckets": {},
    }


def _add(table: dict[Any, float], label: Any, value: float) -> None:
    table[label] = table.get(label, 0.0) + value


def _summary(found: dict[str, Any]) -> dict[str, Any]:
    """Counts as integers; an error is a request answered with a 4xx or 5xx status."""
    requests = int(found["requests"])
    errors = int(sum(v for status, v in found["statuses"].items() if status[:1] in "45"))
    buckets = found["buckets"]
    observed = int(buckets.get(math.inf, 0))
    latency: dict[str, Any] = {
        "count": observed,
        "mean": found["latency_sum"] / observed if observed else None,
    }
    latency.update({name: histogram_quantile(q, buckets) for name, q in QUANTILES.items()})
    return {
        "requests": requests,
        "errors": errors,
        "error_rate": errors / requests if requests else None,
        "statuses": {k: int(v) for k, v in sorted(found["statuses"].items())},
        "protocols": {k: int(v) for k, v in sorted(found["protocols"].items())},
        "error_reasons": {k: int(v) for k, v in sorted(found["error_reasons"].items())},
        "predictions": int(found["predictions"]),
        "latency_seconds": latency,
    }


def read_stats(url: str, *, timeout: float = 10.0) -> dict[str, Any]:
    """GET ``<url>/metrics`` of a server and parse it; the time and URL are included."""
    import httpx

    metrics_url = url.rstrip("/") + "/metrics"
    try:
        response = httpx.get(metrics_url, timeout=timeout)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        raise DeploymentError(f"cannot read {metrics_url}: {exc}") from exc
    return stats_from_text(response.text, metrics_url)


def stats_from_text(text: str, source: str) -> dict[str, Any]:
    """Statistics of a ``/metrics`` exposition read from ``source`` just now."""
    read_at = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
    return {"url": source, "read_at": read_at, **parse_metrics(text)}


def read_cluster_stats(
    client: KubeClient,
    record: ServiceRecord,
    *,
    timeout: float = 10.0,
    on_secret: Callable[[str], object] | None = None,
) -> dict[str, Any]:
    """``/metrics`` of a Kubernetes service's pods, through the API server's service proxy
    (no route into the cluster needed, the gateway not passed); behind an API-key gate,
    with the key from the exposure's Secret (``on_secret`` sees it first, to mask it)."""
    from digitalhub_airflow.serving.deploy.manifests import API_KEY_SECRET_KEY, SERVICE_PORT
    from digitalhub_airflow.serving.runtime.api_key import API_KEY_HEADER

    spec = record.service_spec()
    headers = {}
    exposure = spec.exposure
    if exposure is not None and exposure.auth == "api-key" and exposure.secret:
        key = client.secret_value(spec.namespace, exposure.secret, API_KEY_SECRET_KEY)
        if on_secret is not None:
            on_secret(key)
        headers[API_KEY_HEADER] = key
    text = client.service_get(
        spec.namespace, spec.name, SERVICE_PORT, "metrics", headers=headers, timeout=timeout
    )
    source = f"kubernetes://{spec.namespace}/services/{spec.name}:{SERVICE_PORT}/metrics"
    return stats_from_text(text, source)


def record_service_stats(
    hub: DataHub,
    service: str,
    *,
    timeout: float = 10.0,
    read_cluster: Callable[[ServiceRecord], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Read the statistics of the running service ``service`` (its key) and store them
    with it; a service that is not serving has no /metrics to read. ``read_cluster``
    reads a Kubernetes service (default: its recorded URL, reachable in the cluster)."""
    from digitalhub_airflow.keys import parse_key
    from digitalhub_airflow.serving.deploy.services import get_service, set_stats

    key = parse_key(service)
    if key.entity_type != "service":
        raise InvalidSourceError(f"{service} is not a service key (store://<p>/service/...)")
    assert key.kind is not None and key.name is not None  # a typed key names both
    record = get_service(hub, key.project, key.kind, key.name)
    if not record.serving or not record.url:
        raise DeploymentError(f"service {record.key} is {record.state}: no metrics to read")
    if record.target == "kubernetes" and read_cluster is not None:
        stats = read_cluster(record)
    else:
        stats = read_stats(record.url, timeout=timeout)
    set_stats(hub, key.project, key.kind, key.name, stats)
    return stats
