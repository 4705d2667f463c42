"""Projects as a security boundary: who acts (:class:`Principal`), what they may do in a
project (grants of :class:`Level` read / write / admin), and signed tokens that carry a
principal to the SQL endpoint, Flight and the SDK."""

from digitalhub_airflow.access.permissions import (
    Level,
    grant,
    grants,
    level_of,
    readable_projects,
    require,
    require_reads,
    revoke,
)
from digitalhub_airflow.access.principal import Principal

__all__ = [
    "Level",
    "Principal",
    "grant",
    "grants",
    "level_of",
    "readable_projects",
    "require",
    "require_reads",
    "revoke",
]
