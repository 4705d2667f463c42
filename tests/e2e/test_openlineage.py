"""OpenLineage from real DAG runs: `airflow dags test` with the provider's file transport
(and its HTTP transport against a local receiver); every event is checked offline against
the OpenLineage JSON Schemas copied in tests/openlineage_spec/, and each task's START /
COMPLETE (or FAIL) pair must carry the exact versions the catalog holds. Runs through a
real scheduler check the whole run cycle: every DAG run and task run starts before it
completes or fails."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from digitalhub_airflow.errors import NotFoundError
from digitalhub_airflow.hub import DataHub
from digitalhub_airflow.lineage.runs import get_run
from tests.conftest import Backend
from tests.e2e.conftest import AirflowEnv, catalog_env, scheduler

pytestmark = pytest.mark.e2e
SPEC = Path(__file__).parents[1] / "openlineage_spec"
RAW = "store://e2e/dataitem/table/raw"
SCALED = "store://e2e/dataitem/table/scaled"
TOTALS = "store://e2e/dataitem/table/totals"
BROKEN = "store://e2e/dataitem/table/broken"
CHAIN_TASKS = ("commit_raw", "tag_raw", "scale", "totals")


class SpecValidator:
    """The event schema, and each facet's schema looked up by its file name, all local."""

    def __init__(self) -> None:
        documents = [json.loads(p.read_text()) for p in sorted(SPEC.rglob("*.json"))]
        self.registry: Registry = Registry().with_resources(
            (d["$id"], Resource.from_contents(d)) for d in documents
        )
        self.facet_ids = {d["$id"].rsplit("/", 1)[1]: d["$id"] for d in documents}
        self.event_id = self.facet_ids["OpenLineage.json"]

    def errors(self, event: dict[str, Any]) -> list[str]:
        found = self._check({"$ref": self.event_id}, event, "event")
        for where, name, facet in iter_facets(event):
            url = facet.get("_schemaURL", "")
            file_name, _, pointer = url.partition("#")
            local = self.facet_ids.get(file_name.rsplit("/", 1)[-1])
            if local is not None and pointer:
                found += self._check({"$ref": f"{local}#{pointer}"}, facet, f"{where}.{name}")
        return found

    def _check(self, schema: dict[str, Any], value: Any, where: str) -> list[str]:
        validator = Draft202012Validator(schema, registry=self.registry)
        return [f"{where}: {e.json_path}: {e.message}" for e in validator.iter_errors(value)]


def iter_facets(event: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for group in ("run", "job"):
        for name, facet in (event.get(group, {}).get("facets") or {}).items():
            yield group, name, facet
    for side, extra in (("inputs", "inputFacets"), ("outputs", "outputFacets")):
        for dataset in event.get(side) or []:
            for kind in ("facets", extra):
                for name, facet in (dataset.get(kind) or {}).items():
                    yield f"{side}[{dataset['name']}]", name, facet


def read_events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def task_events(events: list[dict[str, Any]], dag_id: str) -> dict[str, dict[str, Any]]:
    """``{"<task>:<eventType>": event}``; a task emitting one type twice is an error."""
    found: dict[str, dict[str, Any]] = {}
    for event in events:
        name = event["job"]["name"]
        if not name.startswith(f"{dag_id}."):
            continue
        slot = f"{name.removeprefix(dag_id + '.')}:{event['eventType']}"
        assert slot not in found, f"two {slot} events"
        found[slot] = event
    return found


TERMINAL = ("COMPLETE", "FAIL", "ABORT")


def lifecycle_errors(events: list[dict[str, Any]], dag_level: bool = True) -> list[str]:
    """Runs whose events, in emission order, are not one START then one COMPLETE/FAIL/ABORT
    (the OpenLineage run cycle); RUNNING events may come between.

    ``dag_level=False`` leaves DAG runs out: ``airflow dags test`` creates its DAG run
    already running, and only the scheduler tells listeners that a run started, so the
    provider sends a DAG-level COMPLETE/FAIL without a START there. Runs through the
    scheduler are checked whole (``test_every_run_through_the_scheduler_starts_…``).
    """
    runs: dict[str, tuple[str, list[str]]] = {}
    for event in events:
        name = event["job"]["name"]
        if dag_level or "." in name:
            runs.setdefault(event["run"]["runId"], (name, []))[1].append(event["eventType"])
    return [
        f"{name} {run_id}: {' -> '.join(types)}"
        for run_id, (name, types) in runs.items()
        if types[0] != "START"
        or types[-1] not in TERMINAL
        or any(t not in ("RUNNING", "OTHER") for t in types[1:-1])
    ]


def versions(datasets: list[dict[str, Any]]) -> dict[str, str | None]:
    return {
        f"{d['namespace']}/{d['name']}": d.get("facets", {})
        .get("version", {})
        .get("datasetVersion")
        for d in datasets
    }


def lineage_env(backend: Backend, transport: dict[str, Any]) -> dict[str, str]:
    env = catalog_env(backend)
    env["AIRFLOW__OPENLINEAGE__DISABLED"] = "False"
    env["AIRFLOW__OPENLINEAGE__NAMESPACE"] = "dhub-e2e"
    env["AIRFLOW__OPENLINEAGE__TRANSPORT"] = json.dumps(transport)
    return env


@pytest.fixture(scope="module")
def spec() -> SpecValidator:
    return SpecValidator()


def test_chain_emits_valid_start_complete_pairs_with_exact_versions(
    airflow: AirflowEnv, backend: Backend, hub: DataHub, tmp_path: Path, spec: SpecValidator
) -> None:
    source = tmp_path / "raw.csv"
    source.write_text("grp,value\na,1\na,2\nb,5\n")
    log = tmp_path / "events.jsonl"
    env = lineage_env(backend, {"type": "file", "log_file_path": str(log), "append": True})
    conf = json.dumps({"source": str(source)})
    airflow.run("dags", "test", "dhub_lineage_chain", "-c", conf, env=env, timeout=600)

    events = read_events(log)
    assert lifecycle_errors(events, dag_level=False) == []
    for event in events:
        assert spec.errors(event) == [], event["job"]["name"]
    by_task = task_events(events, "dhub_lineage_chain")
    assert set(by_task) == {f"{t}:{k}" for t in CHAIN_TASKS for k in ("START", "COMPLETE")}

    raw, scaled, totals = hub.resolve(RAW), hub.resolve(SCALED), hub.resolve(TOTALS)
    expected = {
        "commit_raw": ({}, {RAW: raw}),
        "tag_raw": ({RAW: raw}, {}),
        "scale": ({RAW: raw}, {SCALED: scaled}),
        "totals": ({SCALED: scaled}, {TOTALS: totals}),
    }
    for task, (inputs, outputs) in expected.items():
        start, complete = by_task[f"{task}:START"], by_task[f"{task}:COMPLETE"]
        assert versions(start["inputs"]) == {k: None for k in inputs}
        assert versions(start["outputs"]) == {k: None for k in outputs}
        assert versions(complete["inputs"]) == {k: v.version_id for k, v in inputs.items()}
        assert versions(complete["outputs"]) == {k: v.version_id for k, v in outputs.items()}
        run_key = complete["run"]["facets"]["digitalhub"]["key"]
        run = get_run(hub, run_key)
        assert run["state"] == "success" and run["task_id"] == task
        assert run["inputs"] == sorted(v.key for v in inputs.values())
        assert run["outputs"] == sorted(v.key for v in outputs.values())
        # The commit wrote the run reference with the version, in the same transaction.
        assert all(v.producer["run"] == run_key for v in outputs.values())

    out = by_task["totals:COMPLETE"]["outputs"][0]
    assert out["outputFacets"]["outputStatistics"]["rowCount"] == 2
    assert out["outputFacets"]["outputStatistics"]["size"] == totals.size_bytes
    assert [f["name"] for f in out["facets"]["schema"]["fields"]] == ["grp", "total"]
    links = out["facets"]["symlinks"]["identifiers"]
    assert len(links) == 1 and links[0]["name"].endswith(hub.files(totals.key)[0]["digest"])
    secret = backend.services.s3_secret_key if backend.services else None
    assert secret is None or secret not in log.read_text()
    assert hub.read_table(totals.key).to_pydict() == {"grp": ["a", "b"], "total": [30, 50]}


class Receiver(BaseHTTPRequestHandler):
    events: list[dict[str, Any]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        type(self).events.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A tiny HTTP endpoint standing in for Marquez's lineage API."""
    Receiver.events = []
    server = HTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", Receiver.events
    server.shutdown()


def test_failing_transform_emits_fail_over_http_and_commits_nothing(
    airflow: AirflowEnv,
    backend: Backend,
    hub: DataHub,
    spec: SpecValidator,
    receiver: tuple[str, list[dict[str, Any]]],
) -> None:
    import pandas as pd

    raw = hub.commit(RAW, pd.DataFrame({"grp": ["a"], "value": [1]})).version
    url, events = receiver
    env = lineage_env(backend, {"type": "http", "url": url, "endpoint": "api/v1/lineage"})
    result = airflow.run("dags", "test", "dhub_lineage_failure", env=env, check=False)
    assert result.returncode != 0

    assert lifecycle_errors(events, dag_level=False) == []
    for event in events:
        assert spec.errors(event) == [], event["job"]["name"]
    by_task = task_events(events, "dhub_lineage_failure")
    assert set(by_task) == {"explode:START", "explode:FAIL"}
    fail = by_task["explode:FAIL"]
    assert "sensor column is all NaN" in fail["run"]["facets"]["errorMessage"]["message"]
    assert versions(fail["inputs"]) == {RAW: raw.version_id}
    assert fail["outputs"] == []
    run = get_run(hub, fail["run"]["facets"]["digitalhub"]["key"])
    assert run["state"] == "failed" and "ValueError: sensor column is all NaN" in run["error"]
    assert run["inputs"] == [raw.key] and run["outputs"] == []
    with pytest.raises(NotFoundError):
        hub.resolve(BROKEN)


def test_every_run_through_the_scheduler_starts_before_it_completes_or_fails(
    airflow: AirflowEnv, tmp_path: Path, spec: SpecValidator
) -> None:
    """As deployed (scheduler, a process per task): each DAG run and each task run
    sends START, then COMPLETE (the chain) or FAIL (the failing transform)."""
    source = tmp_path / "raw.csv"
    source.write_text("grp,value\na,1\n")
    log = tmp_path / "events.jsonl"
    home = tmp_path / "dhub"
    home.mkdir()
    backend = Backend("embedded", f"sqlite:///{home / 'catalog.sqlite'}", None, str(home), home)
    with backend.hub() as hub:
        hub.init()
    env = lineage_env(backend, {"type": "file", "log_file_path": str(log), "append": True})
    dags = ("dhub_lineage_chain", "dhub_lineage_failure")
    airflow.run("dags", "reserialize", env=env)
    with scheduler(airflow, env, tmp_path / "logs"):
        airflow.run("dags", "trigger", dags[0], "-c", json.dumps({"source": str(source)}), env=env)
        airflow.run("dags", "trigger", dags[1], env=env)
        deadline = time.monotonic() + 240
        ended: set[str] = set()
        while ended != set(dags) and time.monotonic() < deadline:
            time.sleep(2)
            events = read_events(log) if log.exists() else []
            ended = {e["job"]["name"] for e in events if e["eventType"] in TERMINAL} & set(dags)
        assert ended == set(dags), (tmp_path / "logs" / "scheduler.log").read_text()[-3000:]

    # The scheduler also runs the reference DAGs of the folder (an hourly reconcile, the
    # Asset-scheduled ones), and stopping it cuts their runs short: only ours are judged.
    events = [e for e in events if e["job"]["name"].split(".")[0] in dags]
    assert lifecycle_errors(events) == []
    for event in events:
        assert spec.errors(event) == [], event["job"]["name"]
    ends = {e["job"]["name"]: e["eventType"] for e in events if e["eventType"] in TERMINAL}
    assert ends == {
        "dhub_lineage_chain": "COMPLETE",
        **{f"dhub_lineage_chain.{t}": "COMPLETE" for t in CHAIN_TASKS},
        "dhub_lineage_failure": "FAIL",
        "dhub_lineage_failure.explode": "FAIL",
    }
