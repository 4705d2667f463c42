"""Store backends chosen by URI scheme: the registry, its entry points, a third-party
backend in one module (``memory_store.py``) working through DataHub, and how each
built-in maps the environment, Airflow connections and workloads."""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

import pytest

from digitalhub_airflow.errors import DhubError, InvalidOptionError, InvalidSourceError
from digitalhub_airflow.hub import DataHub
from digitalhub_airflow.settings import load_settings
from digitalhub_airflow.store import (
    ENTRY_POINT_GROUP,
    ConnectionFields,
    LocalBlobStore,
    StoreBackendError,
    StoreConfig,
    StoreRegistry,
    UnknownStoreSchemeError,
    config_from_connection,
    open_store,
    registry,
    store_config,
    workload_environment,
    workload_problem,
)
from digitalhub_airflow.store.s3 import S3BlobStore
from tests.unit import memory_store
from tests.unit.dhub_testlib import DHUB

MEMORY = EntryPoint("memory", "tests.unit.memory_store:MemoryBlobStore", ENTRY_POINT_GROUP)
CSV = "id,name\n1,alpha\n2,beta\n"


def _ep(name: str, value: str) -> EntryPoint:
    return EntryPoint(name, value, ENTRY_POINT_GROUP)


@pytest.fixture
def with_memory_backend(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The installed entry points plus the memory backend's, as a third-party distribution
    would declare it, seen through a fresh process registry."""
    installed = list(entry_points(group=ENTRY_POINT_GROUP))

    def fake_entry_points(group: str) -> list[EntryPoint]:
        return [*installed, MEMORY] if group == ENTRY_POINT_GROUP else []

    monkeypatch.setattr(registry, "entry_points", fake_entry_points)
    monkeypatch.setattr(registry, "_default", StoreRegistry())
    memory_store._STORES.clear()
    yield
    memory_store._STORES.clear()


# -- the registry ------------------------------------------------------------------------
def test_the_built_ins_are_declared_as_entry_points() -> None:
    declared = {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}
    assert declared == registry.BUILTIN


@pytest.mark.parametrize(
    ("url", "backend"),
    [
        ("/tmp/store", LocalBlobStore),
        ("relative/store", LocalBlobStore),
        ("file:///tmp/store", LocalBlobStore),
        ("s3://bucket/prefix", S3BlobStore),
        ("S3://bucket/prefix", S3BlobStore),
    ],
)
def test_scheme_picks_the_backend(url: str, backend: type) -> None:
    assert registry.default_registry().for_url(url) is backend


def test_open_store_opens_the_backend_of_the_scheme(tmp_path: Path) -> None:
    local = open_store(f"file://{tmp_path / 'store'}")
    assert isinstance(local, LocalBlobStore) and local.root == tmp_path / "store"
    s3 = open_store("s3://bucket/prefix", "http://127.0.0.1:9")
    assert isinstance(s3, S3BlobStore) and s3.url == "s3://bucket/prefix"
    assert s3.client.meta.endpoint_url == "http://127.0.0.1:9"


def test_an_unknown_scheme_is_a_typed_error_naming_it_and_the_known_ones() -> None:
    with pytest.raises(UnknownStoreSchemeError) as info:
        open_store("gs://bucket/prefix")
    error = info.value
    assert isinstance(error, InvalidOptionError) and isinstance(error, DhubError)
    assert error.scheme == "gs" and error.known == ["file", "s3"]
    assert "'gs'" in str(error) and "registered: file, s3" in str(error)
    assert "gs://bucket/prefix" in str(error)


def test_an_unknown_scheme_in_the_settings_fails_the_hub_and_the_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DHUB_HOME", str(tmp_path))
    monkeypatch.setenv("DHUB_STORE_URL", "gs://bucket/store")
    with pytest.raises(UnknownStoreSchemeError, match="registered: file, s3"):
        DataHub.from_settings()

    import subprocess

    proc = subprocess.run(
        [str(DHUB), "log", "demo/wine"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == UnknownStoreSchemeError.exit_code, proc.stderr
    assert "'gs'" in proc.stderr and "file, s3" in proc.stderr


def test_an_unknown_source_scheme_is_an_invalid_source(ehub: DataHub) -> None:
    ehub.init()
    with pytest.raises(InvalidSourceError, match=r"'gs'.*registered: file, s3"):
        ehub.commit("demo/remote", "gs://bucket/data.csv")


def test_a_broken_entry_point_fails_only_its_own_scheme() -> None:
    reg = StoreRegistry(
        [_ep("broken", "no_such_module_xyz:Store"), _ep("notastore", "pathlib:Path"), MEMORY]
    )
    assert reg.schemes() == ["broken", "file", "memory", "notastore", "s3"]
    with pytest.raises(StoreBackendError, match=r"'broken'.*no_such_module_xyz"):
        reg.backend("broken")
    with pytest.raises(StoreBackendError, match="not a BlobStore subclass"):
        reg.backend("notastore")
    assert reg.backend("memory") is memory_store.MemoryBlobStore
    assert reg.for_url("/some/folder") is LocalBlobStore
    # Asking every backend for a connection type skips the broken ones.
    assert reg.for_connection_type("memory_store") is memory_store.MemoryBlobStore
    assert reg.for_connection_type("aws") is S3BlobStore
    assert reg.for_connection_type("sqlite") is None


def test_registration_in_code_and_the_built_in_fallback() -> None:
    reg = StoreRegistry([])  # no distribution metadata at all
    assert reg.schemes() == ["file", "s3"]
    reg.register("mem", memory_store.MemoryBlobStore)
    assert reg.for_url("mem://x") is memory_store.MemoryBlobStore
    with pytest.raises(StoreBackendError):
        reg.register("bad", dict)  # type: ignore[arg-type]
    with pytest.raises(InvalidOptionError):
        reg.register("not a scheme", memory_store.MemoryBlobStore)
    bare = StoreRegistry([], builtins=False)
    with pytest.raises(UnknownStoreSchemeError, match="registered: none"):
        bare.for_url("/tmp/x")


# -- a third-party backend: one module + one entry point -------------------------------------
def test_a_backend_from_an_entry_point_works_through_the_hub(
    with_memory_backend: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DHUB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DHUB_STORE_URL", "memory://team-a")
    monkeypatch.setenv("DHUB_STORE_OPTIONS", json.dumps({"label": "from-options"}))
    source = tmp_path / "data.csv"
    source.write_text(CSV, encoding="utf-8")

    with DataHub.from_settings() as hub:
        assert isinstance(hub.store, memory_store.MemoryBlobStore)
        assert hub.store.label == "from-options"
        hub.init()
        result = hub.commit("demo/events", source)
        assert result.created
        (got,) = hub.get(result.key, tmp_path / "out")
        assert got.read_text(encoding="utf-8") == CSV
        assert hub.verify(result.key).ok
        assert hub.read_table(result.key).num_rows == 2
    digest = hub.files(result.key)[0]["digest"]
    assert set(memory_store._STORES["team-a"]) == {digest}
    assert registry.default_registry().schemes() == ["file", "memory", "s3"]


def test_a_source_url_of_a_backend_without_its_own_reader_is_read_through_fsspec(
    with_memory_backend: None, ehub: DataHub, tmp_path: Path
) -> None:
    import fsspec

    fs = fsspec.filesystem("memory")
    fs.pipe({"/incoming/a/one.csv": CSV.encode(), "/incoming/a/sub/two.csv": CSV.encode()})
    try:
        ehub.init()
        single = ehub.commit("demo/single", "memory://incoming/a/one.csv")
        assert [f["path"] for f in ehub.files(single.key)] == ["one.csv"]
        folder = ehub.commit("demo/folder", "memory://incoming/a", kind="files")
        assert [f["path"] for f in ehub.files(folder.key)] == ["one.csv", "sub/two.csv"]
        with pytest.raises(InvalidSourceError, match="matches no object"):
            ehub.commit("demo/none", "memory://incoming/nothing")
    finally:
        fs.rm("/incoming", recursive=True)


def test_a_backend_maps_its_connection_and_its_workload(
    with_memory_backend: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = ConnectionFields("dhub_store", "memory_store", host="team-b", login="ops")
    config = config_from_connection(conn, "/unused")
    assert config == StoreConfig("memory://team-b", {"label": "ops"}, from_connection=True)
    assert workload_environment(config) == (
        {"DHUB_STORE_URL": "memory://team-b", "MEMORY_STORE_LABEL": "ops"},
        {},
    )
    assert (
        workload_problem("memory://team-b") == "the store memory://team-b is only on this machine"
    )
    monkeypatch.setenv("MEMORY_STORE_LABEL", "env")
    assert store_config("memory://x").options == {"label": "env"}
    assert store_config("memory://x", {"label": "given"}).options == {"label": "given"}


# -- the built-ins' settings, connections and workloads ---------------------------------------
def test_the_file_backend_maps_a_folder_connection_and_refuses_other_options(
    tmp_path: Path,
) -> None:
    fs_conn = ConnectionFields("dhub_store", "fs", host=str(tmp_path / "p"))
    config = config_from_connection(fs_conn, "/unused")
    assert config.url == str(tmp_path / "p")
    assert workload_environment(config) == ({"DHUB_STORE_URL": str(tmp_path / "p")}, {})
    assert workload_problem(config.url) == "the store is a local folder"
    by_path = ConnectionFields("dhub_store", "generic", extra={"path": str(tmp_path / "q")})
    assert config_from_connection(by_path, "/unused").url == str(tmp_path / "q")
    assert config_from_connection(ConnectionFields("c", "fs"), "/default").url == "/default"

    store = open_store(str(tmp_path / "s"), options={"fsync": False})
    assert isinstance(store, LocalBlobStore) and store.fsync is False
    with pytest.raises(InvalidOptionError, match="endpoint_url"):
        open_store(str(tmp_path / "s"), "http://127.0.0.1:9")
    with pytest.raises(InvalidOptionError, match="fsync must be true or false"):
        open_store(str(tmp_path / "s"), options={"fsync": "no"})


def test_store_options_come_from_dhub_store_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DHUB_STORE_OPTIONS", '{"fsync": false}')
    assert load_settings().store_options == {"fsync": False}
    monkeypatch.setenv("DHUB_STORE_OPTIONS", "{not json")
    with pytest.raises(InvalidOptionError, match="DHUB_STORE_OPTIONS is not valid JSON"):
        load_settings()
    monkeypatch.setenv("DHUB_STORE_OPTIONS", "[1]")
    with pytest.raises(InvalidOptionError, match="JSON object"):
        load_settings()


def test_the_s3_backend_reads_its_own_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://generic:1")
    assert store_config("s3://b/p").options == {"endpoint_url": "http://generic:1"}
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://s3-only:2")
    config = store_config("s3://b/p")
    assert config.options == {"endpoint_url": "http://s3-only:2"}
    assert store_config("/folder").options == {}  # the file backend reads no AWS variable
    # From the environment a workload gets the endpoint, never credentials.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "env-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
    assert workload_environment(config) == (
        {"DHUB_STORE_URL": "s3://b/p", "AWS_ENDPOINT_URL_S3": "http://s3-only:2"},
        {},
    )
    assert workload_problem("s3://b/p") is None
    store = open_store("s3://b/p")
    assert isinstance(store, S3BlobStore)
    assert store.client.meta.endpoint_url == "http://s3-only:2"


def test_the_s3_backend_maps_an_aws_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    conn = ConnectionFields(
        "dhub_store",
        "aws",
        login="AKIDEXAMPLE",
        password="s3cr3t",
        extra={
            "store_url": "s3://bucket/p",
            "endpoint_url": "http://minio:9000",
            "region_name": "eu-south-1",
            "aws_session_token": "tok",
        },
    )
    config = config_from_connection(conn, "/unused")
    assert config.url == "s3://bucket/p" and config.from_connection
    assert config.options == {
        "aws_access_key_id": "AKIDEXAMPLE",
        "aws_secret_access_key": "s3cr3t",
        "aws_session_token": "tok",
        "region_name": "eu-south-1",
        "endpoint_url": "http://minio:9000",
    }
    assert workload_environment(config) == (
        {
            "DHUB_STORE_URL": "s3://bucket/p",
            "AWS_ENDPOINT_URL_S3": "http://minio:9000",
            "AWS_DEFAULT_REGION": "eu-south-1",
        },
        {
            "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
            "AWS_SECRET_ACCESS_KEY": "s3cr3t",
            "AWS_SESSION_TOKEN": "tok",
        },
    )
    store = S3BlobStore.from_config(config)
    assert store.client.meta.endpoint_url == "http://minio:9000"
    assert store.client.meta.region_name == "eu-south-1"

    per_service = ConnectionFields(
        "c",
        "aws",
        extra={
            "store_url": "s3://b",
            "endpoint_url": "http://generic:1",
            "service_config": {"s3": {"endpoint_url": "http://s3:2"}},
        },
    )
    assert config_from_connection(per_service, "/unused").options == {"endpoint_url": "http://s3:2"}


def test_the_s3_backend_refuses_what_it_cannot_honour() -> None:
    no_url = ConnectionFields("dhub_store", "aws", login="k", password="s")
    with pytest.raises(InvalidOptionError, match="without an extra 'store_url'") as info:
        config_from_connection(no_url, "/unused")
    assert isinstance(info.value, ValueError)
    role = ConnectionFields(
        "dhub_store", "aws", extra={"store_url": "s3://b/p", "role_arn": "arn:aws:iam::1:role/x"}
    )
    with pytest.raises(InvalidOptionError, match="role_arn"):
        config_from_connection(role, "/unused")
    with pytest.raises(InvalidOptionError, match="no option fsync"):
        open_store("s3://b/p", options={"fsync": False})


def test_pods_ask_the_store_backend_what_another_machine_can_reach() -> None:
    from digitalhub_airflow.operators.pods import unreachable_settings

    shared = {"DHUB_CATALOG_URL": "postgresql://h/db", "DHUB_STORE_URL": "s3://b/p"}
    assert unreachable_settings(shared) == []
    folder = {**shared, "DHUB_STORE_URL": "/srv/store"}
    assert unreachable_settings(folder) == ["the store is a local folder"]
    with pytest.raises(UnknownStoreSchemeError):
        unreachable_settings({**shared, "DHUB_STORE_URL": "gs://b"})


def test_the_core_modules_name_no_s3() -> None:
    """Outside ``store/`` nothing builds S3 clients or reads AWS variables."""
    root = Path(__file__).resolve().parents[2]
    for relative in (
        "digitalhub_airflow/settings.py",
        "digitalhub_airflow/datasets/sources.py",
        "hooks/digitalhub.py",
        "operators/pods.py",
    ):
        text = (root / relative).read_text(encoding="utf-8")
        for needle in ("boto", "S3Hook", "AWS_ENDPOINT", "s3_client", 'startswith("s3://")'):
            assert needle not in text, f"{relative} mentions {needle}"
    assert "boto" not in (root / "digitalhub_airflow/hub.py").read_text(encoding="utf-8")


def test_an_aws_connection_that_assumes_a_role_reaches_the_store_with_the_roles_keys(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The hook lets the amazon provider assume the role (STS cannot run here, so its
    answer is stood in) and hands the backend plain temporary keys."""
    from types import SimpleNamespace

    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    from digitalhub_airflow.hooks.digitalhub import connection_fields

    asked: list[str] = []

    def credentials(self: AwsBaseHook) -> SimpleNamespace:
        asked.append(self.aws_conn_id)
        return SimpleNamespace(access_key="AKTEMP", secret_key="s3cr3t", token="tok")

    monkeypatch.setattr(AwsBaseHook, "get_credentials", credentials)
    conn = SimpleNamespace(
        conn_id="dhub_store", conn_type="aws", host=None, login=None, password=None,
        schema=None, port=None,
        extra_dejson={"store_url": "s3://b/p", "role_arn": "arn:aws:iam::1:role/x",
                      "region_name": "eu-west-1"},
    )  # fmt: skip
    config = config_from_connection(connection_fields(conn), "/unused")
    assert asked == ["dhub_store"]
    assert config.url == "s3://b/p"
    assert config.options["aws_access_key_id"] == "AKTEMP"
    assert config.options["aws_session_token"] == "tok"
    assert config.options["region_name"] == "eu-west-1"
