"""Finding versions by key, and describing them as plain data."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from digitalhub_airflow.catalog.models import Alias, Dataset, Project, Version, VersionQuality
from digitalhub_airflow.datasets.manifest import short_id
from digitalhub_airflow.errors import InvalidKeyError, NotFoundError, QuarantinedError
from digitalhub_airflow.keys import Key

LATEST = "latest"
#: The quality state that hides a version from ``latest`` and named aliases.
QUARANTINED = "quarantined"


@dataclass
class VersionInfo:
    """One version, as the CLI, operators and lineage show it."""

    key: str
    dataset: str
    version_id: str
    short_id: str
    seq: int
    kind: str
    format: str
    schema: list[dict[str, Any]] | None
    schema_digest: str | None
    row_count: int | None
    size_bytes: int
    file_count: int
    parent: str | None
    message: str
    producer: dict[str, Any] | None
    created_by: str
    created_at: datetime
    aliases: list[str] = field(default_factory=list)
    #: ``passed``, ``warned``, ``failed``, ``quarantined``, ``released`` or None (never
    #: validated): the latest validation outcome, or a person's release.
    quality: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat()
        return data


def dataset_key_of(dataset: Dataset) -> Key:
    return Key(dataset.project.name, "dataitem", dataset.kind, dataset.name)


def find_dataset(session: Session, key: Key, lock: bool = False) -> Dataset:
    """The dataset a key names; its kind must match."""
    dataset = find_dataset_or_none(session, key, lock)
    if dataset is None:
        raise NotFoundError(f"dataset {key.unversioned()} does not exist")
    return dataset


def find_dataset_or_none(session: Session, key: Key, lock: bool = False) -> Dataset | None:
    """Like :func:`find_dataset`, but ``None`` when absent (a kind mismatch still raises)."""
    if key.entity_type != "dataitem" or key.name is None:
        raise InvalidKeyError(f"{key} does not name a data item")
    query = (
        select(Dataset).join(Project).where(Project.name == key.project, Dataset.name == key.name)
    )
    if lock:
        query = query.with_for_update(of=Dataset)
    dataset = session.scalars(query).first()
    if dataset is None:
        return None
    if dataset.kind != key.kind:
        raise NotFoundError(
            f"dataset {key.project}/{key.name} is of kind {dataset.kind!r}, not {key.kind!r}: "
            f"use {dataset_key_of(dataset)}"
        )
    return dataset


def expand_short_key(session: Session, text: str) -> Key:
    """``<project>/<name>[:<version>|@<alias>]`` -> the full key, kind looked up."""
    project, sep, rest = text.partition("/")
    if not sep or "/" in rest:
        raise InvalidKeyError(f"{text!r} must be a store:// key or <project>/<name>")
    name, version, alias = rest, None, None
    if "@" in rest:
        name, _, alias = rest.partition("@")
    elif ":" in rest:
        name, _, version = rest.partition(":")
    probe = Key(project, "dataitem", "table", name, version, alias)  # validates every part
    kind = session.scalars(
        select(Dataset.kind).join(Project).where(Project.name == project, Dataset.name == name)
    ).first()
    if kind is None:
        raise NotFoundError(f"dataset {project}/{name} does not exist")
    return Key(project, "dataitem", kind, name, probe.version, probe.alias)


def resolve(session: Session, key: Key) -> Version:
    """The version a key names: ``:<id or prefix>``, ``:v<N>``, ``@alias`` or the latest.

    Quarantined versions (failed validation, held for review) resolve only by explicit
    id or ``v<N>``: ``latest`` falls back to the newest earlier version that is not
    quarantined, and a named alias on a quarantined version raises
    :class:`QuarantinedError`, since silently serving other data under a name a person
    chose would be worse than stopping.
    """
    dataset = find_dataset(session, key)
    base = select(Version).where(Version.dataset_id == dataset.id)
    if key.sequence is not None:
        version = session.scalars(base.where(Version.seq == key.sequence)).first()
        if version is None:
            raise NotFoundError(
                f"version {key.version} of {key.unversioned()} does not exist "
                f"(latest is v{dataset.latest_seq})"
            )
        return version
    if key.version is not None:
        matches = session.scalars(
            base.where(Version.version_id.startswith(key.version, autoescape=True)).limit(2)
        ).all()
        if not matches:
            raise NotFoundError(f"version {key.version} of {key.unversioned()} does not exist")
        if len(matches) > 1:
            raise InvalidKeyError(
                f"version prefix {key.version} of {key.unversioned()} is ambiguous"
            )
        return matches[0]
    alias = key.alias or LATEST
    version = session.scalars(
        select(Version)
        .join(Alias, Alias.version_pk == Version.id)
        .where(Alias.dataset_id == dataset.id, Alias.name == alias)
    ).first()
    if version is None:
        if alias == LATEST:
            raise NotFoundError(f"dataset {key.unversioned()} has no version yet")
        raise NotFoundError(f"alias @{alias} of {key.unversioned()} does not exist")
    if quality_state(session, version.id) != QUARANTINED:
        return version
    if alias != LATEST:
        raise QuarantinedError(
            f"@{alias} of {key.unversioned()} points at v{version.seq}, which is quarantined: "
            f"`dhub release {key.unversioned()}:v{version.seq}` after review, or name it "
            "explicitly to inspect it"
        )
    return _newest_usable_before(session, dataset, version)


def _newest_usable_before(session: Session, dataset: Dataset, version: Version) -> Version:
    """What ``latest`` means while the version it points at is quarantined: the newest
    earlier version that is not, so downstream keeps reading the last good data."""
    quarantined = select(VersionQuality.version_pk).where(VersionQuality.state == QUARANTINED)
    usable = session.scalars(
        select(Version)
        .where(
            Version.dataset_id == dataset.id,
            Version.seq < version.seq,
            Version.id.not_in(quarantined),
        )
        .order_by(Version.seq.desc())
        .limit(1)
    ).first()
    if usable is None:
        raise QuarantinedError(
            f"latest of {dataset_key_of(dataset)} is v{version.seq}, which is quarantined, "
            "and no earlier version is usable"
        )
    return usable


def quality_state(session: Session, version_pk: int) -> str | None:
    row = session.get(VersionQuality, version_pk)
    return row.state if row is not None else None


def latest_version(session: Session, dataset_id: int) -> Version | None:
    """The version ``latest`` points at (normally the newest; earlier after a revert)."""
    return session.scalars(
        select(Version)
        .join(Alias, Alias.version_pk == Version.id)
        .where(Alias.dataset_id == dataset_id, Alias.name == LATEST)
    ).first()


def usable_latest(session: Session, dataset_id: int) -> Version | None:
    """What ``latest`` means everywhere (resolve, listings, pages, SQL): the version the
    alias points at unless it is quarantined, else the newest earlier one that is not.
    None when there is no version, or none usable."""
    pointed = latest_version(session, dataset_id)
    if pointed is None or quality_state(session, pointed.id) != QUARANTINED:
        return pointed
    try:
        return _newest_usable_before(session, pointed.dataset, pointed)
    except QuarantinedError:
        return None


def aliases_by_version(session: Session, dataset_id: int) -> dict[int, list[str]]:
    """Alias names per version; ``latest`` sits where it resolves (:func:`usable_latest`)."""
    rows = session.execute(
        select(Alias.version_pk, Alias.name).where(Alias.dataset_id == dataset_id)
    ).all()
    found: dict[int, list[str]] = {}
    for pointed, name in rows:
        version_pk = pointed
        if name == LATEST:
            usable = usable_latest(session, dataset_id)
            if usable is None:
                continue
            version_pk = usable.id
        found.setdefault(version_pk, []).append(name)
    return {pk: sorted(names) for pk, names in found.items()}


def quality_by_version(session: Session, dataset_id: int) -> dict[int, str]:
    """Validation states of a dataset's versions in one query (for listings)."""
    rows = session.execute(
        select(VersionQuality.version_pk, VersionQuality.state)
        .join(Version, Version.id == VersionQuality.version_pk)
        .where(Version.dataset_id == dataset_id)
    ).all()
    return dict(rows)


def to_info(
    session: Session,
    version: Version,
    aliases: list[str] | None = None,
    states: dict[int, str] | None = None,
) -> VersionInfo:
    """A version as callers see it; ``aliases``/``states`` prefetched by listings."""
    dataset_key = dataset_key_of(version.dataset)
    parent = None
    if version.parent_id is not None:
        parent_row = session.get(Version, version.parent_id)
        if parent_row is not None:
            parent = str(dataset_key.with_version(f"v{parent_row.seq}"))
    if aliases is None:
        aliases = aliases_by_version(session, version.dataset_id).get(version.id, [])
    quality = states.get(version.id) if states is not None else quality_state(session, version.id)
    return VersionInfo(
        key=str(dataset_key.with_version(version.version_id)),
        dataset=str(dataset_key),
        version_id=version.version_id,
        short_id=short_id(version.version_id),
        seq=version.seq,
        kind=version.kind,
        format=version.format,
        schema=version.schema_json,
        schema_digest=version.schema_digest,
        row_count=version.row_count,
        size_bytes=version.size_bytes,
        file_count=version.file_count,
        parent=parent,
        message=version.message,
        producer=version.producer,
        created_by=version.created_by,
        created_at=version.created_at,
        aliases=aliases,
        quality=quality,
    )
