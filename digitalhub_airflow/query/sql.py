"""SQL over dataset versions with DuckDB in-process: ``SELECT … FROM ds('<key>')``.

Each ``ds('<key>')`` is pinned to one exact version and registered as an Arrow view;
the query must be a single SELECT, and DuckDB runs with external access disabled and
its configuration locked, so a query can read nothing but the pinned versions and
write nothing at all. The caller commits the result, after :func:`authorize_query`
checked that the user may read every project the query names.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from digitalhub_airflow.errors import QueryError

if TYPE_CHECKING:
    from digitalhub_airflow.access import Principal
    from digitalhub_airflow.catalog import Catalog

DS_CALL = re.compile(r"""\bds\(\s*'([^']*)'\s*\)""", re.IGNORECASE)
MAX_QUERY_LENGTH = 100_000


_NEAR = re.compile(r'at or near "([^"]*)"')


def _sql_error(prefix: str, exc: Exception, query: str) -> QueryError:
    """DuckDB's message on one line: its first line, the position as text (DuckDB's own
    caret points into the rewritten query, so the token is found in the user's), and
    any hint line (``Candidate bindings``) after a semicolon."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    first = lines[0] if lines else type(exc).__name__
    hints = [line for line in lines[1:] if not line.startswith("LINE ") and set(line) != {"^"}]
    near = _NEAR.search(first)
    if near and near.group(1) and near.group(1) in query:
        first += f" (at character {query.index(near.group(1)) + 1})"
    return QueryError("; ".join([f"{prefix}: {first}", *hints]))


def referenced_keys(query: str) -> list[str]:
    """The dataset keys a query names through ``ds('<key>')``, in order, once each."""
    if not isinstance(query, str) or not query.strip():
        raise QueryError("the SQL query is empty")
    if len(query) > MAX_QUERY_LENGTH:
        raise QueryError(
            f"the SQL query is {len(query)} characters long; at most {MAX_QUERY_LENGTH}"
        )
    keys = list(dict.fromkeys(DS_CALL.findall(query)))
    if not keys:
        raise QueryError("the query reads no dataset: name each one as ds('store://…')")
    return keys


def check_single_select(query: str) -> None:
    """Refuse anything but exactly one SELECT statement (no COPY, ATTACH, SET, DDL…)."""
    import duckdb

    try:
        statements = duckdb.extract_statements(DS_CALL.sub("t", query))
    except duckdb.Error as exc:
        raise _sql_error("the SQL query does not parse", exc, query) from exc
    if len(statements) != 1:
        raise QueryError(f"a transform is one SELECT statement; got {len(statements)} statements")
    if statements[0].type != duckdb.StatementType.SELECT:
        raise QueryError(f"only SELECT is allowed; got a {statements[0].type.name} statement")


def run_query(query: str, tables: dict[str, Any]) -> Any:
    """Run ``query`` with each ``ds('<key>')`` bound to ``tables[key]`` (Arrow tables)."""
    import duckdb

    check_single_select(query)
    views = {key: f"__dhub_ds_{index}" for index, key in enumerate(tables)}
    rewritten = DS_CALL.sub(lambda m: views[m.group(1)], query)
    connection = duckdb.connect(":memory:")
    try:
        for key, view in views.items():
            connection.register(view, tables[key])
        connection.execute("SET enable_external_access = false")
        connection.execute("SET lock_configuration = true")
        return connection.sql(rewritten).to_arrow_table()
    except duckdb.PermissionException as exc:
        raise _sql_error("the query may only read ds('<key>') datasets", exc, query) from exc
    except duckdb.Error as exc:
        raise _sql_error("the query failed", exc, query) from exc
    finally:
        connection.close()


def project_of(key: str) -> str:
    """The project a ``ds()`` key names, in its full or short (``project/name``) form."""
    from digitalhub_airflow.keys import as_key, validate_name

    if key.startswith("store://"):
        return as_key(key).project
    return validate_name(key.partition("/")[0], "project")


def authorize_query(
    catalog: Catalog, principal: Principal, query: str, into: str | None = None
) -> None:
    """Refuse a query ``principal`` may not run: every project its ``ds()`` keys read
    needs a read grant (across projects, a ``project:<into>`` grant also does when the
    result is committed), and committing ``into`` a project needs a write grant."""
    from digitalhub_airflow.access import Level, require, require_reads

    projects = [project_of(key) for key in referenced_keys(query)]
    if into is not None:
        require(catalog, principal, into, Level.WRITE)
    require_reads(catalog, principal, projects, into=into)
