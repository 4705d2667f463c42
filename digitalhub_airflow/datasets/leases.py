"""A readers-writer lock on the blob store, kept in the catalog.

Commits hold shared ``commit`` leases while they upload and reference blobs; ``gc``
holds the one exclusive ``gc`` lease while it deletes. So ``gc`` can never delete a
blob that a running commit found present and is about to reference. Leases left by a
crashed process expire after ``DHUB_LEASE_TTL`` seconds (default one hour).
"""

from __future__ import annotations

import os
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
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
    owner = uuid.uuid4().hex
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
    owner = uuid.uuid4().hex
    blocker = _try_acquire(catalog, owner, GC)
    if blocker is not None:
        raise ConflictError(f"a {blocker} is in progress on this store; run gc again later")
    with _holding(catalog, owner) as lease:
        yield lease
