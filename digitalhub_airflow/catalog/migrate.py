"""``dhub init``: bring the catalog schema to the latest Alembic revision, idempotently."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text
from sqlalchemy.exc import OperationalError, ProgrammingError

from digitalhub_airflow.catalog.engine import Catalog, catalog_schema, is_sqlite
from digitalhub_airflow.errors import CatalogError

MIGRATIONS = Path(__file__).parent / "migrations"


if TYPE_CHECKING:
    from alembic.config import Config


def _config(connection: object, schema: str | None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    config.attributes["schema"] = schema
    return config


def migrate(catalog: Catalog) -> str:
    """Upgrade to head; return the revision now in force."""
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    schema = catalog_schema(catalog.engine)
    try:
        with catalog.engine.begin() as connection:
            if schema is not None:
                connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
            command.upgrade(_config(connection, schema), "head")
            context = MigrationContext.configure(
                connection,
                opts={"version_table": "dhub_alembic_version", "version_table_schema": schema},
            )
            return context.get_current_revision() or ""
    except (OperationalError, ProgrammingError) as exc:
        raise CatalogError(f"cannot migrate catalog {catalog.safe_url}: {exc.orig}") from exc


#: ``revision = "0003"`` and ``down_revision = "0002"`` (or None, or a tuple at a merge).
_REVISION_LINE = re.compile(r"^(down_revision|revision)\s*(?::[^=]*)?=\s*(.+?)\s*$", re.M)
_QUOTED = re.compile(r"[\"']([^\"']+)[\"']")


def head_revision(migrations: Path = MIGRATIONS) -> str:
    """The newest migration's revision, read from the migration files' ``revision`` and
    ``down_revision`` lines: Alembic's ScriptDirectory costs ~100 ms of imports on every
    command, and this runs on every command."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (migrations / "versions").glob("*.py"):
        found = dict(_REVISION_LINE.findall(path.read_text(encoding="utf-8")))
        if "revision" in found:
            revisions.update(_QUOTED.findall(found["revision"]))
            parents.update(_QUOTED.findall(found.get("down_revision", "")))
    heads = sorted(revisions - parents)
    if len(heads) > 1:
        raise CatalogError(f"the catalog migrations have several heads: {', '.join(heads)}")
    return heads[0] if heads else ""


def current_revision(catalog: Catalog) -> str | None:
    """The revision the catalog is at; None when it was never initialised."""
    schema = catalog_schema(catalog.engine)
    try:
        if "dhub_alembic_version" not in inspect(catalog.engine).get_table_names(schema=schema):
            return None
        table = f'"{schema}".dhub_alembic_version' if schema else "dhub_alembic_version"
        with catalog.engine.connect() as connection:
            return connection.execute(text(f"SELECT version_num FROM {table}")).scalar() or ""
    except OperationalError as exc:
        raise CatalogError(f"cannot reach catalog {catalog.safe_url}: {exc.orig}") from exc


def require_current(catalog: Catalog) -> None:
    """Make sure the catalog is initialised and at the schema this code needs.

    The embedded SQLite catalog is created or upgraded on first use; a PostgreSQL
    catalog is shared, so it must be upgraded deliberately with ``dhub init`` and
    this raises a clear error instead.
    """
    if catalog.ready:
        return
    revision, head = current_revision(catalog), head_revision()
    if revision != head:
        if not is_sqlite(catalog.engine):
            state = "is not initialised" if revision is None else f"is at revision {revision}"
            raise CatalogError(
                f"catalog {catalog.safe_url} {state}, this code needs {head}: run `dhub init`"
            )
        migrate(catalog)
    catalog.ready = True
