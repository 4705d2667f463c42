"""The DigitalHub SDK: the platform from a notebook.

```python
import digitalhub_airflow.sdk as dh

wine = dh.commit("demo/wine", df, message="from sklearn")   # a DataItem, v1
dh.get("demo/wine").to_pandas()                               # latest; :v1, @prod …
dh.get("demo/wine").validate("dags/suites/wine.json")
dh.query("SELECT count(*) FROM ds('demo/wine')").to_pandas()
model = dh.train("wine-classifier", wine, target="target")
dh.promote(model, metric="accuracy")                          # vs @champion
dh.predict("demo/wine-svc", df.head())
```

Module-level functions use a default :class:`Client` opened on first use from the
settings (``DHUB_*`` variables, else the embedded default under ``DHUB_HOME``);
:func:`connect` points it elsewhere. Errors are the core's typed errors
(:mod:`digitalhub_airflow.errors`), the same the ``dhub`` CLI reports. Runs recorded
from here carry the notebook's identity (:mod:`digitalhub_airflow.sdk.notebook`).
See docs/sdk.md.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from digitalhub_airflow.errors import (
    CatalogError,
    DeploymentError,
    DhubError,
    InferenceError,
    InvalidKeyError,
    InvalidOptionError,
    InvalidSourceError,
    NotFoundError,
    QuarantinedError,
    QueryError,
    SuiteError,
    TrackingError,
    ValidationFailedError,
)
from digitalhub_airflow.sdk import models as _models
from digitalhub_airflow.sdk.client import Client
from digitalhub_airflow.sdk.items import (
    DataItem,
    Lineage,
    Profile,
    QueryResult,
    Validation,
    Versions,
)
from digitalhub_airflow.sdk.models import Gate, Model, Models, Service
from digitalhub_airflow.sdk.notebook import NotebookIdentity

__all__ = [
    "CatalogError",
    "Client",
    "DataItem",
    "DeploymentError",
    "DhubError",
    "Gate",
    "InferenceError",
    "InvalidKeyError",
    "InvalidOptionError",
    "InvalidSourceError",
    "Lineage",
    "Model",
    "Models",
    "NotFoundError",
    "NotebookIdentity",
    "Profile",
    "QuarantinedError",
    "QueryError",
    "QueryResult",
    "Service",
    "SuiteError",
    "TrackingError",
    "Validation",
    "ValidationFailedError",
    "Versions",
    "champion",
    "client",
    "commit",
    "connect",
    "deploy",
    "get",
    "identity",
    "lineage",
    "log",
    "models",
    "predict",
    "promote",
    "query",
    "run",
    "tag",
    "train",
    "undeploy",
]

_lock = threading.Lock()
_default: Client | None = None


def client() -> Client:
    """The default client: opened from the settings on first use, or by :func:`connect`."""
    global _default
    with _lock:
        if _default is None:
            _default = Client()
        return _default


def connect(
    catalog_url: str | None = None,
    store_url: str | None = None,
    *,
    tracking_uri: str | None = None,
    tracking_token: str | None = None,
    home: str | Path | None = None,
    catalog_schema: str | None = None,
    store_options: dict[str, Any] | None = None,
    token: str | None = None,
) -> Client:
    """Point the module-level functions at a catalog (SQLAlchemy or ``postgres://`` URL),
    a store (a folder or ``s3://bucket/prefix``; S3 credentials from the AWS variables or
    ``store_options``) and a tracking server; what is not given comes from the settings.
    ``home`` alone: the embedded default there. ``token`` (else ``DHUB_TOKEN``): act as
    that user, with their project grants (docs/access.md). Returns the new default client."""
    global _default
    fresh = Client.connect(
        catalog_url,
        store_url,
        tracking_uri=tracking_uri,
        tracking_token=tracking_token,
        home=home,
        catalog_schema=catalog_schema,
        store_options=store_options,
        token=token,
    )
    with _lock:
        previous, _default = _default, fresh
    if previous is not None:
        previous.close()
    return fresh


def identity() -> NotebookIdentity:
    """The notebook runs are attributed to: path, kernel, user, git commit."""
    return client().identity


def get(key: str) -> DataItem:
    """The version ``key`` names (``<project>/<name>[:vN|@alias]`` or ``store://…``)."""
    return client().get(key)


def log(key: str, limit: int | None = None) -> Versions:
    """Versions of a dataset, newest first."""
    return client().log(key, limit)


def commit(
    name: str,
    data: Any,
    *,
    message: str = "",
    kind: str | None = None,
    schema_policy: str = "any",
    aliases: Iterable[str] = (),
    inputs: Iterable[DataItem | str] | None = None,
) -> DataItem:
    """Commit a DataFrame, Arrow table, file, folder or URL as a new version of
    ``<project>/<name>``, produced by a notebook run (see :meth:`Client.commit`)."""
    return client().commit(
        name,
        data,
        message=message,
        kind=kind,
        schema_policy=schema_policy,
        aliases=aliases,
        inputs=inputs,
    )


def tag(key: str, alias: str) -> DataItem:
    """Point ``alias`` at the version ``key`` names."""
    return client().tag(key, alias)


def query(sql: str, *, target: str | None = None, message: str = "") -> QueryResult:
    """SQL over ``ds('<key>')`` datasets; with ``target`` the result is committed."""
    return client().query(sql, target=target, message=message)


def lineage(key: str, direction: str = "upstream", depth: int = 5) -> Lineage:
    """The lineage of a version or run."""
    return client().lineage(key, direction, depth)


def run(key: str) -> dict[str, Any]:
    """A run entity: identity, parameters, state, inputs and outputs."""
    return client().run(key)


def train(
    name: str,
    data: DataItem | str | Iterable[DataItem | str],
    target: str,
    *,
    entrypoint: str | Any = _models.DEFAULT_ENTRYPOINT,
    params: dict[str, Any] | None = None,
    task: str = "classification",
    features: list[str] | None = None,
    project: str | None = None,
    test_size: float = 0.25,
    seed: int = 0,
    experiment: str | None = None,
    force: bool = False,
    autolog: bool = True,
) -> Model:
    """Train a model on exact dataset versions in an MLflow run (reused when nothing
    changed). ``entrypoint``: ``module:function`` or a callable ``(data, params)``;
    the default fits the scikit-learn family ``params["estimator"]``."""
    return _models.train(
        client(),
        name,
        data,
        target,
        entrypoint=entrypoint,
        params=params,
        task=task,
        features=features,
        project=project,
        test_size=test_size,
        seed=seed,
        experiment=experiment,
        force=force,
        autolog=autolog,
    )


def models(name: str, *, project: str | None = None) -> Models:
    """Trained models of ``<project>/<name>`` (or a whole project), newest first."""
    return _models.models(client(), name, project=project)


def champion(name: str, *, project: str | None = None, alias: str = "champion") -> Model:
    """The model ``@champion`` points at."""
    return _models.champion(client(), name, project=project, alias=alias)


def promote(
    model: Model | str,
    *,
    metric: str,
    evaluation: DataItem | str | None = None,
    alias: str = "champion",
    greater_is_better: bool | None = None,
) -> Gate:
    """Compare with ``@champion`` on one version; move the alias only if strictly better."""
    return _models.promote(
        client(),
        model,
        metric=metric,
        evaluation=evaluation,
        alias=alias,
        greater_is_better=greater_is_better,
    )


def deploy(
    name: str,
    models: Mapping[str, str] | str,
    *,
    project: str | None = None,
    port: int | None = None,
    ready_timeout: float = 180.0,
    **spec: Any,
) -> Service:
    """Serve models as a managed local process (``dhub deploy --target local``)."""
    return _models.deploy(
        client(), name, models, project=project, port=port, ready_timeout=ready_timeout, **spec
    )


def undeploy(name: str, *, project: str | None = None) -> Service:
    """Stop a local service and record it stopped."""
    return _models.undeploy(client(), name, project=project)


def predict(
    service: str,
    rows: Any,
    *,
    model: str | None = None,
    project: str | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> list[Any]:
    """Predictions of a served model (a URL, ``<project>/<name>`` or a service key)."""
    return _models.predict(
        client(), service, rows, model=model, project=project, headers=headers, timeout=timeout
    )
