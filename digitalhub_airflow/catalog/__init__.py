"""The catalog: projects, datasets, versions, files and aliases in SQL."""

from digitalhub_airflow.catalog.engine import Catalog

__all__ = ["Catalog"]
