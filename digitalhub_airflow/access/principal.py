"""Who is acting: a user name and the roles Airflow's auth manager gave them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

#: The Airflow role that means "allowed everything", in any case: FAB's ``Admin``, the
#: simple auth manager's ``ADMIN`` (``admin`` in its users setting).
ADMIN_ROLE = "ADMIN"


@dataclass(frozen=True)
class Principal:
    """A user and their roles; ``is_admin`` passes every check."""

    name: str
    roles: frozenset[str] = field(default_factory=frozenset)
    is_admin: bool = False

    @classmethod
    def local(cls) -> Principal:
        """The trusted user of an embedded or CLI session (like PostgreSQL's peer auth):
        whoever can open the catalog directly is allowed everything."""
        from digitalhub_airflow.settings import current_user

        return cls(current_user(), is_admin=True)

    @classmethod
    def of_user(cls, name: str, roles: Iterable[str] = ()) -> Principal:
        """A principal from an auth manager's user: admin when a role says so."""
        role_set = frozenset(roles)
        return cls(name, role_set, is_admin=any(r.upper() == ADMIN_ROLE for r in role_set))

    def subjects(self) -> list[str]:
        """The grant subjects that speak for this principal: the user and each role."""
        return [f"user:{self.name}", *(f"role:{role}" for role in sorted(self.roles))]
