"""The operational store's PostgreSQL tables in the SQL endpoint, read-only, as ``ops.<name>``.

An allow-list per project in ``DHUB_SQL_OPERATIONAL`` (JSON)::

    {"demo": {"url_env": "DEMO_OPS_URL", "tables": ["public.orders", "sales.items"],
              "max_rows": 100000}}

``tables`` is a list of ``schema.table`` (shown as ``ops.<table>``) or a mapping
``{"name": "schema.table"}``. The connection URL, password included, comes only from the
environment variable ``url_env`` names (a Kubernetes Secret): it is in no configuration,
and no error or log shows it. A statement naming ``ops.orders`` reads that table, in a
READ ONLY REPEATABLE READ transaction of its own, into Arrow; a table over ``max_rows``
rows (default 1,000,000) is refused with SQLSTATE 54000 instead of filling memory. The
only SQL PostgreSQL sees is ``SELECT * FROM schema.table LIMIT n`` built here.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from digitalhub_airflow.errors import InvalidOptionError

ENV = "DHUB_SQL_OPERATIONAL"
SCHEMA = "ops"
DEFAULT_MAX_ROWS = 1_000_000
CONNECT_TIMEOUT_S = 10
IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")


@dataclass(frozen=True)
class OperationalSource:
    """One project's operational database and the tables it may show."""

    url_env: str
    tables: dict[str, tuple[str, str]]  # ops name -> (schema, table) in PostgreSQL
    max_rows: int = DEFAULT_MAX_ROWS


class OperationalTables:
    """Every project's allow-list; reads one table on demand."""

    def __init__(self, sources: dict[str, OperationalSource] | None = None) -> None:
        self.sources = sources or {}

    @classmethod
    def from_environment(cls) -> OperationalTables:
        """The allow-lists of ``DHUB_SQL_OPERATIONAL``; none when it is unset."""
        return cls.parse(os.environ.get(ENV) or "{}")

    @classmethod
    def parse(cls, text: str) -> OperationalTables:
        """Allow-lists from their JSON; a bad one is an InvalidOptionError naming the fault."""
        try:
            config = json.loads(text)
        except ValueError as exc:
            raise InvalidOptionError(f"{ENV} is not JSON: {exc}") from exc
        if not isinstance(config, dict):
            raise InvalidOptionError(f"{ENV} must map project names to their tables")
        return cls({str(project): _source(str(project), spec) for project, spec in config.items()})

    def names(self, project: str) -> dict[str, str]:
        """``ops.<name>`` -> ``schema.table`` for ``project``'s tables."""
        source = self.sources.get(project)
        if source is None:
            return {}
        return {f"{SCHEMA}.{name}": ".".join(pg) for name, pg in sorted(source.tables.items())}

    def read(self, project: str, names: list[str]) -> dict[str, Any]:
        """Arrow tables of ``names`` (``ops`` names of ``project``), read in one read-only
        snapshot; SqlError 42P01 for a name not allowed, 54000 past the row cap, the
        server's SQLSTATE (password-free) when PostgreSQL refuses."""
        import psycopg2

        from digitalhub_airflow.endpoints.session import SqlError

        source = self.sources.get(project)
        for name in names:
            if source is None or name not in source.tables:
                raise SqlError(
                    f'relation "{SCHEMA}.{name}" does not exist (project {project!r} '
                    "shows no such operational table)",
                    "42P01",
                )
        if source is None or not names:
            return {}
        url = os.environ.get(source.url_env) or ""
        if not url:
            raise SqlError(
                f"the operational store of project {project!r} is not reachable: "
                f"{source.url_env} is not set",
                "08001",
            )
        try:
            with read_only(url) as cursor:
                return {name: _fetch(cursor, source, name) for name in names}
        except psycopg2.Error as exc:  # scrubbed of the URL and its password
            state = getattr(exc, "pgcode", None) or "08001"
            message = scrub(" ".join(str(exc).split()) or type(exc).__name__, url)
            raise SqlError(
                f"the operational store of project {project!r} refused the read: {message}", state
            ) from None


@contextmanager
def read_only(url: str) -> Iterator[Any]:
    """A psycopg2 cursor in a READ ONLY REPEATABLE READ transaction, rolled back and
    closed after: PostgreSQL itself refuses any write through it (25006)."""
    import psycopg2
    import psycopg2.extensions

    libpq_url = re.sub(r"^postgresql\+\w+://", "postgresql://", url)
    connection = psycopg2.connect(libpq_url, connect_timeout=CONNECT_TIMEOUT_S)
    try:
        connection.set_session(
            isolation_level=psycopg2.extensions.ISOLATION_LEVEL_REPEATABLE_READ, readonly=True
        )
        with connection.cursor() as cursor:
            yield cursor
    finally:
        connection.rollback()
        connection.close()


def scrub(message: str, url: str) -> str:
    """``message`` without the URL or its password."""
    password = unquote(urlsplit(url).password or "") if "://" in url else ""
    for secret in (url, password):
        if secret:
            message = message.replace(secret, "***")
    return message


def _fetch(cursor: Any, source: OperationalSource, name: str) -> Any:
    from psycopg2 import sql

    from digitalhub_airflow.endpoints.session import SqlError

    schema, table = source.tables[name]
    query = sql.SQL("SELECT * FROM {}.{} LIMIT {}").format(
        sql.Identifier(schema), sql.Identifier(table), sql.Literal(source.max_rows + 1)
    )
    cursor.execute(query)
    rows = cursor.fetchall()
    if len(rows) > source.max_rows:
        raise SqlError(
            f"operational table {SCHEMA}.{name} has more than {source.max_rows} rows, "
            "the endpoint's cap: read it through a dataset instead",
            "54000",
        )
    columns = [column.name for column in cursor.description]
    oids = [column.type_code for column in cursor.description]
    return _arrow(columns, oids, rows)


def _arrow(columns: list[str], oids: list[int], rows: list[tuple[Any, ...]]) -> Any:
    """Rows as an Arrow table typed by their PostgreSQL type OIDs (text for the rest)."""
    import pyarrow as pa

    types = {
        16: pa.bool_(),
        20: pa.int64(),
        21: pa.int16(),
        23: pa.int32(),
        700: pa.float32(),
        701: pa.float64(),
        25: pa.string(),
        1042: pa.string(),
        1043: pa.string(),
        1082: pa.date32(),
        1114: pa.timestamp("us"),
        1184: pa.timestamp("us", "UTC"),
    }
    arrays = []
    for index, oid in enumerate(oids):
        values = [row[index] for row in rows]
        if oid == 1700 and any(v is not None for v in values):
            arrays.append(pa.array(values))  # Decimals: the precision comes with them
        elif oid in types:
            arrays.append(pa.array(values, types[oid]))
        else:
            text = [None if v is None else _text(v) for v in values]
            arrays.append(pa.array(text, pa.string()))
    return pa.Table.from_arrays(arrays, names=columns)


def _text(value: Any) -> str:
    return json.dumps(value) if isinstance(value, (dict, list)) else str(value)


def _source(project: str, spec: Any) -> OperationalSource:
    where = f"{ENV}[{project!r}]"
    if not isinstance(spec, dict) or not isinstance(spec.get("url_env"), str):
        raise InvalidOptionError(f'{where} needs "url_env": the variable holding its URL')
    listed = spec.get("tables") or []
    if isinstance(listed, dict):
        pairs = [(str(name), str(full)) for name, full in listed.items()]
    elif isinstance(listed, list):
        pairs = [(str(full).rsplit(".", 1)[-1], str(full)) for full in listed]
    else:
        raise InvalidOptionError(f'{where}["tables"] must be a list or a mapping')
    tables: dict[str, tuple[str, str]] = {}
    for name, full in pairs:
        schema, _, table = full.rpartition(".")
        parts = [name, schema or "public", table]
        if not all(IDENTIFIER.fullmatch(part) for part in parts):
            raise InvalidOptionError(
                f"{where}: {name!r} -> {full!r} is not a lower-case schema.table name"
            )
        if name in tables:
            raise InvalidOptionError(f"{where}: two tables are named {name!r}")
        tables[name] = (schema or "public", table)
    max_rows = spec.get("max_rows", DEFAULT_MAX_ROWS)
    if not isinstance(max_rows, int) or isinstance(max_rows, bool) or max_rows < 1:
        raise InvalidOptionError(f'{where}["max_rows"] must be a positive integer')
    return OperationalSource(spec["url_env"], tables, max_rows)
