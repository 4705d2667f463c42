"""Fixtures of the unit tests: embedded backend only (SQLite + a folder), no service."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from digitalhub_airflow.hub import DataHub
from tests.unit.dhub_testlib import Cli, make_hub


@pytest.fixture
def ehub(tmp_path: Path) -> Iterator[DataHub]:
    """An initialised embedded DataHub in its own folder."""
    with make_hub(tmp_path / "hub") as hub:
        yield hub


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    """A ``dhub`` runner on an initialised, empty DHUB_HOME."""
    home = tmp_path / "home"
    home.mkdir()
    runner = Cli(home)
    with runner.hub() as hub:
        hub.init()
    return runner
