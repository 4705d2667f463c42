"""Where a version's bytes are: the store locations of its blobs.

Lineage names them (OpenLineage's Symlinks facet) so a reader can find a version's
physical files; a location is the store URL plus the blob's key, never a credential.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from digitalhub_airflow.catalog.models import Dataset, Project, Version, VersionFile
from digitalhub_airflow.keys import as_key

if TYPE_CHECKING:
    from digitalhub_airflow.datasets.versions import VersionInfo
    from digitalhub_airflow.hub import DataHub


def version_digests(session: Session, key: str, version_id: str) -> list[str]:
    """The blob digests of one exact version, in file path order.

    One query by the version's exact identity (project, dataset, version id): no alias
    to resolve. An unknown version has none.
    """
    parsed = as_key(key)
    return list(
        session.scalars(
            select(VersionFile.digest)
            .join(Version, Version.id == VersionFile.version_pk)
            .join(Dataset, Dataset.id == Version.dataset_id)
            .join(Project, Project.id == Dataset.project_id)
            .where(
                Project.name == parsed.project,
                Dataset.name == parsed.name,
                Version.version_id == version_id,
            )
            .order_by(VersionFile.path)
        ).all()
    )


def blob_urls(store_url: str, digests: Sequence[str], limit: int | None = None) -> list[str]:
    """Each blob's URL under the store root; the blob folder alone when there are none
    or more than ``limit`` (a big file tree is summarised by where its blobs live)."""
    blobs = f"{store_url.rstrip('/')}/blobs"
    if not digests or (limit is not None and len(digests) > limit):
        return [blobs]
    return [f"{blobs}/{d[:2]}/{d}" for d in digests]


def version_locations(
    hub: DataHub, versions: Iterable[VersionInfo], limit: int | None = None
) -> dict[str, list[str]]:
    """The blob URLs of each version (by key), looked up in one catalog transaction."""
    todo = list(versions)
    if not todo:
        return {}
    store_url = hub.store.url
    with hub.catalog.session() as session:
        digests = {info.key: version_digests(session, info.key, info.version_id) for info in todo}
    return {key: blob_urls(store_url, found, limit) for key, found in digests.items()}
