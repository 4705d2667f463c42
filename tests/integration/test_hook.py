"""``DigitalHubHook``: Airflow connections (given as ``AIRFLOW_CONN_*`` variables) -> a
working DataHub, the fallbacks when none is configured, and where the catalog's tables
live on PostgreSQL."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from digitalhub_airflow.catalog.engine import Catalog
from digitalhub_airflow.catalog.models import Base
from digitalhub_airflow.hub import DataHub
from digitalhub_airflow.store import LocalBlobStore

from ._helpers import b3_file, table_key

if TYPE_CHECKING:
    from conftest import Backend, RealServices

    from digitalhub_airflow.hooks.digitalhub import DigitalHubHook

#: Everything that could point a hub somewhere other than what a test configures.
_CONFIG_VARS = (
    "AIRFLOW_CONN_DHUB_CATALOG",
    "AIRFLOW_CONN_DHUB_STORE",
    "DHUB_HOME",
    "DHUB_CATALOG_URL",
    "DHUB_STORE_URL",
    "DHUB_CATALOG_SCHEMA",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_PROFILE",
)
CATALOG_TABLES = {*Base.metadata.tables, "dhub_alembic_version"}


@pytest.fixture(scope="module")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Airflow reads AIRFLOW_HOME when first imported: point it at a private folder."""
    home = tmp_path_factory.mktemp("airflow-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW_HOME", str(home))
        yield home


@pytest.fixture
def clean_env(airflow_home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No connection and no DHUB/AWS configuration; DHUB_HOME is an empty decoy folder."""
    for name in _CONFIG_VARS:
        monkeypatch.delenv(name, raising=False)
    decoy = tmp_path / "decoy-home"
    decoy.mkdir()
    monkeypatch.setenv("DHUB_HOME", str(decoy))
    return decoy


def _hook() -> DigitalHubHook:
    from digitalhub_airflow.hooks.digitalhub import DigitalHubHook

    return DigitalHubHook()


def _connections(backend: Backend) -> tuple[dict[str, Any], dict[str, Any], str]:
    """Airflow connections for the backend, and the store root they name."""
    if backend.services is None:
        store_root = str(backend.home / "p")
        catalog = {"conn_type": "sqlite", "host": str(backend.home / "hook-catalog.sqlite")}
        return catalog, {"conn_type": "fs", "host": store_root}, store_root
    bucket = backend.store_url.removeprefix("s3://").split("/", 1)[0]
    store_url = f"s3://{bucket}/p"
    catalog, store = backend.connections(store_url)
    return catalog, store, store_url


def _blob_exists(backend: Backend, store_root: str, digest: str) -> bool:
    relative = f"blobs/{digest[:2]}/{digest}"
    if backend.services is None:
        return (Path(store_root) / relative).is_file()
    bucket, _, prefix = store_root.removeprefix("s3://").partition("/")
    client = backend.services.client()
    listed = client.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/{relative}")
    return [o["Key"] for o in listed.get("Contents", [])] == [f"{prefix}/{relative}"]


def test_hook_builds_a_hub_from_connections(
    backend: Backend,
    clean_env: Path,
    csv_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    catalog_conn, store_conn, store_root = _connections(backend)
    monkeypatch.setenv("AIRFLOW_CONN_DHUB_CATALOG", json.dumps(catalog_conn))
    monkeypatch.setenv("AIRFLOW_CONN_DHUB_STORE", json.dumps(store_conn))

    with _hook().get_hub() as hub:
        hub.init()
        result = hub.commit("hooked/events", csv_file, message="through the hook")
        assert result.created and result.version.seq == 1
        (got,) = hub.get(result.key, tmp_path / "out")
        assert got.read_bytes() == csv_file.read_bytes()

    digest = b3_file(csv_file)
    assert _blob_exists(backend, store_root, digest), f"blob {digest} is not in {store_root}"
    assert not (clean_env / "catalog.sqlite").exists(), "the connection must win over DHUB_HOME"
    assert not (clean_env / "store").exists()

    # The version is in the catalog the connection names, read back independently.
    if backend.services is None:
        catalog = Catalog(f"sqlite:///{catalog_conn['host']}")
    else:
        catalog = Catalog(backend.catalog_url, backend.catalog_schema)
    with DataHub(catalog, LocalBlobStore(tmp_path / "unused")) as reader:
        info = reader.resolve(table_key("hooked", "events"))
        assert info.version_id == result.version.version_id
        assert info.message == "through the hook"
        assert [f["digest"] for f in reader.files(info.key)] == [digest]

    if backend.services is not None:
        engine = create_engine(backend.catalog_url)
        try:
            with engine.connect() as conn:
                rows = conn.execute(
                    text(f'SELECT version_id FROM "{backend.catalog_schema}".dhub_versions')
                ).all()
            assert [r[0] for r in rows] == [result.version.version_id]
            assert not [
                t for t in inspect(engine).get_table_names("public") if t.startswith("dhub")
            ]
        finally:
            engine.dispose()


def test_hook_falls_back_to_dhub_home(
    clean_env: Path, csv_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = clean_env.parent / "dhub-home"
    monkeypatch.setenv("DHUB_HOME", str(home))
    with _hook().get_hub() as hub:
        assert make_url(hub.catalog.url).database == str(home / "catalog.sqlite")
        assert isinstance(hub.store, LocalBlobStore)
        assert hub.store.root == home / "store"
        hub.init()
        result = hub.commit("fallback/events", csv_file)
    digest = b3_file(csv_file)
    assert (home / "catalog.sqlite").is_file()
    assert (home / "store" / "blobs" / digest[:2] / digest).is_file()
    assert result.version.seq == 1


def test_hook_falls_back_to_the_environment(
    backend: Backend, hub: DataHub, clean_env: Path, csv_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without connections the hook uses DHUB_* / AWS_* exactly like the `dhub` CLI."""
    for name in _CONFIG_VARS:
        if name in backend.env() and not name.startswith("AIRFLOW_CONN"):
            monkeypatch.setenv(name, backend.env()[name])
    with _hook().get_hub() as hooked:
        result = hooked.commit("fallback/env", csv_file)
    info = hub.resolve(table_key("fallback", "env"))
    assert info.version_id == result.version.version_id
    assert hub.verify(info.key).ok


@pytest.mark.integration
@pytest.mark.parametrize("backend", ["real"], indirect=True)
def test_catalog_tables_live_in_their_own_schema(
    backend: Backend, real_services: RealServices
) -> None:
    engine = create_engine(real_services.pg_url)

    def all_tables() -> set[tuple[str, str]]:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT table_schema, table_name FROM information_schema.tables "
                    "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
                )
            ).all()
        return {(r[0], r[1]) for r in rows}

    schema = f"own_{uuid.uuid4().hex[:10]}"
    try:
        before = all_tables()
        with DataHub(Catalog(real_services.pg_url, schema), LocalBlobStore(backend.home)) as hub:
            hub.init()
            hub.init()  # idempotent
        created = all_tables() - before
        assert created == {(schema, t) for t in CATALOG_TABLES}
        assert not {t for s, t in all_tables() if s == "public" and t.startswith("dhub")}
    finally:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


@pytest.mark.integration
@pytest.mark.parametrize("backend", ["real"], indirect=True)
def test_hook_catalog_defaults_to_the_dhub_schema(
    backend: Backend, clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog_conn, _, _ = _connections(backend)
    del catalog_conn["extra"]
    monkeypatch.setenv("AIRFLOW_CONN_DHUB_CATALOG", json.dumps(catalog_conn))
    engine = create_engine(backend.catalog_url)
    if "dhub" in inspect(engine).get_schema_names():
        engine.dispose()
        pytest.skip("schema 'dhub' already exists in the test database; not touching it")
    try:
        public_before = set(inspect(engine).get_table_names("public"))
        with _hook().get_hub() as hub:
            hub.init()
        inspector = inspect(engine)
        assert set(inspector.get_table_names("dhub")) >= CATALOG_TABLES
        assert set(inspector.get_table_names("public")) == public_before
    finally:
        with engine.begin() as conn:
            conn.execute(text('DROP SCHEMA IF EXISTS "dhub" CASCADE'))
        engine.dispose()
