"""``MlflowHook``: an ``mlflow`` Airflow connection -> a core :class:`TrackingConfig`.

Connection type ``mlflow``: ``host`` is the tracking URI (``http(s)://host:port``);
``password`` alone is a bearer token, ``login`` + ``password`` basic auth; extra
``registry_uri`` names a separate Model Registry. Without the connection, MLflow runs
embedded: SQLite and local artifacts under ``DHUB_HOME/mlflow``. Credentials stay in
the config object and are lent to MLflow only inside :meth:`MlflowHook.session`; they
are never written to environment variables.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from digitalhub_airflow.training.tracking import TrackingConfig


def tracking_from_connection(conn: Any) -> TrackingConfig:
    """The tracking config an ``mlflow`` connection describes."""
    from digitalhub_airflow.training.tracking import TrackingConfig

    extra = conn.extra_dejson or {}
    host = (conn.host or "").rstrip("/")
    if not host:
        raise ValueError(f"connection {conn.conn_id!r} has no host (the tracking URI)")
    if "://" not in host:
        scheme = "https" if extra.get("https") else "http"
        host = f"{scheme}://{host}" + (f":{conn.port}" if conn.port else "")
    login, password = conn.login or None, conn.password or None
    return TrackingConfig(
        tracking_uri=host,
        registry_uri=extra.get("registry_uri") or None,
        token=password if not login else None,
        username=login if password else None,
        password=password if login else None,
    )


class MlflowHook(BaseHook):
    """Gives an ``MlflowClient`` (and the fluent API) on the configured tracking server."""

    conn_name_attr = "mlflow_conn_id"
    default_conn_name = "mlflow_default"
    conn_type = "mlflow"
    hook_name = "MLflow"

    def __init__(self, mlflow_conn_id: str = default_conn_name) -> None:
        super().__init__()
        self.mlflow_conn_id = mlflow_conn_id

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return {
            "hidden_fields": ["schema"],
            "relabeling": {
                "host": "Tracking URI",
                "login": "Username",
                "password": "Token or password",
            },
            "placeholders": {
                "host": "https://mlflow.example.org",
                "extra": '{"registry_uri": "https://registry.example.org"}',
            },
        }

    def tracking(self) -> TrackingConfig:
        from airflow.sdk.exceptions import AirflowNotFoundException

        from digitalhub_airflow.settings import dhub_home
        from digitalhub_airflow.training.tracking import embedded_tracking

        try:
            conn = self.get_connection(self.mlflow_conn_id)
        except AirflowNotFoundException:
            self.log.info("connection %s not configured; MLflow runs embedded", self.mlflow_conn_id)
            return embedded_tracking(dhub_home())
        return tracking_from_connection(conn)

    @contextmanager
    def session(self) -> Iterator[MlflowClient]:
        """An ``MlflowClient``; requests made inside the block carry the credentials."""
        from digitalhub_airflow.training.tracking import tracking_session

        with tracking_session(self.tracking()) as client:
            yield client

    def get_conn(self) -> TrackingConfig:
        return self.tracking()
