"""``KubernetesApplyHook``: the ``kubernetes_default`` connection as the core's
:class:`~digitalhub_airflow.kube.client.KubeClient`.

The cncf-kubernetes provider's ``KubernetesHook`` reads the connection (in-cluster,
kubeconfig file or inline kubeconfig, context, SSL settings, ``exec`` plugins) into a
client configuration; this hook hands its server, credentials and certificates to the
core client, which does the work: server-side apply, read and delete of Deployments,
Services, Ingresses, HorizontalPodAutoscalers and PodDisruptionBudgets, a Secret's value,
a Service's HTTP endpoint through the API server's service proxy.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook

from digitalhub_airflow.kube.client import (
    APPLY_PATCH,
    FIELD_MANAGER,
    PLURALS,
    manifest_path,
    object_path,
)

if TYPE_CHECKING:
    from digitalhub_airflow.kube.client import KubeClient

__all__ = [
    "APPLY_PATCH",
    "FIELD_MANAGER",
    "PLURALS",
    "KubernetesApplyHook",
    "manifest_path",
    "object_path",
]


class KubernetesApplyHook(KubernetesHook):
    """The provider's hook, turned into the core client (:meth:`client`); its
    apply/read/delete/secret_value/service_get are the client's."""

    hook_name = "Kubernetes apply"

    def client(self) -> KubeClient:
        """A core client with this connection's server, credentials and certificates."""
        from digitalhub_airflow.kube.client import KubeClient, KubeConfig

        if getattr(self, "_dhub_client", None) is None:
            cfg = self.api_client.configuration
            auth = cfg.get_api_key_with_prefix("authorization") or ""
            token = auth[len("Bearer ") :] if auth.startswith("Bearer ") else None
            namespace = self.get_namespace() or "default"
            self._dhub_client = KubeClient(
                KubeConfig(
                    server=cfg.host,
                    token=token,
                    username=cfg.username or None,
                    password=cfg.password or None,
                    ca_file=cfg.ssl_ca_cert or None,
                    cert_file=cfg.cert_file or None,
                    key_file=cfg.key_file or None,
                    verify=bool(cfg.verify_ssl),
                    namespace=namespace,
                )
            )
        return self._dhub_client

    def apply(
        self, manifest: Mapping[str, Any], *, field_manager: str = FIELD_MANAGER, force: bool = True
    ) -> dict[str, Any]:
        """Create or update ``manifest`` by server-side apply; the object as stored."""
        return self.client().apply(manifest, field_manager=field_manager, force=force)

    def read(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.client().read(api_version, kind, namespace, name)

    def delete(self, api_version: str, kind: str, namespace: str, name: str) -> bool:
        """Delete an object (its pods follow in the background); False if it was absent."""
        object_path(api_version, kind, namespace, name)  # an unknown kind: no connection read
        return self.client().delete(api_version, kind, namespace, name)

    def secret_value(self, namespace: str, name: str, key: str) -> str:
        """One value of a Secret (never logged)."""
        return self.client().secret_value(namespace, name, key)

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
        return self.client().service_get(
            namespace, service, port, path, headers=headers, timeout=timeout
        )
