"""Where MLflow lives and how to talk to it without leaking credentials.

MLflow reads credentials from process-wide environment variables, which every library
and subprocess of the worker could then see. Instead, a :class:`TrackingConfig` holds
them and :func:`tracking_session` lends them to MLflow only for its duration, through a
request-header provider registered once per process. The fluent API (``start_run``,
``log_model``) reads the global tracking URI, so a session also sets and restores that,
holding a lock: one tracking session per process at a time. Operators run one task per
process, so the lock only serialises threads that share one process.
"""

from __future__ import annotations

import base64
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from digitalhub_airflow.errors import TrackingError

if TYPE_CHECKING:
    from mlflow import MlflowClient

_SESSION_LOCK = threading.RLock()
_active_headers: dict[str, str] = {}
_provider_registered = False

#: Seconds the reachability probe waits before calling a tracking server unreachable.
PROBE_TIMEOUT_S = 5.0
#: The environment a separate process (a pod, a model server) reads its tracking server
#: from: (field, variable), settings first, then secrets.
TRACKING_URI_ENV = "DHUB_MLFLOW_TRACKING_URI"
_ENV_SETTINGS = (("tracking_uri", TRACKING_URI_ENV), ("registry_uri", "DHUB_MLFLOW_REGISTRY_URI"))
_ENV_SECRETS = (
    ("token", "DHUB_MLFLOW_TOKEN"),
    ("username", "DHUB_MLFLOW_USERNAME"),
    ("password", "DHUB_MLFLOW_PASSWORD"),
)


@dataclass(frozen=True)
class TrackingConfig:
    """A tracking server (or the embedded SQLite store) and how to authenticate to it.

    ``artifact_root``: where experiments created here keep artifacts; ``None`` lets a
    tracking server decide (``--artifacts-destination``).
    """

    tracking_uri: str
    registry_uri: str | None = None
    artifact_root: str | None = None
    token: str | None = field(default=None, repr=False)
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        parts = urlsplit(self.tracking_uri)
        if parts.scheme in ("http", "https") and (parts.username or parts.password):
            raise TrackingError(
                "the tracking URI must not carry credentials; give them as token or "
                "login/password of the mlflow connection"
            )

    @property
    def is_remote(self) -> bool:
        return urlsplit(self.tracking_uri).scheme in ("http", "https")

    @property
    def safe_uri(self) -> str:
        """The tracking URI for messages and records (it never holds credentials)."""
        return self.tracking_uri

    def process_environment(self) -> tuple[dict[str, str], dict[str, str]]:
        """``(settings, secrets)`` naming this store to a separate process (a pod, a model
        server); nothing for the embedded SQLite store, which that process finds under its
        own ``DHUB_HOME``. Secrets go to a Kubernetes Secret or a child's environment only."""
        if self.tracking_uri.startswith("sqlite"):
            return {}, {}

        def named(pairs: tuple[tuple[str, str], ...]) -> dict[str, str]:
            return {env: getattr(self, f) for f, env in pairs if getattr(self, f)}

        return named(_ENV_SETTINGS), named(_ENV_SECRETS)

    def auth_headers(self) -> dict[str, str]:
        if self.username and self.password:
            raw = f"{self.username}:{self.password}".encode()
            return {"Authorization": "Basic " + base64.standard_b64encode(raw).decode()}
        if self.token:
            return {"Authorization": f"Bearer {self.token}"}
        return {}


def tracking_from_env(home: Path) -> TrackingConfig:
    """The tracking server of a pod or subprocess, as :meth:`TrackingConfig.process_environment`
    named it (credentials from a Kubernetes Secret reference there), else the embedded
    default under ``DHUB_HOME``."""
    values = {f: os.environ.get(env) or None for f, env in (*_ENV_SETTINGS, *_ENV_SECRETS)}
    uri = values.pop("tracking_uri")
    return TrackingConfig(uri, **values) if uri else embedded_tracking(home)


def embedded_tracking(home: Path) -> TrackingConfig:
    """The embedded default: MLflow on SQLite with local artifacts under ``DHUB_HOME``."""
    root = home / "mlflow"
    (root / "artifacts").mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{root / 'mlflow.db'}"
    return TrackingConfig(uri, uri, (root / "artifacts").as_uri())


def _register_header_provider() -> None:
    global _provider_registered
    if _provider_registered:
        return
    from mlflow.tracking.request_header.abstract_request_header_provider import (
        RequestHeaderProvider,
    )
    from mlflow.tracking.request_header.registry import _request_header_provider_registry

    class SessionCredentials(RequestHeaderProvider):
        """Adds the active tracking session's Authorization header to MLflow requests."""

        def in_context(self) -> bool:
            return bool(_active_headers)

        def request_headers(self) -> dict[str, str]:
            return dict(_active_headers)

    _request_header_provider_registry.register(SessionCredentials)  # type: ignore[no-untyped-call]
    _provider_registered = True


def check_reachable(config: TrackingConfig) -> None:
    """Fail fast (MLflow itself retries for minutes) when the server does not answer."""
    if not config.is_remote:
        return
    import requests

    try:
        requests.get(f"{config.tracking_uri.rstrip('/')}/health", timeout=PROBE_TIMEOUT_S)
    except requests.RequestException as exc:
        raise TrackingError(
            f"MLflow tracking server {config.safe_uri} is unreachable: {type(exc).__name__}"
        ) from exc


@contextmanager
def tracking_session(config: TrackingConfig) -> Iterator[MlflowClient]:
    """An ``MlflowClient`` on ``config``, with the fluent API pointed at it too.

    Credentials are sent only by requests made inside the ``with`` block; the global
    tracking and registry URIs are restored on exit.
    """
    from mlflow import MlflowClient
    from mlflow.tracking import _model_registry
    from mlflow.tracking._tracking_service.utils import _use_tracking_uri

    check_reachable(config)
    registry_uri = config.registry_uri or config.tracking_uri
    with _SESSION_LOCK:
        _register_header_provider()
        previous_headers = dict(_active_headers)
        previous_registry = _model_registry.utils._registry_uri
        _active_headers.clear()
        _active_headers.update(config.auth_headers())
        try:
            with _use_tracking_uri(config.tracking_uri):
                _model_registry.utils.set_registry_uri(registry_uri)
                yield MlflowClient(config.tracking_uri, registry_uri)
        finally:
            _restore_registry_uri(previous_registry)
            _active_headers.clear()
            _active_headers.update(previous_headers)


def _restore_registry_uri(previous: str | None) -> None:
    from mlflow.environment_variables import MLFLOW_REGISTRY_URI
    from mlflow.tracking import _model_registry

    _model_registry.utils.set_registry_uri(previous)  # type: ignore[arg-type]
    if previous is None:
        MLFLOW_REGISTRY_URI.unset()  # type: ignore[no-untyped-call]


def ensure_experiment(client: MlflowClient, config: TrackingConfig, name: str) -> str:
    """The id of experiment ``name``, created (with this config's artifact root) if new."""
    from mlflow.exceptions import MlflowException

    found = client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    location = f"{config.artifact_root.rstrip('/')}/{name}" if config.artifact_root else None
    try:
        return str(client.create_experiment(name, artifact_location=location))
    except MlflowException:  # created concurrently by a sibling task
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return str(found.experiment_id)


def describe(config: TrackingConfig) -> dict[str, Any]:
    """What may be recorded about a tracking config: never its credentials."""
    return {"tracking_uri": config.safe_uri, "authenticated": bool(config.auth_headers())}
