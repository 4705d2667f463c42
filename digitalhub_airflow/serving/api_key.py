"""API-key gate of a model server exposed at the gateway with ``auth: api-key``.

The key reaches the server only from a Kubernetes Secret (``DHUB_SERVING_API_KEY`` by
``secretKeyRef``), so the ingress controller never holds it. Every request but the
kubelet's health probes must carry it as ``X-API-Key: <key>`` or
``Authorization: Bearer <key>``; anything else is a 401 ``{"error": ...}``.
"""

from __future__ import annotations

import hmac
import json
import os
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

API_KEY_ENV = "DHUB_SERVING_API_KEY"
#: Probed by the kubelet, which carries no key.
OPEN_PATHS = frozenset({"/v2/health/live", "/v2/health/ready"})

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class ApiKeyGate:
    """ASGI middleware: ``app`` behind a constant-time comparison with ``key``."""

    def __init__(self, app: ASGIApp, key: str) -> None:
        self.app = app
        self._key = key.encode()

    def allowed(self, headers: list[tuple[bytes, bytes]]) -> bool:
        for raw_name, value in headers:
            name = raw_name.lower()
            if name == b"x-api-key" and hmac.compare_digest(value.strip(), self._key):
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
        body = json.dumps({"error": "missing or wrong API key (X-API-Key header)"}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"www-authenticate", b'Bearer realm="dhub-serve"'),
        ]
        await send({"type": "http.response.start", "status": 401, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def protect(app: ASGIApp, environ: Mapping[str, str] = os.environ) -> ASGIApp:
    """``app`` behind the API-key gate when ``DHUB_SERVING_API_KEY`` is set, else as is."""
    key = environ.get(API_KEY_ENV, "")
    return ApiKeyGate(app, key) if key else app
