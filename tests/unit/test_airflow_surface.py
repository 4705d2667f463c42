"""What Airflow sees of the suite: provider info, Asset URIs, operator contracts, imports."""

from __future__ import annotations

import ast
import asyncio
import importlib
import importlib.resources
import importlib.util
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import jsonschema
import pytest

from digitalhub_airflow.errors import InvalidKeyError
from digitalhub_airflow.provider.asset_uri import sanitize_uri
from digitalhub_airflow.provider.info import get_provider_info
from tests.conftest import REPO

HEAVY = ("pandas", "pyarrow", "great_expectations", "mlflow", "sklearn")
#: The Airflow side: top-level folders mapped into ``digitalhub_airflow.*``, and the DAGs.
AIRFLOW_SIDE = ("operators", "hooks", "plugins", "provider", "decorators", "sensors", "triggers")
AIRFLOW_SIDE_FOLDERS = (*AIRFLOW_SIDE, "dags")


def test_provider_info_validates_against_airflows_schema() -> None:
    schema = json.loads(
        importlib.resources.files("airflow").joinpath("provider_info.schema.json").read_text()
    )
    info = get_provider_info()
    jsonschema.validate(info, schema)
    for section in ("hooks", "operators", "sensors", "triggers"):
        for entry in info[section]:
            for module in entry["python-modules"]:
                assert importlib.util.find_spec(module) is not None, module


def test_asset_uri_handler_accepts_dataset_keys_only() -> None:
    from urllib.parse import urlsplit

    uri = "store://demo/dataitem/table/wine"
    assert sanitize_uri(urlsplit(uri)).geturl() == uri
    for bad in (
        "store://demo/dataitem/table/Wine",
        "store://demo/dataitem/table/wine:v1",
        "store://demo/dataitem/table/wine@prod",
        "store://demo",
        "store://demo/dataitem/table/../x",
    ):
        with pytest.raises(ValueError):
            sanitize_uri(urlsplit(bad))
    assert issubclass(InvalidKeyError, ValueError)


def test_dataset_assets_are_airflow_assets_made_without_the_providers_asset_modules() -> None:
    """A DAG with dataset Assets parses without Airflow importing every provider's Asset
    handlers (boto3 among them); the Asset is the one Airflow rebuilds from its URI."""
    code = """
import sys
from airflow.sdk import Asset
from airflow.serialization.encoders import encode_asset_like
from digitalhub_airflow.provider.assets import dataset_asset
asset = dataset_asset("demo/wine")
loaded = sorted(m for m in sys.modules if ".assets." in m or m == "boto3")
try:
    dataset_asset("demo/Wine")
except ValueError:
    refused = True
else:
    refused = False
rebuilt = Asset(name=asset.name, uri=asset.uri, group=asset.group)
print(loaded, refused, asset == rebuilt, hash(asset) == hash(rebuilt),
      encode_asset_like(asset) == encode_asset_like(rebuilt), asset.uri)
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.split() == [
        "[]", "True", "True", "True", "True", "store://demo/dataitem/table/wine"
    ]  # fmt: skip


def test_operator_modules_and_dag_files_import_no_heavy_library() -> None:
    code = f"""
import runpy, sys
import digitalhub_airflow.operators, digitalhub_airflow.sensors.version
import digitalhub_airflow.triggers.version, digitalhub_airflow.plugins.plugin
import digitalhub_airflow.hooks.digitalhub
for dag_file in {sorted(str(p) for p in (REPO / "dags").glob("*.py"))!r}:
    runpy.run_path(dag_file)
print(",".join(m for m in {HEAVY!r} if m in sys.modules))
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.strip().splitlines()[-1:] in ([], [""]), result.stdout


def test_template_fields_are_attributes_set_by_init(tmp_path: Path) -> None:
    from digitalhub_airflow.operators import CommitDatasetOperator, TagDatasetOperator
    from digitalhub_airflow.sensors.version import NewVersionSensor

    operators = [
        CommitDatasetOperator(task_id="c", target="demo/wine", source="x.csv"),
        CommitDatasetOperator(task_id="t", target="{{ params.t }}", source="x.csv"),
        TagDatasetOperator(task_id="g", key="store://demo/dataitem/table/wine:v1", alias="prod"),
        NewVersionSensor(task_id="s", dataset="store://demo/dataitem/table/wine"),
    ]
    for op in operators:
        for field in op.template_fields:
            assert hasattr(op, field), f"{type(op).__name__}.{field}"
    uris = [a.uri for a in operators[0].outlets]
    assert uris == ["store://demo/dataitem/table/wine"]
    # A templated target is only known at run time: its event goes through an AssetAlias.
    assert [a.name for a in operators[1].outlets] == ["dhub-commit:t"]


def test_new_version_trigger_serialises_and_fires_on_the_next_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from digitalhub_airflow.hub import DataHub
    from digitalhub_airflow.triggers.version import NewVersionTrigger

    monkeypatch.setenv("DHUB_HOME", str(tmp_path))
    monkeypatch.delenv("DHUB_CATALOG_URL", raising=False)
    monkeypatch.delenv("DHUB_STORE_URL", raising=False)
    data = tmp_path / "a.csv"
    data.write_text("x\n1\n")
    with DataHub.from_settings() as hub:
        hub.commit("demo/events", data)
    trigger = NewVersionTrigger(
        "store://demo/dataitem/table/events", after_seq=1, poll_interval=0.2
    )
    classpath, kwargs = trigger.serialize()
    module, _, name = classpath.rpartition(".")
    rebuilt = getattr(importlib.import_module(module), name)(**kwargs)

    def commit_later() -> None:
        time.sleep(1.0)
        data.write_text("x\n1\n2\n")
        with DataHub.from_settings() as hub:
            hub.commit("demo/events", data)

    async def first_event() -> dict:
        async for event in rebuilt.run():
            return event.payload
        raise AssertionError("trigger ended without an event")

    thread = threading.Thread(target=commit_later)
    thread.start()
    payload = asyncio.run(asyncio.wait_for(first_event(), timeout=30))
    thread.join()
    assert payload["status"] == "success"
    assert payload["version"]["seq"] == 2
    assert payload["version"]["row_count"] == 2


def data_access_violations(source: str, path: str) -> list[str]:
    """Where a module of the Airflow side reaches the catalog database itself: imports
    SQLAlchemy (sessions, SQL), calls ``.session(…)`` or touches ``<…>.catalog.engine``."""
    found = []
    for node in ast.walk(ast.parse(source, path)):
        modules: list[str] = []
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
        for module in modules:
            if module.split(".")[0] == "sqlalchemy":
                found.append(f"{path}:{node.lineno} imports {module}")
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "session"
        ):
            found.append(f"{path}:{node.lineno} calls .session()")
        if (
            isinstance(node, ast.Attribute)
            and node.attr == "engine"
            and isinstance(node.value, ast.Attribute)
            and node.value.attr == "catalog"
        ):
            found.append(f"{path}:{node.lineno} uses the catalog's engine")
    return found


def test_the_airflow_side_opens_no_session_and_writes_no_sql() -> None:
    """One data-access layer: operators, hooks, the web layer and DAGs reach the catalog
    through core calls (``DataHub`` and the functions of the core packages), which open
    their sessions themselves. Checked on the source, not kept by habit."""
    files = [p for folder in AIRFLOW_SIDE_FOLDERS for p in sorted((REPO / folder).rglob("*.py"))]
    assert len(files) > 20, "the Airflow side was not found"
    found = [
        problem
        for path in files
        for problem in data_access_violations(
            path.read_text(encoding="utf-8"), path.relative_to(REPO).as_posix()
        )
    ]
    assert found == [], "move these into the core (digitalhub_airflow/):\n" + "\n".join(found)
    for mapped in AIRFLOW_SIDE:  # the folders scanned are the packages Airflow imports
        module = importlib.import_module(f"digitalhub_airflow.{mapped}")
        assert Path(module.__file__ or "").resolve().parent == REPO / mapped, mapped


def test_the_data_access_rule_catches_sessions_sql_and_engines() -> None:
    sample = """
from typing import TYPE_CHECKING
import sqlalchemy
from sqlalchemy import select
if TYPE_CHECKING:
    from sqlalchemy.orm import Session
def work(hub):
    with hub.catalog.session() as session:
        session.scalars(select(1))
    hub.catalog.engine.dispose()
"""
    found = [p.split(" ", 1)[1] for p in data_access_violations(sample, "operators/x.py")]
    assert sorted(found) == [
        "calls .session()",
        "imports sqlalchemy",
        "imports sqlalchemy",
        "imports sqlalchemy.orm",
        "uses the catalog's engine",
    ]
    in_a_hook = "from sqlalchemy.engine import URL\n"
    assert data_access_violations(in_a_hook, "hooks/digitalhub.py") == [
        "hooks/digitalhub.py:1 imports sqlalchemy.engine"
    ]
