"""A table version's data as a streaming Arrow dataset over verified local copies, so
profiling and checks scan it in batches instead of loading it whole."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from digitalhub_airflow.errors import InvalidSourceError
from digitalhub_airflow.reading import FORMATS
from digitalhub_airflow.versions import VersionInfo

if TYPE_CHECKING:
    from digitalhub_airflow.hub import DataHub


@contextmanager
def version_dataset(hub: DataHub, key: str) -> Iterator[tuple[VersionInfo, Any]]:
    """``(info, pyarrow.dataset.Dataset)`` of the table version ``key`` names."""
    import pyarrow.dataset as ds

    info = hub.resolve(key)
    if info.kind != "table":
        raise InvalidSourceError(f"{info.key} is a {info.kind} dataset, not a table")
    with tempfile.TemporaryDirectory(prefix="dhub-quality-") as tmp:
        paths = hub.get(info.key, tmp)
        yield info, ds.dataset([str(p) for p in paths], format=FORMATS[info.format])
