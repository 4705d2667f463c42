"""The catalog's FastAPI app, mounted by Airflow under ``/dhub``: REST API and pages.

Every route depends on :mod:`.auth` (the route table is checked by the tests). Errors
are JSON ``{"detail": "..."}`` for the API and an escaped HTML page for the pages,
with the status the typed error calls for. A strict Content-Security-Policy (no inline
script, same-origin frames only) backs up the templates' autoescaping.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from digitalhub_airflow.errors import (
    AuthenticationError,
    CatalogError,
    ConflictError,
    DhubError,
    InvalidKeyError,
    NotFoundError,
    PermissionDeniedError,
    SchemaPolicyError,
    StoreError,
)

if TYPE_CHECKING:
    from digitalhub_airflow.hub import DataHub

HubProvider = Callable[[], "DataHub"]
Provider = Callable[[], Any]

#: Status codes of the typed errors; anything else a DhubError is a 500.
STATUS_OF: dict[type[DhubError], int] = {
    InvalidKeyError: 400,
    AuthenticationError: 401,
    PermissionDeniedError: 403,
    NotFoundError: 404,
    ConflictError: 409,
    SchemaPolicyError: 409,
    StoreError: 502,
    CatalogError: 503,
}

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class _AirflowHub:
    """One DataHub per process, from the ``dhub_catalog``/``dhub_store`` connections.

    Built on first use and kept: an engine and its connection pool are reused by every
    request (building them per request would cost more than the queries).
    """

    def __init__(self) -> None:
        self._hub: DataHub | None = None
        self._lock = threading.Lock()

    def __call__(self) -> DataHub:
        with self._lock:
            if self._hub is None:
                from digitalhub_airflow.hooks.digitalhub import DigitalHubHook

                self._hub = DigitalHubHook().get_hub()
            return self._hub


def hub_of(request: Request) -> DataHub:
    return request.app.state.hub_provider()


Hub = Annotated["DataHub", Depends(hub_of)]


def status_of(exc: DhubError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS_OF:
            return STATUS_OF[cls]
    return 500


def is_page(request: Request) -> bool:
    return request.url.path.removeprefix(request.scope.get("root_path", "")).startswith("/ui")


def _error(request: Request, status: int, message: str) -> Response:
    if is_page(request):
        from digitalhub_airflow.plugins.page_routes import error_page

        return error_page(request, status, message)
    return JSONResponse({"detail": message}, status_code=status)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("query", "path", "body"))
        parts.append(f"{where}: {err.get('msg', 'invalid')}" if where else err.get("msg", ""))
    return "invalid request: " + "; ".join(parts)


def airflow_tracking() -> Any:
    from digitalhub_airflow.hooks.mlflow import MlflowHook

    return MlflowHook().tracking()


def create_app(
    hub_provider: HubProvider | None = None,
    *,
    tracking_provider: Provider | None = None,
    deployers_provider: Provider | None = None,
) -> FastAPI:
    """The catalog app; ``hub_provider`` gives the DataHub, ``tracking_provider`` the
    MLflow server of the champion gate, ``deployers_provider`` the deployer of each
    service target (defaults: Airflow's connections, as the operators use them)."""
    from digitalhub_airflow.plugins import (
        action_routes,
        api_routes,
        feature_pages,
        page_routes,
        report_routes,
        token_routes,
    )

    app = FastAPI(
        title="DigitalHub catalog",
        version="1",
        description=(
            "Projects, datasets and versions of the DigitalHub catalog. Authenticate as for "
            "Airflow's API: the UI session cookie or `Authorization: Bearer <token>` from "
            "`POST /auth/token`. Reading needs read access to assets, changes need edit access."
        ),
        docs_url=None,
        redoc_url=None,
        openapi_url=None,  # served by an authenticated route instead
    )
    app.state.hub_provider = hub_provider or _AirflowHub()
    app.state.tracking_provider = tracking_provider or airflow_tracking
    app.state.deployers_provider = deployers_provider or action_routes.airflow_deployers
    app.include_router(api_routes.router)
    app.include_router(action_routes.router)
    app.include_router(token_routes.router)
    app.include_router(report_routes.router)
    app.include_router(page_routes.public)
    app.include_router(page_routes.router)
    app.include_router(feature_pages.router)

    @app.exception_handler(DhubError)
    async def _dhub_error(request: Request, exc: DhubError) -> Response:
        return _error(request, status_of(exc), str(exc))

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> Response:
        response = _error(request, exc.status_code, str(exc.detail))
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        return _error(request, 400, _validation_message(exc))

    @app.middleware("http")
    async def _security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    return app
