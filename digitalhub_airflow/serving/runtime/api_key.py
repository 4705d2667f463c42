"""API-key gate of a model server exposed at the gateway with ``auth: api-key``.

The key reaches the server only from a Kubernetes Secret (``DHUB_SERVING_API_KEY`` by
``secretKeyRef``), so the ingress controller never holds it. Every request but the
kubelet's health probes must carry it as ``X-API-Key: <key>`` or
``Authorization: Bearer <key>``; anything else is a 401 ``{"error": ...}``.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Mapping

from digitalhub_airflow.serving.runtime.asgi import ASGIApp, Receive, Scope, Send, respond
from digitalhub_airflow.serving.runtime.protocol import error_body

API_KEY_ENV = "DHUB_SERVING_API_KEY"
API_KEY_HEADER = "X-API-Key"
_HEADER = API_KEY_HEADER.lower().encode()
#: Probed by the kubelet, which carries no key.
OPEN_PATHS = frozenset({"/v2/health/live", "/v2/health/ready"})


class ApiKeyGate:
    """ASGI middleware: ``app`` behind a constant-time comparison with ``key``."""

    def __init__(self, app: ASGIApp, key: str) -> None:
        self.app = app
        self._key = key.encode()

    def allowed(self, headers: list[tuple[bytes, bytes]]) -> bool:
        for raw_name, value in headers:
            name = raw_name.lower()
            if name == _HEADER and hmac.compare_digest(value.strip(), self._key):
                return True
            if name == b"authorization":
                scheme, _, token = value.strip().partition(b" ")
                if scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(), self._key):
                    return True
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] in OPEN_PATHS
            or self.allowed(scope.get("headers") or [])
        ):
            await self.app(scope, receive, send)
            return
        await respond(
            send,
            401,
            error_body("missing or wrong API key (X-API-Key header)"),
            headers=[(b"www-authenticate", b'Bearer realm="dhub-serve"')],
        )


def protect(app: ASGIApp, environ: Mapping[str, str] = os.environ) -> ASGIApp:
    """``app`` behind the API-key gate when ``DHUB_SERVING_API_KEY`` is set, else as is."""
    key = environ.get(API_KEY_ENV, "")
    return ApiKeyGate(app, key) if key else app
