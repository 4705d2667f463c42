"""Changes a person makes from the catalog: the REST API and the pages' buttons.

Release a quarantined version, move an alias, send a trained run through the champion
gate, undeploy or roll back a service. Each needs the Airflow permission to edit
assets (``op`` and up; a ``viewer`` gets 403) AND a write grant on the project, and
each is recorded with the Airflow user's name (:mod:`digitalhub_airflow.browse.actions`).

CSRF: the pages authenticate with Airflow's session cookie, which a browser also sends
with a forged cross-site form. A write authenticated by the cookie must carry the
page's ``csrf`` field (or ``X-CSRF-Token``), an HMAC of the session token only a page
of this origin can know; a request with ``Authorization: Bearer`` carries no ambient
credential and needs none. A cross-origin ``Origin`` header is refused outright.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Form, HTTPException, Request
from fastapi.responses import RedirectResponse

from digitalhub_airflow.browse import actions
from digitalhub_airflow.browse import read_model as browse
from digitalhub_airflow.keys import parse_key
from digitalhub_airflow.plugins.api_routes import DATASET, VERSION, DatasetKey, VersionKey
from digitalhub_airflow.plugins.auth import Editor, can_edit
from digitalhub_airflow.plugins.catalog_app import Hub, airflow_tracking
from digitalhub_airflow.plugins.scoping import require_project

CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"
SESSION_COOKIE = "_token"


def csrf_token(request: Request) -> str:
    """The token a page embeds in its forms: bound to this browser session."""
    session = request.cookies.get(SESSION_COOKIE, "")
    return hmac.new(session.encode(), b"dhub-catalog-csrf", hashlib.sha256).hexdigest()


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return origin is None
    host = request.headers.get("x-forwarded-host") or request.headers.get("host", "")
    return origin.split("://", 1)[-1] == host


async def csrf_checked(request: Request) -> None:
    """Dependency of every write: refuse cross-site requests riding on the cookie."""
    if not _same_origin(request):
        raise HTTPException(403, "cross-origin request refused")
    if request.headers.get("authorization", "").lower().startswith("bearer "):
        return
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and "form" in request.headers.get("content-type", ""):
        sent = str((await request.form()).get(CSRF_FIELD, ""))
    if not sent or not hmac.compare_digest(sent, csrf_token(request)):
        raise HTTPException(403, "missing or wrong CSRF token: reload the page and try again")


WRITE_DEPENDENCIES = [Depends(can_edit), Depends(csrf_checked)]
api = APIRouter(prefix="/api/v1", tags=["catalog changes"], dependencies=WRITE_DEPENDENCIES)
forms = APIRouter(prefix="/ui/actions", include_in_schema=False, dependencies=WRITE_DEPENDENCIES)


def tracking_of(request: Request) -> Any:
    return request.app.state.tracking_provider()


def deployers_of(request: Request) -> Any:
    return request.app.state.deployers_provider()


def airflow_deployers() -> Any:
    """The deployer of each target, on Airflow's connections (as the serving operators):
    the catalog, store and tracking server a server is given, the cluster it runs in."""
    from digitalhub_airflow.hooks.digitalhub import DigitalHubHook
    from digitalhub_airflow.hooks.kubernetes_apply import KubernetesApplyHook
    from digitalhub_airflow.serving.deploy.deployer import KubernetesDeployer, LocalDeployer
    from digitalhub_airflow.serving.deploy.environment import ServerEnvironment

    def environment() -> ServerEnvironment:
        settings, secrets = DigitalHubHook().worker_environment()
        tracking_settings, tracking_secrets = airflow_tracking().process_environment()
        return ServerEnvironment({**settings, **tracking_settings}, {**secrets, **tracking_secrets})

    return {
        "local": LocalDeployer(environment),
        "kubernetes": KubernetesDeployer(lambda: KubernetesApplyHook().client(), environment),
    }


# -- the operations, shared by the API and the forms ----------------------------------------
def _release(hub: Any, request: Request, user: Any, key: str, reason: str) -> dict[str, Any]:
    require_project(request, hub, parse_key(key).project, write=True)
    return actions.release(hub, key, user.get_name(), reason)


def _move(hub: Any, request: Request, user: Any, key: str, alias: str) -> dict[str, Any]:
    require_project(request, hub, parse_key(key).project, write=True)
    return actions.move_alias(hub, key, alias, user.get_name())


def _unalias(hub: Any, request: Request, user: Any, dataset: str, alias: str) -> dict[str, Any]:
    require_project(request, hub, parse_key(dataset).project, write=True)
    return actions.remove_alias(hub, dataset, alias, user.get_name())


def _promote(
    hub: Any, request: Request, user: Any, *, model_key: str, metric: str, evaluation: str | None
) -> dict[str, Any]:
    require_project(request, hub, parse_key(model_key).project, write=True)
    return actions.promote(
        hub,
        tracking_of(request),
        model_key=model_key,
        metric=metric,
        actor=user.get_name(),
        evaluation_dataset=evaluation or None,
    )


def _service(
    hub: Any, request: Request, user: Any, service: tuple[str, str, str], what: str
) -> dict[str, Any]:
    require_project(request, hub, service[0], write=True)
    change = actions.rollback if what == "rollback" else actions.undeploy
    return change(hub, deployers_of(request), service, user.get_name())


# -- REST API -------------------------------------------------------------------------------
@api.put(DATASET + "/aliases/{alias}")
def move_alias(
    hub: Hub,
    request: Request,
    *,
    user: Editor,
    dataset: DatasetKey,
    alias: str,
    version: Annotated[str, Body(embed=True, description="v<N>, a version id or @alias")],
) -> dict[str, Any]:
    """Point ``alias`` at a version; the move is recorded with the Airflow user's name."""
    key = browse.version_key(dataset.project, dataset.kind or "", dataset.name or "", version)
    return _move(hub, request, user, str(key), alias)


@api.delete(DATASET + "/aliases/{alias}")
def remove_alias(
    hub: Hub, request: Request, *, user: Editor, dataset: DatasetKey, alias: str
) -> dict[str, Any]:
    """Remove ``alias`` (``latest`` is the commits'); recorded with the Airflow user's name.
    Returns the version it named."""
    return _unalias(hub, request, user, str(dataset), alias)


@api.post(VERSION + "/release")
def release(
    hub: Hub,
    request: Request,
    user: Editor,
    key: VersionKey,
    reason: Annotated[str, Body(embed=True, max_length=1000)] = "",
) -> dict[str, Any]:
    """Let a quarantined version through again (after a person reviewed it)."""
    return _release(hub, request, user, str(key), reason)


@api.post("/models/promote")
def promote(
    hub: Hub,
    request: Request,
    *,
    user: Editor,
    model: Annotated[str, Body(embed=True, description="the trained run's model key")],
    metric: Annotated[str, Body(embed=True)],
    evaluation_dataset: Annotated[str | None, Body(embed=True)] = None,
) -> dict[str, Any]:
    """Send a trained run through the champion gate (promoted only if strictly better)."""
    return _promote(
        hub, request, user, model_key=model, metric=metric, evaluation=evaluation_dataset
    )


@api.post("/services/{project}/{target}/{name}/{what}")
def change_service(
    hub: Hub, request: Request, *, user: Editor, project: str, target: str, name: str, what: str
) -> dict[str, Any]:
    """``undeploy`` or ``rollback`` a service; its history records the Airflow user."""
    if what not in ("undeploy", "rollback"):
        raise HTTPException(404, f"no service action {what!r}: undeploy or rollback")
    return _service(hub, request, user, (project, target, name), what)


# -- the pages' forms: the same operations, then back to the page with a notice ------------
def _back(to: str, notice: str) -> RedirectResponse:
    from urllib.parse import quote

    return RedirectResponse(f"{to}{'&' if '?' in to else '?'}done={quote(notice)}", 303)


def _page(request: Request, path: str) -> str:
    from digitalhub_airflow.plugins.page_routes import Links

    return Links(request).ui(path)


@forms.post("/release")
def release_form(
    hub: Hub,
    request: Request,
    user: Editor,
    key: Annotated[str, Form()],
    reason: Annotated[str, Form()] = "",
) -> RedirectResponse:
    info = _release(hub, request, user, key, reason)
    k = parse_key(info["key"])
    return _back(
        _page(request, f"datasets/{k.project}/{k.kind}/{k.name}/versions/v{info['seq']}"),
        f"released v{info['seq']}",
    )


@forms.post("/alias")
def alias_form(
    hub: Hub,
    request: Request,
    *,
    user: Editor,
    dataset: Annotated[str, Form()],
    alias: Annotated[str, Form()],
    version: Annotated[str, Form()],
) -> RedirectResponse:
    d = parse_key(dataset)
    key = browse.version_key(d.project, d.kind or "", d.name or "", version)
    info = _move(hub, request, user, str(key), alias)
    return _back(
        _page(request, f"datasets/{d.project}/{d.kind}/{d.name}"), f"@{alias} → v{info['seq']}"
    )


@forms.post("/alias/remove")
def remove_alias_form(
    hub: Hub,
    request: Request,
    *,
    user: Editor,
    dataset: Annotated[str, Form()],
    alias: Annotated[str, Form()],
) -> RedirectResponse:
    d = parse_key(dataset)
    info = _unalias(hub, request, user, dataset, alias)
    return _back(
        _page(request, f"datasets/{d.project}/{d.kind}/{d.name}"),
        f"@{alias} removed (was v{info['seq']})",
    )


@forms.post("/promote")
def promote_form(
    hub: Hub,
    request: Request,
    *,
    user: Editor,
    model: Annotated[str, Form()],
    metric: Annotated[str, Form()],
    evaluation_dataset: Annotated[str, Form()] = "",
) -> RedirectResponse:
    gate = _promote(
        hub, request, user, model_key=model, metric=metric, evaluation=evaluation_dataset
    )
    k = parse_key(model)
    return _back(_page(request, f"models/{k.project}/{k.name}"), gate["reason"])


@forms.post("/service")
def service_form(
    hub: Hub,
    request: Request,
    *,
    user: Editor,
    project: Annotated[str, Form()],
    target: Annotated[str, Form()],
    name: Annotated[str, Form()],
    what: Annotated[str, Form()],
) -> RedirectResponse:
    if what not in ("undeploy", "rollback"):
        raise HTTPException(400, f"no service action {what!r}: undeploy or rollback")
    record = _service(hub, request, user, (project, target, name), what)
    return _back(
        _page(request, f"services/{project}/{target}/{name}"), f"{what}: {record['state']}"
    )


router = APIRouter()
router.include_router(api)
router.include_router(forms)
