"""Reading a table version back as Arrow, verified on the way."""

from __future__ import annotations

import tempfile
from typing import TYPE_CHECKING, Any

from digitalhub_airflow.errors import InvalidSourceError

if TYPE_CHECKING:
    from digitalhub_airflow.hub import DataHub

FORMATS = {"csv": "csv", "parquet": "parquet", "jsonl": "json"}


def read_table(hub: DataHub, key: str, columns: list[str] | None = None) -> Any:
    """The version ``key`` names as a ``pyarrow.Table`` (files are verified first)."""
    import pyarrow.dataset as ds

    info = hub.resolve(key)
    if info.kind != "table":
        raise InvalidSourceError(f"{info.key} is a {info.kind} dataset, not a table")
    with tempfile.TemporaryDirectory(prefix="dhub-read-") as tmp:
        paths = hub.get(info.key, tmp)
        dataset = ds.dataset([str(p) for p in paths], format=FORMATS[info.format])
        return dataset.to_table(columns=columns)
