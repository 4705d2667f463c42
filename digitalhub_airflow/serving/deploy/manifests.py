"""Kubernetes manifests of a service: Deployment + Service (+ an Ingress at the gateway,
a HorizontalPodAutoscaler, a PodDisruptionBudget).

Plain dicts, ready for server-side apply. The pod runs ``dhub serve`` with the pinned
spec's models; catalog/store settings are plain environment variables, credentials
(catalog password, S3 keys, MLflow token, the gateway API key) only ``secretKeyRef``s.
The spec digest is an annotation of the Deployment and its pod template: reconciliation
reads it back, and a changed spec changes the template, which rolls the pods.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from digitalhub_airflow.kube.resource_profiles import ResourceProfile
from digitalhub_airflow.serving.deploy.spec import Autoscaling, DisruptionBudget, ServiceSpec
from digitalhub_airflow.serving.runtime.api_key import API_KEY_ENV, AUTH_ENV, PROJECT_ENV

NAME_LABEL = "app.kubernetes.io/name"
MANAGED_BY = {"app.kubernetes.io/managed-by": "digitalhub-airflow"}
PROJECT_LABEL = "dhub.io/project"
DIGEST_ANNOTATION = "dhub.io/spec-digest"
KEY_ANNOTATION = "dhub.io/service-key"
SERVICE_PORT = 80
CONTAINER = "server"
#: The key of the exposure Secret that holds the gateway API key.
API_KEY_SECRET_KEY = "api-key"
#: The key of the exposure Secret that holds the access-token secret (project tokens).
TOKEN_SECRET_KEY = "token-secret"
#: The Pods metric ``requests_per_second`` autoscales on: the per-second rate of the
#: server's ``dhub_serving_requests_total`` counter, as a custom metrics adapter
#: (prometheus-adapter: ``^(.*)_total$`` -> ``${1}_per_second``) serves it.
RPS_METRIC = "dhub_serving_requests_per_second"
#: The kinds a service has only when its spec asks for them, in apply order (deleted
#: when the spec no longer does).
OPTIONAL_KINDS = (
    ("networking.k8s.io/v1", "Ingress"),
    ("autoscaling/v2", "HorizontalPodAutoscaler"),
    ("policy/v1", "PodDisruptionBudget"),
)


def labels(spec: ServiceSpec) -> dict[str, str]:
    return {NAME_LABEL: spec.name, PROJECT_LABEL: spec.project, **MANAGED_BY}


def selector(spec: ServiceSpec) -> dict[str, str]:
    """The labels that select the service's pods."""
    return {NAME_LABEL: spec.name, PROJECT_LABEL: spec.project}


def _metadata(spec: ServiceSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "namespace": spec.namespace,
        "labels": labels(spec),
        "annotations": {DIGEST_ANNOTATION: spec.digest, KEY_ANNOTATION: spec.key()},
    }


def _env(
    spec: ServiceSpec, settings: dict[str, str], secret_names: Sequence[str]
) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in sorted(settings.items())]
    env += [
        {"name": n, "valueFrom": {"secretKeyRef": {"name": spec.credentials_secret, "key": n}}}
        for n in sorted(secret_names)
    ]
    if spec.exposure is not None and spec.exposure.auth in ("api-key", "token"):
        env += _gateway_env(spec.exposure.secret, spec.exposure.auth, spec.project)
    return env


def _gateway_env(secret: str | None, auth: str, project: str) -> list[dict[str, Any]]:
    """The gateway check's settings: the API key (``api-key``), the project, and the
    access-token secret (required with ``token``, optional with ``api-key``)."""
    env: list[dict[str, Any]] = [{"name": PROJECT_ENV, "value": project}]
    if auth == "api-key":
        ref = {"name": secret, "key": API_KEY_SECRET_KEY}
        env.append({"name": API_KEY_ENV, "valueFrom": {"secretKeyRef": ref}})
    else:
        env.append({"name": AUTH_ENV, "value": "token"})
    token_ref: dict[str, Any] = {"name": secret, "key": TOKEN_SECRET_KEY}
    if auth == "api-key":
        token_ref["optional"] = True
    env.append({"name": "DHUB_TOKEN_SECRET", "valueFrom": {"secretKeyRef": token_ref}})
    return env


def deployment(
    spec: ServiceSpec,
    profile: ResourceProfile,
    settings: dict[str, str],
    secret_names: Sequence[str] = (),
) -> dict[str, Any]:
    """The Deployment; a rolling update never drops below the wanted ready replicas.

    With ``autoscaling`` the Deployment has no ``replicas``: the autoscaler owns the
    field, and server-side apply leaves a field it does not set to its other owners.
    """
    probe = {"httpGet": {"path": "/v2/health/ready", "port": "http"}, "periodSeconds": 5}
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": spec.image,
        "command": ["python", "-m", "digitalhub_airflow.cli"],
        "args": spec.serve_args(host="0.0.0.0"),
        "ports": [{"name": "http", "containerPort": spec.port, "protocol": "TCP"}],
        "env": _env(spec, settings, secret_names),
        "readinessProbe": probe,
        "livenessProbe": {
            "httpGet": {"path": "/v2/health/live", "port": "http"},
            "initialDelaySeconds": 30,
            "periodSeconds": 10,
        },
    }
    resources = {k: v for k, v in (("requests", profile.requests), ("limits", profile.limits)) if v}
    if resources:
        container["resources"] = resources
    pod_spec: dict[str, Any] = {"containers": [container]}
    if profile.node_selector:
        pod_spec["nodeSelector"] = dict(profile.node_selector)
    if profile.tolerations:
        pod_spec["tolerations"] = [dict(t) for t in profile.tolerations]
    body: dict[str, Any] = {} if spec.autoscaling is not None else {"replicas": spec.replicas}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(spec),
        "spec": {
            **body,
            "selector": {"matchLabels": selector(spec)},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "template": {
                "metadata": {
                    "labels": labels(spec),
                    "annotations": {DIGEST_ANNOTATION: spec.digest},
                },
                "spec": pod_spec,
            },
        },
    }


def service(spec: ServiceSpec) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(spec),
        "spec": {
            "type": "ClusterIP",
            "selector": selector(spec),
            "ports": [
                {"name": "http", "port": SERVICE_PORT, "targetPort": "http", "protocol": "TCP"}
            ],
        },
    }


def ingress(spec: ServiceSpec) -> dict[str, Any] | None:
    """The gateway route, or ``None`` when the service is not exposed.

    Basic auth is checked by the ingress controller (ingress-nginx, an htpasswd file in
    the Secret's ``auth`` key); an API key by the server itself, which gets it from the
    Secret (the controller never sees the key).
    """
    exposure = spec.exposure
    if exposure is None:
        return None
    metadata = _metadata(spec)
    if exposure.auth == "basic":
        metadata["annotations"].update(
            {
                "nginx.ingress.kubernetes.io/auth-type": "basic",
                "nginx.ingress.kubernetes.io/auth-secret": exposure.secret,
                "nginx.ingress.kubernetes.io/auth-realm": f"{spec.project}/{spec.name}",
            }
        )
    backend = {"service": {"name": spec.name, "port": {"name": "http"}}}
    body: dict[str, Any] = {
        "ingressClassName": exposure.ingress_class,
        "rules": [
            {
                "host": exposure.host,
                "http": {
                    "paths": [{"path": exposure.path, "pathType": "Prefix", "backend": backend}]
                },
            }
        ],
    }
    if exposure.tls_secret:
        body["tls"] = [{"hosts": [exposure.host], "secretName": exposure.tls_secret}]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": metadata,
        "spec": body,
    }


def quantity(value: float) -> str:
    """A number as the canonical Kubernetes quantity the API server stores (``50``,
    ``2500m``), so that what is applied reads back equal."""
    milli = round(value * 1000)
    return str(milli // 1000) if milli % 1000 == 0 else f"{milli}m"


def autoscaler(spec: ServiceSpec) -> dict[str, Any] | None:
    """The ``autoscaling/v2`` HorizontalPodAutoscaler of the Deployment, or ``None``."""
    scaling: Autoscaling | None = spec.autoscaling
    if scaling is None:
        return None
    metrics: list[dict[str, Any]] = []
    if scaling.cpu_utilization is not None:
        target = {"type": "Utilization", "averageUtilization": scaling.cpu_utilization}
        metrics.append({"type": "Resource", "resource": {"name": "cpu", "target": target}})
    if scaling.requests_per_second is not None:
        metrics.append(
            {
                "type": "Pods",
                "pods": {
                    "metric": {"name": RPS_METRIC},
                    "target": {
                        "type": "AverageValue",
                        "averageValue": quantity(scaling.requests_per_second),
                    },
                },
            }
        )
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _metadata(spec),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": spec.name},
            "minReplicas": scaling.min_replicas,
            "maxReplicas": scaling.max_replicas,
            "metrics": metrics,
        },
    }


def disruption_budget(spec: ServiceSpec) -> dict[str, Any] | None:
    """The ``policy/v1`` PodDisruptionBudget of the service's pods, or ``None``."""
    budget: DisruptionBudget | None = spec.disruption_budget
    if budget is None:
        return None
    body: dict[str, Any] = {"selector": {"matchLabels": selector(spec)}}
    if budget.min_available is not None:
        body["minAvailable"] = budget.min_available
    else:
        body["maxUnavailable"] = budget.max_unavailable
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _metadata(spec),
        "spec": body,
    }


def service_manifests(
    spec: ServiceSpec,
    profile: ResourceProfile,
    settings: dict[str, str],
    secret_names: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Everything a service needs, in apply order (the Ingress routes to the Service, the
    autoscaler scales the Deployment): the Deployment first, then the Service, then the
    optional kinds of ``OPTIONAL_KINDS`` the spec asks for."""
    found = [
        deployment(spec, profile, settings, secret_names),
        service(spec),
        ingress(spec),
        autoscaler(spec),
        disruption_budget(spec),
    ]
    return [m for m in found if m is not None]


def cluster_url(spec: ServiceSpec) -> str:
    """Where the service answers: its gateway URL when exposed, else inside the cluster."""
    if spec.exposure is not None:
        scheme = "https" if spec.exposure.tls_secret else "http"
        return f"{scheme}://{spec.exposure.host}{spec.exposure.path.rstrip('/')}"
    return f"http://{spec.name}.{spec.namespace}.svc.cluster.local:{SERVICE_PORT}"
