"""``dhub init``: bring the catalog schema to the latest Alembic revision, idempotently."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.exc import OperationalError, ProgrammingError

from digitalhub_airflow.catalog.engine import Catalog, catalog_schema, is_sqlite
from digitalhub_airflow.errors import CatalogError

MIGRATIONS = Path(__file__).parent / "migrations"


def _config(connection: object, schema: str | None) -> object:
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


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(MIGRATIONS)).get_current_head() or ""


def require_current(catalog: Catalog) -> None:
    """Make sure the catalog is initialised.

    The embedded SQLite catalog is created on first use; a PostgreSQL catalog must be
    initialised deliberately with ``dhub init``, so this raises a clear error instead.
    """
    if catalog.ready:
        return
    schema = catalog_schema(catalog.engine)
    try:
        tables = inspect(catalog.engine).get_table_names(schema=schema)
    except OperationalError as exc:
        raise CatalogError(f"cannot reach catalog {catalog.safe_url}: {exc.orig}") from exc
    if "dhub_alembic_version" not in tables:
        if not is_sqlite(catalog.engine):
            raise CatalogError(f"catalog {catalog.safe_url} is not initialised: run `dhub init`")
        migrate(catalog)
    catalog.ready = True
