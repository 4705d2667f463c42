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


#: A one-file version up to this size is read whole by its format's own reader: the scan
#: is instant, and ``pyarrow.dataset``'s import (pandas with it, ~0.4 s) would be most of
#: a small table's drift or profile. One CSV block: the types are those a dataset infers.
SMALL_TABLE_BYTES = 1 << 20


def arrow_dataset(info: VersionInfo, paths: list[Path]) -> Any:
    """The version's files as one Arrow dataset, or a table when it is small."""
    if len(paths) == 1 and paths[0].stat().st_size <= SMALL_TABLE_BYTES:
        return _read_whole(info.format, paths[0])
    import pyarrow.dataset as ds

    return ds.dataset([str(p) for p in paths], format=FORMATS[info.format])


def _read_whole(fmt: str, path: Path) -> Any:
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).read()
    if fmt == "csv":
        import pyarrow.csv as pacsv

        return pacsv.read_csv(path)
    import pyarrow.json as pajson

    return pajson.read_json(path)


@contextmanager
def version_dataset(hub: DataHub, key: str) -> Iterator[tuple[VersionInfo, Any]]:
    """``(info, pyarrow.dataset.Dataset)`` of the table version ``key`` names."""
    with version_files(hub, key) as (info, paths):
        yield info, arrow_dataset(info, paths)
