"""Who connects: a token issued by the plugin API (``POST /dhub/api/tokens``) or by
``dhub token`` with the platform's secret, presented as a password or bearer token."""

from __future__ import annotations

from digitalhub_airflow.access import Principal
from digitalhub_airflow.access.tokens import verify
from digitalhub_airflow.errors import AuthenticationError


def authenticate(user: str | None, token: str | None, secret: bytes) -> Principal:
    """The principal ``token`` names; the user name given beside it (psql's user,
    Flight's basic-auth user) must be that principal's, or empty."""
    if not token:
        raise AuthenticationError(f"password authentication failed for user {user or ''!r}")
    principal = verify(token, secret)
    if user and user != principal.name:
        raise AuthenticationError(
            f"password authentication failed for user {user!r}: the token is another user's"
        )
    return principal
