"""``dhub`` commands for data quality: validate, profile, drift, suggest-suite, release."""

from __future__ import annotations

from digitalhub_airflow.cli_support import AddCommand


def register(add: AddCommand) -> None:
    """Add the data-quality commands to the ``dhub`` parser."""
