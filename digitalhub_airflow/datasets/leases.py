"""A readers-writer lock on the blob store, kept in the catalog.

Commits hold shared ``commit`` leases while they upload and reference blobs; ``gc``
holds the one exclusive ``gc`` lease while it deletes. So ``gc`` can never delete a
blob that a running commit found present and is about to reference.

A lease left by a crashed process is released:

- at once, by the next acquisition (a commit's or gc's), when its holder is provably
  dead: it ran on this host, and its pid is gone, is a zombie, or now belongs to a
  process that started at another time (the start time from ``/proc/<pid>/stat``
  guards against pid reuse; without ``/proc`` a reused pid keeps the lease, until its TTL);
- otherwise after ``DHUB_LEASE_TTL`` seconds (default one hour): holders on other
  hosts, and leases written before holders were recorded.

The holder is recorded in the lease's ``owner`` (64 characters; no migration):
``<16 hex random>.<host id>.<pid>.<start time>``, where the host id is 12 hex digits of
the BLAKE2b digest of the host name, the kernel's boot id and the pid namespace: two
containers sharing a host name but not their pids are different hosts, and a rebooted
host does not trust its old pids.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select, text, update
from sqlalchemy.orm import Session

from digitalhub_airflow.catalog.engine import Catalog, catalog_schema, is_sqlite
from digitalhub_airflow.catalog.models import StoreLease, utcnow
from digitalhub_airflow.errors import ConflictError


class LeaseLostError(ConflictError):
    """A commit's lease expired before it could record its version."""


COMMIT = "commit"
GC = "gc"

log = logging.getLogger(__name__)
_OWNER = re.compile(r"^[0-9a-f]{16}\.([0-9a-f]{12})\.([0-9]{1,10})\.([0-9]{1,20})$")
_host: str | None = None


def host_id() -> str:
    """This host as leases record it: 12 hex digits (see the module docstring)."""
    global _host
    if _host is None:
        parts = [socket.gethostname(), _read_or_empty(_boot_id), _read_or_empty(_pid_namespace)]
        _host = hashlib.blake2b("\0".join(parts).encode(), digest_size=6).hexdigest()
    return _host


def _boot_id() -> str:
    return Path("/proc/sys/kernel/random/boot_id").read_text().strip()


def _pid_namespace() -> str:
    return os.readlink("/proc/self/ns/pid")


def _read_or_empty(read: Callable[[], str]) -> str:
    try:
        return read()
    except OSError:
        return ""


def process_state(pid: int) -> tuple[str, int] | None:
    """(state letter, start time in clock ticks after boot) from ``/proc``, or ``None``."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ")".
    fields = stat[stat.rfind(b")") + 2 :].split()
    try:
        return fields[0].decode(), int(fields[19])
    except (IndexError, ValueError):
        return None


def new_owner(pid: int | None = None) -> str:
    """A fresh lease owner naming this process (``pid`` defaults to this one)."""
    pid = os.getpid() if pid is None else pid
    state = process_state(pid)
    start = state[1] if state else 0
    return f"{uuid.uuid4().hex[:16]}.{host_id()}.{pid}.{start}"


def holder_is_dead(owner: str) -> bool:
    """Whether the process that holds a lease is provably gone (same host only)."""
    match = _OWNER.match(owner)
    if match is None or match.group(1) != host_id():
        return False  # a remote holder, or an owner from before holders were recorded
    pid, start = int(match.group(2)), int(match.group(3))
    if pid <= 0 or os.name != "posix":  # os.kill(pid, 0) probes only on POSIX
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # alive, another user's
    except OverflowError:
        return False
    state = process_state(pid)
    if state is None:
        return False  # no /proc: the pid is alive, maybe reused; the TTL decides
    letter, started = state
    # A zombie is dead; a pid started at another time than recorded was reused.
    return letter in ("Z", "X") or start not in (0, started)


def lease_ttl() -> timedelta:
    return timedelta(seconds=float(os.environ.get("DHUB_LEASE_TTL", "3600")))


def _try_acquire(catalog: Catalog, owner: str, mode: str) -> str | None:
    """Insert a lease unless a conflicting live one exists; return the blocker's mode."""
    with catalog.session() as session:
        if not is_sqlite(catalog.engine):
            schema = catalog_schema(catalog.engine)
            session.execute(text(f'LOCK TABLE "{schema}".dhub_store_leases IN EXCLUSIVE MODE'))
        stale = datetime.now(timezone.utc) - lease_ttl()
        session.execute(delete(StoreLease).where(StoreLease.acquired_at < stale))
        dead = [o for o in session.scalars(select(StoreLease.owner)) if holder_is_dead(o)]
        if dead:
            log.info("released %d store leases of dead local processes: %s", len(dead), dead)
            session.execute(delete(StoreLease).where(StoreLease.owner.in_(dead)))
        blocking = GC if mode == COMMIT else None
        query = select(StoreLease.mode)
        if blocking is not None:
            query = query.where(StoreLease.mode == blocking)
        blocker = session.scalars(query.limit(1)).first()
        if blocker is not None:
            return blocker
        session.add(StoreLease(owner=owner, mode=mode, acquired_at=utcnow()))
    return None


def _release(catalog: Catalog, owner: str) -> None:
    with catalog.session() as session:
        session.execute(delete(StoreLease).where(StoreLease.owner == owner))


def renew(catalog: Catalog, owner: str) -> bool:
    """Refresh a lease's time; ``False`` when it is gone (expired and removed)."""
    with catalog.session() as session:
        # An UPDATE statement's result is a CursorResult, which has the row count.
        result = cast(
            "CursorResult[Any]",
            session.execute(
                update(StoreLease).where(StoreLease.owner == owner).values(acquired_at=utcnow())
            ),
        )
        return bool(result.rowcount)


def hold(session: Session, owner: str) -> None:
    """Inside a commit's transaction: lock our lease row, or fail if it expired.

    The row lock makes a concurrent ``gc`` (which removes expired leases before it
    scans) wait for this transaction, so it then sees the version this commit adds.
    """
    held = session.scalars(
        select(StoreLease.owner).where(StoreLease.owner == owner).with_for_update()
    ).first()
    if held is None:
        raise LeaseLostError(
            "this commit's store lease expired (DHUB_LEASE_TTL) and gc may have run; commit again"
        )


class Lease(threading.Thread):
    """A held lease, renewed every third of its TTL by this thread until released."""

    def __init__(self, catalog: Catalog, owner: str) -> None:
        super().__init__(name="dhub-lease-renewer", daemon=True)
        self.catalog, self.owner = catalog, owner
        self.stopped = threading.Event()
        self.lost = False
        self.renewed_at = time.monotonic()

    def run(self) -> None:
        interval = max(lease_ttl().total_seconds() / 3, 0.05)
        while not self.stopped.wait(interval):
            try:
                if not renew(self.catalog, self.owner):
                    self.lost = True
                    return
                self.renewed_at = time.monotonic()
            except Exception:  # a failed renewal shows in held() and in hold()
                continue

    def held(self) -> bool:
        """Whether the lease is surely still ours (renewed within two thirds of its TTL)."""
        fresh = time.monotonic() - self.renewed_at < lease_ttl().total_seconds() * 2 / 3
        return not self.lost and fresh


@contextmanager
def _holding(catalog: Catalog, owner: str) -> Iterator[Lease]:
    lease = Lease(catalog, owner)
    lease.start()
    try:
        yield lease
    finally:
        lease.stopped.set()
        lease.join()
        _release(catalog, owner)


def wait_until(acquired: Callable[[], bool], wait_s: float, message: str, max_delay: float) -> None:
    """Retry ``acquired`` with jittered exponential backoff; ``ConflictError(message)``
    once ``wait_s`` has passed (waiting on gc, on another champion gate)."""
    deadline = time.monotonic() + wait_s
    delay = 0.05
    while not acquired():
        if time.monotonic() > deadline:
            raise ConflictError(message)
        time.sleep(delay * (1 + random.random()))
        delay = min(delay * 2, max_delay)


@contextmanager
def commit_lease(catalog: Catalog, wait_s: float = 600.0) -> Iterator[Lease]:
    """Hold a shared, self-renewing lease for a commit, waiting (bounded) while gc runs."""
    owner = new_owner()
    wait_until(
        lambda: _try_acquire(catalog, owner, COMMIT) is None,
        wait_s,
        f"gc has held the store for over {wait_s:.0f}s; commit again later",
        max_delay=2.0,
    )
    with _holding(catalog, owner) as lease:
        yield lease


@contextmanager
def gc_lease(catalog: Catalog) -> Iterator[Lease]:
    """Hold the exclusive, self-renewing lease for gc; refuse while commits are running."""
    owner = new_owner()
    blocker = _try_acquire(catalog, owner, GC)
    if blocker is not None:
        raise ConflictError(f"a {blocker} is in progress on this store; run gc again later")
    with _holding(catalog, owner) as lease:
        yield lease
