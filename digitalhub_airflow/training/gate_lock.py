"""One champion gate at a time per registered model, across processes and hosts.

A gate reads the current champion, evaluates it and moves the alias: two gates of the
same model running at once could both read the old champion and both move the alias,
so the weaker model might win. The gate therefore holds a lock named after the model,
kept where every worker of the deployment already meets, the catalog:

- PostgreSQL: a session advisory lock on a connection held for the gate;
- SQLite (one machine): an exclusive ``flock`` on a file beside the catalog database.

Both are released by the server or the kernel when the holder dies, so a crashed gate
never leaves the model locked. A waiting gate polls with backoff and gives up with a
:class:`~digitalhub_airflow.errors.ConflictError` after ``wait_s``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text

from digitalhub_airflow.catalog.engine import catalog_schema, is_sqlite
from digitalhub_airflow.datasets.leases import wait_until

if TYPE_CHECKING:
    from digitalhub_airflow.catalog.engine import Catalog

#: How long a gate waits for another gate of the same model (seconds).
GATE_WAIT_S = 1800.0


def _lock_id(namespace: str, registered_name: str) -> int:
    """A signed 64-bit advisory-lock key for this catalog (database/schema) and model."""
    digest = hashlib.blake2b(f"dhub-gate\0{namespace}\0{registered_name}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big", signed=True)


@contextmanager
def gate_lock(
    catalog: Catalog, registered_name: str, wait_s: float = GATE_WAIT_S
) -> Iterator[None]:
    """Hold the gate lock of ``registered_name`` for the ``with`` block."""
    if is_sqlite(catalog.engine):
        with _file_lock(catalog, registered_name, wait_s):
            yield
    else:
        with _advisory_lock(catalog, registered_name, wait_s):
            yield


def _wait_for(try_lock: Callable[[], bool], registered_name: str, wait_s: float) -> None:
    message = (
        f"another champion gate of {registered_name} has run for over {wait_s:.0f}s; "
        "select again later"
    )
    wait_until(try_lock, wait_s, message, max_delay=1.0)


@contextmanager
def _advisory_lock(catalog: Catalog, registered_name: str, wait_s: float) -> Iterator[None]:
    namespace = f"{catalog.engine.url.database}/{catalog_schema(catalog.engine) or ''}"
    key = _lock_id(namespace, registered_name)
    with catalog.engine.connect() as conn:

        def try_lock() -> bool:
            locked = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
            conn.commit()
            return bool(locked)

        _wait_for(try_lock, registered_name, wait_s)
        try:
            yield
        finally:
            try:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()
            except Exception:
                # A session lock outlives a pooled connection: close it for real instead.
                conn.invalidate()
                raise


@contextmanager
def _file_lock(catalog: Catalog, registered_name: str, wait_s: float) -> Iterator[None]:
    import fcntl

    database = catalog.engine.url.database
    if not database or database == ":memory:":  # one process: nothing to share a lock with
        yield
        return
    digest = hashlib.blake2b(registered_name.encode(), digest_size=8).hexdigest()
    path = Path(f"{database}.gate-{digest}.lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:

        def try_lock() -> bool:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            return True

        _wait_for(try_lock, registered_name, wait_s)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
