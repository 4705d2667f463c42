"""A version's quality state: set by validations, released by people, every change an
event with who, when and why.

States: ``passed``, ``warned``, ``failed``, ``quarantined`` (hidden from ``latest`` and
named aliases, see :func:`digitalhub_airflow.datasets.versions.resolve`) and ``released`` (a
person looked at a quarantined version and let it through). A released version is never
quarantined again by a validation: the person's decision stands until a new version.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from digitalhub_airflow.catalog.models import QualityEvent, Version, VersionQuality, utcnow
from digitalhub_airflow.datasets.versions import (
    QUARANTINED,
    VersionInfo,
    find_dataset,
    resolve,
    to_info,
)
from digitalhub_airflow.errors import ConflictError, InvalidKeyError
from digitalhub_airflow.settings import current_user

if TYPE_CHECKING:
    from digitalhub_airflow.hub import DataHub

PASSED, WARNED, FAILED, RELEASED = "passed", "warned", "failed", "released"
ON_FAILURE = {"fail": FAILED, "warn": WARNED, "quarantine": QUARANTINED}


def set_state(session: Session, version_pk: int, state: str, actor: str, reason: str) -> str:
    """Move a version to ``state`` (recording the event); returns the state now in force."""
    row = session.get(VersionQuality, version_pk, with_for_update=True)
    previous = row.state if row is not None else None
    if previous == state:
        return state
    now = utcnow()
    if row is None:
        session.add(
            VersionQuality(version_pk=version_pk, state=state, updated_by=actor, updated_at=now)
        )
    else:
        row.state, row.updated_by, row.updated_at = state, actor, now
    session.add(
        QualityEvent(
            version_pk=version_pk,
            state=state,
            previous_state=previous,
            reason=reason,
            actor=actor,
            at=now,
        )
    )
    return state


def after_validation(
    session: Session, version_pk: int, success: bool, on_failure: str, reason: str
) -> str:
    """The state a validation outcome leads to.

    A quarantined version stays quarantined whatever a later validation says (only a
    person releases it), and a released one is not quarantined again.
    """
    current = session.get(VersionQuality, version_pk, with_for_update=True)
    state = PASSED if success else ON_FAILURE[on_failure]
    if current is not None and current.state == QUARANTINED:
        return QUARANTINED
    if state == QUARANTINED and was_released(session, version_pk):
        state = RELEASED
    return set_state(session, version_pk, state, current_user(), reason)


def was_released(session: Session, version_pk: int) -> bool:
    query = select(QualityEvent.id).where(
        QualityEvent.version_pk == version_pk, QualityEvent.state == RELEASED
    )
    return session.scalars(query.limit(1)).first() is not None


def release(hub: DataHub, key: str, reason: str = "") -> VersionInfo:
    """Let a quarantined version through again: ``latest`` and aliases resolve to it."""
    from digitalhub_airflow.catalog.migrate import require_current

    require_current(hub.catalog)
    parsed = hub.key(key)
    with hub.catalog.session() as session:
        if parsed.version is None:
            held = session.scalars(
                select(Version.seq)
                .join(VersionQuality, VersionQuality.version_pk == Version.id)
                .where(VersionQuality.state == QUARANTINED)
                .where(Version.dataset_id == find_dataset(session, parsed).id)
                .order_by(Version.seq)
            ).all()
            listed = ", ".join(f"v{s}" for s in held) or "none"
            raise InvalidKeyError(
                f"name the version to release, e.g. {parsed.unversioned()}:v<N> "
                f"(quarantined: {listed})"
            )
        version = resolve(session, parsed)
        state = session.get(VersionQuality, version.id)
        if state is None or state.state != QUARANTINED:
            current = state.state if state is not None else "never validated"
            raise ConflictError(f"{parsed} (v{version.seq}) is not quarantined ({current})")
        set_state(session, version.id, RELEASED, current_user(), reason or "released by a person")
        session.flush()
        return to_info(session, version)
