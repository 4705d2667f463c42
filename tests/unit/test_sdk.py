"""The notebook SDK on the embedded default: reading, writing, quality, lineage, display,
typed errors, and the notebook identity recorded on runs."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

import digitalhub_airflow.sdk as dh
from digitalhub_airflow.sdk import Client
from digitalhub_airflow.sdk.display import mask_url
from digitalhub_airflow.sdk.notebook import git_state

REPO = Path(__file__).resolve().parents[2]
SUITE = REPO / "dags" / "suites" / "wine.json"


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    for name in ("DHUB_CATALOG_URL", "DHUB_STORE_URL", "DHUB_CATALOG_SCHEMA", "DHUB_NOTEBOOK"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DHUB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DHUB_USER", "analyst")
    monkeypatch.setenv("JPY_SESSION_NAME", str(REPO / "notebooks" / "01-explore-a-version.ipynb"))
    fresh = dh.connect()
    yield fresh
    fresh.close()


def wine_frame(rows: int = 120) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "alcohol": [11.0 + (i % 30) / 10 for i in range(rows)],
            "color_intensity": [1.0 + (i % 7) for i in range(rows)],
            "target": [i % 3 for i in range(rows)],
        }
    )


def test_commit_get_and_read_back(client: Client) -> None:
    item = dh.commit("demo/wine", wine_frame(), message="first")
    assert item.seq == 1 and item.rows == 120 and item.name == "wine"
    got = dh.get("demo/wine:v1")
    assert got == item
    assert got.schema.names == ["alcohol", "color_intensity", "target"]
    assert str(got.schema.field("alcohol").type) == "double"
    assert got.to_pandas().equals(wine_frame())
    assert got.to_arrow().num_rows == 120
    rows = got.to_duckdb().aggregate("count(*)").fetchall()
    assert rows == [(120,)]
    assert [v.seq for v in dh.log("demo/wine")] == [1]


def test_query_preview_and_target(client: Client) -> None:
    dh.commit("demo/wine", wine_frame())
    result = dh.query(
        "SELECT target, count(*) AS n FROM ds('demo/wine') GROUP BY target ORDER BY 1"
    )
    assert result.to_pandas()["n"].tolist() == [40, 40, 40]
    committed = dh.query("SELECT max(alcohol) AS m FROM ds('demo/wine')", target="demo/agg")
    assert committed.item is not None and committed.item.rows == 1
    assert committed.run is not None and committed.run.startswith("store://demo/run/notebook/")
    with pytest.raises(dh.QueryError):
        dh.query("DROP TABLE x")


def test_profile_and_validate(client: Client) -> None:
    item = dh.commit("demo/wine", wine_frame())
    profile = item.profile()
    assert profile["row_count"] == 120 and "alcohol" in profile.columns
    assert "alcohol" in profile._repr_html_()
    outcome = item.validate(SUITE, on_failure="warn")
    assert outcome.state in ("passed", "warned")
    broken = wine_frame()
    broken.loc[:4, "alcohol"] = None
    bad = dh.commit("demo/wine", broken)
    with pytest.raises(dh.ValidationFailedError) as failed:
        bad.validate(SUITE)
    assert failed.value.failures
    with pytest.raises(dh.SuiteError):
        bad.validate(REPO / "no-such-suite.json")


def test_lineage_names_the_notebook_run_with_its_identity(client: Client) -> None:
    first = dh.commit("demo/wine", wine_frame())
    first.to_pandas()
    second = dh.commit("demo/features", wine_frame().head(10))
    lineage = second.lineage()
    run_key = lineage.runs[0]["key"]
    assert run_key.startswith("store://demo/run/notebook/01-explore-a-version.ipynb:")
    assert "01-explore-a-version.ipynb (success)" in lineage.to_text()
    run = dh.run(run_key)
    assert run["inputs"] == [first.key] and run["outputs"] == [second.key]
    assert run["created_by"] == "analyst"
    params = run["parameters"]
    assert params["notebook"].endswith("notebooks/01-explore-a-version.ipynb")
    assert params["user"] == "analyst"
    assert params["session"] == client.session_id == run["run_id"]
    commit, path, _ = git_state(params["notebook"])
    assert params.get("git_commit") == commit
    if commit is not None:
        assert path == "notebooks/01-explore-a-version.ipynb"
    assert (second.producer or {})["notebook"] == params["notebook"]
    assert (second.producer or {})["run"] == run_key


def test_explicit_inputs_replace_what_was_read(client: Client) -> None:
    a = dh.commit("demo/a", wine_frame())
    b = dh.commit("demo/b", wine_frame().head(5))
    a.to_pandas()
    b.to_pandas()
    c = dh.commit("demo/c", wine_frame().head(3), inputs=[b])
    assert dh.run(c.producer["run"])["inputs"] == [b.key]  # type: ignore[index]


def test_git_commit_of_a_notebook_outside_a_repository(tmp_path: Path) -> None:
    notebook = tmp_path / "alone.ipynb"
    notebook.write_text("{}")
    assert git_state(str(notebook)) == (None, None, None) or _inside_git(tmp_path)


def _inside_git(path: Path) -> bool:
    return (
        subprocess.run(
            ["git", "-C", str(path), "rev-parse"], check=False, capture_output=True
        ).returncode
        == 0
    )


def test_typed_errors_are_the_cli_errors(client: Client) -> None:
    with pytest.raises(dh.NotFoundError):
        dh.get("demo/missing")
    with pytest.raises(dh.InvalidKeyError):
        dh.get("Demo/Wine")
    with pytest.raises(dh.InvalidKeyError):
        dh.commit("no-project-given", wine_frame())
    with pytest.raises(dh.InvalidSourceError):
        dh.commit("demo/wine", Path("/nonexistent/file.csv"))
    dh.commit("demo/wine", wine_frame())
    with pytest.raises(dh.InvalidKeyError):
        dh.get("demo/wine").lineage(direction="sideways")
    assert issubclass(dh.NotFoundError, dh.DhubError)


def test_reprs_print_well_and_hide_passwords(tmp_path: Path) -> None:
    item_client = Client.connect(
        "postgresql://alice:s3cr3t-pw@db.example:5432/hub", "s3://bucket/prefix", home=tmp_path
    )
    assert "s3cr3t-pw" not in repr(item_client)
    assert "s3cr3t-pw" not in item_client._repr_html_()
    assert "alice:***@db.example" in repr(item_client)
    assert item_client.settings.catalog_url.startswith("postgresql+psycopg2://")
    assert mask_url("https://u:p@h/x?token=abc&a=1") == "https://u:***@h/x?token=***&a=1"


def test_item_display(client: Client) -> None:
    item = dh.commit("demo/wine", wine_frame(), message="<b>bold</b>")
    html = item._repr_html_()
    assert "wine v1" in html and "&lt;b&gt;bold" in html and "<b>bold</b>" not in html
    assert repr(item).startswith("<DataItem store://demo/dataitem/table/wine:")
    assert "v1" in dh.log("demo/wine")._repr_html_()
    assert "<pre>" in item.lineage()._repr_html_()


def test_predict_refuses_rows_it_cannot_send(client: Client) -> None:
    with pytest.raises(dh.InferenceError):
        dh.predict("http://127.0.0.1:9", "not rows")
    with pytest.raises(dh.DeploymentError):
        dh.predict("http://127.0.0.1:9", [{"a": 1}], timeout=2)
    with pytest.raises(dh.NotFoundError):
        dh.predict("demo/no-such-service", [{"a": 1}])


def test_import_digitalhub_airflow_stays_light() -> None:
    """DAG files import the package; the SDK and its data libraries load only when a
    notebook imports ``digitalhub_airflow.sdk`` (and the data libraries even then only
    when a call needs them)."""
    code = (
        "import sys, digitalhub_airflow\n"
        "heavy = [m for m in ('pandas', 'pyarrow', 'duckdb', 'digitalhub_airflow.sdk') "
        "if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "import digitalhub_airflow.sdk as dh\n"
        "assert callable(dh.get) and callable(dh.query) and callable(dh.lineage)\n"
        "assert 'commit' in dh.__all__\n"
        "heavy = [m for m in ('pandas', 'pyarrow', 'duckdb') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, cwd=REPO
    )
    assert done.returncode == 0, done.stderr
