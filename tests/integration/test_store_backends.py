"""The s3 store backend's other duties against a real S3 server: reading ``s3://`` commit
sources (with the hub's store client, or one from the environment), and the workload
environment and credentials an aws ``dhub_store`` connection maps to."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from digitalhub_airflow.errors import InvalidSourceError
from digitalhub_airflow.hub import DataHub

from ._helpers import table_key

if TYPE_CHECKING:
    from conftest import Backend

    from .conftest import Dhub

pytestmark = [
    pytest.mark.integration,
    pytest.mark.parametrize("backend", ["real"], indirect=True),
]
CSV = b"id,name\n1,alpha\n2,beta\n"


def _put_sources(backend: Backend) -> str:
    """Objects under ``incoming/`` of the backend's bucket; returns the bucket."""
    assert backend.services is not None
    bucket = backend.store_url.removeprefix("s3://").split("/", 1)[0]
    client = backend.services.client()
    for key in ("incoming/day1/a.csv", "incoming/day1/sub/b.csv", "incoming/day10/c.csv"):
        client.put_object(Bucket=bucket, Key=key, Body=CSV)
    return bucket


def test_s3_sources_are_read_with_the_stores_client(
    backend: Backend, hub: DataHub, tmp_path: Path
) -> None:
    bucket = _put_sources(backend)
    one = hub.commit("src/one", f"s3://{bucket}/incoming/day1/a.csv")
    assert [f["path"] for f in hub.files(one.key)] == ["a.csv"]
    folder = hub.commit("src/folder", f"s3://{bucket}/incoming/day1", kind="files")
    # a prefix is a folder: day10/ is not under day1/
    assert [f["path"] for f in hub.files(folder.key)] == ["a.csv", "sub/b.csv"]
    (got,) = hub.get(one.key, tmp_path / "out")
    assert got.read_bytes() == CSV
    with pytest.raises(InvalidSourceError, match="matches no object"):
        hub.commit("src/none", f"s3://{bucket}/incoming/nothing")


def test_s3_sources_from_the_cli_use_the_environment(
    backend: Backend, hub: DataHub, dhub: Dhub
) -> None:
    bucket = _put_sources(backend)
    proc = dhub.run("commit", "src/cli", f"s3://{bucket}/incoming/day1/a.csv", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["key"].startswith(table_key("src", "cli"))
    assert [f["path"] for f in hub.files(table_key("src", "cli"))] == ["a.csv"]


def test_an_aws_connection_maps_to_a_workload_environment(
    backend: Backend, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert backend.services is not None
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "airflow"))
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ACCESS_KEY_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_DHUB_CATALOG", raising=False)
    _, store = backend.connections()
    monkeypatch.setenv("AIRFLOW_CONN_DHUB_STORE", json.dumps(store))
    from digitalhub_airflow.hooks.digitalhub import DigitalHubHook

    env, secrets = DigitalHubHook().worker_environment()
    assert env["DHUB_STORE_URL"] == backend.store_url
    assert env["AWS_ENDPOINT_URL_S3"] == backend.services.s3_endpoint
    assert env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert secrets["AWS_ACCESS_KEY_ID"] == backend.services.s3_access_key
    assert secrets["AWS_SECRET_ACCESS_KEY"] == backend.services.s3_secret_key
    assert backend.services.s3_secret_key not in json.dumps(env)
