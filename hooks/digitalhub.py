"""``DigitalHubHook``: Airflow connections -> a core :class:`DataHub`.

``dhub_catalog`` is a postgres or sqlite connection (extra ``schema`` picks the
PostgreSQL schema, default ``dhub``); ``dhub_store`` is an aws connection whose extra
``store_url`` names ``s3://bucket/prefix`` (``endpoint_url`` in extras for MinIO/Ceph),
or any connection whose ``host`` is a folder path. A connection that is not configured
falls back to the environment / the embedded default under ``DHUB_HOME``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

from digitalhub_airflow.settings import load_settings

if TYPE_CHECKING:
    from digitalhub_airflow.hub import DataHub


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
    from sqlalchemy.engine import URL

    extra = conn.extra_dejson or {}
    if conn.conn_type == "sqlite":
        return f"sqlite:///{conn.host}", None
    if conn.conn_type in ("postgres", "postgresql"):
        options = {k: str(v) for k, v in extra.items() if k in LIBPQ_OPTIONS}
        url = URL.create(
            "postgresql+psycopg2",
            username=conn.login or None,
            password=conn.password or None,
            host=conn.host or None,
            port=conn.port or None,
            database=conn.schema or None,
            query=options,
        )
        return url.render_as_string(hide_password=False), extra.get("schema")
    raise ValueError(
        f"connection {conn.conn_id!r} is of type {conn.conn_type!r}; "
        "the catalog needs a postgres or sqlite connection"
    )


def aws_store_url(conn: Any) -> str:
    """The ``s3://bucket/prefix`` an aws connection names in its extra ``store_url``."""
    url = (conn.extra_dejson or {}).get("store_url", "")
    if not url.startswith("s3://"):
        raise ValueError(
            f"connection {conn.conn_id!r} is an aws connection without an "
            "extra 'store_url' naming the store (s3://bucket/prefix)"
        )
    return url


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

        settings = load_settings()
        catalog_url, schema = settings.catalog_url, settings.catalog_schema
        conn = self._connection(self.catalog_conn_id)
        if conn is not None:
            catalog_url, schema = catalog_url_from_connection(conn)
        store, client = self._store(settings)
        return DataHub(
            Catalog(catalog_url, schema), store, HashCache(settings.hash_cache_path), client
        )

    def worker_environment(self) -> tuple[dict[str, str], dict[str, str]]:
        """Where a separate process (a pod, a subprocess) finds this catalog and store.

        Returns ``(settings, secrets)``: ``settings`` may be written into a pod spec;
        ``secrets`` (the catalog password, S3 keys) must not be — a pod gets them from a
        Kubernetes Secret, a local subprocess in its own environment only.
        """
        from sqlalchemy.engine import make_url

        settings = load_settings()
        env = {"DHUB_CATALOG_URL": settings.catalog_url, "DHUB_STORE_URL": settings.store_url}
        secrets: dict[str, str] = {}
        if settings.catalog_schema:
            env["DHUB_CATALOG_SCHEMA"] = settings.catalog_schema
        if settings.s3_endpoint_url:
            env["AWS_ENDPOINT_URL_S3"] = settings.s3_endpoint_url
        conn = self._connection(self.catalog_conn_id)
        if conn is not None:
            env["DHUB_CATALOG_URL"], schema = catalog_url_from_connection(conn)
            if schema:
                env["DHUB_CATALOG_SCHEMA"] = schema
        url = make_url(env["DHUB_CATALOG_URL"])
        if url.password:
            secrets["PGPASSWORD"] = str(url.password)
            without = url._replace(password=None)  # URL.set() ignores None
            env["DHUB_CATALOG_URL"] = without.render_as_string(hide_password=False)
        conn = self._connection(self.store_conn_id)
        if conn is not None and conn.conn_type == "aws":
            from airflow.providers.amazon.aws.hooks.s3 import S3Hook

            aws = S3Hook(aws_conn_id=self.store_conn_id)
            env["DHUB_STORE_URL"] = aws_store_url(conn)
            endpoint = aws.conn_config.get_service_endpoint_url(service_name="s3")
            if endpoint:
                env["AWS_ENDPOINT_URL_S3"] = endpoint
            credentials = aws.get_credentials()
            secrets["AWS_ACCESS_KEY_ID"] = credentials.access_key
            secrets["AWS_SECRET_ACCESS_KEY"] = credentials.secret_key
            if credentials.token:
                secrets["AWS_SESSION_TOKEN"] = credentials.token
        elif conn is not None:
            env["DHUB_STORE_URL"] = conn.host or (conn.extra_dejson or {}).get("path") or ""
        return env, secrets

    def _store(self, settings: Any) -> tuple[Any, Any]:
        from digitalhub_airflow.store import open_store, s3_client

        conn = self._connection(self.store_conn_id)
        if conn is None:
            return open_store(settings.store_url, settings.s3_endpoint_url), None
        extra = conn.extra_dejson or {}
        if conn.conn_type == "aws":
            from airflow.providers.amazon.aws.hooks.s3 import S3Hook

            aws = S3Hook(aws_conn_id=self.store_conn_id)
            url = aws_store_url(conn)
            endpoint = aws.conn_config.get_service_endpoint_url(service_name="s3")
            client = s3_client(endpoint, session=aws.get_session())
            return open_store(url, client=client), client
        return open_store(conn.host or extra.get("path") or settings.store_url), None
