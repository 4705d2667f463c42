"""A real Airflow for benchmarks: ``airflow scheduler`` with the LocalExecutor and
``airflow api-server`` (the workers' execution API), metadata in a fresh database on the
test PostgreSQL. Every task runs in its own process, as in a deployment; ``airflow dags
test`` runs them all in one.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from benchlib import unique_name

VENV_BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def metadata_database(server_url: str) -> Iterator[str]:
    """A fresh database on the test PostgreSQL server for Airflow's metadata."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = unique_name("bench_airflow").replace("-", "_")
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@dataclass
class DagRunTimes:
    """A finished DAG run, from the metadata database."""

    span: float  #: first measured task's start to the last one's end, seconds
    busy: float  #: the measured tasks' durations, summed
    tasks: int  #: how many measured tasks succeeded


class Airflow:
    """A migrated Airflow home with ``dags`` (file name -> source), an API server for the
    whole session, and a scheduler per DAG run (so each run can get its own settings)."""

    def __init__(
        self, root: Path, metadata_url: str, dags: dict[str, str], env: dict[str, str]
    ) -> None:
        self.root = root
        self.port = _free_port()
        folder = root / "dags"
        folder.mkdir()
        for name, source in dags.items():
            (folder / name).write_text(source)
        self.env = {
            **os.environ,
            "AIRFLOW_HOME": str(root / "home"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url,
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(16),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{self.port}/execution/",
            "AIRFLOW__OPENLINEAGE__DISABLED": "True",
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            **env,
        }
        self.metadata_url = metadata_url
        self.procs: list[subprocess.Popen[bytes]] = []

    def cli(self, *args: str, timeout: int = 600) -> None:
        result = subprocess.run(
            [str(VENV_BIN / "airflow"), *args], env=self.env, capture_output=True, text=True,
            timeout=timeout, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(args)}: {result.stderr[-3000:]}")

    def start(self, name: str, *args: str, **env: str) -> subprocess.Popen[bytes]:
        log_file = (self.root / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            [str(VENV_BIN / "airflow"), *args], env={**self.env, **env},
            stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        """Stop a component and what it started (the LocalExecutor's worker processes
        outlive a scheduler that is only terminated itself)."""
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        self.procs.remove(proc)

    def __enter__(self) -> Airflow:
        self.cli("db", "migrate")
        self.cli("dags", "reserialize")
        self.start("api-server", "api-server", "-p", str(self.port))
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/v2/monitor/health")
                return self
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(self.tail("api-server")) from None
                time.sleep(1)

    def __exit__(self, *_: object) -> None:
        for proc in list(self.procs):
            self.stop(proc)

    def tail(self, name: str) -> str:
        return (self.root / f"{name}.log").read_text(errors="replace")[-3000:]

    def run_dag(
        self, dag_id: str, run_id: str, expected: int, task_id: str | None = None, **env: str
    ) -> DagRunTimes:
        """Trigger ``dag_id`` under a scheduler started with ``env``, wait for the run, and
        time its tasks (those named ``task_id``, or all); ``expected`` must succeed."""
        scheduler = self.start("scheduler", "scheduler", **env)
        try:
            self.cli("dags", "trigger", dag_id, "--run-id", run_id)
            return self._wait(dag_id, run_id, expected, task_id, scheduler)
        finally:
            self.stop(scheduler)

    def _wait(
        self,
        dag_id: str,
        run_id: str,
        expected: int,
        task_id: str | None,
        scheduler: subprocess.Popen[bytes],
    ) -> DagRunTimes:
        from sqlalchemy import create_engine, text

        engine = create_engine(self.metadata_url)
        run = {"d": dag_id, "r": run_id, "t": task_id}
        try:
            deadline = time.monotonic() + 1800
            state = None
            while time.monotonic() < deadline and scheduler.poll() is None:
                with engine.connect() as conn:
                    state = conn.execute(
                        text("SELECT state FROM dag_run WHERE dag_id = :d AND run_id = :r"), run
                    ).scalar()
                if state in ("success", "failed"):
                    break
                time.sleep(1)
            only_task = "AND task_id = :t" if task_id else ""
            with engine.connect() as conn:
                row = conn.execute(
                    text("SELECT count(*), min(start_date), max(end_date), sum(duration) "
                         "FROM task_instance WHERE dag_id = :d AND run_id = :r "
                         f"{only_task} AND state = 'success'"), run,
                ).one()  # fmt: skip
        finally:
            engine.dispose()
        if state != "success" or row[0] != expected:
            raise RuntimeError(
                f"{dag_id} run {run_id}: {state}, {row[0]} of {expected} tasks succeeded\n"
                + self.tail("scheduler")
            )
        span = (row[2] - row[1]).total_seconds()
        return DagRunTimes(span, float(row[3]), int(row[0]))
