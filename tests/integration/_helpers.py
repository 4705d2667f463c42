"""Helpers for the integration tests: independent digests and schemas, store listings.

Expected values are computed here from the sources with blake3 and pyarrow directly,
never taken from the code under test.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import blake3
from sqlalchemy import func, select

from digitalhub_airflow.catalog.models import StoreLease
from digitalhub_airflow.errors import NotFoundError
from digitalhub_airflow.hub import DataHub
from digitalhub_airflow.store.base import BlobInfo

REPO = Path(__file__).resolve().parents[2]
DHUB = REPO / ".venv" / "bin" / "dhub"


def b3_bytes(data: bytes) -> str:
    return blake3.blake3(data).hexdigest()


def b3_file(path: str | os.PathLike[str]) -> str:
    hasher = blake3.blake3()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            hasher.update(chunk)
    return hasher.hexdigest()


def arrow_columns(schema: Any) -> list[dict[str, Any]]:
    """A pyarrow schema as the catalog lists columns: name, Arrow type, nullability."""
    return [{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in schema]


def blobs(hub: DataHub) -> set[str]:
    """Every blob digest in the hub's store."""
    return {b.digest for b in hub.store.iter_blobs()}


def blob_infos(hub: DataHub) -> set[BlobInfo]:
    """Every blob with size and modification time (a rewrite changes the time)."""
    return set(hub.store.iter_blobs())


def version_count(hub: DataHub, key: str) -> int:
    """How many versions the dataset has (0 when it does not exist yet)."""
    try:
        return len(hub.log(key))
    except NotFoundError:
        return 0


def table_key(project: str, name: str) -> str:
    return f"store://{project}/dataitem/table/{name}"


def files_key(project: str, name: str) -> str:
    return f"store://{project}/dataitem/files/{name}"


def write_csv(path: Path, header: str, rows: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def lease_count(hub: DataHub) -> int:
    """Store leases recorded in the catalog (live or stale)."""
    with hub.catalog.session() as session:
        return int(session.scalar(select(func.count()).select_from(StoreLease)) or 0)
