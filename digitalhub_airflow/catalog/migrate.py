"""``dhub init``: bring the catalog schema to the latest Alembic revision, idempotently."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.exc import OperationalError, ProgrammingError

from digitalhub_airflow.catalog.engine import Catalog, catalog_schema
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
    """Raise a clear error when the catalog was never initialised with ``dhub init``."""
    schema = catalog_schema(catalog.engine)
    try:
        tables = inspect(catalog.engine).get_table_names(schema=schema)
    except OperationalError as exc:
        raise CatalogError(f"cannot reach catalog {catalog.safe_url}: {exc.orig}") from exc
    if "dhub_alembic_version" not in tables:
        raise CatalogError(f"catalog {catalog.safe_url} is not initialised: run `dhub init`")
