"""Feature view sources: catalog keys resolved to exact versions, checked and pinned.

A ``FileSource(path="store://demo/dataitem/table/wine-orders")`` in git names a dataset
(or an exact version, ``:v3``). Before Feast sees it, the key is resolved to one version,
the version is checked against every feature view reading it (Parquet table, timestamp,
join keys and feature columns present with compatible types), its files are copied once
into a local folder named by the version id (immutable, so the copy never goes stale),
and the source is pinned: its path is that folder, its tags hold the key as written and
the exact version key.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from digitalhub_airflow.errors import DhubError
from digitalhub_airflow.features.config import work_dir
from digitalhub_airflow.features.errors import FeatureDefinitionError

if TYPE_CHECKING:
    from digitalhub_airflow.datasets.versions import VersionInfo
    from digitalhub_airflow.hub import DataHub

#: Source tags: the dataset key as written in git, and the exact version pinned.
KEY_TAG = "dhub_key"
VERSION_TAG = "dhub_version"


@dataclass(frozen=True)
class PinnedSource:
    name: str
    key: str  # as written
    version: str  # exact version key
    folder: Path

    def to_json(self) -> dict[str, str]:
        return {"source": self.name, "key": self.key, "version": self.version}


def written_key(source: Any) -> str:
    """The catalog key a source was defined with (kept in its tags once pinned)."""
    return str(source.tags.get(KEY_TAG) or source.path)


def resolve_source(hub: DataHub, source: Any) -> VersionInfo:
    """The version a source's key names now; an unknown dataset or a version that is no
    Parquet table is a definition error."""
    key = written_key(source)
    try:
        info = hub.resolve(key)
    except DhubError as exc:
        raise FeatureDefinitionError(f"data source {source.name!r}: {key}: {exc}") from exc
    if info.kind != "table" or info.format != "parquet" or not info.schema:
        raise FeatureDefinitionError(
            f"data source {source.name!r}: {info.key} is a {info.format} {info.kind}, "
            "not a Parquet table (commit the features' source as Parquet)"
        )
    return info


def _compatible(column: Any, wanted: Any) -> bool:
    from feast import ValueType

    widen = {(ValueType.INT32, ValueType.INT64), (ValueType.FLOAT, ValueType.DOUBLE)}
    return bool(column == wanted or (column, wanted) in widen)


def check_columns(info: VersionInfo, views: list[Any], entities: dict[str, Any]) -> None:
    """Every column the views read exists in the version, with a compatible type."""
    from feast.type_map import pa_to_feast_value_type

    columns = {c["name"]: c["type"] for c in info.schema or []}

    def need(view: Any, column: str, wanted: Any, what: str) -> None:
        if column not in columns:
            raise FeatureDefinitionError(
                f"feature view {view.name!r}: {what} column {column!r} is not in {info.key} "
                f"(columns: {', '.join(sorted(columns))})"
            )
        got = pa_to_feast_value_type(columns[column])
        if wanted is not None and not _compatible(got, wanted):
            raise FeatureDefinitionError(
                f"feature view {view.name!r}: {what} column {column!r} is {columns[column]} "
                f"in {info.key}, the definition says {wanted.name}"
            )

    from feast import ValueType

    for view in views:
        need(view, view.batch_source.timestamp_field, ValueType.UNIX_TIMESTAMP, "timestamp")
        for name in view.entities:
            entity = entities.get(name)
            if entity is None:
                raise FeatureDefinitionError(
                    f"feature view {view.name!r} names entity {name!r}, which is not defined"
                )
            need(view, entity.join_key, entity.value_type, "entity")
        for feature in view.features:
            need(view, feature.name, feature.dtype.to_value_type(), "feature")


def localize(hub: DataHub, info: VersionInfo) -> Path:
    """The version's files in a local folder of their own (copied and verified once)."""
    folder = work_dir(hub) / "files" / info.version_id
    if folder.is_dir():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{info.version_id[:12]}-", dir=folder.parent))
    try:
        hub.get(info.key, partial)
        os.replace(partial, folder)
    except OSError:
        if not folder.is_dir():  # not a concurrent copy that won the rename
            raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return folder


def pin(hub: DataHub, source: Any, info: VersionInfo) -> PinnedSource:
    """Point ``source`` at the local copy of ``info``; tags say which version it is."""
    key = written_key(source)
    folder = localize(hub, info)
    source.file_options.uri = str(folder)
    source.tags[KEY_TAG] = key
    source.tags[VERSION_TAG] = info.key
    return PinnedSource(source.name, key, info.key, folder)
