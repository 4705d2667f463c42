"""``POST /dhub/api/tokens``: an access token for the logged-in Airflow user.

The token carries the user and their Airflow roles, signed with the platform's token
secret; ``psql``, ``psycopg``, Arrow Flight and the SDK (``DHUB_TOKEN``) present it as
their password or bearer token. It grants nothing by itself: the project grants decide.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from digitalhub_airflow.plugins.auth import can_read, principal_from_request

#: Longest lifetime a token can be asked for (30 days); the default is one hour.
MAX_TTL_S = 30 * 24 * 3600

router = APIRouter(prefix="/api", tags=["access"], dependencies=[Depends(can_read)])


@router.post("/tokens")
def issue_token(
    request: Request, ttl_s: Annotated[int, Query(ge=60, le=MAX_TTL_S)] = 3600
) -> dict[str, Any]:
    """A token for the asking user, valid ``ttl_s`` seconds (never logged)."""
    from digitalhub_airflow.access.tokens import issue
    from digitalhub_airflow.settings import token_secret

    principal = principal_from_request(request)
    return {
        "user": principal.name,
        "roles": sorted(principal.roles),
        "token": issue(principal, token_secret(), ttl_s),
        "token_type": "Bearer",
        "expires_in": ttl_s,
    }
