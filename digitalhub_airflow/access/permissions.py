"""Grants of read / write / admin on a project, and the checks every entry point makes.

Nothing is readable without a grant: a user's level on a project is the highest of the
grants to ``user:<name>`` and to each ``role:<role>`` they hold; admins (Airflow's Admin
role, or the trusted local user) pass every check. A project's transforms read another
project only with a grant to ``project:<reader>`` on it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from typing import Any

from digitalhub_airflow.access.principal import Principal
from digitalhub_airflow.catalog import Catalog
from digitalhub_airflow.catalog.migrate import require_current
from digitalhub_airflow.errors import InvalidKeyError, NotFoundError, PermissionDeniedError
from digitalhub_airflow.keys import validate_name

SUBJECT_KINDS = ("user", "role", "project")


class Level(IntEnum):
    READ = 1
    WRITE = 2
    ADMIN = 3

    @classmethod
    def parse(cls, text: str | int | Level) -> Level:
        """``read`` / ``write`` / ``admin`` (any case) or the level itself."""
        try:
            return cls(text) if isinstance(text, int) else cls[text.strip().upper()]
        except (KeyError, ValueError):
            raise InvalidKeyError(
                f"access level {text!r} is not one of read, write, admin"
            ) from None


@dataclass(frozen=True)
class GrantInfo:
    project: str
    subject: str
    level: Level
    granted_by: str
    granted_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "subject": self.subject,
            "level": self.level.name.lower(),
            "granted_by": self.granted_by,
            "granted_at": self.granted_at.isoformat(),
        }


def check_subject(subject: str) -> str:
    """``user:NAME``, ``role:NAME`` or ``project:NAME``; anything else is refused."""
    kind, sep, name = subject.partition(":")
    if not sep or kind not in SUBJECT_KINDS or not name.strip() or len(subject) > 320:
        raise InvalidKeyError(
            f"grant subject {subject!r} is not user:NAME, role:NAME or project:NAME"
        )
    if kind == "project":
        validate_name(name, "project")
    elif any(ch.isspace() or not ch.isprintable() for ch in name):
        raise InvalidKeyError(f"grant subject {subject!r} has blanks or control characters")
    return subject


def grant(catalog: Catalog, project: str, subject: str, level: Level | str, by: str) -> GrantInfo:
    """Give ``subject`` ``level`` on ``project`` (replacing any grant it had there)."""
    from sqlalchemy import select

    from digitalhub_airflow.catalog.models import Grant, utcnow

    validate_name(project, "project")
    check_subject(subject)
    wanted = Level.parse(level)
    require_current(catalog)
    with catalog.session() as session:
        row = session.scalar(
            select(Grant).where(Grant.project == project, Grant.subject == subject)
        )
        if row is None:
            row = Grant(project=project, subject=subject)
            session.add(row)
        row.level, row.granted_by, row.granted_at = int(wanted), by, utcnow()
        session.flush()
        return _info(row)


def revoke(catalog: Catalog, project: str, subject: str) -> None:
    """Take away ``subject``'s grant on ``project``; a missing grant is a NotFoundError."""
    from sqlalchemy import delete

    from digitalhub_airflow.catalog.models import Grant

    validate_name(project, "project")
    check_subject(subject)
    require_current(catalog)
    with catalog.session() as session:
        gone = session.execute(
            delete(Grant).where(Grant.project == project, Grant.subject == subject)
        )
        if not getattr(gone, "rowcount", 0):
            raise NotFoundError(f"{subject} has no grant on project {project!r}")


def grants(catalog: Catalog, project: str | None = None) -> list[GrantInfo]:
    """Every grant, or one project's, by project then subject."""
    from sqlalchemy import select

    from digitalhub_airflow.catalog.models import Grant

    query = select(Grant).order_by(Grant.project, Grant.subject)
    if project is not None:
        query = query.where(Grant.project == validate_name(project, "project"))
    require_current(catalog)
    with catalog.session() as session:
        return [_info(row) for row in session.scalars(query)]


def _levels(catalog: Catalog, subjects: Iterable[str]) -> dict[str, Level]:
    """The highest level the subjects hold, by project."""
    from sqlalchemy import func, select

    from digitalhub_airflow.catalog.models import Grant

    require_current(catalog)
    query = (
        select(Grant.project, func.max(Grant.level))
        .where(Grant.subject.in_(list(subjects)))
        .group_by(Grant.project)
    )
    with catalog.session() as session:
        return {project: Level(level) for project, level in session.execute(query)}


def level_of(catalog: Catalog, principal: Principal, project: str) -> Level | None:
    """What ``principal`` may do in ``project``: ADMIN for admins, else their highest grant."""
    if principal.is_admin:
        return Level.ADMIN
    return _levels(catalog, principal.subjects()).get(project)


def require(catalog: Catalog, principal: Principal, project: str, level: Level) -> None:
    """Raise PermissionDeniedError unless ``principal`` holds ``level`` on ``project``."""
    held = level_of(catalog, principal, project)
    if held is None or held < level:
        raise PermissionDeniedError(
            f"user {principal.name!r} may not {level.name.lower()} project {project!r}"
            f" (needs a {level.name.lower()} grant)"
        )


def readable_projects(catalog: Catalog, principal: Principal) -> frozenset[str] | None:
    """The projects ``principal`` may read; ``None`` means all of them (admins)."""
    if principal.is_admin:
        return None
    return frozenset(_levels(catalog, principal.subjects()))


def require_reads(
    catalog: Catalog, principal: Principal, projects: Iterable[str], into: str | None = None
) -> None:
    """Check every project a query reads. With ``into`` (the project its result is
    committed to), a read of another project passes on a ``project:<into>`` read grant
    there or on the principal's own read grant; without, on the principal's own."""
    if principal.is_admin:
        return
    own = _levels(catalog, principal.subjects())
    via = _levels(catalog, [f"project:{into}"]) if into else {}
    for project in dict.fromkeys(projects):
        if project == into or project in own or project in via:
            continue
        reader = (
            f"project {into!r} (user {principal.name!r})" if into else f"user {principal.name!r}"
        )
        raise PermissionDeniedError(
            f"{reader} may not read project {project!r} (needs a read grant on it)"
        )


def _info(row: Any) -> GrantInfo:
    return GrantInfo(row.project, row.subject, Level(row.level), row.granted_by, row.granted_at)
