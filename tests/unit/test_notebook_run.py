"""Notebooks as pipeline steps: parameters injected papermill-style, execution in a real
kernel (nbclient) on the embedded default, the commits attributed to the producing run,
failures typed and saved, secrets kept out of what is saved, and a notebook's function
reused unchanged as a transform."""

from __future__ import annotations

import ast
import inspect
import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from digitalhub_airflow.errors import (
    DhubError,
    InvalidOptionError,
    NotebookError,
    NotFoundError,
)
from digitalhub_airflow.hub import DataHub
from digitalhub_airflow.lineage.producing import RUN_ENV, ProducingRun, producing
from digitalhub_airflow.lineage.runs import RunSpec, digest_text, get_run
from digitalhub_airflow.notebooks import (
    INJECTED_TAG,
    function_from_notebook,
    inject_parameters,
    produced_versions,
    run_notebook,
)
from digitalhub_airflow.notebooks.parameters import parameters_source
from tests.unit.dhub_testlib import REPO

SECRET = "s3cr3t-Value-9f2c"
STARTED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def write_notebook(path: Path, *sources: str, tagged: int | None = 0) -> Path:
    cells = [new_markdown_cell("# test notebook"), *(new_code_cell(s) for s in sources)]
    if tagged is not None:
        cells[tagged + 1].metadata["tags"] = ["parameters"]
    nbformat.write(new_notebook(cells=cells), str(path))
    return path


def hub_env(root: Path) -> dict[str, str]:
    """The embedded hub of ``make_hub(root)`` as a kernel finds it (DataHub.from_settings)."""
    return {
        "DHUB_HOME": str(root),
        "DHUB_CATALOG_URL": f"sqlite:///{root / 'c.sqlite'}",
        "DHUB_STORE_URL": str(root / "store"),
    }


def task_run() -> ProducingRun:
    spec = RunSpec(project="", name="nb.run_notebook", uid="00000000000000cc", dag_id="nb")
    spec.task_id, spec.try_number = "run_notebook", 1
    return ProducingRun(spec, STARTED)


def saved(path: str | Path) -> Any:
    return nbformat.read(str(path), as_version=4)


# -- parameters, without a kernel ------------------------------------------------------
def test_parameters_go_after_the_tagged_cell_and_a_rerun_replaces_them(tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "p.ipynb", "alpha = 1\nname = 'x'", "print(alpha)")
    nb = saved(path)
    values = {
        "alpha": 0.5,
        "name": "it's",
        "flags": [True, None, 3],
        "nested": {"a": (1,), "inf": float("inf")},
    }
    assert inject_parameters(nb, values) == 2  # markdown, parameters, *injected*, print
    cell = nb.cells[2]
    assert cell.metadata["tags"] == [INJECTED_TAG]
    scope: dict[str, Any] = {}
    exec(cell.source, scope)  # the literals evaluate back to the values
    assert {k: scope[k] for k in values} == values
    # An executed notebook run again: its injected cell is replaced, not stacked.
    assert inject_parameters(nb, {"alpha": 2}) == 2
    assert [INJECTED_TAG in c.metadata.get("tags", []) for c in nb.cells].count(True) == 1
    assert nb.cells[2].source == "# Parameters\nalpha = 2\n"
    assert inject_parameters(nb, {}) is None and len(nb.cells) == 3
    # No tagged cell: the parameters go first.
    untagged = saved(write_notebook(tmp_path / "u.ipynb", "print(1)", tagged=None))
    assert inject_parameters(untagged, {"alpha": 1}) == 0


@pytest.mark.parametrize(
    ("parameters", "match"),
    [
        ({"db_password": "x"}, "looks like a secret"),
        ({"api_key": "x"}, "looks like a secret"),
        ({"not a name": 1}, "not a Python name"),
        ({"class": 1}, "not a Python name"),
        ({"when": datetime(2026, 1, 1)}, "must be a str, number"),
    ],
)
def test_secret_names_and_values_that_are_not_literals_are_refused(
    parameters: dict[str, Any], match: str
) -> None:
    with pytest.raises(InvalidOptionError, match=match):
        parameters_source(parameters)


# -- execution in a real kernel --------------------------------------------------------
def test_a_notebook_runs_with_the_tasks_run_and_its_commit_is_attributed_to_it(
    ehub: DataHub, tmp_path: Path
) -> None:
    """One kernel: parameters injected, settings and run through the environment, the
    commit produced by the run, the secret masked in the saved notebook."""
    path = write_notebook(
        tmp_path / "commit.ipynb",
        "target = 'demo/default'\nrows = 1",
        "import os\nfrom digitalhub_airflow.hub import DataHub\n"
        "with open('t.csv', 'w') as f:\n"
        "    f.write('x\\n' + '\\n'.join(str(i) for i in range(rows)) + '\\n')\n"
        "with DataHub.from_settings() as hub:\n"
        "    version = hub.commit(target, 't.csv').version\n"
        "print(version.key, version.row_count, os.environ['DHUB_TEST_TOKEN'])",
    )
    run = task_run()
    out = tmp_path / "out" / "commit.ipynb"
    with producing(run):  # as an operator's execution: the kernel gets it as DHUB_RUN
        result = run_notebook(
            path,
            {"target": "demo/from-notebook", "rows": 3},
            out,
            env=hub_env(tmp_path / "hub"),
            timeout=60,
            secrets={"DHUB_TEST_TOKEN": SECRET},
        )
    assert result.output_path == str(out) and result.injected_cell == 2
    assert result.env_names == [
        "DHUB_CATALOG_URL",
        "DHUB_HOME",
        "DHUB_STORE_URL",
        "DHUB_TEST_TOKEN",
    ]

    version = ehub.resolve("store://demo/dataitem/table/from-notebook")
    assert version.row_count == 3
    assert produced_versions(ehub, run) == [version]  # read back from produced_by edges
    assert run.spec.project == "demo"  # bound to the project the kernel's commit used
    assert version.producer["run"] == run.spec.key
    assert version.producer["task_id"] == "run_notebook"
    recorded = get_run(ehub, run.spec.key)
    assert (recorded["state"], recorded["outputs"]) == ("running", [version.key])

    text = out.read_text()
    assert SECRET not in text and "***" in text
    nb = saved(out)
    assert nb.cells[2].source == "# Parameters\ntarget = 'demo/from-notebook'\nrows = 3\n"
    printed = nb.cells[3].outputs[0]["text"]
    assert printed.startswith(f"{version.key} 3 ***")
    assert nb.metadata["dhub"]["status"] == "completed"
    assert nb.metadata["dhub"]["parameters"] == {"target": "demo/from-notebook", "rows": 3}
    assert saved(path).cells[1].outputs == []  # the source notebook is left as it was


def test_a_failing_cell_raises_a_typed_error_naming_it_and_the_notebook_is_saved(
    tmp_path: Path,
) -> None:
    path = write_notebook(
        tmp_path / "fail.ipynb",
        "limit = 0",
        "print('before the failure')",
        "import os\nif limit < 1:\n    raise ValueError(f'bad limit {os.environ[\"TOKEN\"]}')",
        "print('never runs')",
    )
    out = tmp_path / "fail.out.ipynb"
    with pytest.raises(NotebookError) as caught:
        run_notebook(path, {"limit": 0}, out, timeout=60, secrets={"TOKEN": SECRET})
    error = caught.value
    assert isinstance(error, DhubError) and error.exit_code == NotebookError.exit_code
    # cells: markdown, parameters, injected, print, *raise*, print
    assert (error.cell_index, error.ename, error.evalue) == (4, "ValueError", "bad limit ***")
    assert "failed in cell 4 (cell 3 of the source notebook): ValueError" in str(error)
    assert error.output_path == str(out) and str(out) in str(error)
    assert SECRET not in str(error)

    text = out.read_text()
    assert SECRET not in text
    nb = saved(out)
    assert nb.cells[3].outputs[0]["text"] == "before the failure\n"
    assert nb.cells[4].outputs[-1]["output_type"] == "error"
    assert nb.cells[5].execution_count is None  # not run after the failure
    assert nb.metadata["dhub"]["status"] == "failed"
    assert nb.metadata["dhub"]["error"] == {
        "cell_index": 4,
        "ename": "ValueError",
        "evalue": "bad limit ***",
    }


def test_a_cell_past_its_timeout_and_an_unknown_kernel_fail_typed(tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "slow.ipynb", "import time\ntime.sleep(30)", tagged=None)
    with pytest.raises(NotebookError, match="failed in cell 1") as caught:
        run_notebook(path, output_path=tmp_path / "slow.out.ipynb", timeout=1)
    assert caught.value.cell_index == 1
    assert (tmp_path / "slow.out.ipynb").exists()

    with pytest.raises(NotebookError, match="before any cell ran") as unknown:
        run_notebook(path, output_path=tmp_path / "k.ipynb", kernel_name="no-such-kernel")
    assert unknown.value.cell_index is None
    with pytest.raises(NotFoundError):
        run_notebook(tmp_path / "missing.ipynb")
    with pytest.raises(InvalidOptionError, match="overwrite"):
        run_notebook(path, output_path=path)


# -- a notebook's function as a transform ----------------------------------------------
FUNCTION_CELL = '''def add_ratio(wine, numerator="a", denominator="b"):
    """A ratio."""
    return wine.assign(ratio=wine[numerator] / wine[denominator])'''


def test_a_function_is_loaded_from_its_cell_alone_with_its_source(tmp_path: Path) -> None:
    path = write_notebook(
        tmp_path / "f.ipynb",
        "raise RuntimeError('the parameters cell is not run')",
        "%matplotlib inline\n" + FUNCTION_CELL,
        "1 / 0  # neither is this one",
    )
    add_ratio = function_from_notebook(path, "add_ratio")
    assert add_ratio.__name__ == "add_ratio" and add_ratio.__doc__ == "A ratio."
    assert inspect.getsource(add_ratio) == FUNCTION_CELL + "\n"
    assert add_ratio.__module__ in sys.modules  # importable by name, like a module's
    assert function_from_notebook(path, "add_ratio") is add_ratio  # loaded once
    with pytest.raises(NotFoundError, match="defines a function 'nothing'"):
        function_from_notebook(path, "nothing")
    with pytest.raises(NotFoundError):
        function_from_notebook(tmp_path / "missing.ipynb", "add_ratio")


def test_the_notebooks_function_runs_unchanged_as_a_cached_transform(
    ehub: DataHub, tmp_path: Path
) -> None:
    import pandas as pd

    from digitalhub_airflow.transforms.transform import Transform, run_transform

    path = write_notebook(tmp_path / "t.ipynb", "x = 1", FUNCTION_CELL)
    add_ratio = function_from_notebook(path, "add_ratio")
    ehub.commit("demo/wine", pd.DataFrame({"a": [1.0, 4.0], "b": [2.0, 8.0]}))
    transform = Transform(output="demo/ratios", inputs={"wine": "demo/wine"}, function=add_ratio)
    reference, code_digest = transform.code()
    assert reference == f"{add_ratio.__module__}:add_ratio"
    assert code_digest == digest_text(FUNCTION_CELL + "\n")  # the cell's code is the identity

    def spec(uid: str) -> RunSpec:
        return RunSpec(project="demo", name="nb.add_ratio", uid=uid)

    first = run_transform(ehub, transform, spec("0000000000000001"))
    again = run_transform(ehub, transform, spec("0000000000000002"))
    assert not first.cache_hit and again.cache_hit and again.output.key == first.output.key
    table = ehub.read_table(first.output.key).to_pandas()
    assert table["ratio"].tolist() == [0.5, 0.5]


def test_the_reference_notebook_defines_the_function_its_dag_uses() -> None:
    notebook = REPO / "dags" / "notebooks" / "wine_features.ipynb"
    nbformat.validate(saved(notebook))
    cells = json.loads(notebook.read_text())["cells"]
    tagged = [c for c in cells if "parameters" in c["metadata"].get("tags", [])]
    assert len(tagged) == 1
    assert all(c.get("outputs", []) == [] for c in cells if c["cell_type"] == "code")
    add_ratio = function_from_notebook(notebook, "add_ratio")
    source = inspect.getsource(add_ratio)
    assert [n.name for n in ast.parse(source).body] == ["add_ratio"]


# -- the operator, without running it --------------------------------------------------
def test_the_operators_template_fields_outlets_and_declared_outputs() -> None:
    from airflow.sdk import Asset, AssetAlias

    from digitalhub_airflow.operators import RunNotebookOperator

    fixed = RunNotebookOperator(
        task_id="nb", notebook="n.ipynb", parameters={"a": 1}, output_dataset="demo/runs"
    )
    templated = RunNotebookOperator(
        task_id="nb2", notebook="n.ipynb", output_dataset="{{ params.out }}"
    )
    for op in (fixed, templated):
        for field in op.template_fields:
            assert hasattr(op, field), field
        assert "execute" not in type(op).__dict__ and type(op).commits_elsewhere
    assert [o.name for o in fixed.outlets if isinstance(o, AssetAlias)] == ["dhub-commit:nb"]
    assert [o.uri for o in fixed.outlets if isinstance(o, Asset)] == [
        "store://demo/dataitem/files/runs"
    ]
    assert fixed.declared_io() == ([], ["store://demo/dataitem/files/runs"])
    assert templated.declared_io() == ([], [])
    assert RUN_ENV == "DHUB_RUN"


def test_a_notebook_function_loads_no_catalog_code_when_a_dag_is_parsed() -> None:
    """The package's names load their modules on first use: building a task from a
    notebook function (what a DAG file does) imports neither SQLAlchemy nor lineage."""
    import subprocess
    import sys

    code = (
        "import sys, digitalhub_airflow.notebooks as nb\n"
        "assert sorted(nb.__all__) == sorted(nb._WHERE)\n"
        "nb.function_from_notebook\n"
        "heavy = ('sqlalchemy', 'digitalhub_airflow.lineage.runs')\n"
        "print([m for m in heavy if m in sys.modules])\n"
        "assert all(getattr(nb, name) is not None for name in nb.__all__)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.strip() == "[]"
