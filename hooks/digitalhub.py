"""``DigitalHubHook``: Airflow connections -> a core :class:`DataHub`.

``dhub_catalog`` is a postgres or sqlite connection (extra ``schema`` picks the
PostgreSQL schema, default ``dhub``). ``dhub_store`` is mapped by the store backends
(:mod:`digitalhub_airflow.store`): the backend that claims the connection's type maps its
fields (an aws connection: extra ``store_url`` = ``s3://bucket/prefix``, ``endpoint_url``
for MinIO/Ceph), else its ``host`` (or extra ``path``) is a store URL or folder path.
A connection that is not configured falls back to the environment / the embedded
default under ``DHUB_HOME``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

if TYPE_CHECKING:  # the settings are read when a task runs, not when its DAG is parsed
    from digitalhub_airflow.hub import DataHub
    from digitalhub_airflow.settings import Settings
    from digitalhub_airflow.store import ConnectionFields, StoreConfig


#: Connection extras passed on to libpq (TLS and friends).
LIBPQ_OPTIONS = (
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "connect_timeout",
    "application_name",
)


def catalog_url_from_connection(conn: Any) -> tuple[str, str | None]:
    """SQLAlchemy URL and PostgreSQL schema from a postgres or sqlite connection."""
    from digitalhub_airflow.catalog.engine import postgres_url

    extra = conn.extra_dejson or {}
    if conn.conn_type == "sqlite":
        return f"sqlite:///{conn.host}", None
    if conn.conn_type in ("postgres", "postgresql"):
        options = {k: str(v) for k, v in extra.items() if k in LIBPQ_OPTIONS}
        url = postgres_url(
            username=conn.login or None,
            password=conn.password or None,
            host=conn.host or None,
            port=conn.port or None,
            database=conn.schema or None,
            query=options,
        )
        return url, extra.get("schema")
    raise ValueError(
        f"connection {conn.conn_id!r} is of type {conn.conn_type!r}; "
        "the catalog needs a postgres or sqlite connection"
    )


def connection_fields(conn: Any) -> ConnectionFields:
    """An Airflow connection as the plain values a store backend maps."""
    from digitalhub_airflow.store import ConnectionFields

    login, password, extra = conn.login or None, conn.password or None, conn.extra_dejson or {}
    if conn.conn_type == "aws" and any(extra.get(name) for name in ASSUMED_ROLE_EXTRAS):
        login, password, extra = _assumed_role(conn.conn_id, extra)
    return ConnectionFields(
        conn_id=conn.conn_id,
        conn_type=conn.conn_type or "",
        host=conn.host or None,
        login=login,
        password=password,
        schema=conn.schema or None,
        port=conn.port or None,
        extra=extra,
    )


#: An aws connection's extras that make the amazon provider assume a role.
ASSUMED_ROLE_EXTRAS = ("role_arn", "assume_role_method", "assume_role_kwargs")


def _assumed_role(conn_id: str, extra: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """Temporary keys of the role an aws connection names, assumed by the amazon provider
    as its own hooks do; the store backend gets plain keys and a session token."""
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    credentials = AwsBaseHook(aws_conn_id=conn_id, client_type="sts").get_credentials()
    plain = {k: v for k, v in extra.items() if k not in ASSUMED_ROLE_EXTRAS}
    plain["aws_session_token"] = credentials.token
    return credentials.access_key, credentials.secret_key, plain


class DigitalHubHook(BaseHook):
    """Builds the catalog + store pair an operator works on."""

    conn_name_attr = "catalog_conn_id"
    default_conn_name = "dhub_catalog"
    hook_name = "DigitalHub"

    def __init__(
        self, catalog_conn_id: str = "dhub_catalog", store_conn_id: str = "dhub_store"
    ) -> None:
        super().__init__()
        self.catalog_conn_id = catalog_conn_id
        self.store_conn_id = store_conn_id

    def _connection(self, conn_id: str) -> Any | None:
        from airflow.sdk.exceptions import AirflowNotFoundException

        try:
            return self.get_connection(conn_id)
        except AirflowNotFoundException as exc:
            self.log.info("connection %s not configured (%s); using the default", conn_id, exc)
            return None

    def get_hub(self) -> DataHub:
        from digitalhub_airflow.catalog.engine import Catalog
        from digitalhub_airflow.datasets.hashcache import HashCache
        from digitalhub_airflow.hub import DataHub
        from digitalhub_airflow.settings import load_settings
        from digitalhub_airflow.store import open_config

        settings = load_settings()
        catalog_url, schema = settings.catalog_url, settings.catalog_schema
        conn = self._connection(self.catalog_conn_id)
        if conn is not None:
            catalog_url, schema = catalog_url_from_connection(conn)
        store = open_config(self.store_config(settings))
        return DataHub(Catalog(catalog_url, schema), store, HashCache(settings.hash_cache_path))

    def store_config(self, settings: Settings | None = None) -> StoreConfig:
        """The store the ``dhub_store`` connection names (mapped by its backend), or the
        environment's when the connection is not configured."""
        from digitalhub_airflow.settings import load_settings
        from digitalhub_airflow.store import config_from_connection, store_config

        settings = settings or load_settings()
        conn = self._connection(self.store_conn_id)
        if conn is None:
            return store_config(settings.store_url, settings.store_options)
        return config_from_connection(connection_fields(conn), settings.store_url)

    def worker_environment(self) -> tuple[dict[str, str], dict[str, str]]:
        """Where a separate process (a pod, a subprocess) finds this catalog and store.

        Returns ``(settings, secrets)``: ``settings`` may be written into a pod spec;
        ``secrets`` (the catalog password, store credentials) must not be — a pod gets
        them from a Kubernetes Secret, a local subprocess in its own environment only.
        """
        from digitalhub_airflow.catalog.engine import split_password
        from digitalhub_airflow.settings import load_settings
        from digitalhub_airflow.store import workload_environment

        settings = load_settings()
        env = {"DHUB_CATALOG_URL": settings.catalog_url}
        secrets: dict[str, str] = {}
        if settings.catalog_schema:
            env["DHUB_CATALOG_SCHEMA"] = settings.catalog_schema
        conn = self._connection(self.catalog_conn_id)
        if conn is not None:
            env["DHUB_CATALOG_URL"], schema = catalog_url_from_connection(conn)
            if schema:
                env["DHUB_CATALOG_SCHEMA"] = schema
        env["DHUB_CATALOG_URL"], password = split_password(env["DHUB_CATALOG_URL"])
        if password:
            secrets["PGPASSWORD"] = password
        store_env, store_secrets = workload_environment(self.store_config(settings))
        return {**env, **store_env}, {**secrets, **store_secrets}
