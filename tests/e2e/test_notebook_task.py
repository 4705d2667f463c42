"""Notebooks in real Airflow (``airflow dags test``): the reference DAG runs a notebook
as a task and its function as a transform; the notebook's commits are produced by the
task's run, the executed notebook is committed, a failing notebook fails the task."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from digitalhub_airflow.errors import NotFoundError
from digitalhub_airflow.hub import DataHub
from digitalhub_airflow.lineage.runs import get_run
from tests.conftest import Backend
from tests.e2e.conftest import AirflowEnv, catalog_env, secrets_of
from tests.e2e.test_openlineage import (
    SpecValidator,
    lineage_env,
    read_events,
    task_events,
    versions,
)


def leaked(secret: str, text: str) -> bool:
    """Whether ``secret`` is in ``text``. A short one (the test database's password is
    ``dhub``, also the name of this suite's notebook metadata) counts only in the forms a
    leak takes: a URL's password, a quoted value, an assignment."""
    if len(secret) >= 8:
        return secret in text
    forms = (f":{secret}@", f"'{secret}'", f'": "{secret}"', f"={secret}")
    return any(form in text for form in forms)


pytestmark = pytest.mark.e2e

WINE = "store://demo/dataitem/table/wine"


def test_the_notebook_and_its_function_run_as_tasks_and_commit_under_their_runs(
    airflow: AirflowEnv, backend: Backend, hub: DataHub, tmp_path: Path
) -> None:
    wine = pd.DataFrame(
        {
            "flavanoids": [3.0, 2.5, 0.6, 1.2],
            "total_phenols": [2.8, 2.5, 1.5, 2.0],
            "target": [0, 0, 2, 1],
        }
    )
    hub.commit(WINE, wine)
    log = tmp_path / "events.jsonl"
    env = lineage_env(backend, {"type": "file", "log_file_path": str(log), "append": True})
    airflow.run("dags", "test", "dhub_notebook_wine", env=env)

    # 1. The notebook's own commit: produced by the notebook task's run.
    ratios = hub.resolve("store://demo/dataitem/table/wine-ratios-notebook")
    assert ratios.producer["dag_id"] == "dhub_notebook_wine"
    assert ratios.producer["task_id"] == "run_notebook"
    run = get_run(hub, ratios.producer["run"])
    assert (run["task_id"], run["state"]) == ("run_notebook", "success")
    assert run["parameters"]["parameters"]["target"] == "demo/wine-ratios-notebook"
    # ... and the executed notebook, committed as a files version of the same run.
    executed = hub.resolve("store://demo/dataitem/files/wine-features-notebook")
    assert executed.producer["run"] == run["key"]
    assert sorted(run["outputs"]) == sorted([ratios.key, executed.key])
    assert executed.message.startswith("wine_features.ipynb, executed by manual__")
    # OpenLineage lists what the notebook committed, with the exact versions.
    events = read_events(log)
    spec = SpecValidator()
    assert all(spec.errors(event) == [] for event in events)
    by_task = task_events(events, "dhub_notebook_wine")
    start, complete = by_task["run_notebook:START"], by_task["run_notebook:COMPLETE"]
    assert versions(start["outputs"]) == {executed.dataset: None}
    assert versions(complete["outputs"]) == {
        ratios.dataset: ratios.version_id,
        executed.dataset: executed.version_id,
    }
    assert complete["run"]["facets"]["digitalhub"]["key"] == run["key"]
    folder = tmp_path / "executed"
    (path,) = hub.get(executed.key, folder)
    assert path.name == "wine_features.ipynb"
    nb = nbformat.read(str(path), as_version=4)
    injected = next(c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", []))
    assert "target = 'demo/wine-ratios-notebook'" in injected.source
    printed = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert f"{ratios.key} 4" in printed
    assert nb.metadata["dhub"]["status"] == "completed"
    if backend.services is not None:  # credentials reached the kernel, not the notebook
        text = path.read_text()
        for secret in secrets_of(backend).values():
            assert not leaked(secret, text), secret

    # 2. The same function, loaded from the notebook, as a @dataset_transform task.
    transformed = hub.resolve("store://demo/dataitem/table/wine-ratios")
    transform_run = get_run(hub, transformed.producer["run"])
    assert transform_run["task_id"] == "add_ratio" and transform_run["state"] == "success"
    assert transform_run["transform"]["function"].endswith(":add_ratio")
    assert transform_run["transform"]["inputs"] == {"wine": hub.resolve(WINE).key}
    table = hub.read_table(transformed.key).to_pandas()
    expected = wine["flavanoids"] / wine["total_phenols"]
    assert table["ratio"].round(9).tolist() == expected.round(9).tolist()
    # Same function, same input, same content: the same version id in both datasets.
    assert transformed.version_id == ratios.version_id


def write_failing_notebook(path: Path) -> Path:
    cells = [
        new_code_cell("target = 'demo/default'"),
        new_code_cell(
            "from digitalhub_airflow.hub import DataHub\n"
            "with open('partial.csv', 'w') as f:\n"
            "    f.write('x\\n1\\n2\\n')\n"
            "with DataHub.from_settings() as hub:\n"
            "    print(hub.commit(target, 'partial.csv').version.key)"
        ),
        new_code_cell("raise RuntimeError('the model did not converge')"),
    ]
    cells[0].metadata["tags"] = ["parameters"]
    nbformat.write(new_notebook(cells=cells), str(path))
    return path


def test_a_failing_notebook_fails_its_task_and_its_run_keeps_what_it_committed(
    airflow: AirflowEnv, backend: Backend, hub: DataHub, tmp_path: Path
) -> None:
    notebook = write_failing_notebook(tmp_path / "failing.ipynb")
    conf = {"notebook": str(notebook), "target": "demo/partial", "output": "demo/failed-runs"}
    result = airflow.run(
        "dags", "test", "dhub_notebook_task", "-c", json.dumps(conf),
        env=catalog_env(backend), check=False,
    )  # fmt: skip
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert "NotebookError" in out and "failed in cell 3 (cell 2 of the source notebook)" in out
    assert "RuntimeError: the model did not converge" in out

    partial = hub.resolve("store://demo/dataitem/table/partial")  # committed before the error
    run = get_run(hub, partial.producer["run"])
    assert (run["dag_id"], run["task_id"], run["state"]) == (
        "dhub_notebook_task",
        "run_notebook",
        "failed",
    )
    assert run["outputs"] == [partial.key]
    assert "NotebookError" in run["error"] and "cell 3" in run["error"]
    with pytest.raises(NotFoundError):  # a failed run's notebook is not committed
        hub.resolve("store://demo/dataitem/files/failed-runs")
