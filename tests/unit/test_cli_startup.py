"""`dhub` loads only what the chosen command needs: `--help` imports no SQLAlchemy, and
`log`, `show` and `tag` no Alembic (the schema's head is read from the migration files),
pandas, pyarrow, Great Expectations or MLflow, and `log` and `show` not the tables of
other features; `drift` of Parquet versions with stored profiles loads DuckDB, not Arrow.
Measured in a fresh interpreter, as a user's shell starts it (bench/ times it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = (
    "sqlalchemy", "alembic", "pandas", "pyarrow", "great_expectations", "mlflow", "duckdb",
    "sklearn",
)  # fmt: skip
#: Tables a catalog read needs not (their PostgreSQL index loads that dialect).
SEARCH = "digitalhub_airflow.catalog.models.search"
PROBE = """
import sys
from digitalhub_airflow.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
print("LOADED", ",".join(m for m in {watched!r} if m in sys.modules), file=sys.stderr)
sys.exit(code)
"""


def run_dhub(home: Path, *args: str) -> tuple[int, str, set[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DHUB_")}
    env["DHUB_HOME"] = str(home)
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(watched=(*HEAVY, SEARCH)), *args],
        check=False, capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    loaded = next(line for line in done.stderr.splitlines() if line.startswith("LOADED"))
    return done.returncode, done.stdout + done.stderr, set(filter(None, loaded[7:].split(",")))


def test_help_imports_nothing_heavy_and_lists_every_command(tmp_path: Path) -> None:
    code, out, loaded = run_dhub(tmp_path, "--help")
    assert code == 0 and loaded == set()
    for command in ("commit", "log", "validate", "lineage", "query", "serve", "deploy"):
        assert command in out


def test_a_commands_help_loads_its_module_only(tmp_path: Path) -> None:
    code, out, loaded = run_dhub(tmp_path, "drift", "--help")
    assert code == 0
    assert "--psi-warn" in out and "--js-fail" in out  # its own arguments are there
    assert not {"mlflow", "sklearn"} & loaded


@pytest.fixture(scope="module")
def committed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("home")
    source = home / "rows.csv"
    source.write_text("a,b\n1,2\n3,4\n")
    code, out, _ = run_dhub(home, "commit", "demo/rows", str(source))
    assert code == 0, out
    return home


@pytest.mark.parametrize(
    "args", [("log", "demo/rows"), ("show", "demo/rows"), ("tag", "demo/rows", "prod")]
)
def test_catalog_commands_import_no_data_library(committed: Path, args: tuple[str, ...]) -> None:
    code, out, loaded = run_dhub(committed, *args)
    assert code == 0, out
    assert loaded <= {"sqlalchemy"}, loaded


@pytest.mark.parametrize("args", [("log", "demo/rows"), ("show", "demo/rows")])
def test_catalog_reads_load_their_tables_only(committed: Path, args: tuple[str, ...]) -> None:
    code, out, loaded = run_dhub(committed, *args)
    assert code == 0, out
    assert loaded == {"sqlalchemy"}, loaded


def test_drift_with_stored_profiles_reads_parquet_with_duckdb_alone(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    values = [0.5, 1.5, 2.5, 3.5]
    for seq, ordered in enumerate([values, values[::-1]], 1):  # new bytes, same distribution
        pq.write_table(pa.table({"x": ordered, "s": ["a", "b", "a", "c"]}), tmp_path / f"{seq}.pq")
        code, out, _ = run_dhub(tmp_path, "commit", "demo/t", str(tmp_path / f"{seq}.pq"))
        assert code == 0, out
    code, out, loaded = run_dhub(tmp_path, "drift", "demo/t:v1", "demo/t:v2")  # profiles both
    assert code == 0 and "status OK" in out, out
    # pyarrow reads the files; its ``to_numpy`` would pull in pandas (~0.3 s)
    assert not {"alembic", "great_expectations", "mlflow", "sklearn", "pandas"} & loaded, loaded
    code, out, loaded = run_dhub(tmp_path, "drift", "demo/t:v1", "demo/t:v2")
    assert code == 0 and "x " in out and "psi=0.0000" in out, out
    assert loaded == {"sqlalchemy", "duckdb"}, loaded


def test_an_unknown_command_is_one_usage_error(tmp_path: Path) -> None:
    code, out, loaded = run_dhub(tmp_path, "frobnicate")
    assert code == 2 and "invalid choice: 'frobnicate'" in out and loaded == set()


def test_the_head_revision_read_from_the_files_is_alembics(tmp_path: Path) -> None:
    from alembic.script import ScriptDirectory

    from digitalhub_airflow.catalog.migrate import MIGRATIONS, head_revision
    from digitalhub_airflow.errors import CatalogError

    assert head_revision() == ScriptDirectory(str(MIGRATIONS)).get_current_head() != ""
    versions = tmp_path / "versions"
    versions.mkdir()
    (versions / "0001_a.py").write_text('revision = "0001"\ndown_revision = None\n')
    (versions / "0002_b.py").write_text("revision: str = '0002'\ndown_revision = '0001'\n")
    assert head_revision(tmp_path) == "0002"
    (versions / "0003_c.py").write_text('revision = "0003"\ndown_revision = "0001"\n')
    with pytest.raises(CatalogError, match="several heads: 0002, 0003"):
        head_revision(tmp_path)
    (versions / "0004_merge.py").write_text('revision = "0004"\ndown_revision = ("0002", "0003")\n')
    assert head_revision(tmp_path) == "0004"
