"""The base operator's recording hook: ``execute`` is the base's, subclasses implement
``perform``, and the run (success or failure), its edges and the OpenLineage locations are
recorded through core calls that open their own sessions."""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest
from airflow.sdk import BaseOperator

from digitalhub_airflow.datasets.locations import version_locations
from digitalhub_airflow.hub import DataHub
from digitalhub_airflow.lineage.producing import ProducingRun, finish_producing_run
from digitalhub_airflow.lineage.runs import FAILED, SUCCESS, RunOutcome, RunSpec, get_run
from digitalhub_airflow.operators.base import DigitalHubOperator
from tests.unit.dhub_testlib import store_root

RAW = "store://demo/dataitem/table/raw"
OUT = "store://demo/dataitem/table/out"


class CopyOperator(DigitalHubOperator):
    """Reads ``source``, commits its rows to ``target``; ``fail`` raises after the read."""

    template_fields: Sequence[str] = ("source", "target")

    def __init__(self, *, source: str, target: str, fail: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.source = source
        self.target = target
        self.fail = fail

    def declared_io(self) -> tuple[list[str], list[str]]:
        return [self.source], [self.target]

    def perform(self, context: Any) -> dict[str, Any]:
        with self.task_hub() as hub:
            raw = hub.resolve(self.source)
            self.task_io.read(raw)
            if self.fail:
                raise RuntimeError("the work failed")
            out = hub.commit(self.target, hub.read_table(raw.key)).version
        self.task_io.wrote(out)
        return out.to_json()


class Echo(BaseOperator):
    """Another operator with its own ``execute``, as KubernetesPodOperator is."""

    def execute(self, context: Any) -> str:
        return "echo's execute"


class EchoWithRecord(DigitalHubOperator, Echo):
    def perform(self, context: Any) -> str:
        return f"perform reached {super().execute(context)}"


def task_context(task_id: str, try_number: int = 1) -> dict[str, Any]:
    ti = SimpleNamespace(
        dag_id="d", run_id="r1", task_id=task_id, map_index=-1, try_number=try_number
    )
    return {"ti": ti}


@pytest.fixture
def embedded(ehub: DataHub, monkeypatch: pytest.MonkeyPatch) -> DataHub:
    """Operators find ``ehub``'s catalog and store through the environment."""
    monkeypatch.setenv("DHUB_CATALOG_URL", ehub.catalog.url)
    monkeypatch.setenv("DHUB_STORE_URL", str(store_root(ehub)))
    for name in ("AIRFLOW_CONN_DHUB_CATALOG", "AIRFLOW_CONN_DHUB_STORE", "DHUB_LINEAGE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("digitalhub_airflow.provider.openlineage.emission_enabled", lambda: True)
    ehub.commit(RAW, pd.DataFrame({"x": [1, 2, 3]}))
    return ehub


def test_an_operator_overriding_execute_is_refused_when_defined() -> None:
    with pytest.raises(TypeError, match=r"overrides execute\(\).*perform\(context\)"):

        class Sneaky(DigitalHubOperator):
            def execute(self, context: Any) -> None:
                return None

    assert "execute" not in vars(CopyOperator)
    assert CopyOperator.execute is DigitalHubOperator.execute


def test_perform_runs_inside_the_recorded_execute(embedded: DataHub) -> None:
    op = CopyOperator(task_id="copy", source=RAW, target=OUT)
    xcom = op.execute(task_context("copy"))
    out = embedded.resolve(OUT)
    assert xcom["key"] == out.key
    assert op.run_key is not None and op.run_key.startswith("store://demo/run/airflow/d.copy:")
    run = get_run(embedded, op.run_key)
    raw = embedded.resolve(RAW)
    assert run["state"] == SUCCESS
    assert (run["inputs"], run["outputs"]) == ([raw.key], [out.key])
    digest = embedded.files(out.key)[0]["digest"]
    [(namespace, name)] = op.locations[out.key]
    assert namespace == "file://" and name.endswith(f"/blobs/{digest[:2]}/{digest}")
    assert set(op.locations) == {raw.key, out.key}
    assert op._hub is None and not op._executing  # the execution's hub is closed


def test_a_failing_perform_is_recorded_failed_and_raises(embedded: DataHub) -> None:
    op = CopyOperator(task_id="copy", source=RAW, target=OUT, fail=True)
    with pytest.raises(RuntimeError, match="the work failed"):
        op.execute(task_context("copy", try_number=2))
    assert op.run_key is not None
    run = get_run(embedded, op.run_key)
    assert run["state"] == FAILED and "the work failed" in (run["error"] or "")
    assert (run["inputs"], run["outputs"]) == ([embedded.resolve(RAW).key], [])


def test_without_a_task_context_nothing_is_recorded(embedded: DataHub) -> None:
    op = CopyOperator(task_id="copy", source=RAW, target=OUT)
    op.execute(None)
    assert op.run_key is None


def test_perform_reaches_a_co_base_operators_own_execute() -> None:
    op = EchoWithRecord(task_id="echo")
    assert op.execute(None) == "perform reached echo's execute"
    assert not op._executing


def test_the_base_refuses_to_run_without_perform() -> None:
    class Empty(DigitalHubOperator):
        pass

    with pytest.raises(NotImplementedError, match=r"Empty does not implement perform"):
        Empty(task_id="empty").execute(None)


def test_a_run_is_finished_in_its_own_transaction(ehub: DataHub) -> None:
    raw = ehub.commit(RAW, pd.DataFrame({"x": [1]})).version
    unbound = ProducingRun.start_now(RunSpec(project="", name="d.t", uid="00000000000000ab"))
    outcome = RunOutcome(SUCCESS, inputs=[raw.key], outputs=[])
    assert finish_producing_run(ehub.catalog, unbound, outcome, None) is None
    key = finish_producing_run(ehub.catalog, unbound, outcome, "demo")
    assert key == "store://demo/run/airflow/d.t:00000000000000ab"
    assert get_run(ehub, key)["inputs"] == [raw.key]


def test_a_big_file_tree_is_located_by_its_blob_folder(ehub: DataHub) -> None:
    version = ehub.commit(RAW, pd.DataFrame({"x": [1]})).version
    blobs = f"{ehub.store.url.rstrip('/')}/blobs"
    [digest] = [f["digest"] for f in ehub.files(version.key)]
    assert version_locations(ehub, [version]) == {version.key: [f"{blobs}/{digest[:2]}/{digest}"]}
    assert version_locations(ehub, [version], limit=0) == {version.key: [blobs]}
    assert version_locations(ehub, []) == {}
