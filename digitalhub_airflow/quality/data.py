"""A table version's data as verified local copies, scanned in batches (Arrow dataset)
or by DuckDB's own Parquet reader, instead of loaded whole."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from digitalhub_airflow.datasets.reading import FORMATS
from digitalhub_airflow.datasets.versions import VersionInfo
from digitalhub_airflow.errors import InvalidSourceError

if TYPE_CHECKING:
    from digitalhub_airflow.hub import DataHub


@contextmanager
def version_files(hub: DataHub, key: str) -> Iterator[tuple[VersionInfo, list[Path]]]:
    """``(info, paths)``: the table version ``key`` names, copied and verified."""
    info = hub.resolve(key)
    if info.kind != "table":
        raise InvalidSourceError(f"{info.key} is a {info.kind} dataset, not a table")
    with tempfile.TemporaryDirectory(prefix="dhub-quality-") as tmp:
        yield info, hub.get(info.key, tmp)


def arrow_dataset(info: VersionInfo, paths: list[Path]) -> Any:
    import pyarrow.dataset as ds

    return ds.dataset([str(p) for p in paths], format=FORMATS[info.format])


@contextmanager
def version_dataset(hub: DataHub, key: str) -> Iterator[tuple[VersionInfo, Any]]:
    """``(info, pyarrow.dataset.Dataset)`` of the table version ``key`` names."""
    with version_files(hub, key) as (info, paths):
        yield info, arrow_dataset(info, paths)
