"""Store leases after a crash: a dead holder on this host is released at once; a live
holder, or a holder on another host, keeps its lease until its TTL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from digitalhub_airflow.catalog.models import StoreLease, utcnow
from digitalhub_airflow.datasets.leases import (
    COMMIT,
    holder_is_dead,
    host_id,
    new_owner,
    process_state,
)
from digitalhub_airflow.errors import ConflictError
from digitalhub_airflow.hub import DataHub
from tests.unit.dhub_testlib import Cli, cli_env, store_files, write

LINUX = sys.platform.startswith("linux")


def _leases(hub: DataHub) -> list[str]:
    with hub.catalog.session() as session:
        return list(session.scalars(select(StoreLease.owner).order_by(StoreLease.owner)))


def _add_lease(hub: DataHub, owner: str, mode: str = COMMIT) -> None:
    with hub.catalog.session() as session:
        session.add(StoreLease(owner=owner, mode=mode, acquired_at=utcnow()))


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """A live process of this host that is not this one."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def test_owner_records_host_pid_and_start_within_the_column() -> None:
    owner = new_owner()
    random_part, host, pid, start = owner.split(".")
    assert len(owner) <= 64  # StoreLease.owner is String(64)
    assert len(random_part) == 16 and host == host_id() and int(pid) == os.getpid()
    if LINUX:
        state = process_state(os.getpid())
        assert state is not None and int(start) == state[1]
    assert new_owner() != owner
    assert not holder_is_dead(owner), "this process is alive"


def test_a_lease_left_by_a_killed_commit_is_taken_over_by_gc_at_once(
    cli: Cli, tmp_path: Path
) -> None:
    source = write(tmp_path / "t.csv", "id,v\n1,x\n2,y\n")
    killed = cli.run(
        "commit",
        "demo/t",
        str(source),
        env=cli_env(cli.home, DHUB_FAILPOINT="commit.after_ingest", DHUB_LEASE_TTL="3600"),
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    with cli.hub() as hub:
        (owner,) = _leases(hub)
        assert holder_is_dead(owner)
        orphans = store_files(cli.store)
        assert orphans, "the killed commit stored its blob"
        # No TTL to wait for: the holder is gone, so gc takes the store now.
        report = hub.gc(grace=timedelta(0))
        assert len(report.deleted) == 1
        assert _leases(hub) == []
        assert hub.commit("demo/t", source).version.seq == 1


def test_a_lease_of_a_live_process_is_kept(ehub: DataHub, sleeper: subprocess.Popen[bytes]) -> None:
    owner = new_owner(sleeper.pid)
    _add_lease(ehub, owner)
    assert not holder_is_dead(owner)
    with pytest.raises(ConflictError, match="a commit is in progress"):
        ehub.gc(grace=timedelta(0))
    assert _leases(ehub) == [owner]
    sleeper.kill()
    sleeper.wait()
    assert holder_is_dead(owner)
    ehub.gc(grace=timedelta(0))
    assert _leases(ehub) == []


@pytest.mark.skipif(not LINUX, reason="zombies and start times are read from /proc")
def test_a_zombie_holder_is_dead(sleeper: subprocess.Popen[bytes]) -> None:
    owner = new_owner(sleeper.pid)
    os.kill(sleeper.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while (state := process_state(sleeper.pid)) is not None and state[0] != "Z":
        assert time.monotonic() < deadline, state
        time.sleep(0.01)
    os.kill(sleeper.pid, 0)  # not reaped yet: the pid still exists
    assert holder_is_dead(owner)


@pytest.mark.skipif(not LINUX, reason="start times are read from /proc")
def test_a_reused_pid_does_not_keep_a_dead_holders_lease() -> None:
    random_part, host, pid, start = new_owner().split(".")
    # The same pid, alive, but started at another time: another process took the pid.
    assert holder_is_dead(f"{random_part}.{host}.{pid}.{int(start) + 1}")
    assert not holder_is_dead(f"{random_part}.{host}.{pid}.{start}")


def test_a_lease_of_another_host_waits_for_its_ttl(
    ehub: DataHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    other_host = "0" * 12 if host_id() != "0" * 12 else "1" * 12
    gone = _gone_pid()
    remote = f"{'a' * 16}.{other_host}.{gone}.12345"
    legacy = "b" * 32  # an owner written before holders were recorded
    for owner in (remote, legacy):
        _add_lease(ehub, owner)
        assert not holder_is_dead(owner), "a pid of another host says nothing here"
    with pytest.raises(ConflictError):
        ehub.gc(grace=timedelta(0))
    assert _leases(ehub) == sorted([remote, legacy])

    monkeypatch.setenv("DHUB_LEASE_TTL", "60")
    with ehub.catalog.session() as session:
        session.execute(update(StoreLease).values(acquired_at=utcnow() - timedelta(seconds=61)))
    ehub.gc(grace=timedelta(0))
    with ehub.catalog.session() as session:
        assert session.scalar(select(func.count()).select_from(StoreLease)) == 0


def _gone_pid() -> int:
    """A pid no process of this host has now."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    with pytest.raises(ProcessLookupError):
        os.kill(proc.pid, 0)
    return proc.pid
