"""The process manager of local services, against a real (tiny) HTTP server process:
detached start, readiness wait, stop by pid, and each failure a typed error with the
server's own log, leaving no process behind."""

from __future__ import annotations

import socket
import sys
import textwrap
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from digitalhub_airflow.errors import DeploymentError
from digitalhub_airflow.serving.deploy.local_process import (
    free_port,
    is_running,
    port_in_use,
    start_process,
    stop_process,
)

SERVER = textwrap.dedent(
    """
    import sys, time
    from http.server import BaseHTTPRequestHandler, HTTPServer
    print("loading model", flush=True)
    time.sleep(float(sys.argv[2]))
    class Ready(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path == sys.argv[3] else 404)
            self.end_headers()
    HTTPServer(("127.0.0.1", int(sys.argv[1])), Ready).serve_forever()
    """
)
MARKER = "--service wine --project demo"


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "server.py"
    path.write_text(SERVER, encoding="utf-8")
    return path


@pytest.fixture
def started() -> Iterator[list[int]]:
    """Pids a test started; whatever still runs is stopped after it."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        stop_process(pid, MARKER)


def argv(script: Path, port: int, delay: float = 0.5, path: str = "/v2/health/ready") -> list:
    return [sys.executable, str(script), str(port), str(delay), path, *MARKER.split()]


def test_a_server_is_started_detached_waited_for_and_stopped_by_pid(
    script: Path, tmp_path: Path, started: list[int]
) -> None:
    port = free_port("127.0.0.1")
    log = tmp_path / "logs" / "wine.log"
    process = start_process(
        argv(script, port), {}, host="127.0.0.1", port=port, log_path=log, timeout=30
    )
    started.append(process.pid)
    assert process.url == f"http://127.0.0.1:{port}"
    with urllib.request.urlopen(process.url + "/v2/health/ready", timeout=5) as response:
        assert response.status == 200
    assert is_running(process.pid, MARKER)
    assert "loading model" in log.read_text()
    assert not stop_process(process.pid, "--service other --project demo")  # not that service
    assert is_running(process.pid, MARKER)
    assert stop_process(process.pid, MARKER)
    assert not is_running(process.pid)
    with pytest.raises(OSError):
        urllib.request.urlopen(process.url + "/v2/health/ready", timeout=2)
    assert not stop_process(process.pid, MARKER)  # already gone: nothing to do


def test_a_server_that_exits_before_ready_is_an_error_with_its_log(
    tmp_path: Path, started: list[int]
) -> None:
    port = free_port("127.0.0.1")
    crash = [sys.executable, "-c", "import sys; print('cannot load model x'); sys.exit(3)"]
    with pytest.raises(DeploymentError) as raised:
        start_process(crash, {}, host="127.0.0.1", port=port, log_path=tmp_path / "x.log")
    assert "exited with code 3" in str(raised.value)
    assert "cannot load model x" in str(raised.value)


def test_a_server_never_ready_is_killed_after_the_timeout(
    script: Path, tmp_path: Path, started: list[int]
) -> None:
    port = free_port("127.0.0.1")
    never = argv(script, port, delay=0, path="/never")
    with pytest.raises(DeploymentError, match="not ready") as raised:
        start_process(
            never, {}, host="127.0.0.1", port=port, log_path=tmp_path / "n.log", timeout=3
        )
    assert "loading model" in str(raised.value)
    assert not port_in_use("127.0.0.1", port)  # the process is gone


def test_a_port_in_use_is_refused_before_starting(script: Path, tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        log = tmp_path / "busy.log"
        with pytest.raises(DeploymentError, match=f"port {port} on 127.0.0.1 is in use"):
            start_process(argv(script, port), {}, host="127.0.0.1", port=port, log_path=log)
        assert not log.exists()
