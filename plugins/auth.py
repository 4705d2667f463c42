"""Who may use the catalog app: Airflow's own login, and Airflow's asset permissions.

Plugin FastAPI apps are mounted by Airflow without any protection, so every route of
the catalog app depends on one of these. The user comes from Airflow's JWT (the UI's
``_token`` cookie or ``Authorization: Bearer`` from ``/auth/token``): none -> 401.
Datasets are Airflow Assets, so the auth manager's asset permission decides: reading
needs ``GET`` on assets (SimpleAuthManager: viewer and up), changing the catalog
(moving an alias, releasing a quarantined version) needs ``PUT`` on assets (op and up).
A user without the permission -> 403.
"""

from __future__ import annotations

from typing import Annotated

from airflow.api_fastapi.app import get_auth_manager
from airflow.api_fastapi.auth.managers.models.base_user import BaseUser
from airflow.api_fastapi.auth.managers.models.resource_details import AssetDetails
from airflow.api_fastapi.core_api.security import get_user
from fastapi import Depends, HTTPException, status

CurrentUser = Annotated[BaseUser, Depends(get_user)]


def _require_asset_access(user: BaseUser, method: str, what: str) -> BaseUser:
    if not get_auth_manager().is_authorized_asset(method=method, details=AssetDetails(), user=user):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, f"user {user.get_name()!r} may not {what} the catalog"
        )
    return user


def can_read(user: CurrentUser) -> BaseUser:
    """Dependency of every read route: an authenticated user allowed to read assets."""
    return _require_asset_access(user, "GET", "read")


def can_edit(user: CurrentUser) -> BaseUser:
    """Dependency of every write route: an authenticated user allowed to edit assets."""
    return _require_asset_access(user, "PUT", "change")


Reader = Annotated[BaseUser, Depends(can_read)]
Editor = Annotated[BaseUser, Depends(can_edit)]
