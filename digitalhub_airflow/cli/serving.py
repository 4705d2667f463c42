"""``dhub serve``: the model server (OIP v2 REST, MLflow ``/invocations``, ``/metrics``);
``dhub deploy | undeploy | rollback | reconcile``: model servers as managed local
processes or Kubernetes Deployments, through the deployers of
:mod:`digitalhub_airflow.serving.deploy.deployer`."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from digitalhub_airflow.cli.support import (
    AddCommand,
    count,
    emit,
    port_number,
    positive_int,
    seconds,
    share,
)

if TYPE_CHECKING:
    from digitalhub_airflow.hub import DataHub
    from digitalhub_airflow.serving.deploy.deployer import Deployer
    from digitalhub_airflow.serving.deploy.reconcile import Desired
    from digitalhub_airflow.serving.deploy.services import ServiceRecord
    from digitalhub_airflow.serving.deploy.spec import ServiceSpec


#: The commands of this module and their one-line help (``dhub --help`` lists them
#: without importing what they need).
COMMANDS = {
    "serve": "serve MLflow models over OIP v2 REST and /invocations",
    "deploy": "deploy (or update) a model server, locally or on Kubernetes",
    "undeploy": "stop a service and record it stopped",
    "rollback": "deploy the spec the last deployment of a service replaced",
    "reconcile": "make the services of YAML files run; change what differs",
    "models": "list trained models, newest first, with the versions they learnt from",
    "services": "list deployed services: target, state, URL and models",
}


def cmd_serve(hub: DataHub, args: argparse.Namespace) -> int:
    from digitalhub_airflow.serving.runtime.server import ServeOptions, serve
    from digitalhub_airflow.settings import load_settings
    from digitalhub_airflow.training.tracking import tracking_from_env

    options = ServeOptions(
        models=args.model,
        pipelines=args.pipeline,
        host=args.host,
        port=args.port,
        workers=args.workers,
        service=args.service,
        project=args.project,
        request_log=args.request_log,
        log_sample_rate=args.log_sample_rate,
        log_flush_rows=args.log_flush_rows,
        log_flush_seconds=args.log_flush_seconds,
        max_body_bytes=args.max_body_bytes,
        features=args.features,
        feature_defaults=args.feature_default,
    )
    serve(hub, tracking_from_env(load_settings().home), options)
    return 0


def register(add: AddCommand) -> None:
    """Add ``serve``, ``deploy``, ``undeploy``, ``rollback`` and ``reconcile`` to the
    ``dhub`` parser."""
    from digitalhub_airflow.serving.runtime.app import DEFAULT_MAX_BODY_BYTES

    p = add("serve", cmd_serve)
    p.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="NAME=REF",
        help="models:/<name>@<alias>, models:/<name>/<version>, runs:/…, any MLflow model URI "
        "or store://<project>/model/mlflow/<name>:<id> (repeatable)",
    )
    p.add_argument(
        "--pipeline", action="append", default=[], metavar="FILE", help="pipeline spec (YAML)"
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=port_number, default=8080)
    p.add_argument("--workers", type=positive_int, default=1, help="uvicorn worker processes")
    p.add_argument("--service", default="local", help="service name recorded in the request log")
    p.add_argument("--project", help="project of a --request-log given by bare name")
    p.add_argument(
        "--request-log",
        metavar="KEY",
        help="table dataset for sampled requests: store://<project>/dataitem/table/<name>",
    )
    p.add_argument("--log-sample-rate", type=share, default=0.1, help="share of requests logged")
    p.add_argument("--log-flush-rows", type=positive_int, default=1000)
    p.add_argument("--log-flush-seconds", type=seconds, default=30.0)
    p.add_argument("--max-body-bytes", type=positive_int, default=DEFAULT_MAX_BODY_BYTES)
    p.add_argument(
        "--features",
        action="append",
        default=[],
        metavar="[MODEL=][PROJECT/]SERVICE",
        help="requests carry entity keys; features come from this feature service (repeatable)",
    )
    p.add_argument(
        "--feature-default",
        action="append",
        default=[],
        metavar="[MODEL:]FEATURE=VALUE",
        help="value of a --features feature the online store lacks, of the feature's type "
        "(repeatable; without it such a row is refused)",
    )
    register_deployments(add)
    for name, func in (("models", cmd_models), ("services", cmd_services)):
        add(name, func).add_argument("project", nargs="?", help="default: every project")


# -- listings: dhub models | services --------------------------------------------------------
def _projects(hub: DataHub, project: str | None) -> list[str]:
    from digitalhub_airflow.browse.read_model import list_projects

    return [project] if project else [p["name"] for p in list_projects(hub)]


def cmd_models(hub: DataHub, args: argparse.Namespace) -> int:
    from digitalhub_airflow.browse.read_model import list_models

    models = [m for project in _projects(hub, args.project) for m in list_models(hub, project)]
    lines = []
    for m in models:
        metrics = " ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
            for k, v in sorted((m["metrics"] or {}).items())[:3]
        )
        lines.append(f"{m['key']}  {m['created_at'][:19]}  {metrics}")
        lines += [f"    trained on {d}" for d in m["datasets"] or []]
    emit(args, models, "\n".join(lines) or "no models")
    return 0


def cmd_services(hub: DataHub, args: argparse.Namespace) -> int:
    from digitalhub_airflow.serving.deploy.services import list_services

    found = [r for project in _projects(hub, args.project) for r in list_services(hub, project)]
    lines = [
        f"{r.project}/{r.name:<24} {r.target:<10} {r.state:<11} {r.url or '-'}  "
        + ", ".join(sorted(r.models))
        for r in found
    ]
    emit(args, [r.to_json() for r in found], "\n".join(lines) or "no services")
    return 0


# -- deployments: dhub deploy | undeploy | rollback | reconcile ------------------------------
def _deployers(args: argparse.Namespace) -> dict[str, Deployer]:
    """A local and a Kubernetes deployer with this process's settings (``DHUB_*``, the
    store's and MLflow's variables) and the kubeconfig's cluster (read when first needed)."""
    from digitalhub_airflow.kube.client import KubeClient
    from digitalhub_airflow.serving.deploy.deployer import KubernetesDeployer, LocalDeployer
    from digitalhub_airflow.serving.deploy.environment import (
        ServerEnvironment,
        environment_from_settings,
    )

    found: list[ServerEnvironment] = []

    def environment() -> ServerEnvironment:
        if not found:
            found.append(environment_from_settings())
        return found[0]

    def client() -> KubeClient:
        return KubeClient.from_kubeconfig(args.kubeconfig, context=args.context)

    return {
        "local": LocalDeployer(environment, ready_timeout=args.ready_timeout),
        "kubernetes": KubernetesDeployer(
            client,
            environment,
            rollout_timeout=args.rollout_timeout,
            poll_interval=args.poll_interval,
        ),
    }


def _pinner() -> Callable[[DataHub, ServiceSpec], Desired]:
    """Pins model references with the tracking server of ``DHUB_MLFLOW_TRACKING_URI``
    (else the embedded one), looked up once."""
    from digitalhub_airflow.serving.deploy.deployer import pin
    from digitalhub_airflow.settings import dhub_home
    from digitalhub_airflow.training.tracking import TrackingConfig, tracking_from_env

    found: list[TrackingConfig] = []

    def pin_spec(hub: DataHub, spec: ServiceSpec) -> Desired:
        if not found:
            found.append(tracking_from_env(dhub_home()))
        return pin(hub, spec, found[0])

    return pin_spec


def _service_name(text: str, project: str | None) -> tuple[str, str, str | None]:
    """``(project, name, target)`` of ``<project>/<name>``, a bare name with --project,
    or a service key (``store://<project>/service/<target>/<name>``)."""
    from digitalhub_airflow.errors import InvalidOptionError
    from digitalhub_airflow.keys import parse_key

    if text.startswith("store://"):
        key = parse_key(text)
        if key.entity_type != "service" or not key.name:
            raise InvalidOptionError(f"{text} is not a service key")
        return key.project, key.name, key.kind
    if "/" in text:
        found_project, name = text.split("/", 1)
        return found_project, name, None
    if not project:
        raise InvalidOptionError(
            f"which project is {text!r} in? give <project>/{text} or --project"
        )
    return project, text, None


def _target_of(hub: DataHub, project: str, name: str, target: str | None) -> str:
    """The given target, else the one target a service of that name was recorded on."""
    from digitalhub_airflow.errors import InvalidOptionError, NotFoundError
    from digitalhub_airflow.serving.deploy.services import list_services

    if target:
        return target
    targets = sorted({r.target for r in list_services(hub, project) if r.name == name})
    if not targets:
        raise NotFoundError(f"service {name} does not exist in project {project!r}")
    if len(targets) > 1:
        raise InvalidOptionError(f"service {project}/{name} exists on {targets}: give --target")
    return targets[0]


def _set_value(text: str) -> tuple[str, Any]:
    """``FIELD=VALUE`` with a YAML value (``replicas=2``, ``exposure={host: h, …}``)."""
    import yaml

    from digitalhub_airflow.errors import InvalidOptionError

    field, sep, value = text.partition("=")
    if not sep or not field:
        raise InvalidOptionError(f"--set {text!r} is not FIELD=VALUE")
    try:
        return field.strip(), yaml.safe_load(value)
    except yaml.YAMLError as exc:
        raise InvalidOptionError(f"--set {field}: the value is not YAML: {exc}") from None


def _spec_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The spec ``dhub deploy`` was given: a file (one spec, or a services file and
    --service), or a name with --model; then the options that override its fields."""
    from pathlib import Path

    import yaml

    from digitalhub_airflow.errors import InvalidOptionError, ServingSpecError
    from digitalhub_airflow.serving.deploy.reconcile import load_services_file

    path = Path(args.spec)
    fields: dict[str, Any]
    if path.is_file():
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ServingSpecError(f"cannot read the spec file {path}: {exc}") from None
        if isinstance(data, dict) and "services" in data:
            specs = load_services_file(path).services
            names = [s.name for s in specs]
            if args.service is None and len(specs) != 1:
                raise InvalidOptionError(f"{path} has services {names}: pick one with --service")
            picked = [s for s in specs if args.service in (None, s.name)]
            if not picked:
                raise InvalidOptionError(f"{path} has no service {args.service!r}: {names}")
            fields = picked[0].to_json()
        elif isinstance(data, dict):
            fields = dict(data)
        else:
            raise ServingSpecError(f"the spec file {path} is not a mapping")
        if args.project:
            fields["project"] = args.project
    else:
        if path.suffix in (".yaml", ".yml", ".json"):
            raise ServingSpecError(f"spec file {path} does not exist")
        project, name, target = _service_name(args.spec, args.project)
        fields = {"project": project, "name": name}
        if target:
            fields["target"] = target
        fields.setdefault("target", "local")
    if args.dataset:  # a data service: the dataset instead of models
        fields.update(kind="data", dataset=args.dataset, models={})
    if args.model:
        models = {}
        for item in args.model:
            served, sep, ref = item.partition("=")
            models.update({served: ref} if sep else {fields.get("name", "model"): item})
        fields["models"] = models
    options = {
        "target": args.target,
        "namespace": args.namespace,
        "port": args.port,
        "replicas": args.replicas,
        "image": args.image,
        "credentials_secret": args.credentials_secret,
    }
    fields.update({k: v for k, v in options.items() if v is not None})
    fields.update(dict(_set_value(s) for s in args.set))
    return fields


def _describe(record: ServiceRecord) -> str:
    pins = ", ".join(f"{n}={m.get('pinned')}" for n, m in sorted(record.models.items()))
    pins = pins or str(record.spec.get("dataset", ""))
    where = f" at {record.url}" if record.url else ""
    return f"{record.state} {record.key}{where} ({pins})"


def cmd_deploy(hub: DataHub, args: argparse.Namespace) -> int:
    from digitalhub_airflow.serving.deploy.deployer import deploy_service, deployer_for
    from digitalhub_airflow.serving.deploy.spec import spec_from_json

    spec = spec_from_json(_spec_fields(args))
    deployer = deployer_for(_deployers(args), spec.target)
    record = deploy_service(hub, deployer, spec, _pinner())
    emit(args, record.to_json(), _describe(record))
    return 0


def cmd_undeploy(hub: DataHub, args: argparse.Namespace) -> int:
    from digitalhub_airflow.serving.deploy.deployer import undeploy

    project, name, target = _service_name(args.name, args.project)
    target = _target_of(hub, project, name, args.target or target)
    record = undeploy(hub, _deployers(args), project, target, name)
    emit(args, record.to_json(), f"{record.state} {record.key}: {record.message}")
    return 0


def cmd_rollback(hub: DataHub, args: argparse.Namespace) -> int:
    from digitalhub_airflow.serving.deploy.deployer import deployer_for, rollback_service

    project, name, target = _service_name(args.name, args.project)
    target = _target_of(hub, project, name, args.target or target)
    record = rollback_service(hub, deployer_for(_deployers(args), target), project, name)
    emit(args, record.to_json(), _describe(record))
    return 0


def cmd_reconcile(hub: DataHub, args: argparse.Namespace) -> int:
    from pathlib import Path

    from digitalhub_airflow.serving.deploy.reconcile import (
        expand_paths,
        load_services_file,
        reconcile,
    )

    files = [load_services_file(p) for p in expand_paths(args.files, Path.cwd())]
    deployers = _deployers(args)
    result = reconcile(hub, files, deployers, _pinner(), dry_run=args.dry_run)
    if result.rollouts:
        deployers["kubernetes"].complete(hub, result.rollouts)
    deployed, unchanged, undeployed, kept = result.counts
    verb = "would deploy" if args.dry_run else "deployed"
    gone = "would undeploy" if args.dry_run else "undeployed"
    emit(
        args,
        result.summary,
        f"reconciled {len(files)} file(s): {deployed} {verb}, {unchanged} unchanged, "
        f"{undeployed} {gone}, {kept} kept",
    )
    return 0


def _cluster_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--kubeconfig",
        help="kubeconfig file (default: KUBECONFIG, ~/.kube/config, "
        "else the pod's service account)",
    )
    p.add_argument("--context", help="kubeconfig context (default: its current-context)")
    p.add_argument(
        "--ready-timeout",
        type=seconds,
        default=180.0,
        help="seconds a local server may take to become ready",
    )
    p.add_argument(
        "--rollout-timeout",
        type=seconds,
        default=900.0,
        help="seconds a Kubernetes rollout may take",
    )
    p.add_argument(
        "--poll-interval", type=seconds, default=2.0, help="seconds between two reads of a rollout"
    )


def _service_options(p: argparse.ArgumentParser) -> None:
    from digitalhub_airflow.serving.deploy.spec import TARGETS

    p.add_argument("name", help="<project>/<name>, a name with --project, or a service key")
    p.add_argument("--project", help="the service's project")
    p.add_argument(
        "--target", choices=TARGETS, help="default: the one target the service was deployed on"
    )
    _cluster_options(p)


def register_deployments(add: AddCommand) -> None:
    """Add ``deploy``, ``undeploy``, ``rollback`` and ``reconcile`` to the ``dhub`` parser."""
    from digitalhub_airflow.serving.deploy.spec import TARGETS

    p = add("deploy", cmd_deploy)
    p.add_argument(
        "spec",
        metavar="SPEC_FILE_OR_NAME",
        help="a spec file (one service, or a services file with --service), or "
        "<project>/<name> with --model",
    )
    p.add_argument("--service", help="the service to deploy from a services file")
    p.add_argument("--project", help="the project (overrides the file's)")
    p.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="NAME=REF",
        help="served name = model reference, pinned before deploying (repeatable)",
    )
    p.add_argument(
        "--dataset",
        metavar="KEY",
        help="deploy a data service (kind: data) of this table: a version, or an alias it follows",
    )
    p.add_argument("--target", choices=TARGETS, help="local or kubernetes (default: the spec's)")
    p.add_argument("--namespace", help="the Kubernetes namespace of the service")
    p.add_argument("--port", type=port_number)
    p.add_argument("--replicas", type=count)
    p.add_argument("--image")
    p.add_argument("--credentials-secret", help="the Kubernetes Secret with the credentials")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="any other spec field, the value in YAML (repeatable)",
    )
    _cluster_options(p)
    p = add("undeploy", cmd_undeploy)
    _service_options(p)
    p = add("rollback", cmd_rollback)
    _service_options(p)
    p = add("reconcile", cmd_reconcile)
    p.add_argument("files", nargs="+", metavar="FILE", help="services files or globs")
    p.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    _cluster_options(p)
