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
from contextlib import contextmanager
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
    procs: list[subprocess.Popen[bytes]] = []

    def start(name: str, *args: str) -> None:
        with (logs / f"{name}.log").open("wb") as out:
            procs.append(
                subprocess.Popen(
                    [str(VENV_BIN / "airflow"), *args],
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )

    try:
        start("api", "api-server", "-p", str(port))
        health = f"http://127.0.0.1:{port}/api/v2/monitor/health"
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(health, timeout=5):
                    break
            except OSError:
                if time.monotonic() > deadline or procs[0].poll() is not None:
                    log = (logs / "api.log").read_text()[-3000:]
                    raise AssertionError(f"airflow api-server did not answer:\n{log}") from None
                time.sleep(1)
        start("scheduler", "scheduler")
        yield
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(30)


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
