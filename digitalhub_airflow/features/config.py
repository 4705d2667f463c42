"""Where Feast keeps things for a hub: its registry, offline and online stores.

Configured in code (a ``RepoConfig``), never from a ``feature_store.yaml`` in the repo:
- embedded (SQLite catalog): a file registry and a SQLite online store beside the
  store's blobs (``<store>/features/<project>/``);
- real (PostgreSQL catalog): Feast's SQL registry and its PostgreSQL online store, both
  in the catalog's database and schema (Feast's tables do not clash with ``dhub_*``); the
  online store is :mod:`digitalhub_airflow.features.pg_online` (Feast's own needs
  ``psycopg_pool``, not in the lock).
The offline store is Feast's file (Dask) store over the Parquet files of exact versions,
copied once per version into a local folder (:mod:`digitalhub_airflow.features.sources`):
Feast's Dask store reads S3 only through ``s3fs``, which the suite does not ship.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from digitalhub_airflow.settings import load_settings

if TYPE_CHECKING:
    from digitalhub_airflow.hub import DataHub


def feast_project(project: str) -> str:
    """Feast wants ``[A-Za-z0-9_]`` project names; catalog projects may hold ``-`` and ``.``."""
    return re.sub(r"[^A-Za-z0-9_]", "_", project)


def is_embedded(hub: DataHub) -> bool:
    return hub.catalog.engine.url.get_backend_name() == "sqlite"


def work_dir(hub: DataHub) -> Path:
    """A folder for Feast's files: beside the blobs of a local store, else in the home cache."""
    root = getattr(hub.store, "root", None)
    if isinstance(root, Path):
        return root / "features"
    return load_settings().home / "cache" / "features"


def catalog_schema(hub: DataHub) -> str:
    options = hub.catalog.engine.get_execution_options()
    return str((options.get("schema_translate_map") or {}).get(None) or "public")


def repo_config(hub: DataHub, project: str, pinned: bool = False) -> Any:
    """The ``RepoConfig`` of ``project`` on this hub's backend; ``pinned``: the registry
    is read once and never refreshed (a model server keeps what it was deployed with)."""
    from feast.repo_config import RepoConfig

    name = feast_project(project)
    folder = work_dir(hub) / name
    registry: dict[str, Any]
    online: dict[str, Any]
    if is_embedded(hub):
        folder.mkdir(parents=True, exist_ok=True)
        registry = {"registry_type": "file", "path": str(folder / "registry.db")}
        online = {"type": "sqlite", "path": str(folder / "online.db")}
    else:
        url = hub.catalog.engine.url
        schema = catalog_schema(hub)
        registry = {
            "registry_type": "sql",
            "path": url.render_as_string(hide_password=False),
            "sqlalchemy_config_kwargs": {
                "echo": False,
                "pool_pre_ping": True,
                "connect_args": {"options": f"-csearch_path={schema}"},
            },
        }
        online = {
            "type": "digitalhub_airflow.features.pg_online.PgOnlineStore",
            "conninfo": url.set(drivername="postgresql").render_as_string(hide_password=False),
            "db_schema": schema,
        }
    if pinned:
        registry["cache_ttl_seconds"] = 0
    return RepoConfig(
        project=name,
        provider="local",
        registry=registry,
        offline_store={"type": "file"},
        online_store=online,
        entity_key_serialization_version=3,
        repo_path=str(folder),
    )


def open_feature_store(hub: DataHub, project: str, pinned: bool = False) -> Any:
    """A ``feast.FeatureStore`` for ``project`` on this hub's backend."""
    from feast import FeatureStore

    return FeatureStore(config=repo_config(hub, project, pinned))
