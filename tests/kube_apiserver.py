"""A stand-in for the Kubernetes API server, at the HTTP level.

No real cluster runs here, so operators that talk to Kubernetes are tested against this
server: the real ``kubernetes`` client (and the cncf-kubernetes provider on top of it)
sends real HTTP requests, every request is recorded (method, path, query, body) for the
test to assert on, and objects live in memory with the lifecycle a test needs:

- pods: with ``run_containers`` the first container's ``command + args`` really runs as a
  local process (its ``env``, with ``secretKeyRef`` values resolved from stored Secrets),
  its output is the pod log and its exit code decides ``Succeeded``/``Failed``; without,
  a pod succeeds at once;
- Deployments: every spec change bumps ``generation`` and the rollout completes at once
  (``observedGeneration``, ``updatedReplicas``…), so rollout watchers finish; a pod
  template whose image is in ``failing_images`` fails its rollout instead
  (``ProgressDeadlineExceeded``), as an image that cannot start does;
- server-side apply (``PATCH`` with ``application/apply-patch+yaml``) creates or replaces
  (an apply by another field manager than the one that created the object merges the
  fields it names into it); a Deployment's ``spec.replicas`` has its field owners, as
  on a real API server: an apply that leaves the field out keeps the value while
  another manager owns it (an autoscaler: :meth:`KubeApiServer.autoscale`) and resets it
  to 1 when none does, an apply without ``force`` that changes it under another owner
  is a 409 conflict, and ``metadata.managedFields`` names the owners;
- the service proxy (``/api/v1/namespaces/<ns>/services/<name>:<port>/proxy/<path>``)
  forwards a GET to the URL the test gives in ``proxies`` (without ``Authorization``, as
  the API server sends its own), as a cluster forwards it to the Service's pods.

The image is never pulled: the container's ``python`` is the Python running the tests.
"""

from __future__ import annotations

import base64
import copy
import itertools
import json
import os
import re
import subprocess
import sys
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

PROXY_RE = re.compile(
    r"^/api/v1/namespaces/(?P<ns>[^/]+)/services/(?P<svc>[^/]+)/proxy(?P<rest>/.*)?$"
)
PATH_RE = re.compile(
    r"^/(?:api/(?P<core>v1)|apis/(?P<group>[^/]+)/(?P<gv>[^/]+))"
    r"/namespaces/(?P<ns>[^/]+)/(?P<plural>[^/]+)(?:/(?P<name>[^/]+))?(?:/(?P<sub>log|status))?$"
)
KINDS = {
    "pods": "Pod",
    "secrets": "Secret",
    "services": "Service",
    "configmaps": "ConfigMap",
    "events": "Event",
    "deployments": "Deployment",
    "ingresses": "Ingress",
    "horizontalpodautoscalers": "HorizontalPodAutoscaler",
    "poddisruptionbudgets": "PodDisruptionBudget",
}
#: The field manager of the HorizontalPodAutoscaler controller's scale updates.
HPA_MANAGER = "horizontal-pod-autoscaler"


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Pod:
    log: str = ""
    process: threading.Thread | None = None


@dataclass
class KubeApiServer:
    run_containers: bool = True
    failing_images: set[str] = field(default_factory=set)
    requests: list[Request] = field(default_factory=list)
    objects: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    #: (namespace, "<service>:<port>") -> the URL the service proxy forwards to.
    proxies: dict[tuple[str, str], str] = field(default_factory=dict)
    _pods: dict[tuple[str, str], _Pod] = field(default_factory=dict)
    _versions: itertools.count = field(default_factory=lambda: itertools.count(1))
    #: (plural, namespace, name) -> the field manager whose apply created the object.
    _appliers: dict[tuple[str, str, str], str] = field(default_factory=dict)
    #: (namespace, name) of a Deployment -> owners of spec.replicas -> operation.
    _replica_owners: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> KubeApiServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                server._handle(self, "GET")

            def do_POST(self) -> None:
                server._handle(self, "POST")

            def do_PUT(self) -> None:
                server._handle(self, "PUT")

            def do_PATCH(self) -> None:
                server._handle(self, "PATCH")

            def do_DELETE(self) -> None:
                server._handle(self, "DELETE")

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()
        for pod in self._pods.values():
            if pod.process is not None:
                pod.process.join(timeout=30)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    def kubeconfig(self) -> dict[str, Any]:
        """A kubeconfig for this server (a bearer token the test can look for)."""
        return self.kubeconfig_for(self.url)

    @staticmethod
    def kubeconfig_for(url: str) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "standin", "cluster": {"server": url}}],
            "users": [{"name": "standin", "user": {"token": "standin-token"}}],
            "contexts": [{"name": "standin", "context": {"cluster": "standin", "user": "standin"}}],
            "current-context": "standin",
        }

    # -- assertions helpers --------------------------------------------------------------
    def calls(self, method: str, path_regex: str) -> list[Request]:
        return [r for r in self.requests if r.method == method and re.fullmatch(path_regex, r.path)]

    def get(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.objects.get((plural, namespace, name))

    def autoscale(self, namespace: str, name: str, replicas: int) -> dict[str, Any]:
        """Scale a Deployment as the HorizontalPodAutoscaler controller does (an update
        of its scale: the controller becomes the only owner of ``spec.replicas``)."""
        with self._lock:
            current = self.objects[("deployments", namespace, name)]
            body = copy.deepcopy(current)
            body["spec"]["replicas"] = replicas
            self._replica_owners[(namespace, name)] = {HPA_MANAGER: "Update"}
            generation = current["metadata"]["generation"]
            changed = current["spec"] != body["spec"]
            return self._store(
                current["apiVersion"],
                namespace,
                "deployments",
                body,
                generation=generation + 1 if changed else generation,
            )

    def replica_owners(self, namespace: str, name: str) -> dict[str, str]:
        """The field managers owning a Deployment's ``spec.replicas`` -> operation."""
        return dict(self._replica_owners.get((namespace, name), {}))

    def put_secret(self, namespace: str, name: str, data: dict[str, str]) -> None:
        encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
        self.objects[("secrets", namespace, name)] = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": namespace},
            "data": encoded,
        }

    # -- HTTP --------------------------------------------------------------------------
    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(handler.path)
        query = parse_qs(parts.query)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        content_type = handler.headers.get("Content-Type", "")
        body = _decode(raw, content_type)
        headers = {k.lower(): v for k, v in handler.headers.items()}
        self.requests.append(Request(method, parts.path, query, body, content_type, headers))
        if parts.path == "/version":
            return _reply(handler, 200, {"major": "1", "minor": "33", "gitVersion": "v1.33.0"})
        proxy = PROXY_RE.match(parts.path)
        if proxy and method == "GET":
            return self._proxy(handler, proxy["ns"], proxy["svc"], proxy["rest"] or "/", headers)
        match = PATH_RE.match(parts.path)
        if not match:
            return _reply(handler, 404, _status(404, f"no route for {parts.path}"))
        group = match["group"]
        api_version = f"{group}/{match['gv']}" if group else "v1"
        ns, plural, name, sub = match["ns"], match["plural"], match["name"], match["sub"]
        with self._lock:
            if sub == "log":
                return self._log(handler, ns, name or "")
            if plural == "events" and method == "GET":
                return _reply(handler, 200, {"kind": "EventList", "apiVersion": "v1", "items": []})
            if name is None and method == "POST":
                return self._create(handler, api_version, ns, plural, body)
            if name is None and method == "GET":
                return self._list(handler, ns, plural, query)
            if name is not None and method == "GET":
                obj = self.objects.get((plural, ns, name))
                return _reply(handler, 200, obj) if obj else _not_found(handler, plural, name)
            if name is not None and method == "DELETE":
                obj = self.objects.pop((plural, ns, name), None)
                self._appliers.pop((plural, ns, name), None)
                if plural == "deployments":
                    self._replica_owners.pop((ns, name), None)
                return _reply(handler, 200, obj) if obj else _not_found(handler, plural, name)
            if name is not None and method in ("PATCH", "PUT"):
                return self._apply(
                    handler,
                    api_version=api_version,
                    ns=ns,
                    plural=plural,
                    name=name,
                    body=body,
                    content_type=content_type,
                    query=query,
                )
        return _reply(handler, 405, _status(405, f"{method} not supported here"))

    def _create(
        self, handler: Any, api_version: str, ns: str, plural: str, body: dict[str, Any]
    ) -> None:
        meta = body.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        if (plural, ns, meta.get("name")) in self.objects:
            return _reply(handler, 409, _status(409, f"{plural} {meta['name']!r} already exists"))
        obj = self._store(api_version, ns, plural, body, generation=1)
        _reply(handler, 201, obj)

    def _apply(
        self,
        handler: Any,
        *,
        api_version: str,
        ns: str,
        plural: str,
        name: str,
        body: dict[str, Any],
        content_type: str,
        query: dict[str, list[str]] | None = None,
    ) -> None:
        query = query or {}
        body = copy.deepcopy(body)  # the recorded request stays as it was sent
        current = self.objects.get((plural, ns, name))
        if current is None and "apply-patch" not in content_type:
            return _not_found(handler, plural, name)
        applying = "apply-patch" in content_type
        manager = query.get("fieldManager", [""])[0]
        force = query.get("force", ["false"])[0] == "true"
        named_replicas = (body.get("spec") or {}).get("replicas")
        if current is not None and (
            "merge-patch" in content_type
            or "strategic" in content_type
            or (applying and self._appliers.get((plural, ns, name), manager) != manager)
        ):
            merged = copy.deepcopy(current)
            _merge(merged, body)
            body = merged
        if plural == "deployments" and applying:
            owners = self._replica_owners.setdefault((ns, name), {})
            others = sorted(m for m in owners if m != manager)
            spec = body.setdefault("spec", {})
            if named_replicas is not None:
                live = (current or {}).get("spec", {}).get("replicas")
                if others and not force and live != named_replicas:
                    message = (
                        f"Apply failed with 1 conflict: conflict with {others[0]!r}: .spec.replicas"
                    )
                    return _reply(handler, 409, _status(409, message, "Conflict"))
                if force:
                    owners.clear()
                owners[manager] = "Apply"
            else:
                owners.pop(manager, None)
                kept = (current or {}).get("spec", {}).get("replicas")
                spec["replicas"] = kept if owners and kept is not None else 1
        if applying and current is None:
            self._appliers[(plural, ns, name)] = manager
        body.setdefault("metadata", {})["name"] = name
        generation = (current or {}).get("metadata", {}).get("generation", 0)
        changed = current is None or current.get("spec") != body.get("spec")
        obj = self._store(
            api_version, ns, plural, body, generation=generation + 1 if changed else generation
        )
        _reply(handler, 201 if current is None else 200, obj)

    def _store(
        self, api_version: str, ns: str, plural: str, body: dict[str, Any], generation: int
    ) -> dict[str, Any]:
        obj = copy.deepcopy(body)
        obj.setdefault("apiVersion", api_version)
        obj.setdefault("kind", KINDS.get(plural, plural.rstrip("s").title()))
        meta = obj["metadata"]
        meta.update(
            namespace=ns,
            uid=meta.get("uid") or str(uuid.uuid4()),
            resourceVersion=str(next(self._versions)),
            creationTimestamp=meta.get("creationTimestamp") or _now(),
            generation=generation,
        )
        self.objects[(plural, ns, meta["name"])] = obj
        if plural == "deployments":
            meta["managedFields"] = self._managed_fields(plural, ns, meta["name"], api_version)
        if plural == "pods":
            self._start_pod(ns, obj)
        if plural == "deployments":
            replicas = obj.get("spec", {}).get("replicas", 1)
            containers = obj.get("spec", {}).get("template", {}).get("spec", {}).get("containers")
            if any(c.get("image") in self.failing_images for c in containers or []):
                obj["status"] = _failed_rollout(generation, replicas)
                return obj
            obj["status"] = {
                "observedGeneration": generation,
                "replicas": replicas,
                "updatedReplicas": replicas,
                "readyReplicas": replicas,
                "availableReplicas": replicas,
                "conditions": [
                    {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
                    {
                        "type": "Progressing",
                        "status": "True",
                        "reason": "NewReplicaSetAvailable",
                    },
                ],
            }
        return obj

    def _managed_fields(
        self, plural: str, ns: str, name: str, api_version: str
    ) -> list[dict[str, Any]]:
        """``metadata.managedFields`` as far as the stand-in tracks them: who owns a
        Deployment's ``spec.replicas``, and the manager whose apply created it."""
        owners = self._replica_owners.get((ns, name), {})
        entries = [
            {
                "manager": manager,
                "operation": operation,
                "apiVersion": api_version,
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:spec": {"f:replicas": {}}},
            }
            for manager, operation in sorted(owners.items())
        ]
        creator = self._appliers.get((plural, ns, name))
        if creator is not None and creator not in owners:
            entries.append(
                {
                    "manager": creator,
                    "operation": "Apply",
                    "apiVersion": api_version,
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:spec": {"f:template": {}}},
                }
            )
        return entries

    def _list(self, handler: Any, ns: str, plural: str, query: dict[str, list[str]]) -> None:
        selector = query.get("labelSelector", [""])[0]
        items = [
            obj
            for (p, n, _), obj in self.objects.items()
            if p == plural and n == ns and _selects(selector, obj["metadata"].get("labels", {}))
        ]
        if query.get("watch", ["false"])[0] in ("true", "1"):
            lines = "".join(json.dumps({"type": "ADDED", "object": o}) + "\n" for o in items)
            return _reply_raw(handler, 200, lines.encode(), "application/json")
        kind = KINDS.get(plural, plural.title()) + "List"
        _reply(handler, 200, {"kind": kind, "apiVersion": "v1", "items": items})

    # -- pods ----------------------------------------------------------------------------
    def _start_pod(self, ns: str, pod: dict[str, Any]) -> None:
        name = pod["metadata"]["name"]
        container = pod["spec"]["containers"][0]
        state = _Pod()
        self._pods[(ns, name)] = state
        pod["status"] = _pod_status("Running", container["name"], None)
        if not self.run_containers:
            pod["status"] = _pod_status("Succeeded", container["name"], 0)
            return
        argv = [*container.get("command", []), *container.get("args", [])]
        if argv and argv[0] in ("python", "python3"):  # the image's Python is this one
            argv[0] = sys.executable
        # A container sees only what its spec gives it (plus what runs Python here).
        base = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
        env = {**base, **self._container_env(ns, container)}

        def run() -> None:
            result = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
            with self._lock:
                state.log = result.stdout + result.stderr
                phase = "Succeeded" if result.returncode == 0 else "Failed"
                current = self.objects.get(("pods", ns, name))
                if current is not None:
                    current["status"] = _pod_status(phase, container["name"], result.returncode)

        state.process = threading.Thread(target=run, daemon=True)
        state.process.start()

    def _container_env(self, ns: str, container: dict[str, Any]) -> dict[str, str]:
        env: dict[str, str] = {}
        for var in container.get("env", []):
            ref = (var.get("valueFrom") or {}).get("secretKeyRef")
            if ref:
                secret = self.objects.get(("secrets", ns, ref["name"]), {})
                value = secret.get("data", {}).get(ref["key"])
                if value is not None:
                    env[var["name"]] = base64.b64decode(value).decode()
            elif "value" in var:
                env[var["name"]] = str(var["value"])
        return env

    def _proxy(
        self, handler: Any, ns: str, service: str, path: str, headers: dict[str, str]
    ) -> None:
        import urllib.error
        import urllib.request

        upstream = self.proxies.get((ns, service))
        if upstream is None:
            return _reply(handler, 404, _status(404, f'services "{service}" not found'))
        sent = {k: v for k, v in headers.items() if k not in ("authorization", "host")}
        request = urllib.request.Request(upstream.rstrip("/") + path, headers=sent)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, body = response.status, response.read()
                content_type = response.headers.get("Content-Type", "text/plain")
        except urllib.error.HTTPError as exc:
            status, body = exc.code, exc.read()
            content_type = exc.headers.get("Content-Type", "text/plain")
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def _log(self, handler: Any, ns: str, name: str) -> None:
        pod = self._pods.get((ns, name))
        if pod is None:
            return _not_found(handler, "pods", name)
        _reply_raw(handler, 200, pod.log.encode(), "text/plain")


def _pod_status(phase: str, container: str, exit_code: int | None) -> dict[str, Any]:
    if exit_code is None:
        state: dict[str, Any] = {"running": {"startedAt": _now()}}
    else:
        state = {
            "terminated": {
                "exitCode": exit_code,
                "reason": "Completed" if exit_code == 0 else "Error",
                "startedAt": _now(),
                "finishedAt": _now(),
            }
        }
    return {
        "phase": phase,
        "startTime": _now(),
        "conditions": [{"type": "Ready", "status": "True" if exit_code is None else "False"}],
        "containerStatuses": [
            {
                "name": container,
                "ready": exit_code is None,
                "restartCount": 0,
                "image": "standin",
                "imageID": "standin",
                "started": exit_code is None,
                "state": state,
            }
        ],
    }


def _failed_rollout(generation: int, replicas: int) -> dict[str, Any]:
    """The status of a Deployment whose new pods never become ready."""
    message = "ReplicaSet has timed out progressing."
    return {
        "observedGeneration": generation,
        "replicas": replicas,
        "updatedReplicas": 0,
        "unavailableReplicas": replicas,
        "conditions": [
            {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable"},
            {
                "type": "Progressing",
                "status": "False",
                "reason": "ProgressDeadlineExceeded",
                "message": message,
            },
        ],
    }


def _selects(selector: str, labels: dict[str, str]) -> bool:
    """Equality-based label selectors: ``k=v``, ``k==v``, ``k!=v``, ``k``, ``!k``."""
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = term.replace("==", "=").split("=", 1)
            if labels.get(key) != value:
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


def _decode(raw: bytes, content_type: str) -> Any:
    if not raw:
        return None
    if "yaml" in content_type:
        import yaml

        return yaml.safe_load(raw)
    return json.loads(raw)


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = value


def _status(code: int, message: str, reason: str | None = None) -> dict[str, Any]:
    reasons = {404: "NotFound", 409: "AlreadyExists", 405: "MethodNotAllowed"}
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "message": message,
        "reason": reason or reasons.get(code, "BadRequest"),
        "code": code,
    }


def _not_found(handler: Any, plural: str, name: str) -> None:
    _reply(handler, 404, _status(404, f'{plural} "{name}" not found'))


def _reply(handler: Any, code: int, body: Any) -> None:
    _reply_raw(handler, code, json.dumps(body).encode(), "application/json")


def _reply_raw(handler: Any, code: int, data: bytes, content_type: str) -> None:
    handler.send_response(code)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)
