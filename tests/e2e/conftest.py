"""Airflow itself, for end-to-end tests: a migrated AIRFLOW_HOME and a dags folder holding
the repo's reference DAGs plus the test DAGs of tests/e2e/dags."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

VENV_BIN = Path(sys.executable).parent


class AirflowEnv:
    def __init__(self, home: Path, dags: Path) -> None:
        self.home = home
        self.dags = dags

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {
            **os.environ,
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__OPENLINEAGE__DISABLED": "True",
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        env.update(extra or {})
        return env

    def run(
        self, *args: str, env: dict[str, str] | None = None, check: bool = True, timeout: int = 300
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(VENV_BIN / "airflow"), *args],
            env=self.env(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"airflow {' '.join(args)} exited {result.returncode}\n"
                f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
            )
        return result


@pytest.fixture(scope="session")
def airflow(tmp_path_factory: pytest.TempPathFactory) -> AirflowEnv:
    root = tmp_path_factory.mktemp("airflow")
    dags = root / "dags"
    shutil.copytree(REPO / "dags", dags, ignore=shutil.ignore_patterns("__pycache__"))
    for dag in (Path(__file__).parent / "dags").glob("*.py"):
        shutil.copy(dag, dags / dag.name)
    env = AirflowEnv(root / "home", dags)
    env.run("db", "migrate", timeout=600)
    return env
