"""``KubernetesApplyHook``: server-side apply, read and delete of any manifest.

Built on the cncf-kubernetes provider's ``KubernetesHook`` (its connection, kubeconfig
and client). Server-side apply (``PATCH`` with ``application/apply-patch+yaml``, field
manager ``digitalhub-airflow``) creates or updates an object in one idempotent call and
leaves fields other managers own (an autoscaler's replicas, a mesh's annotations) alone.
It also reads a Secret's value, and a Service's HTTP endpoint through the API server's
service proxy, which reaches it from inside the cluster or outside.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook

from digitalhub_airflow.errors import DeploymentError

FIELD_MANAGER = "digitalhub-airflow"
APPLY_PATCH = "application/apply-patch+yaml"
PLURALS = {"Deployment": "deployments", "Service": "services", "Ingress": "ingresses"}


def object_path(api_version: str, kind: str, namespace: str, name: str) -> str:
    """The REST path of a namespaced object (``/apis/apps/v1/namespaces/ml/deployments/x``)."""
    plural = PLURALS.get(kind)
    if plural is None:
        raise DeploymentError(f"kind {kind!r} is not one this hook applies: {sorted(PLURALS)}")
    root = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    return f"{root}/namespaces/{namespace}/{plural}/{name}"


def manifest_path(manifest: dict[str, Any]) -> str:
    meta = manifest["metadata"]
    return object_path(manifest["apiVersion"], manifest["kind"], meta["namespace"], meta["name"])


class KubernetesApplyHook(KubernetesHook):
    """The provider's hook, plus apply/read/delete of Deployments, Services and Ingresses."""

    hook_name = "Kubernetes apply"

    def _request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: list[tuple[str, str]] | None = None,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> bytes | None:
        """The response body; ``None`` for a GET or DELETE of what is not there."""
        from kubernetes.client.exceptions import ApiException

        sent = {"Accept": "application/json", "Content-Type": content_type, **(headers or {})}
        try:
            response = self.api_client.call_api(
                path,
                method,
                query_params=query or [],
                header_params=sent,
                body=body,
                auth_settings=["BearerToken"],
                _preload_content=False,
                _return_http_data_only=True,
                _request_timeout=timeout,
            )
        except ApiException as exc:
            if exc.status == 404 and method in ("GET", "DELETE"):
                return None
            raise DeploymentError(
                f"Kubernetes refused {method} {path}: {exc.status} {_reason(exc)}"
            ) from exc
        return bytes(response.data)

    def _call(self, method: str, path: str, **options: Any) -> dict[str, Any] | None:
        data = self._request(method, path, **options)
        if data is None:
            return None
        return json.loads(data) if data else {}

    def apply(self, manifest: dict[str, Any]) -> dict[str, Any]:
        """Create or update ``manifest`` by server-side apply; the object as stored."""
        query = [("fieldManager", FIELD_MANAGER), ("force", "true")]
        result = self._call(
            "PATCH", manifest_path(manifest), body=manifest, query=query, content_type=APPLY_PATCH
        )
        self.log.info("applied %s %s", manifest["kind"], manifest["metadata"]["name"])
        return result or {}

    def read(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self._call("GET", object_path(api_version, kind, namespace, name))

    def delete(self, api_version: str, kind: str, namespace: str, name: str) -> bool:
        """Delete an object (its pods follow in the background); False if it was absent."""
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}
        path = object_path(api_version, kind, namespace, name)
        deleted = self._call("DELETE", path, body=body) is not None
        if deleted:
            self.log.info("deleted %s %s/%s", kind, namespace, name)
        return deleted

    def secret_value(self, namespace: str, name: str, key: str) -> str:
        """One value of a Secret (never logged)."""
        secret = self._call("GET", f"/api/v1/namespaces/{namespace}/secrets/{name}")
        data = (secret or {}).get("data") or {}
        if key not in data:
            state = "does not exist" if secret is None else f"has no {key!r}"
            raise DeploymentError(f"Secret {namespace}/{name} {state}")
        return base64.b64decode(data[key]).decode()

    def service_get(
        self,
        namespace: str,
        service: str,
        port: int,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> str:
        """GET ``path`` of a Service's pods through the API server's service proxy."""
        proxy = f"/api/v1/namespaces/{namespace}/services/{service}:{port}/proxy/"
        data = self._request(
            "GET", proxy + path.lstrip("/"), headers={"Accept": "*/*", **(headers or {})},
            timeout=timeout,
        )  # fmt: skip
        if data is None:
            raise DeploymentError(f"GET {path} of Service {namespace}/{service}: 404")
        return data.decode()


def _reason(exc: Any) -> str:
    try:
        return str(json.loads(exc.body).get("message") or exc.reason)
    except (TypeError, ValueError):
        return str(exc.reason)
