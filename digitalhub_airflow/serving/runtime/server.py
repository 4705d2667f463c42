"""``dhub serve``: resolve and download the models once, then run uvicorn workers.

The parent process pins every reference (an alias becomes its registry version),
downloads the model files and checks the pipeline specs, so a wrong reference fails the
command at once with a clear message. The workers get that plan through one environment
variable and load only local files: they need no registry access and no credentials.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from digitalhub_airflow.errors import ServingSpecError
from digitalhub_airflow.keys import SCHEME, as_dataset_key, validate_name
from digitalhub_airflow.serving.model_refs import (
    ResolvedModel,
    download_model,
    parse_model_option,
    resolve_model,
)
from digitalhub_airflow.serving.runtime.api_key import protect
from digitalhub_airflow.serving.runtime.app import (
    DEFAULT_MAX_BODY_BYTES,
    ModelPlan,
    ServerPlan,
    ServingApp,
)
from digitalhub_airflow.serving.runtime.asgi import ASGIApp
from digitalhub_airflow.serving.runtime.metrics import WORKERS_DIR_ENV
from digitalhub_airflow.serving.runtime.pipelines import (
    PipelineSpec,
    import_function,
    load_pipeline_spec,
)

if TYPE_CHECKING:
    from digitalhub_airflow.hub import DataHub
    from digitalhub_airflow.training.tracking import TrackingConfig

#: The worker's plan (JSON), set by the parent for the uvicorn app factory.
PLAN_ENV = "DHUB_SERVE_PLAN"
log = logging.getLogger(__name__)


@dataclass
class ServeOptions:
    models: list[str]
    pipelines: list[str] = field(default_factory=list)
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    service: str = "local"
    project: str | None = None
    request_log: str | None = None
    log_sample_rate: float = 0.1
    log_flush_rows: int = 1000
    log_flush_seconds: float = 30.0
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    #: ``[MODEL=][PROJECT/]SERVICE``: requests to MODEL carry entity keys, looked up there.
    features: list[str] = field(default_factory=list)
    #: ``[MODEL:]FEATURE=VALUE``: the value a feature takes when the online store has none.
    feature_defaults: list[str] = field(default_factory=list)


def check_options(options: ServeOptions) -> None:
    if not options.models:
        raise ServingSpecError("give at least one --model NAME=REF")
    validate_name(options.service, "service name")
    if not 0.0 <= options.log_sample_rate <= 1.0:
        raise ServingSpecError("--log-sample-rate must be between 0 and 1")
    if options.log_flush_rows < 1 or options.log_flush_seconds <= 0:
        raise ServingSpecError("--log-flush-rows and --log-flush-seconds must be positive")
    if options.workers < 1 or options.max_body_bytes < 1:
        raise ServingSpecError("--workers and --max-body-bytes must be positive")


def request_log_key(options: ServeOptions) -> str | None:
    """``--request-log`` as a table key: a store:// key, ``<project>/<name>``, or a bare
    name in ``--project``."""
    target = options.request_log
    if not target:
        return None
    if not target.startswith(SCHEME) and "/" not in target:
        if not options.project:
            raise ServingSpecError(f"--request-log {target!r} needs --project or a full key")
        target = f"{options.project}/{target}"
    return str(as_dataset_key(target, "table"))


def feature_plans(hub: DataHub, options: ServeOptions, models: list[str]) -> dict[str, Any]:
    """Each ``--features`` pinned: its service checked and its definition digest kept."""
    from digitalhub_airflow.features.online import OnlineFeatures

    plans: dict[str, Any] = {}
    for text in options.features:
        model, named, ref = text.rpartition("=")
        if not named:
            if len(models) != 1:
                raise ServingSpecError(f"--features {text!r}: name the model (MODEL=SERVICE)")
            model = models[0]
        if model not in models:
            raise ServingSpecError(f"--features {text!r}: no --model named {model!r}")
        project, _, service = ref.rpartition("/")
        project = project or options.project or ""
        if not project or not service:
            raise ServingSpecError(f"--features {text!r}: give PROJECT/SERVICE or --project")
        plans[model] = {"project": project, "service": service}
    defaults = feature_defaults(options, list(plans))
    for model, plan in plans.items():
        online = OnlineFeatures.open(hub, plan["project"], plan["service"], defaults.get(model))
        plan["digest"] = online.digest
        if online.defaults:
            plan["defaults"] = online.defaults
    return plans


def feature_defaults(options: ServeOptions, models: list[str]) -> dict[str, dict[str, str]]:
    """``--feature-default [MODEL:]FEATURE=VALUE`` by model (the values still text: the
    feature service's types read them)."""
    found: dict[str, dict[str, str]] = {}
    for text in options.feature_defaults:
        named, equals, value = text.partition("=")
        model, _, feature = named.rpartition(":")
        if not equals or not feature:
            raise ServingSpecError(f"--feature-default {text!r} must be [MODEL:]FEATURE=VALUE")
        if not model:
            if len(models) != 1:
                raise ServingSpecError(
                    f"--feature-default {text!r}: name the model (MODEL:FEATURE=VALUE) "
                    f"of those with --features ({', '.join(models) or 'none'})"
                )
            model = models[0]
        if model not in models:
            raise ServingSpecError(f"--feature-default {text!r}: model {model!r} has no --features")
        found.setdefault(model, {})[feature] = value
    return found


def prepare(
    hub: DataHub, tracking: TrackingConfig, options: ServeOptions, workdir: Path
) -> tuple[ServerPlan, list[ResolvedModel]]:
    """Resolve, download and check everything the workers will load."""
    check_options(options)
    named = [parse_model_option(text) for text in options.models]
    specs: list[PipelineSpec] = [load_pipeline_spec(path) for path in options.pipelines]
    names = [n for n, _ in named] + [s.name for s in specs]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ServingSpecError(f"served name(s) {', '.join(twice)} given more than once")
    served = {n for n, _ in named}
    for spec in specs:
        missing = [m for m in spec.models if m not in served]
        if missing:
            raise ServingSpecError(
                f"pipeline {spec.name!r} uses model(s) {', '.join(missing)}; add --model for them"
            )
        for step in spec.steps:
            if "function" in step:
                import_function(step["function"])
    features = feature_plans(hub, options, [n for n, _ in named])
    resolved = [resolve_model(hub, tracking, name, ref) for name, ref in named]
    plans = [
        ModelPlan(
            m.name,
            m.version,
            str(download_model(tracking, m, workdir / m.name)),
            features.get(m.name),
        )
        for m in resolved
    ]
    return ServerPlan(plans, specs, options.max_body_bytes), resolved


def serve(hub: DataHub, tracking: TrackingConfig, options: ServeOptions) -> None:
    """Run the server until SIGINT/SIGTERM (then the request log is flushed)."""
    import uvicorn

    log_key = request_log_key(options)
    with tempfile.TemporaryDirectory(prefix="dhub-serve-") as tmp:
        workdir = Path(tmp)
        plan, resolved = prepare(hub, tracking, options, workdir)
        for model in resolved:
            print(f"{model.name}: {model.ref} -> {model.model_uri} (version {model.version})")
        os.environ[PLAN_ENV] = json.dumps(
            {
                "models": [asdict(m) for m in plan.models],
                "pipelines": [asdict(p) for p in plan.pipelines],
                "max_body_bytes": plan.max_body_bytes,
                "service": options.service,
                "request_log": log_key,
                "log_sample_rate": options.log_sample_rate,
                "log_flush_rows": options.log_flush_rows,
                "log_flush_seconds": options.log_flush_seconds,
                "load_before_serving": options.workers > 1,
            }
        )
        if options.workers > 1:  # /metrics sums the workers' counts
            metrics_dir = workdir / "metrics"
            metrics_dir.mkdir()
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)  # where values live
            os.environ[WORKERS_DIR_ENV] = str(metrics_dir)  # what /metrics sums
        # uvicorn shuts down gracefully on SIGTERM, then re-raises it: ending by a Python
        # exit (status 0) instead lets the temporary model copies be removed.
        signal.signal(signal.SIGTERM, _exit_quietly)
        uvicorn.run(
            "digitalhub_airflow.serving.runtime.server:app_from_env",
            factory=True,
            host=options.host,
            port=options.port,
            workers=options.workers,
            loop="auto",  # uvloop and httptools where installed (the lock has both)
            http="auto",
            lifespan="on",
            access_log=False,
            log_level="info",
        )


def _exit_quietly(_signum: int, _frame: object) -> None:
    raise SystemExit(0)


def app_from_env() -> ASGIApp:
    """The uvicorn factory each worker calls: the plan from :data:`PLAN_ENV`."""
    from digitalhub_airflow.hub import DataHub
    from digitalhub_airflow.serving.runtime.request_log import RequestLog

    _log_to_stderr()
    raw = json.loads(os.environ[PLAN_ENV])
    plan = ServerPlan(
        [ModelPlan(**m) for m in raw["models"]],
        [PipelineSpec(**p) for p in raw["pipelines"]],
        raw["max_body_bytes"],
    )
    request_log = None
    if raw["request_log"]:
        request_log = RequestLog(
            raw["request_log"],
            raw["service"],
            DataHub.from_settings,
            sample_rate=raw["log_sample_rate"],
            flush_rows=raw["log_flush_rows"],
            flush_seconds=raw["log_flush_seconds"],
        )
    # Behind the API-key gate when the deployment gave the server a key (from a Secret).
    return protect(ServingApp(plan, request_log, raw["load_before_serving"]))


def _log_to_stderr() -> None:
    package = logging.getLogger("digitalhub_airflow.serving")
    if not package.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(name)s: %(message)s"))
        package.addHandler(handler)
        package.setLevel(logging.INFO)
