"""``dhub`` commands for lineage and transforms: lineage, query, reproduce."""

from __future__ import annotations

from digitalhub_airflow.cli_support import AddCommand


def register(add: AddCommand) -> None:
    """Add the lineage commands to the ``dhub`` parser."""
