"""Where the catalog and the store live, from the environment.

With nothing configured, everything falls back to the embedded default: a SQLite
catalog and a folder store under ``DHUB_HOME`` (default ``~/.dhub``).
"""

from __future__ import annotations

import getpass
import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from digitalhub_airflow.errors import InvalidOptionError


def dhub_home() -> Path:
    return Path(os.environ.get("DHUB_HOME") or Path.home() / ".dhub").expanduser().resolve()


@dataclass(frozen=True)
class Settings:
    """Resolved configuration; build it with :func:`load_settings`."""

    catalog_url: str
    store_url: str
    home: Path
    catalog_schema: str | None = None
    #: Options for the store's backend (``DHUB_STORE_OPTIONS``); each backend also reads
    #: its own variables when the store is opened (:mod:`digitalhub_airflow.store`).
    store_options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def hash_cache_path(self) -> Path:
        return self.home / "cache" / "hashes.sqlite"


def store_options_from_env() -> dict[str, Any]:
    """``DHUB_STORE_OPTIONS``: a JSON object of options for the store's backend."""
    text = os.environ.get("DHUB_STORE_OPTIONS") or ""
    if not text.strip():
        return {}
    try:
        options = json.loads(text)
    except ValueError as exc:
        raise InvalidOptionError(f"DHUB_STORE_OPTIONS is not valid JSON: {exc}") from exc
    if not isinstance(options, dict):
        raise InvalidOptionError("DHUB_STORE_OPTIONS must be a JSON object of store options")
    return options


def load_settings() -> Settings:
    """Read ``DHUB_CATALOG_URL``, ``DHUB_STORE_URL``, ``DHUB_STORE_OPTIONS`` and
    ``DHUB_HOME``.

    The store URL's scheme picks its backend, which reads its own variables (credentials,
    endpoints) when the store is opened; see :mod:`digitalhub_airflow.store`.
    """
    home = dhub_home()
    catalog_url = os.environ.get("DHUB_CATALOG_URL") or f"sqlite:///{home / 'catalog.sqlite'}"
    store_url = os.environ.get("DHUB_STORE_URL") or str(home / "store")
    return Settings(
        catalog_url=catalog_url,
        store_url=store_url,
        home=home,
        catalog_schema=os.environ.get("DHUB_CATALOG_SCHEMA") or None,
        store_options=store_options_from_env(),
    )


#: Who acts for the code running in this context, when a service acts for a person.
_ACTING_USER: ContextVar[str | None] = ContextVar("dhub_acting_user", default=None)


@contextmanager
def acting_as(user: str) -> Iterator[None]:
    """Record ``user`` as who acts for everything called inside: a web request acting
    for a person, where the process's own user would otherwise be recorded."""
    token = _ACTING_USER.set(user)
    try:
        yield
    finally:
        _ACTING_USER.reset(token)


def current_user() -> str:
    """Who is acting, for the who/when records: the person a service acts for
    (:func:`acting_as`), else ``DHUB_USER``, else the OS user."""
    acting = _ACTING_USER.get()
    if acting:
        return acting
    user = os.environ.get("DHUB_USER")
    if user:
        return user
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def suite_image() -> str:
    """The image of pod workloads and model servers: ``DHUB_IMAGE``, else the image that
    ``image/Dockerfile`` builds for this version (docs/deploy.md)."""
    from digitalhub_airflow import __version__

    return os.environ.get("DHUB_IMAGE") or f"digitalhub-airflow:{__version__}"


def token_secret() -> bytes:
    """The key that signs access tokens: ``DHUB_TOKEN_SECRET``, else the file
    ``DHUB_TOKEN_SECRET_FILE`` names (a mounted Kubernetes Secret), else one made once
    under ``DHUB_HOME`` (readable by its owner only). Never logged."""
    value = os.environ.get("DHUB_TOKEN_SECRET")
    if value:
        return value.encode()
    path = Path(os.environ.get("DHUB_TOKEN_SECRET_FILE") or dhub_home() / "token.secret")
    if not path.exists() and not os.environ.get("DHUB_TOKEN_SECRET_FILE"):
        import secrets

        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # made meanwhile by another process
        else:
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_hex(32))
    try:
        secret = path.read_text().strip()
    except OSError as exc:
        raise InvalidOptionError(f"token secret file {path} cannot be read: {exc}") from exc
    if len(secret) < 16:
        raise InvalidOptionError(f"token secret in {path} is shorter than 16 characters")
    return secret.encode()
