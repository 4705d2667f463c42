"""Shared fixtures: a DataHub on each backend.

``embedded`` is SQLite + a local folder (no service); ``real`` is PostgreSQL + the S3
server started by ``scripts/services`` (each test gets its own schema and bucket).
Without the services, real-backend tests skip locally and FAIL in CI (``CI=true``).
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from digitalhub_airflow.catalog.engine import Catalog
from digitalhub_airflow.datasets.hashcache import HashCache
from digitalhub_airflow.hub import DataHub
from digitalhub_airflow.store import LocalBlobStore, s3_client
from digitalhub_airflow.store.s3 import S3BlobStore

REPO = Path(__file__).resolve().parent.parent


def _private_home() -> None:
    """No test writes outside the checkout and its temp dirs: HOME (where ~/.dhub, tool
    caches and configs default) is a throw-away folder of this process (one per xdist
    worker), inherited by the processes the tests start."""
    home = tempfile.mkdtemp(prefix="dhub-test-home-")
    os.environ["HOME"] = home
    for name in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
        os.environ.pop(name, None)
    atexit.register(shutil.rmtree, home, True)


_private_home()
BACKENDS = ["embedded", pytest.param("real", marks=pytest.mark.integration)]


@dataclass(frozen=True)
class RealServices:
    pg_url: str
    s3_endpoint: str
    s3_access_key: str
    s3_secret_key: str

    def client(self):
        import boto3

        session = boto3.session.Session(
            aws_access_key_id=self.s3_access_key,
            aws_secret_access_key=self.s3_secret_key,
            region_name="us-east-1",
        )
        return s3_client(self.s3_endpoint, session=session)


def _missing(what: str) -> None:
    message = f"{what} is not running: start it with scripts/services (make test does)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI: {message}")
    pytest.skip(message)


@pytest.fixture(scope="session")
def real_services() -> RealServices:
    pg = os.environ.get("DHUB_TEST_PG_URL")
    s3 = os.environ.get("DHUB_TEST_S3_ENDPOINT")
    if not pg:
        _missing("PostgreSQL (DHUB_TEST_PG_URL)")
    if not s3:
        _missing("the S3 server (DHUB_TEST_S3_ENDPOINT)")
    return RealServices(
        pg, s3, os.environ["DHUB_TEST_S3_ACCESS_KEY"], os.environ["DHUB_TEST_S3_SECRET_KEY"]
    )


def unique_name(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:12]}"


@pytest.fixture
def pg_schema(real_services: RealServices) -> Iterator[str]:
    """A fresh PostgreSQL schema for one test, dropped afterwards."""
    from sqlalchemy import create_engine, text

    schema = unique_name("t_")
    yield schema
    engine = create_engine(real_services.pg_url)
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


@pytest.fixture
def s3_bucket(real_services: RealServices) -> Iterator[str]:
    """A fresh bucket for one test, emptied and removed afterwards."""
    client = real_services.client()
    bucket = unique_name("test-")
    client.create_bucket(Bucket=bucket)
    yield bucket
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            client.delete_object(Bucket=bucket, Key=obj["Key"])
    client.delete_bucket(Bucket=bucket)


@dataclass(frozen=True)
class Backend:
    """How to build hubs (and subprocess environments) on one backend."""

    name: str
    catalog_url: str
    catalog_schema: str | None
    store_url: str
    home: Path
    services: RealServices | None = None

    def hub(self) -> DataHub:
        catalog = Catalog(self.catalog_url, self.catalog_schema)
        if self.services is None:
            store = LocalBlobStore(self.store_url)
            client = None
        else:
            client = self.services.client()
            store = S3BlobStore(self.store_url, client)
        return DataHub(catalog, store, HashCache(self.home / "hashes.sqlite"), s3_client=client)

    def connections(self, store_url: str | None = None) -> tuple[dict, dict]:
        """Airflow connections (catalog, store) naming this backend, as JSON-able dicts."""
        store_url = store_url or self.store_url
        if self.services is None:
            catalog_path = self.catalog_url.removeprefix("sqlite:///")
            return {"conn_type": "sqlite", "host": catalog_path}, {
                "conn_type": "fs",
                "host": store_url,
            }
        from sqlalchemy.engine import make_url

        url = make_url(self.catalog_url)
        catalog = {
            "conn_type": "postgres",
            "host": url.host,
            "port": url.port,
            "login": url.username,
            "password": url.password,
            "schema": url.database,
            "extra": {"schema": self.catalog_schema},
        }
        store = {
            "conn_type": "aws",
            "login": self.services.s3_access_key,
            "password": self.services.s3_secret_key,
            "extra": {
                "endpoint_url": self.services.s3_endpoint,
                "store_url": store_url,
                "region_name": "us-east-1",
            },
        }
        return catalog, store

    def env(self) -> dict[str, str]:
        """Environment for a ``dhub`` subprocess or an Airflow task on this backend."""
        env = {
            **os.environ,
            "DHUB_HOME": str(self.home),
            "DHUB_CATALOG_URL": self.catalog_url,
            "DHUB_STORE_URL": self.store_url,
        }
        if self.catalog_schema:
            env["DHUB_CATALOG_SCHEMA"] = self.catalog_schema
        if self.services is not None:
            env.update(
                AWS_ENDPOINT_URL_S3=self.services.s3_endpoint,
                AWS_ACCESS_KEY_ID=self.services.s3_access_key,
                AWS_SECRET_ACCESS_KEY=self.services.s3_secret_key,
                AWS_DEFAULT_REGION="us-east-1",
            )
        return env


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    home = tmp_path / "dhub-home"
    home.mkdir()
    if request.param == "embedded":
        return Backend(
            "embedded", f"sqlite:///{home / 'catalog.sqlite'}", None, str(home / "store"), home
        )
    services = request.getfixturevalue("real_services")
    schema = request.getfixturevalue("pg_schema")
    bucket = request.getfixturevalue("s3_bucket")
    return Backend("real", services.pg_url, schema, f"s3://{bucket}/store", home, services)


@pytest.fixture
def hub(backend: Backend) -> Iterator[DataHub]:
    with backend.hub() as h:
        h.init()
        yield h


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    path = tmp_path / "data.csv"
    path.write_text("id,name,score\n1,alpha,0.5\n2,beta,1.5\n3,gamma,\n", encoding="utf-8")
    return path
