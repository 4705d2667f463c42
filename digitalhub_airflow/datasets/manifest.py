"""Version manifests and their content-derived ids.

A version's id is the BLAKE3 digest of the canonical JSON of its kind, schema and files
(path, size, digest), so the same content always gets the same id and a re-commit is a
no-op. Everything else (message, time, producer) is metadata outside the id.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from digitalhub_airflow.hashing import hash_bytes

SHORT_ID_LENGTH = 12


@dataclass(frozen=True, order=True)
class FileEntry:
    path: str
    size: int
    digest: str


@dataclass(frozen=True)
class ColumnSchema:
    name: str
    type: str
    nullable: bool = True


@dataclass
class Manifest:
    """What a version holds. ``schema`` is ``None`` for file trees."""

    kind: str
    format: str
    files: list[FileEntry]
    schema: list[ColumnSchema] | None = None
    row_count: int | None = None

    def __post_init__(self) -> None:
        self.files = sorted(self.files)

    @property
    def size_bytes(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def version_id(self) -> str:
        content = {
            "kind": self.kind,
            "files": [asdict(f) for f in self.files],
            "schema": schema_to_json(self.schema),
        }
        return hash_bytes(canonical_json(content))

    @property
    def schema_digest(self) -> str | None:
        if self.schema is None:
            return None
        return hash_bytes(canonical_json(schema_to_json(self.schema)))


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def schema_to_json(schema: list[ColumnSchema] | None) -> list[dict[str, Any]] | None:
    if schema is None:
        return None
    return [asdict(c) for c in schema]


def short_id(version_id: str) -> str:
    return version_id[:SHORT_ID_LENGTH]
