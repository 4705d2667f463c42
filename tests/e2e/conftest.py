"""Airflow itself, for end-to-end tests: a migrated AIRFLOW_HOME and a dags folder holding
the repo's reference DAGs plus the test DAGs of tests/e2e/dags."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.conftest import REPO, Backend, RealServices
from tests.kube_apiserver import KubeApiServer

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


def migrated_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One ``airflow db migrate`` per test run: the first xdist worker to get here migrates
    an empty metadata database in the run's shared temp folder, the others wait on the
    lock and copy it."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    template = shared / "airflow-migrated"
    with (shared / "airflow-migrated.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (template / "done").exists():
            shutil.rmtree(template, ignore_errors=True)
            (template / "dags").mkdir(parents=True)
            AirflowEnv(template / "home", template / "dags").run("db", "migrate", timeout=600)
            (template / "done").touch()
    return template / "home" / "airflow.db"


@pytest.fixture(scope="session")
def airflow(tmp_path_factory: pytest.TempPathFactory) -> AirflowEnv:
    root = tmp_path_factory.mktemp("airflow")
    dags = root / "dags"
    shutil.copytree(REPO / "dags", dags, ignore=shutil.ignore_patterns("__pycache__"))
    for dag in (Path(__file__).parent / "dags").glob("*.py"):
        shutil.copy(dag, dags / dag.name)
    (root / "home").mkdir()
    shutil.copy(migrated_database(tmp_path_factory), root / "home" / "airflow.db")
    return AirflowEnv(root / "home", dags)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def airflow_process(
    args: list[str], env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """``airflow ARGS`` in its own process group, output to ``log``; the whole group is
    stopped on exit (SIGTERM, then SIGKILL after a minute)."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(VENV_BIN / "airflow"), *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield proc
    finally:
        with suppress(ProcessLookupError):  # the group may have ended already
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


def wait_for(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 420) -> None:
    """Until ``url`` answers 200; a process that exits first fails with its log's tail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"airflow exited {proc.returncode}:\n{tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(2)
    raise AssertionError(f"airflow did not answer {url} in {timeout}s:\n{tail(log)}")


def tail(log: Path) -> str:
    return log.read_text(errors="replace")[-4000:] if log.exists() else "(no log)"


@contextmanager
def scheduler(airflow: AirflowEnv, env: dict[str, str], logs: Path) -> Iterator[None]:
    """A real ``airflow api-server`` + ``airflow scheduler`` (LocalExecutor, a process per
    task) on this AIRFLOW_HOME, as in a deployment; their logs go to ``logs``."""
    port = free_port()
    env = airflow.env(
        {
            **env,
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        }
    )
    logs.mkdir(parents=True, exist_ok=True)
    api_log = logs / "api.log"
    with airflow_process(["api-server", "-p", str(port)], env, api_log) as api:
        wait_for(f"http://127.0.0.1:{port}/api/v2/monitor/health", api, api_log, timeout=120)
        with airflow_process(["scheduler"], env, logs / "scheduler.log"):
            yield


def catalog_env(backend: Backend) -> dict[str, str]:
    """DHUB_* variables on the embedded backend; Airflow connections on the real one."""
    env = backend.env()
    if backend.services is None:
        return env
    catalog, store = backend.connections()
    for name in (
        "DHUB_CATALOG_URL",
        "DHUB_STORE_URL",
        "DHUB_CATALOG_SCHEMA",
        "AWS_ENDPOINT_URL_S3",
    ):
        env.pop(name, None)
    env["AIRFLOW_CONN_DHUB_CATALOG"] = json.dumps(catalog)
    env["AIRFLOW_CONN_DHUB_STORE"] = json.dumps(store)
    return env


# -- Kubernetes workloads: the API-server stand-in and connections without credentials ----
SECRET = "dhub-credentials"


@pytest.fixture
def kube() -> Iterator[KubeApiServer]:
    server = KubeApiServer().start()
    yield server
    server.stop()


@pytest.fixture
def real_backend(
    real_services: RealServices, pg_schema: str, s3_bucket: str, tmp_path: Path
) -> Backend:
    home = tmp_path / "dhub-home"
    home.mkdir()
    store = f"s3://{s3_bucket}/store"
    backend = Backend("real", real_services.pg_url, pg_schema, store, home, real_services)
    with backend.hub() as hub:
        hub.init()
    return backend


def task_env(backend: Backend, kube: KubeApiServer | None) -> dict[str, str]:
    """Connections only: no credential in the task's own environment variables."""
    env = catalog_env(backend)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL_S3"):
        env.pop(name, None)
    if kube is not None:
        conn = {"conn_type": "kubernetes", "extra": {"kube_config": json.dumps(kube.kubeconfig())}}
        env["AIRFLOW_CONN_KUBERNETES_DEFAULT"] = json.dumps(conn)
    return env


def secrets_of(backend: Backend) -> dict[str, str]:
    assert backend.services is not None
    return {
        "PGPASSWORD": str(make_url(backend.catalog_url).password),
        "AWS_ACCESS_KEY_ID": backend.services.s3_access_key,
        "AWS_SECRET_ACCESS_KEY": backend.services.s3_secret_key,
    }
