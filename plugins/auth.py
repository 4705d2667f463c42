"""Who may use the catalog app: Airflow's own login, and Airflow's asset permissions.

Plugin FastAPI apps are mounted by Airflow without any protection, so every route of
the catalog app depends on one of these. The user comes from Airflow's JWT (the UI's
``_token`` cookie or ``Authorization: Bearer`` from ``/auth/token``): none -> 401.
Datasets are Airflow Assets, so the auth manager's asset permission decides: reading
needs ``GET`` on assets (SimpleAuthManager: viewer and up), changing the catalog
(moving an alias, releasing a quarantined version) needs ``PUT`` on assets (op and up).
A user without the permission -> 403. Which projects they may see is the project
grants' business (:func:`principal_from_request`, :mod:`digitalhub_airflow.access`).
"""

from __future__ import annotations

from typing import Annotated

from airflow.api_fastapi.app import get_auth_manager
from airflow.api_fastapi.auth.managers.models.base_user import BaseUser
from airflow.api_fastapi.auth.managers.models.resource_details import AssetDetails
from airflow.api_fastapi.core_api.security import get_user
from fastapi import Depends, HTTPException, Request, status

from digitalhub_airflow.access.principal import Principal
from digitalhub_airflow.errors import AuthenticationError

CurrentUser = Annotated[BaseUser, Depends(get_user)]


def _require_asset_access(user: BaseUser, method: str, what: str) -> BaseUser:
    if not get_auth_manager().is_authorized_asset(method=method, details=AssetDetails(), user=user):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, f"user {user.get_name()!r} may not {what} the catalog"
        )
    return user


def can_read(request: Request, user: CurrentUser) -> BaseUser:
    """Dependency of every read route: an authenticated user allowed to read assets."""
    request.state.dhub_user = user
    return _require_asset_access(user, "GET", "read")


def can_edit(request: Request, user: CurrentUser) -> BaseUser:
    """Dependency of every write route: an authenticated user allowed to edit assets."""
    request.state.dhub_user = user
    return _require_asset_access(user, "PUT", "change")


def roles_of(user: BaseUser) -> list[str]:
    """The user's Airflow roles: the simple auth manager's one ``role``, FAB's ``roles``."""
    role = getattr(user, "role", None)
    if isinstance(role, str) and role:
        return [role]
    return [str(getattr(r, "name", r)) for r in getattr(user, "roles", None) or []]


def principal_from_request(request: Request) -> Principal:
    """The request's Airflow user (checked by :func:`can_read` / :func:`can_edit`, which
    every route depends on) as a :class:`Principal` with its roles; Airflow's Admin /
    ADMIN role is an admin of every project."""
    user: BaseUser | None = getattr(request.state, "dhub_user", None)
    if user is None:
        raise AuthenticationError("no Airflow user on this request")
    return Principal.of_user(user.get_name(), roles_of(user))


Reader = Annotated[BaseUser, Depends(can_read)]
Editor = Annotated[BaseUser, Depends(can_edit)]
