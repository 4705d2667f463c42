"""The gateway check of a model or data service exposed with ``auth: api-key`` or
``auth: token``.

Two credentials open a service, both as ``Authorization: Bearer <credential>`` (the key
also as ``X-API-Key: <key>``):

- the service's API key, which reaches the server only from a Kubernetes Secret
  (``DHUB_SERVING_API_KEY`` by ``secretKeyRef``), so the ingress controller never holds it;
- a project-scoped access token (:mod:`digitalhub_airflow.access.tokens`), accepted when
  the server knows the token secret and its project (``DHUB_SERVING_PROJECT``), and
  only for a user with READ on that project: a token for project A is a 403 on project
  B's service. Grants are looked up in the catalog and kept for ``GRANT_CACHE_SECONDS``.

Anything else is a 401 ``{"error": ...}``; the kubelet's health probes need nothing.
"""

from __future__ import annotations

import asyncio
import hmac
import os
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from digitalhub_airflow.serving.runtime.asgi import ASGIApp, Receive, Scope, Send, respond
from digitalhub_airflow.serving.runtime.protocol import error_body

if TYPE_CHECKING:
    from digitalhub_airflow.access.principal import Principal
    from digitalhub_airflow.catalog import Catalog

API_KEY_ENV = "DHUB_SERVING_API_KEY"
#: ``token``: project tokens only; ``api-key`` (the default when a key is set): both.
AUTH_ENV = "DHUB_SERVING_AUTH"
PROJECT_ENV = "DHUB_SERVING_PROJECT"
API_KEY_HEADER = "X-API-Key"
_HEADER = API_KEY_HEADER.lower().encode()
#: Probed by the kubelet, which carries no key.
OPEN_PATHS = frozenset({"/v2/health/live", "/v2/health/ready"})
GRANT_CACHE_SECONDS = 30.0


class ProjectTokens:
    """Access tokens of users who may READ ``project`` (the catalog opened lazily)."""

    def __init__(self, project: str, secret: bytes, catalog: Callable[[], Catalog]) -> None:
        self.project = project
        self._secret = secret
        self._catalog_factory = catalog
        self._catalog: Catalog | None = None
        self._allowed: dict[Principal, tuple[float, bool]] = {}

    def check(self, token: str) -> tuple[int, str] | None:
        """None when ``token`` opens the service, else (status, message)."""
        from digitalhub_airflow.access.permissions import Level, level_of
        from digitalhub_airflow.access.tokens import verify
        from digitalhub_airflow.errors import AuthenticationError

        try:
            principal = verify(token, self._secret)
        except AuthenticationError as exc:
            return 401, str(exc)
        now = time.monotonic()
        cached = self._allowed.get(principal)
        if cached is None or cached[0] < now:
            if self._catalog is None:
                self._catalog = self._catalog_factory()
            level = level_of(self._catalog, principal, self.project)
            cached = (now + GRANT_CACHE_SECONDS, level is not None and level >= Level.READ)
            self._allowed[principal] = cached
        if cached[1]:
            return None
        return 403, f"user {principal.name!r} may not read project {self.project!r}"


class ApiKeyGate:
    """ASGI middleware: ``app`` behind the API key (constant-time comparison) and/or
    project tokens."""

    def __init__(self, app: ASGIApp, key: str | None, tokens: ProjectTokens | None = None) -> None:
        self.app = app
        self._key = key.encode() if key else None
        self.tokens = tokens

    def _is_key(self, value: bytes) -> bool:
        return self._key is not None and hmac.compare_digest(value.strip(), self._key)

    def allowed(self, headers: list[tuple[bytes, bytes]]) -> bool:
        """Whether the headers carry the API key (tokens aside)."""
        return self._bearer_or_key(headers)[0]

    def _bearer_or_key(self, headers: list[tuple[bytes, bytes]]) -> tuple[bool, bytes | None]:
        bearer = None
        for raw_name, value in headers:
            name = raw_name.lower()
            if name == _HEADER and self._is_key(value):
                return True, None
            if name == b"authorization":
                scheme, _, token = value.strip().partition(b" ")
                if scheme.lower() == b"bearer":
                    if self._is_key(token):
                        return True, None
                    bearer = token.strip()
        return False, bearer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        by_key, bearer = self._bearer_or_key(scope.get("headers") or [])
        refusal: tuple[int, str] | None = (401, "missing or wrong API key (X-API-Key header)")
        if by_key:
            refusal = None
        elif bearer and self.tokens is not None:
            # a grant lookup may hit the catalog: off the event loop
            refusal = await asyncio.to_thread(self.tokens.check, bearer.decode("latin-1"))
        if refusal is None:
            await self.app(scope, receive, send)
            return
        status, message = refusal
        headers = [(b"www-authenticate", b'Bearer realm="dhub-serve"')] if status == 401 else []
        await respond(send, status, error_body(message), headers=headers)


def protect(
    app: ASGIApp,
    environ: Mapping[str, str] = os.environ,
    catalog: Callable[[], Catalog] | None = None,
) -> ASGIApp:
    """``app`` behind the gate when ``DHUB_SERVING_API_KEY`` is set or
    ``DHUB_SERVING_AUTH`` is ``token``, else as is. Tokens are accepted when the server
    knows its project and the token secret; grants are read from ``catalog`` (default:
    the catalog of the settings)."""
    key = environ.get(API_KEY_ENV, "")
    mode = environ.get(AUTH_ENV, "api-key")
    if not key and mode != "token":
        return app
    tokens = None
    project = environ.get(PROJECT_ENV, "")
    secret = _token_secret(environ)
    if project and secret:
        tokens = ProjectTokens(project, secret, catalog or _catalog)
    return ApiKeyGate(app, key if mode != "token" else None, tokens)


def _token_secret(environ: Mapping[str, str]) -> bytes | None:
    """``DHUB_TOKEN_SECRET``, else the file ``DHUB_TOKEN_SECRET_FILE`` names (a mounted
    Secret); never logged."""
    from pathlib import Path

    if environ.get("DHUB_TOKEN_SECRET"):
        return environ["DHUB_TOKEN_SECRET"].encode()
    path = environ.get("DHUB_TOKEN_SECRET_FILE")
    return Path(path).read_text().strip().encode() if path else None


def _catalog() -> Catalog:
    from digitalhub_airflow.hub import DataHub

    return DataHub.from_settings().catalog
