"""Integration fixtures: the installed ``dhub`` console script run against a backend.

Built on ``tests/conftest.py``: ``backend`` (embedded SQLite + folder, or the real
PostgreSQL schema + S3 bucket) and ``hub``. Nothing here is mocked.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from ._helpers import DHUB

if TYPE_CHECKING:
    from conftest import Backend

    from digitalhub_airflow.training.tracking import TrackingConfig

#: Variables of the test process that must not leak into a ``dhub`` subprocess.
_SCRUBBED = (
    "DHUB_FAILPOINT",
    "DHUB_LEASE_TTL",
    "AIRFLOW_CTX_DAG_ID",
    "AIRFLOW_CTX_DAG_RUN_ID",
    "AIRFLOW_CTX_TASK_ID",
    "AIRFLOW_CTX_TRY_NUMBER",
)


@dataclass
class Dhub:
    """Runs the installed ``dhub`` script on one backend (``Backend.env()``)."""

    backend: Backend

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in self.backend.env().items() if k not in _SCRUBBED}
        env.update(extra)
        return env

    def popen(self, *args: str, **extra_env: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [str(DHUB), *args],
            env=self.env(**extra_env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=self.backend.home,
        )

    def run(
        self, *args: str, timeout: float = 180, **extra_env: str
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(DHUB), *args],
            env=self.env(**extra_env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd=self.backend.home,
        )

    def ok(self, *args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
        proc = self.run(*args, **extra_env)
        assert proc.returncode == 0, (
            f"dhub {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}"
        )
        return proc

    def json(self, *args: str, **extra_env: str) -> Any:
        return json.loads(self.ok(*args, "--json", **extra_env).stdout)


@pytest.fixture
def dhub(backend: Backend) -> Dhub:
    return Dhub(backend)


@pytest.fixture(autouse=True)
def _clean_process_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No failpoint, lease TTL or Airflow task context inherited from the shell."""
    for name in _SCRUBBED:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DHUB_USER", "integration-tester")


@pytest.fixture
def tracking(backend: Backend) -> TrackingConfig:
    """The embedded MLflow with the embedded catalog; the MLflow server with the real one."""
    import os

    from digitalhub_airflow.training.tracking import TrackingConfig, embedded_tracking
    from tests.conftest import _missing

    if backend.services is None:
        return embedded_tracking(backend.home)
    uri = os.environ.get("DHUB_TEST_MLFLOW_URI")
    if not uri:
        _missing("the MLflow server (DHUB_TEST_MLFLOW_URI)")
    return TrackingConfig(uri)
