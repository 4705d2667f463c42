"""``KubernetesApplyHook``: server-side apply, read and delete of any manifest.

Built on the cncf-kubernetes provider's ``KubernetesHook`` (its connection, kubeconfig
and client). Server-side apply (``PATCH`` with ``application/apply-patch+yaml``, field
manager ``digitalhub-airflow``) creates or updates an object in one idempotent call and
leaves fields other managers own (an autoscaler's replicas, a mesh's annotations) alone.
"""

from __future__ import annotations

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

    def _call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: list[tuple[str, str]] | None = None,
        content_type: str = "application/json",
    ) -> dict[str, Any] | None:
        from kubernetes.client.exceptions import ApiException

        client = self.api_client
        headers = {"Accept": "application/json", "Content-Type": content_type}
        try:
            response = client.call_api(
                path,
                method,
                query_params=query or [],
                header_params=headers,
                body=body,
                auth_settings=["BearerToken"],
                _preload_content=False,
                _return_http_data_only=True,
            )
        except ApiException as exc:
            if exc.status == 404 and method in ("GET", "DELETE"):
                return None
            raise DeploymentError(
                f"Kubernetes refused {method} {path}: {exc.status} {_reason(exc)}"
            ) from exc
        data = response.data
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


def _reason(exc: Any) -> str:
    try:
        return str(json.loads(exc.body).get("message") or exc.reason)
    except (TypeError, ValueError):
        return str(exc.reason)
