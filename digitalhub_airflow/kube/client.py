"""A small Kubernetes REST client: server-side apply, read and delete of the objects a
service needs, a Deployment's status, a Secret's value and a Service's HTTP endpoint
through the API server's service proxy.

Plain HTTP (the standard library), configured from plain values: the API server's URL,
a bearer token (or a token file, re-read on each request, as in-cluster tokens rotate),
basic auth, the cluster's CA, a client certificate. :meth:`KubeClient.from_kubeconfig`
reads a kubeconfig file (``KUBECONFIG``, ``~/.kube/config``; ``exec`` credential plugins
included) and falls back to the pod's service account inside a cluster. No Airflow: the
CLI uses it directly and the Airflow hook builds one from the ``kubernetes_default``
connection.

Server-side apply (``PATCH`` with ``application/apply-patch+yaml``, field manager
``digitalhub-airflow``) creates or updates an object in one idempotent call and leaves
fields other managers own (an autoscaler's replicas, a mesh's annotations) alone.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import json
import logging
import os
import ssl
import subprocess
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from digitalhub_airflow.errors import DeploymentError

log = logging.getLogger(__name__)

FIELD_MANAGER = "digitalhub-airflow"
APPLY_PATCH = "application/apply-patch+yaml"
#: The field manager that hands a Deployment's ``replicas`` over to its autoscaler
#: (server-side apply's "transferring ownership"; see :meth:`KubeClient.apply`).
HANDOVER_MANAGER = "digitalhub-airflow-handover"
PLURALS = {
    "Deployment": "deployments",
    "Service": "services",
    "Ingress": "ingresses",
    "HorizontalPodAutoscaler": "horizontalpodautoscalers",
    "PodDisruptionBudget": "poddisruptionbudgets",
}
SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
DEFAULT_TIMEOUT = 30.0


def object_path(api_version: str, kind: str, namespace: str, name: str) -> str:
    """The REST path of a namespaced object (``/apis/apps/v1/namespaces/ml/deployments/x``)."""
    plural = PLURALS.get(kind)
    if plural is None:
        raise DeploymentError(f"kind {kind!r} is not one this client applies: {sorted(PLURALS)}")
    root = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    return f"{root}/namespaces/{namespace}/{plural}/{name}"


def manifest_path(manifest: Mapping[str, Any]) -> str:
    meta = manifest["metadata"]
    return object_path(manifest["apiVersion"], manifest["kind"], meta["namespace"], meta["name"])


class ApplyConflict(DeploymentError):
    """A server-side apply without ``force`` met a field another manager owns (409)."""


@dataclass(frozen=True)
class KubeConfig:
    """Where the API server is and how to authenticate to it (all plain values).

    ``ca_data``/``cert_data``/``key_data`` are PEM text (a kubeconfig's ``*-data`` fields,
    decoded); ``*_file`` the same in files. ``namespace`` is the context's namespace.
    """

    server: str
    token: str | None = None
    token_file: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None
    ca_data: str | None = field(default=None, repr=False)
    cert_file: str | None = None
    cert_data: str | None = field(default=None, repr=False)
    key_file: str | None = None
    key_data: str | None = field(default=None, repr=False)
    verify: bool = True
    namespace: str = "default"

    def __repr__(self) -> str:  # never a credential in a log or a traceback
        return f"KubeConfig(server={self.server!r}, namespace={self.namespace!r})"


class KubeClient:
    """Apply, read and delete Deployments, Services, Ingresses, HorizontalPodAutoscalers
    and PodDisruptionBudgets; read rollouts, Secrets
    and Service endpoints. Every refusal is a :class:`DeploymentError` naming the call."""

    def __init__(self, config: KubeConfig) -> None:
        if not config.server:
            raise DeploymentError("no Kubernetes API server: the configuration has no server URL")
        self.config = config
        self._context: ssl.SSLContext | None = None

    @classmethod
    def from_values(
        cls,
        server: str,
        *,
        token: str | None = None,
        ca_file: str | None = None,
        cert_file: str | None = None,
        key_file: str | None = None,
        verify: bool = True,
        namespace: str = "default",
    ) -> KubeClient:
        return cls(
            KubeConfig(
                server,
                token=token,
                ca_file=ca_file,
                cert_file=cert_file,
                key_file=key_file,
                verify=verify,
                namespace=namespace,
            )
        )

    @classmethod
    def from_kubeconfig(
        cls, path: str | os.PathLike[str] | None = None, *, context: str | None = None
    ) -> KubeClient:
        """A client for a kubeconfig's context: ``path``, else ``KUBECONFIG``, else
        ``~/.kube/config``; with none of them, the service account of the pod it runs in."""
        return cls(load_kubeconfig(path, context=context))

    @classmethod
    def in_cluster(cls) -> KubeClient:
        return cls(in_cluster_config())

    @property
    def namespace(self) -> str:
        return self.config.namespace

    # -- HTTP ------------------------------------------------------------------------------
    def _ssl_context(self) -> ssl.SSLContext:
        if self._context is None:
            cfg = self.config
            context = ssl.create_default_context(cafile=cfg.ca_file, cadata=cfg.ca_data)
            if not cfg.verify:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            cert = cfg.cert_file or (_temp_pem(cfg.cert_data) if cfg.cert_data else None)
            key = cfg.key_file or (_temp_pem(cfg.key_data) if cfg.key_data else None)
            if cert:
                context.load_cert_chain(cert, key)
            self._context = context
        return self._context

    def _auth_headers(self) -> dict[str, str]:
        cfg = self.config
        token = cfg.token
        if cfg.token_file:
            try:
                token = Path(cfg.token_file).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise DeploymentError(f"cannot read the token file {cfg.token_file}") from exc
        if token:
            return {"Authorization": f"Bearer {token}"}
        if cfg.username and cfg.password:
            raw = f"{cfg.username}:{cfg.password}".encode()
            return {"Authorization": "Basic " + base64.b64encode(raw).decode()}
        return {}

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: list[tuple[str, str]] | None = None,
        content_type: str = "application/json",
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> bytes | None:
        """The response body; ``None`` for a GET or DELETE of what is not there."""
        url = self.config.server.rstrip("/") + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = None if body is None else json.dumps(body).encode()
        sent = {"Accept": "application/json", **self._auth_headers(), **(headers or {})}
        if data is not None:
            sent["Content-Type"] = content_type
        request = urllib.request.Request(url, data=data, method=method, headers=sent)
        context = self._ssl_context() if url.startswith("https:") else None
        try:
            with urllib.request.urlopen(
                request, timeout=timeout or DEFAULT_TIMEOUT, context=context
            ) as response:
                return bytes(response.read())
        except urllib.error.HTTPError as exc:
            detail = exc.read()
            if exc.code == 404 and method in ("GET", "DELETE"):
                return None
            error = ApplyConflict if exc.code == 409 else DeploymentError
            raise error(
                f"Kubernetes refused {method} {path}: {exc.code} {_reason(detail, exc.reason)}"
            ) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DeploymentError(
                f"cannot reach the Kubernetes API server at {self.config.server}: {reason}"
            ) from None

    def call(self, method: str, path: str, **options: Any) -> dict[str, Any] | None:
        """``request`` with a JSON answer (``None``: not there)."""
        data = self.request(method, path, **options)
        if data is None:
            return None
        result = json.loads(data) if data else {}
        return result if isinstance(result, dict) else {"items": result}

    # -- objects ---------------------------------------------------------------------------
    def apply(
        self,
        manifest: Mapping[str, Any],
        *,
        field_manager: str = FIELD_MANAGER,
        force: bool = True,
    ) -> dict[str, Any]:
        """Create or update ``manifest`` by server-side apply; the object as stored.

        The suite's own applies force (they take back what a hand edit changed); an
        apply without ``force`` raises :class:`ApplyConflict` on a field another manager
        owns with another value.
        """
        query = [("fieldManager", field_manager)] + ([("force", "true")] if force else [])
        result = self.call(
            "PATCH",
            manifest_path(manifest),
            body=dict(manifest),
            query=query,
            content_type=APPLY_PATCH,
        )
        log.info("applied %s %s", manifest["kind"], manifest["metadata"]["name"])
        return result or {}

    def read(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.call("GET", object_path(api_version, kind, namespace, name))

    def delete(self, api_version: str, kind: str, namespace: str, name: str) -> bool:
        """Delete an object (its pods follow in the background); False if it was absent."""
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}
        path = object_path(api_version, kind, namespace, name)
        deleted = self.call("DELETE", path, body=body) is not None
        if deleted:
            log.info("deleted %s %s/%s", kind, namespace, name)
        return deleted

    def deployment_status(self, namespace: str, name: str) -> dict[str, Any]:
        """A Deployment with its status (what ``kubectl rollout status`` reads)."""
        path = object_path("apps/v1", "Deployment", namespace, name) + "/status"
        found = self.call("GET", path)
        if found is None:
            raise DeploymentError(f"cannot read deployment {namespace}/{name}: 404 not found")
        return found

    def secret_value(self, namespace: str, name: str, key: str) -> str:
        """One value of a Secret (never logged)."""
        secret = self.call("GET", f"/api/v1/namespaces/{namespace}/secrets/{name}")
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
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> str:
        """GET ``path`` of a Service's pods through the API server's service proxy."""
        proxy = f"/api/v1/namespaces/{namespace}/services/{service}:{port}/proxy/"
        sent = {"Accept": "*/*", **(headers or {})}
        data = self.request("GET", proxy + path.lstrip("/"), headers=sent, timeout=timeout)
        if data is None:
            raise DeploymentError(f"GET {path} of Service {namespace}/{service}: 404")
        return data.decode()


def _reason(body: bytes, fallback: str) -> str:
    try:
        return str(json.loads(body).get("message") or fallback)
    except (TypeError, ValueError, AttributeError):
        return str(fallback)


_TEMP_FILES: list[str] = []


def _temp_pem(text: str) -> str:
    """A private temporary file holding PEM ``text`` (``ssl`` loads certificates from
    files only), removed when the process exits."""
    handle, path = tempfile.mkstemp(prefix="dhub-kube-", suffix=".pem")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(text)
    if not _TEMP_FILES:
        atexit.register(_remove_temp_files)
    _TEMP_FILES.append(path)
    return path


def _remove_temp_files() -> None:
    for path in _TEMP_FILES:
        with contextlib.suppress(OSError):
            os.unlink(path)


# -- configuration ---------------------------------------------------------------------------
def in_cluster_config() -> KubeConfig:
    """The service account of the pod this runs in."""
    host = os.environ.get("KUBERNETES_SERVICE_HOST")
    port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    token = SERVICE_ACCOUNT / "token"
    if not host or not token.is_file():
        raise DeploymentError(
            "no kubeconfig (--kubeconfig, KUBECONFIG or ~/.kube/config) and not inside a "
            "Kubernetes pod"
        )
    ns_file = SERVICE_ACCOUNT / "namespace"
    namespace = ns_file.read_text().strip() if ns_file.is_file() else "default"
    ca = SERVICE_ACCOUNT / "ca.crt"
    server = f"https://{host}:{port}" if ":" not in host else f"https://[{host}]:{port}"
    return KubeConfig(
        server,
        token_file=str(token),
        ca_file=str(ca) if ca.is_file() else None,
        namespace=namespace,
    )


def kubeconfig_paths(path: str | os.PathLike[str] | None = None) -> list[Path]:
    if path is not None:
        return [Path(path).expanduser()]
    env = os.environ.get("KUBECONFIG")
    if env:
        return [Path(p).expanduser() for p in env.split(os.pathsep) if p]
    return [Path.home() / ".kube" / "config"]


def load_kubeconfig(
    path: str | os.PathLike[str] | None = None, *, context: str | None = None
) -> KubeConfig:
    """The configuration of a kubeconfig's context (the current one by default).

    Several ``KUBECONFIG`` files merge as kubectl merges them: the first to name a
    cluster, user or context wins. With no file at all (and no ``path``), the pod's
    service account.
    """
    import yaml

    merged: dict[str, Any] = {"clusters": [], "users": [], "contexts": []}
    found = False
    for file in kubeconfig_paths(path):
        if not file.is_file():
            if path is not None:
                raise DeploymentError(f"kubeconfig {file} does not exist")
            continue
        try:
            data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise DeploymentError(f"cannot read kubeconfig {file}: {exc}") from None
        if not isinstance(data, dict):
            raise DeploymentError(f"kubeconfig {file} is not a mapping")
        found = True
        for section in ("clusters", "users", "contexts"):
            known = {e.get("name") for e in merged[section]}
            for entry in data.get(section) or []:
                if isinstance(entry, dict) and entry.get("name") not in known:
                    merged[section].append({**entry, "_base": str(file.parent)})
        if not merged.get("current-context"):
            merged["current-context"] = data.get("current-context")
    if not found:
        return in_cluster_config()
    return kubeconfig_from_dict(merged, context=context)


def kubeconfig_from_dict(
    data: Mapping[str, Any], *, context: str | None = None, base: str | None = None
) -> KubeConfig:
    """A parsed kubeconfig's context as a :class:`KubeConfig` (relative file names are
    relative to ``base``, or to the file that named them)."""
    name = context or data.get("current-context")
    if not name:
        raise DeploymentError("the kubeconfig has no current-context: name one with --context")

    def entry(section: str, wanted: str, what: str) -> dict[str, Any]:
        for item in data.get(section) or []:
            if isinstance(item, Mapping) and item.get("name") == wanted:
                return dict(item)
        raise DeploymentError(f"the kubeconfig has no {what} {wanted!r}")

    ctx = entry("contexts", str(name), "context").get("context") or {}
    cluster_entry = entry("clusters", str(ctx.get("cluster")), "cluster")
    user_entry = entry("users", str(ctx.get("user")), "user") if ctx.get("user") else {}
    cluster = cluster_entry.get("cluster") or {}
    user = user_entry.get("user") or {}

    def file_of(item: Mapping[str, Any], owner: Mapping[str, Any], key: str) -> str | None:
        value = item.get(key)
        if not value:
            return None
        root = owner.get("_base") or base
        return str(Path(root) / value) if root and not os.path.isabs(value) else str(value)

    def data_of(item: Mapping[str, Any], key: str) -> str | None:
        value = item.get(key)
        return base64.b64decode(value).decode() if value else None

    config = KubeConfig(
        server=str(cluster.get("server") or ""),
        token=user.get("token"),
        token_file=file_of(user, user_entry, "tokenFile"),
        username=user.get("username"),
        password=user.get("password"),
        ca_file=file_of(cluster, cluster_entry, "certificate-authority"),
        ca_data=data_of(cluster, "certificate-authority-data"),
        cert_file=file_of(user, user_entry, "client-certificate"),
        cert_data=data_of(user, "client-certificate-data"),
        key_file=file_of(user, user_entry, "client-key"),
        key_data=data_of(user, "client-key-data"),
        verify=not cluster.get("insecure-skip-tls-verify", False),
        namespace=str(ctx.get("namespace") or "default"),
    )
    if user.get("exec"):
        config = _with_exec_credential(config, user["exec"])
    if not config.server:
        raise DeploymentError(f"the kubeconfig's cluster {ctx.get('cluster')!r} has no server")
    return config


def _with_exec_credential(config: KubeConfig, spec: Mapping[str, Any]) -> KubeConfig:
    """Run an ``exec`` credential plugin (cloud CLIs) and use the credential it prints."""
    argv = [str(spec.get("command")), *(str(a) for a in spec.get("args") or [])]
    env = {**os.environ, **{str(e["name"]): str(e["value"]) for e in spec.get("env") or []}}
    try:
        out = subprocess.run(argv, env=env, capture_output=True, text=True, check=True, timeout=60)
        status = json.loads(out.stdout).get("status") or {}
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        raise DeploymentError(
            f"the kubeconfig's exec credential {argv[0]!r} failed: {exc}"
        ) from None
    return replace(
        config,
        token=status.get("token") or config.token,
        cert_data=status.get("clientCertificateData") or config.cert_data,
        key_data=status.get("clientKeyData") or config.key_data,
    )
