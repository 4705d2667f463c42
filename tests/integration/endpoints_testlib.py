"""The SQL endpoint and Flight running in-process on a test hub, a token per user, and
the ``psql`` binary found the way the tests and benchmarks look for it."""

from __future__ import annotations

import glob
import secrets
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from digitalhub_airflow.access import Principal
from digitalhub_airflow.access.tokens import issue


def find_psql() -> str | None:
    """``psql`` on PATH, else the newest under /usr/lib/postgresql/*/bin (Debian's
    postgresql-client, as scripts/services/postgres.sh installs it)."""
    found = shutil.which("psql") or sorted(glob.glob("/usr/lib/postgresql/*/bin/psql"))[-1:]
    return found if isinstance(found, str) else (found[0] if found else None)


@dataclass
class Endpoints:
    sql_port: int
    flight_port: int
    secret: bytes

    def token(self, user: str, *roles: str) -> str:
        return issue(Principal.of_user(user, roles), self.secret, 600)

    def dsn(self, user: str, project: str, token: str | None = None) -> str:
        return (
            f"postgresql://{user}:{token or self.token(user)}@127.0.0.1:{self.sql_port}/{project}"
        )

    def flight(self, user: str) -> tuple[Any, Any]:
        """A stock pyarrow Flight client and its call options, logged in as ``user``."""
        import pyarrow.flight as fl

        client = fl.FlightClient(f"grpc://127.0.0.1:{self.flight_port}")
        header = client.authenticate_basic_token(user, self.token(user))
        return client, fl.FlightCallOptions(headers=[header])


@contextmanager
def running_endpoints(hub: Any) -> Iterator[Endpoints]:
    """Both servers on free ports, on ``hub``, until the block ends."""
    from digitalhub_airflow.endpoints.flight import FlightServer
    from digitalhub_airflow.endpoints.pgwire import SqlServer
    from digitalhub_airflow.endpoints.session import TableCache

    secret = secrets.token_bytes(32)
    cache = TableCache()
    sql = SqlServer(("127.0.0.1", 0), hub, secret, cache)
    flight = FlightServer("grpc://127.0.0.1:0", hub, secret, cache)
    threads = [
        threading.Thread(target=sql.serve_forever, daemon=True),
        threading.Thread(target=flight.serve, daemon=True),
    ]
    for thread in threads:
        thread.start()
    try:
        yield Endpoints(sql.server_address[1], flight.port, secret)
    finally:
        sql.shutdown()
        sql.server_close()
        flight.shutdown()


def sample_tables(hub: Any) -> dict[str, str]:
    """``demo/wine`` (two versions, @champion-data on v1) and ``other/secret``."""
    import pyarrow as pa

    wine = pa.table({"id": [1, 2, 3], "quality": [5.5, 6.0, None], "name": ["a", "b\tc", "d"]})
    v1 = hub.commit("demo/wine", wine).key
    hub.tag(v1, "champion-data")
    v2 = hub.commit("demo/wine", wine.slice(0, 2)).key
    secret = hub.commit("other/secret", pa.table({"pin": [1234]})).key
    return {"wine_v1": v1, "wine_v2": v2, "secret": secret}
