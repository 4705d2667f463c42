"""``dhub``, the command line: one module per feature's commands, :mod:`.main` parses and
dispatches, :mod:`.support` prints. The top layer of the core: nothing imports it."""

from digitalhub_airflow.cli.main import main

__all__ = ["main"]
