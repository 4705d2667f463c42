"""A model server as a managed local process: start detached, wait until ready, stop by pid.

The process outlives the task that started it (its own session, output to a log file
under ``DHUB_HOME/services``), so a later task, or another machine's catalog reader,
finds it by the pid recorded with the service. A pid can be reused after a reboot or a
crash, so a stop first checks that the pid still runs this service's command line.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from digitalhub_airflow.errors import DeploymentError

READY_PATH = "/v2/health/ready"
LOG_TAIL_BYTES = 4000


@dataclass(frozen=True)
class StartedProcess:
    pid: int
    url: str
    log_path: Path


def port_in_use(host: str, port: int) -> bool:
    """Whether a server listens on ``port``; as servers bind (SO_REUSEADDR), so the
    closed connections of a server just stopped do not count."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def log_tail(path: Path, size: int = LOG_TAIL_BYTES) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(max(0, handle.seek(0, os.SEEK_END) - size))
            return handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def start_process(
    argv: list[str],
    env: dict[str, str],
    *,
    host: str,
    port: int,
    log_path: Path,
    timeout: float = 180.0,
    ready_path: str = READY_PATH,
) -> StartedProcess:
    """Start ``argv`` detached and return once ``ready_path`` answers 200.

    A process that exits or is not ready within ``timeout`` is killed and reported with
    the tail of its log; nothing keeps running after a failure.
    """
    if port_in_use(host, port):
        raise DeploymentError(f"port {port} on {host} is in use: choose another port")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            argv,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # not killed with the starting task's process group
        )
    url = f"http://{host}:{port}"
    deadline = time.monotonic() + timeout
    while True:
        code = process.poll()
        if code is not None:
            raise DeploymentError(
                f"the server exited with code {code} before it was ready; log {log_path}:\n"
                f"{log_tail(log_path)}"
            )
        if _ready(url + ready_path):
            return StartedProcess(process.pid, url, log_path)
        if time.monotonic() > deadline:
            _terminate(process.pid, 10.0)
            raise DeploymentError(
                f"the server was not ready at {url}{ready_path} within {timeout:.0f} s; "
                f"log {log_path}:\n{log_tail(log_path)}"
            )
        time.sleep(0.2)


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def is_running(pid: int, marker: str | None = None) -> bool:
    """Whether ``pid`` is a live process (not a zombie) whose command line holds ``marker``."""
    if sys.platform.startswith("linux"):
        proc = Path(f"/proc/{pid}")
        try:
            stat = (proc / "stat").read_text()
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            return False
        if stat.rsplit(")", 1)[-1].split()[0] in ("Z", "X"):
            return False
        return marker is None or marker in cmdline
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def stop_process(pid: int, marker: str, timeout: float = 20.0) -> bool:
    """Stop the process ``pid`` if it still runs ``marker``; True if one was stopped."""
    if not is_running(pid, marker):
        return False
    _terminate(pid, timeout)
    return True


def _terminate(pid: int, timeout: float) -> None:
    """SIGTERM (the server flushes its request log), SIGKILL after ``timeout``."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)  # the server and any worker processes it forked
        except ProcessLookupError:
            return
        except PermissionError:
            os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            _reap(pid)
            if not is_running(pid):
                return
            time.sleep(0.1)
    if is_running(pid):
        raise DeploymentError(f"process {pid} did not stop")


def _reap(pid: int) -> None:
    """Collect our own child's exit status, so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
