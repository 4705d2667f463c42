"""``dhub serve-data``: one dataset key served by uvicorn workers.

The parent checks the key resolves (and is not quarantined unless allowed) before any
worker starts, so a wrong key fails the command at once; each worker then loads the
version itself and follows the alias on its own.
"""

from __future__ import annotations

import json
import os
import signal
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from digitalhub_airflow.errors import QuarantinedError, ServingSpecError
from digitalhub_airflow.keys import validate_name
from digitalhub_airflow.serving.runtime.api_key import PROJECT_ENV
from digitalhub_airflow.serving.runtime.asgi import ASGIApp

if TYPE_CHECKING:
    from digitalhub_airflow.hub import DataHub

#: The worker's options (JSON), set by the parent for the uvicorn app factory.
PLAN_ENV = "DHUB_SERVE_DATA_PLAN"


@dataclass
class DataServeOptions:
    dataset: str
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    service: str = "data"
    project: str | None = None
    allow_quarantined: bool = False
    refresh_seconds: float = 2.0


def check(hub_key: str, options: DataServeOptions, quality: str | None) -> None:
    validate_name(options.service, "service name")
    if options.workers < 1 or options.refresh_seconds <= 0:
        raise ServingSpecError("--workers and --refresh-seconds must be positive")
    if quality == "quarantined" and not options.allow_quarantined:
        raise QuarantinedError(f"{hub_key} is quarantined: serve it only with --allow-quarantined")


def serve_data(hub: DataHub, options: DataServeOptions) -> None:
    """Run the data service until SIGINT/SIGTERM."""
    import uvicorn

    info = hub.resolve(options.dataset)
    check(info.key, options, info.quality)
    if info.kind != "table":
        raise ServingSpecError(f"{info.key} is a {info.kind} dataset; a data service serves tables")
    print(f"{options.service}: {options.dataset} -> {info.key}")
    os.environ[PLAN_ENV] = json.dumps(asdict(options))
    if options.project:  # whose tokens the gateway check accepts
        os.environ.setdefault(PROJECT_ENV, options.project)
    signal.signal(signal.SIGTERM, _exit_quietly)
    uvicorn.run(
        "digitalhub_airflow.dataservice.server:app_from_env",
        factory=True,
        host=options.host,
        port=options.port,
        workers=options.workers,
        lifespan="on",
        access_log=False,
        log_level="info",
    )


def _exit_quietly(_signum: int, _frame: object) -> None:
    raise SystemExit(0)


def build_app(options: DataServeOptions) -> ASGIApp:
    """The service behind the gateway's API-key / project-token check."""
    from digitalhub_airflow.dataservice.app import DataServiceApp
    from digitalhub_airflow.dataservice.versions import ServedDataset
    from digitalhub_airflow.hub import DataHub
    from digitalhub_airflow.serving.runtime.api_key import protect

    dataset = ServedDataset(
        DataHub.from_settings,
        options.dataset,
        allow_quarantined=options.allow_quarantined,
        refresh_seconds=options.refresh_seconds,
    )
    return protect(DataServiceApp(dataset, options.service))


def app_from_env() -> ASGIApp:
    """The uvicorn factory each worker calls (the suite's log lines go to stderr)."""
    import logging

    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s: %(message)s")
    return build_app(DataServeOptions(**json.loads(os.environ[PLAN_ENV])))
