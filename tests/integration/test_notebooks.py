"""The example notebooks (``notebooks/``), each executed on a real Jupyter kernel
(nbclient) against the embedded default and against PostgreSQL + S3 + an MLflow server.

The kernel gets the backend through its environment, as Jupyter would give it: the
``DHUB_*`` settings, the AWS variables, ``DHUB_MLFLOW_*`` and ``JPY_SESSION_NAME`` (the
notebook's path, which Jupyter Server sets for each kernel it starts). On PostgreSQL the
catalog is reached as a role of its own with a random password, and an MLflow token is
set, so the scan of every output for credentials looks for values that are secret.
"""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from digitalhub_airflow.catalog.engine import Catalog
from digitalhub_airflow.catalog.migrate import migrate
from digitalhub_airflow.hub import DataHub
from digitalhub_airflow.lineage.runs import get_run
from tests.conftest import Backend, unique_name
from tests.notebook_helpers import NOTEBOOKS, errors, execute, output_texts, stdout

NOTEBOOK_TIMEOUT_S = 150
SCRUBBED = ("AIRFLOW_CTX_DAG_ID", "AIRFLOW_CTX_DAG_RUN_ID", "AIRFLOW_CTX_TASK_ID", "DHUB_NOTEBOOK")


class NotebookBackend:
    """The kernel environment for one backend, and the secrets none of its outputs may show."""

    def __init__(self, backend: Backend, catalog_url: str, env: dict[str, str], hidden: list[str]):
        self.backend = backend
        self.catalog_url = catalog_url
        self.env = env
        self.hidden = hidden

    def hub(self) -> DataHub:
        if self.backend.services is None:
            return self.backend.hub()
        from digitalhub_airflow.datasets.hashcache import HashCache
        from digitalhub_airflow.store.s3 import S3BlobStore

        client = self.backend.services.client()
        catalog = Catalog(self.catalog_url, self.backend.catalog_schema)
        store = S3BlobStore(self.backend.store_url, client)
        return DataHub(catalog, store, HashCache(self.backend.home / "h.sqlite"), s3_client=client)


@pytest.fixture
def notebook_backend(backend: Backend, tracking) -> Iterator[NotebookBackend]:  # type: ignore[no-untyped-def]
    env = {k: v for k, v in backend.env().items() if k not in SCRUBBED}
    token = "nbtok-" + secrets.token_hex(12)
    env["DHUB_MLFLOW_TOKEN"] = token  # never needed by the test servers: only never shown
    hidden = [token]
    if backend.services is None:
        yield NotebookBackend(backend, backend.catalog_url, env, hidden)
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    role, password = unique_name("nb_"), secrets.token_urlsafe(18)
    schema = backend.catalog_schema
    admin = create_engine(backend.catalog_url)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'"))
        conn.execute(text(f'CREATE SCHEMA "{schema}" AUTHORIZATION {role}'))
    catalog = Catalog(backend.catalog_url, schema)
    migrate(catalog)  # as an administrator does: a shared catalog is not migrated by a notebook
    catalog.dispose()
    with admin.begin() as conn:
        for what in ("ALL TABLES IN SCHEMA", "ALL SEQUENCES IN SCHEMA"):
            conn.execute(text(f'GRANT ALL ON {what} "{schema}" TO {role}'))
    url = make_url(backend.catalog_url).set(username=role, password=password)
    catalog_url = url.render_as_string(hide_password=False)
    env["DHUB_CATALOG_URL"] = catalog_url
    env["DHUB_MLFLOW_TRACKING_URI"] = tracking.tracking_uri
    hidden += [password, backend.services.s3_secret_key]
    try:
        yield NotebookBackend(backend, catalog_url, env, hidden)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            conn.execute(text(f"DROP OWNED BY {role}"))
            conn.execute(text(f"DROP ROLE IF EXISTS {role}"))
        admin.dispose()


def run_notebook(name: str, nb_backend: NotebookBackend) -> tuple[object, str]:
    path = NOTEBOOKS / name
    env = {**nb_backend.env, "JPY_SESSION_NAME": str(path)}
    book = execute(path, env, cwd=NOTEBOOKS, timeout=NOTEBOOK_TIMEOUT_S)
    assert not errors(book)
    leaked = [s for s in nb_backend.hidden if any(s in text for text in output_texts(book))]
    assert not leaked, f"{name} printed {len(leaked)} credential(s)"
    return book, stdout(book)


def git_head() -> str | None:
    done = subprocess.run(
        ["git", "-C", str(NOTEBOOKS), "rev-parse", "HEAD"],
        check=False,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip() if done.returncode == 0 else None


def test_explore_a_version_records_the_notebook_as_the_producer(
    notebook_backend: NotebookBackend,
) -> None:
    name = "01-explore-a-version.ipynb"
    _, out = run_notebook(name, notebook_backend)
    assert f"NOTEBOOK RUN {NOTEBOOKS / name}" in out
    with notebook_backend.hub() as hub:
        latest = hub.resolve("demo/wine")
        assert latest.seq == 2
        producer = latest.producer or {}
        assert producer["notebook"] == str(NOTEBOOKS / name)
        assert producer["run"].startswith(f"store://demo/run/notebook/{name}:")
        run = get_run(hub, producer["run"])
    assert run["state"] == "success"
    assert run["created_by"] == "integration-tester"
    assert run["inputs"] == [hub_key_v1(notebook_backend)]
    assert run["parameters"]["user"] == "integration-tester"
    assert run["parameters"]["git_path"] == f"notebooks/{name}"
    assert run["parameters"]["git_commit"] == git_head()


def hub_key_v1(nb_backend: NotebookBackend) -> str:
    with nb_backend.hub() as hub:
        return hub.resolve("demo/wine:v1").key


def test_validate_and_profile(notebook_backend: NotebookBackend) -> None:
    _, out = run_notebook("02-validate-and-profile.ipynb", notebook_backend)
    assert "VALID False" in out
    assert "FAILED 1 expectation(s)" in out


def test_train_and_compare_with_the_champion(notebook_backend: NotebookBackend) -> None:
    _, out = run_notebook("03-train-and-compare-with-champion.ipynb", notebook_backend)
    assert "GATE " in out
    assert "CHAMPION store://demo/model/mlflow/wine-classifier:" in out


def test_query_with_sql(notebook_backend: NotebookBackend) -> None:
    name = "04-query-with-sql.ipynb"
    _, out = run_notebook(name, notebook_backend)
    assert "REFUSED QueryError" in out
    with notebook_backend.hub() as hub:
        producer = hub.resolve("demo/wine-by-class").producer or {}
    assert producer["run"].startswith(f"store://demo/run/notebook/{name}:")


def test_call_a_served_model(notebook_backend: NotebookBackend) -> None:
    _, out = run_notebook("05-call-a-served-model.ipynb", notebook_backend)
    assert "PREDICTIONS [" in out
    assert "REFUSED 400" in out
    assert "STOPPED stopped" in out


def test_every_notebook_is_tested_and_committed_without_outputs() -> None:
    import nbformat

    names = sorted(p.name for p in Path(NOTEBOOKS).glob("*.ipynb"))
    assert len(names) == 5
    for name in names:
        book = nbformat.read(NOTEBOOKS / name, as_version=4)
        assert all(not c.get("outputs") for c in book.cells if c.cell_type == "code"), name
