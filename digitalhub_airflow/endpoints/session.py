"""One user's SQL session over a project's datasets: DuckDB, read-only and sandboxed.

Tables are the project's datasets by name (``wine`` = latest, ``"wine@champion"``,
``"wine:v2"``), another readable project's as ``"other/wine"``, or any full key
``"store://…"``; each is resolved to one exact version when a statement names it and
bound as an Arrow view; where configured, ``ops.<name>`` is a PostgreSQL table of the
operational store, read afresh by each statement that names it (:mod:`.operational`).
``dhub.tables``, ``dhub.datasets``, ``dhub.versions`` and ``dhub.columns`` list what the
user may read. DuckDB runs with external access off, no extension loading and
its configuration locked: no file, network or extension, and only SELECT (EXPLAIN)
statements run; transaction and SET statements are accepted and do nothing, as a
read-only PostgreSQL replica would.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from digitalhub_airflow.access import Level, Principal, readable_projects, require
from digitalhub_airflow.errors import (
    AuthenticationError,
    DhubError,
    InvalidKeyError,
    NotFoundError,
    PermissionDeniedError,
    QuarantinedError,
    QueryError,
)

if TYPE_CHECKING:
    from digitalhub_airflow.datasets.versions import VersionInfo
    from digitalhub_airflow.endpoints.operational import OperationalTables
    from digitalhub_airflow.hub import DataHub

MAX_STATEMENT_LENGTH = 100_000
#: ``$1`` placeholders: DuckDB's table-name listing cannot bind them, NULL stands in.
PARAMETER = re.compile(r"\$[0-9]+")
#: Statements that change nothing here and that clients send unasked (BEGIN, SET …).
NO_OPS = {"TRANSACTION", "SET", "VARIABLE_SET"}
RUNNABLE = {"SELECT", "EXPLAIN"}
#: Where the operational store's tables are (:mod:`.operational`).
OPERATIONAL_SCHEMA = "ops"


class SqlError(QueryError):
    """A statement the endpoint refuses or that failed, with its PostgreSQL SQLSTATE."""

    def __init__(self, message: str, sqlstate: str) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


_STATES: list[tuple[type[DhubError], str]] = [
    (SqlError, ""),
    (AuthenticationError, "28P01"),
    (PermissionDeniedError, "42501"),
    (NotFoundError, "42P01"),
    (InvalidKeyError, "42P01"),
    (QuarantinedError, "55000"),
]


def sqlstate_of(exc: BaseException) -> str:
    """The SQLSTATE a client sees for ``exc`` (XX000 for an unexpected failure)."""
    for kind, state in _STATES:
        if isinstance(exc, kind):
            return getattr(exc, "sqlstate", "") or state
    return "42000" if isinstance(exc, DhubError) else "XX000"


class TableCache:
    """Arrow tables of exact versions, shared by every session of a server (versions
    are immutable, so an entry never goes stale); the least recently used go first."""

    def __init__(self, max_bytes: int = 2 << 30) -> None:
        self.max_bytes = max_bytes
        self._tables: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, hub: DataHub, info: VersionInfo) -> Any:
        with self._lock:
            table = self._tables.get(info.version_id)
            if table is not None:
                self._tables.move_to_end(info.version_id)
                return table
        table = hub.read_table(info.key)
        with self._lock:
            self._tables[info.version_id] = table
            while len(self._tables) > 1 and self._size() > self.max_bytes:
                self._tables.popitem(last=False)
        return table

    def _size(self) -> int:
        return sum(int(t.nbytes) for t in self._tables.values())


def table_name(listed: str) -> str | None:
    """A table reference as DuckDB's parser lists it (``"wine@a" AS w``, ``dhub.datasets``)
    -> the dataset name it names (unquoted names fold to lower case, as in PostgreSQL);
    ``None`` for a schema-qualified name, which can only reach the session's own
    catalog views, operational tables and DuckDB's system schemas."""
    parts = table_parts(listed)
    return parts[0] if len(parts) == 1 else None


def table_parts(listed: str) -> list[str]:
    """The dot-separated parts of a listed table reference, unquoted (``ops.orders AS o``
    -> ``["ops", "orders"]``)."""
    parts: list[str] = []
    i = 0
    while i < len(listed) and not listed[i].isspace():
        if listed[i] == ".":
            i += 1
        elif listed[i] == '"':
            j, chars = i + 1, []
            while j < len(listed) and not (listed[j] == '"' and listed[j + 1 : j + 2] != '"'):
                chars.append(listed[j])
                j += 2 if listed[j] == '"' else 1
            parts.append("".join(chars))
            i = j + 1
        else:
            j = i
            while j < len(listed) and listed[j] not in '." \t\n':
                j += 1
            parts.append(listed[i:j].lower())
            i = j
    return parts


class SqlSession:
    """A connection's DuckDB over the datasets ``principal`` may read, in ``project``."""

    def __init__(
        self,
        hub: DataHub,
        principal: Principal,
        project: str,
        cache: TableCache,
        operational: OperationalTables | None = None,
    ) -> None:
        import duckdb

        from digitalhub_airflow.endpoints.operational import OperationalTables

        require(hub.catalog, principal, project, Level.READ)
        self.hub, self.principal, self.project, self.cache = hub, principal, project, cache
        self.operational = operational or OperationalTables()
        self.readable = readable_projects(hub.catalog, principal)
        self._bound: dict[str, str] = {}  # table name -> version id
        self.connection = _sandboxed(duckdb, self._catalog_views)
        #: Lists the tables a statement names; it holds none, so it lists them all
        #: (a connection's own listing leaves out the views it already has).
        self.parser = _sandboxed(duckdb, lambda _connection: None)

    def close(self) -> None:
        self.connection.close()
        self.parser.close()

    def execute(self, sql: str, params: list[Any] | None = None, batch_rows: int = 65_536) -> Any:
        """Run one statement: a ``pyarrow.RecordBatchReader`` over a query's rows,
        ``None`` for a statement that does nothing here; SqlError when refused."""
        import duckdb

        if len(sql) > MAX_STATEMENT_LENGTH:
            raise SqlError(f"statement is longer than {MAX_STATEMENT_LENGTH} characters", "54000")
        try:
            statements = self.parser.extract_statements(sql)
        except duckdb.Error as exc:
            raise _refused(exc) from exc
        if len(statements) != 1:
            raise SqlError(f"one statement at a time; got {len(statements)}", "42601")
        kind = statements[0].type.name
        if kind in NO_OPS:
            return None
        if kind not in RUNNABLE or _modifies(sql):
            raise SqlError(
                f"cannot execute {_write_kind(kind, sql)} in a read-only transaction", "25006"
            )
        self._bind_tables(sql)
        try:
            return self.connection.sql(sql, params=params or None).to_arrow_reader(batch_rows)
        except duckdb.Error as exc:
            raise _refused(exc) from exc

    def resolve(self, name: str) -> VersionInfo:
        """The version a table name means here; refused unless its project is readable."""
        text = name if name.startswith("store://") or "/" in name else f"{self.project}/{name}"
        try:
            key = self.hub.key(text)
            if self.readable is not None and key.project not in self.readable:
                raise PermissionDeniedError(
                    f"permission denied for table {name}: user {self.principal.name!r} "
                    f"has no read grant on project {key.project!r}"
                )
            return self.hub.resolve(key)
        except (NotFoundError, InvalidKeyError) as exc:
            raise SqlError(f'relation "{name}" does not exist ({exc})', "42P01") from exc

    def _bind_tables(self, sql: str) -> None:
        import duckdb

        try:
            names = self.parser.get_table_names(PARAMETER.sub("NULL", sql), qualified=True)
        except duckdb.Error as exc:
            raise _refused(exc) from exc
        self.readable = readable_projects(self.hub.catalog, self.principal)  # grants now
        operational: list[str] = []
        for listed in sorted(names):
            parts = table_parts(listed)
            if len(parts) == 2 and parts[0] == OPERATIONAL_SCHEMA:
                operational.append(parts[1])
            if len(parts) != 1:
                continue
            info = self.resolve(parts[0])
            if self._bound.get(parts[0]) != info.version_id:
                self.connection.register(parts[0], self.cache.get(self.hub, info))
                self._bound[parts[0]] = info.version_id
        if operational:
            self._bind_operational(operational)

    def _bind_operational(self, names: list[str]) -> None:
        """Read ``ops.<name>`` tables now (they change), under the project's read grant."""
        if self.readable is not None and self.project not in self.readable:
            raise PermissionDeniedError(
                f"permission denied for schema {OPERATIONAL_SCHEMA}: user "
                f"{self.principal.name!r} has no read grant on project {self.project!r}"
            )
        for name, table in self.operational.read(self.project, names).items():
            self.connection.register(f"__ops_{name}", table)
            if f"{OPERATIONAL_SCHEMA}.{name}" not in self._bound:
                self.connection.execute(
                    f"CREATE VIEW {OPERATIONAL_SCHEMA}.{name} AS SELECT * FROM __ops_{name}"
                )
                self._bound[f"{OPERATIONAL_SCHEMA}.{name}"] = ""

    def _catalog_views(self, connection: Any) -> None:
        from digitalhub_airflow.endpoints.catalog_views import catalog_tables

        connection.execute("CREATE SCHEMA dhub")
        connection.execute(f"CREATE SCHEMA {OPERATIONAL_SCHEMA}")
        readable = self.readable is None or self.project in self.readable
        shown = self.operational.names(self.project) if readable else {}
        for view, table in catalog_tables(self.hub, self.readable, self.project, shown).items():
            connection.register(f"__dhub_{view}", table)
            connection.execute(f"CREATE VIEW dhub.{view} AS SELECT * FROM __dhub_{view}")


def _sandboxed(duckdb: Any, setup: Any) -> Any:
    """An in-memory DuckDB that, after ``setup(connection)``, can reach no file, network
    or extension and cannot change that."""
    connection = duckdb.connect(
        ":memory:",
        config={"autoload_known_extensions": False, "autoinstall_known_extensions": False},
    )
    setup(connection)
    connection.execute("SET enable_external_access = false")
    connection.execute("SET lock_configuration = true")
    return connection


def _modifies(sql: str) -> bool:
    """Whether a SELECT holds a write (``WITH d AS (DELETE … RETURNING *) SELECT …``):
    DuckDB lists it as a SELECT. A statement sqlglot cannot parse is left to DuckDB."""
    import sqlglot
    from sqlglot import expressions as exp

    if not re.search(r"\b(insert|update|delete|merge)\b", sql, re.IGNORECASE):
        return False
    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except sqlglot.errors.SqlglotError:
        return False
    return tree.find(exp.Insert, exp.Update, exp.Delete, exp.Merge) is not None


def _write_kind(kind: str, sql: str) -> str:
    if kind not in RUNNABLE:
        return kind
    found = re.search(r"\b(insert|update|delete|merge)\b", sql, re.IGNORECASE)
    return found.group(1).upper() if found else kind


def _refused(exc: Exception) -> SqlError:
    """DuckDB's error as the SqlError a PostgreSQL client expects."""
    import duckdb

    message = _first_line(exc)
    if isinstance(exc, duckdb.PermissionException):
        return SqlError(f"permission denied: {message}", "42501")
    if isinstance(exc, duckdb.CatalogException):
        return SqlError(message, "42P01")
    if isinstance(exc, duckdb.ParserException):
        return SqlError(message, "42601")
    return SqlError(message, "42000")


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
