"""The Airflow side of lineage without running Airflow: run identities, secret scrubbing,
transform operators' templating, and OpenLineage facets (data quality included) checked
against the OpenLineage JSON Schemas."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest

from digitalhub_airflow.hub import DataHub
from digitalhub_airflow.keys import parse_key
from digitalhub_airflow.lineage.runs import REDACTED, run_name, scrub
from digitalhub_airflow.provider.task_io import QualityFacts, TaskIO
from tests.e2e.test_openlineage import SpecValidator

RAW = "store://demo/dataitem/table/raw"
OUT = "store://demo/dataitem/table/out"


def double(raw: Any, factor: int = 2) -> Any:
    return raw


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        (("dhub_ingest_wine", "load_wine"), "dhub_ingest_wine.load_wine"),
        (("My DAG!", "Task/1"), "my-dag.task-1"),
        (("_x", "y" * 80), "x." + "y" * 61),
        (("etl.daily", "load..it"), "etl.daily.load.it"),
    ],
)
def test_run_names_are_valid_key_names(parts: tuple[str, str], expected: str) -> None:
    name = run_name(*parts)
    assert name == expected
    assert parse_key(f"store://demo/run/airflow/{name}:0123456789abcdef").name == name


def test_parameters_that_look_like_secrets_are_never_recorded() -> None:
    recorded = scrub(
        {
            "factor": 2,
            "api_key": "k-123",
            "nested": {"db_password": "hunter2", "columns": ["a", "b"]},
            "Token": "t",
            "conn_uri": "postgresql://u:p@h/db",
            "when": datetime(2026, 1, 1, tzinfo=timezone.utc),
        }
    )
    assert recorded["factor"] == 2 and recorded["nested"]["columns"] == ["a", "b"]
    for secret in ("k-123", "hunter2", "postgresql://u:p@h/db"):
        assert secret not in json.dumps(recorded)
    assert recorded["api_key"] == recorded["Token"] == recorded["conn_uri"] == REDACTED
    assert recorded["when"].startswith("datetime.datetime(2026")


def test_a_pod_tasks_run_records_no_secret_from_env_vars_or_airflows_masked_values() -> None:
    """KubernetesPodOperator fields such as ``env_vars`` are recorded with the run: a value
    under a secret-looking name, or one Airflow masks (a connection password, a secret
    variable), must not reach the catalog."""
    from airflow.sdk._shared.secrets_masker import mask_secret

    from digitalhub_airflow.operators.pods import DigitalHubPodOperator

    mask_secret("pw-from-a-connection-7731")
    op = DigitalHubPodOperator(
        task_id="work",
        module="digitalhub_airflow.cli",
        module_args=["commit", "demo/t", "pw-from-a-connection-7731"],
        env_vars={"API_TOKEN": "tok-5521", "MODE": "fast"},
    )
    ti = SimpleNamespace(dag_id="d", run_id="r", task_id="work", map_index=-1, try_number=1)
    recorded = json.dumps(scrub(op.run_spec({"ti": ti}, "demo").parameters))
    assert "tok-5521" not in recorded and "pw-from-a-connection-7731" not in recorded
    assert "fast" in recorded and "commit" in recorded


def test_transform_operators_template_declare_and_build_tasks() -> None:
    from airflow.sdk import DAG

    from digitalhub_airflow.operators import (
        SqlTransformOperator,
        TransformDatasetOperator,
        dataset_transform,
    )

    with DAG("lineage_unit", schedule=None) as dag:
        python = TransformDatasetOperator(
            task_id="py", inputs={"raw": RAW}, target=OUT, python_callable=double
        )
        sql = SqlTransformOperator(task_id="sql", query=f"SELECT * FROM ds('{RAW}')", target=OUT)
        made = dataset_transform(OUT, inputs={"raw": f"{RAW}@prod"})(double)(factor=3)
    for op in (python, sql):
        for field in op.template_fields:
            assert hasattr(op, field), f"{type(op).__name__}.{field}"
        assert op.declared_io() == ([RAW], [OUT])
        assert [a.uri for a in op.outlets] == [OUT]
    decorated = dag.get_task("double")
    assert made.operator is decorated
    assert decorated.parameters == {"factor": 3} and decorated.python_callable is double
    assert decorated.declared_io() == ([f"{RAW}@prod"], [OUT])


def test_facets_carry_versions_quality_statistics_and_validate(
    ehub: DataHub, tmp_path: Path
) -> None:
    from openlineage.client.event_v2 import Job, Run, RunEvent, RunState
    from openlineage.client.serde import Serde

    from digitalhub_airflow.provider.openlineage import blob_locations, finished_lineage

    raw = ehub.commit(RAW, pd.DataFrame({"grp": ["a", "b"], "value": [1.5, 2.5]})).version
    out = ehub.commit(OUT, pd.DataFrame({"total": [4]})).version
    io = TaskIO()
    io.read(raw)
    io.wrote(out)
    io.quality[raw.key] = QualityFacts(
        assertions=[
            {"assertion": "expect_column_values_to_not_be_null", "success": True, "column": "value"}
        ],
        metrics={
            "rowCount": 2,
            "bytes": raw.size_bytes,
            "columnMetrics": {
                "value": {"nullCount": 0, "min": 1.5, "max": 2.5, "unknownMetric": 7}
            },
        },
    )
    locations = {v.key: blob_locations(ehub, v) for v in (raw, out)}
    lineage = finished_lineage(io, locations, "store://demo/run/airflow/d.t:0123456789abcdef")
    event = RunEvent(
        eventType=RunState.COMPLETE,
        eventTime=datetime.now(timezone.utc).isoformat(),
        run=Run(runId="01932d2e-0000-7000-8000-000000000000", facets=lineage.run_facets),
        job=Job(namespace="dhub-test", name="d.t"),
        inputs=lineage.inputs,
        outputs=lineage.outputs,
        producer="https://github.com/digitalhub-airflow",
    )
    data = json.loads(Serde.to_json(event))
    assert SpecValidator().errors(data) == []

    (source,), (target,) = data["inputs"], data["outputs"]
    assert (source["namespace"], source["name"]) == ("store://demo", "dataitem/table/raw")
    assert source["facets"]["version"]["datasetVersion"] == raw.version_id
    assert [f["name"] for f in source["facets"]["schema"]["fields"]] == ["grp", "value"]
    assert source["inputFacets"]["dataQualityAssertions"]["assertions"][0]["success"] is True
    metrics = source["inputFacets"]["dataQualityMetrics"]
    assert metrics["rowCount"] == 2 and metrics["columnMetrics"]["value"]["max"] == 2.5
    digest = ehub.files(out.key)[0]["digest"]
    link = target["facets"]["symlinks"]["identifiers"][0]
    assert link["namespace"] == "file://" and link["name"].endswith(f"/blobs/{digest[:2]}/{digest}")
    assert target["outputFacets"]["outputStatistics"] == {
        **target["outputFacets"]["outputStatistics"],
        "rowCount": 1,
        "size": out.size_bytes,
    }
    assert data["run"]["facets"]["digitalhub"]["key"].startswith("store://demo/run/airflow/")


def test_every_suite_operator_reports_openlineage_from_the_base_class() -> None:
    import digitalhub_airflow.operators as suite
    from digitalhub_airflow.operators.base import DigitalHubOperator

    classes = [getattr(suite, n) for n in suite.__all__ if isinstance(getattr(suite, n), type)]
    assert classes and all(issubclass(c, DigitalHubOperator) for c in classes)
    for cls in classes:
        assert getattr(cls.execute, "_dhub_recorded", False), cls.__name__
    started = SimpleNamespace(task_io=TaskIO(), declared_io=lambda: ([RAW], [OUT]))
    lineage = DigitalHubOperator.get_openlineage_facets_on_start(started)  # type: ignore[arg-type]
    assert [(d.namespace, d.name) for d in lineage.inputs] == [
        ("store://demo", "dataitem/table/raw")
    ]
