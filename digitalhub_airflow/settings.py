"""Where the catalog and the store live, from the environment.

With nothing configured, everything falls back to the embedded default: a SQLite
catalog and a folder store under ``DHUB_HOME`` (default ``~/.dhub``).
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass
from pathlib import Path


def dhub_home() -> Path:
    return Path(os.environ.get("DHUB_HOME") or Path.home() / ".dhub").expanduser().resolve()


@dataclass(frozen=True)
class Settings:
    """Resolved configuration; build it with :func:`load_settings`."""

    catalog_url: str
    store_url: str
    home: Path
    s3_endpoint_url: str | None = None
    catalog_schema: str | None = None

    @property
    def hash_cache_path(self) -> Path:
        return self.home / "cache" / "hashes.sqlite"


def load_settings() -> Settings:
    """Read ``DHUB_CATALOG_URL``, ``DHUB_STORE_URL`` and ``DHUB_HOME``.

    S3 credentials come from the standard AWS variables; the endpoint from
    ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL`` (boto3's own names).
    """
    home = dhub_home()
    catalog_url = os.environ.get("DHUB_CATALOG_URL") or f"sqlite:///{home / 'catalog.sqlite'}"
    store_url = os.environ.get("DHUB_STORE_URL") or str(home / "store")
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    return Settings(
        catalog_url=catalog_url,
        store_url=store_url,
        home=home,
        s3_endpoint_url=endpoint or None,
        catalog_schema=os.environ.get("DHUB_CATALOG_SCHEMA") or None,
    )


def current_user() -> str:
    """Who is acting, for the who/when records (``DHUB_USER`` overrides the OS user)."""
    user = os.environ.get("DHUB_USER")
    if user:
        return user
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
