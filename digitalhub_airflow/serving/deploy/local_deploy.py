"""Deploying a service on this machine: ``dhub serve`` as a managed process + its record.

The order keeps the catalog truthful: checks that need no writes (spec, models, port)
come first; then the service is recorded ``deploying``; the running process is only
recorded ``running`` once its readiness endpoint answers, and a server that fails to
start is recorded ``failed`` with the tail of its log, never ``running``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from digitalhub_airflow.errors import DeploymentError
from digitalhub_airflow.serving.deploy import services
from digitalhub_airflow.serving.deploy.local_process import (
    free_port,
    is_running,
    port_in_use,
    start_process,
    stop_process,
)
from digitalhub_airflow.serving.deploy.pinning import PinnedModel, already_pinned
from digitalhub_airflow.serving.runtime.api_key import PROJECT_ENV

if TYPE_CHECKING:
    from digitalhub_airflow.hub import DataHub
    from digitalhub_airflow.serving.deploy.services import ServiceRecord
    from digitalhub_airflow.serving.deploy.spec import ServiceSpec

SERVER_MODULE = "digitalhub_airflow.cli"


def process_marker(spec: ServiceSpec) -> str:
    """What the server's command line holds, so a stop never kills a reused pid (the
    trailing space: ``demo`` must not match a service of project ``demo2``)."""
    return f"--service {spec.name} --project {spec.project} "


def is_alive(record: ServiceRecord) -> bool:
    return record.pid is not None and is_running(record.pid, process_marker(record.service_spec()))


def log_path(home: Path, spec: ServiceSpec) -> Path:
    return home / "services" / spec.project / f"{spec.name}.log"


def deploy_local(
    hub: DataHub,
    spec: ServiceSpec,
    models: dict[str, PinnedModel],
    env: dict[str, str],
    *,
    home: Path,
    timeout: float = 180.0,
    previous: dict[str, object] | None = None,
    final_state: str = services.RUNNING,
    restore: bool = True,
    note: str | None = None,
) -> ServiceRecord:
    """Run ``spec`` (its models pinned to ``models``) as a local server process.

    ``env`` is the server's whole environment (settings and credentials: they reach
    this process only). A service already serving this exact spec is left alone. One
    port serves one process, so an update stops the old server first; if the new one
    fails, the old spec is started again (``restore``, recorded ``rolled_back``) and the
    error is still raised. ``note`` is added to the record's message (what of the spec
    a local process ignores).
    """
    if spec.target != "local":
        raise DeploymentError(f"service {spec.name!r} targets {spec.target}, not local")
    pinned = spec.with_models({n: m.pinned for n, m in models.items()})
    current = services.find_service(hub, spec.project, "local", spec.name)
    alive = current is not None and is_alive(current)
    if current is not None and alive and current.serving and current.spec_digest == pinned.digest:
        return current
    old_port = current.service_spec().port if current is not None and alive else None
    port = pinned.port or (old_port if old_port else free_port(pinned.host))
    if port != old_port and port_in_use(pinned.host, port):
        raise DeploymentError(f"port {port} on {pinned.host} is in use: choose another port")
    services.begin_deployment(hub, pinned, models, previous=previous)
    if current is not None and current.pid is not None and alive:
        stop_process(current.pid, process_marker(current.service_spec()))
    argv = [sys.executable, "-m", SERVER_MODULE, *pinned.serve_args(port=port)]
    try:
        started = start_process(
            argv,
            {**env, PROJECT_ENV: pinned.project},  # whose project tokens the gate accepts
            host=pinned.host,
            port=port,
            log_path=log_path(home, pinned),
            timeout=timeout,
        )
    except DeploymentError as exc:
        services.set_state(hub, pinned, services.FAILED, message=str(exc)[:4000])
        if not (restore and alive and current is not None and current.serving):
            raise
        restored = deploy_local(
            hub,
            current.service_spec(),
            {n: PinnedModel(**m) for n, m in current.models.items()},
            env,
            home=home,
            timeout=timeout,
            previous=pinned.to_json(),
            final_state=services.ROLLED_BACK,
            restore=False,
        )
        raise DeploymentError(
            f"{exc}\nthe previous spec runs again: {restored.key} at {restored.url}"
        ) from exc
    message = f"log {started.log_path}" + (f"; {note}" if note else "")
    return services.set_state(
        hub, pinned, final_state, url=started.url, pid=started.pid, message=message
    )


def undeploy_local(hub: DataHub, project: str, name: str) -> ServiceRecord:
    """Stop the service's process (if it still runs) and record it ``stopped``."""
    record = services.get_service(hub, project, "local", name)
    spec = record.service_spec()
    stopped = record.pid is not None and stop_process(record.pid, process_marker(spec))
    message = f"process {record.pid} stopped" if stopped else "no process was running"
    return services.set_state(hub, spec, services.STOPPED, message=message)


def rollback_local(
    hub: DataHub, project: str, name: str, env: dict[str, str], *, home: Path, timeout: float = 180
) -> ServiceRecord:
    """Deploy the spec the last deployment replaced, recording ``rolled_back``."""
    record = services.get_service(hub, project, "local", name)
    target = services.rollback_target(record)
    return deploy_local(
        hub,
        target,
        already_pinned(target.models),
        env,
        home=home,
        timeout=timeout,
        previous=record.spec,
        final_state=services.ROLLED_BACK,
    )
