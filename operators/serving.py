"""Serving operators: deploy, undeploy and roll back a model server; reconcile services
declared in YAML files. Thin wrappers over ``digitalhub_airflow.serving``.

Targets: ``local`` runs ``dhub serve`` as a managed process on the worker's machine;
``kubernetes`` applies a Deployment + Service (+ Ingress) by server-side apply and
defers until the rollout is over (:class:`~digitalhub_airflow.triggers.rollout.RolloutTrigger`).
Every model reference is pinned to its exact version first, and each step is recorded
with the ``service`` entity in the catalog. Credentials reach a local server through its
own environment only, and pods only by Kubernetes Secret reference.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from digitalhub_airflow.errors import DeploymentError
from digitalhub_airflow.hooks.mlflow import MlflowHook
from digitalhub_airflow.operators.base import DigitalHubOperator
from digitalhub_airflow.serving.deploy import services

if TYPE_CHECKING:
    from digitalhub_airflow.hooks.kubernetes_apply import KubernetesApplyHook
    from digitalhub_airflow.hub import DataHub
    from digitalhub_airflow.serving.deploy.reconcile import Desired
    from digitalhub_airflow.serving.deploy.services import ServiceRecord
    from digitalhub_airflow.serving.deploy.spec import ServiceSpec
    from digitalhub_airflow.training.tracking import TrackingConfig


class _ServingOperator(DigitalHubOperator):
    """What the serving operators share: connections, pinning, both targets' mechanics.

    :param mlflow_conn_id: the tracking server the models come from.
    :param kubernetes_conn_id: the cluster of ``kubernetes`` services.
    :param ready_timeout: seconds a local server may take to become ready.
    :param rollout_timeout: seconds a Kubernetes rollout may take.
    :param poll_interval: seconds between two reads of a rollout's status.
    """

    ui_color = "#d5f5e3"

    def __init__(
        self,
        *,
        mlflow_conn_id: str = "mlflow_default",
        kubernetes_conn_id: str = "kubernetes_default",
        ready_timeout: float = 180.0,
        rollout_timeout: float = 900.0,
        poll_interval: float = 5.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.mlflow_conn_id = mlflow_conn_id
        self.kubernetes_conn_id = kubernetes_conn_id
        self.ready_timeout = ready_timeout
        self.rollout_timeout = rollout_timeout
        self.poll_interval = poll_interval

    # -- shared (each once per execution: a lookup asks Airflow for the connection) --------
    def tracking(self) -> TrackingConfig:
        return self.execution_memo("tracking", MlflowHook(self.mlflow_conn_id).tracking)

    def desired(self, hub: DataHub, spec: ServiceSpec) -> Desired:
        """``spec`` with every model pinned (an unknown model fails here, nothing started)."""
        from digitalhub_airflow.serving.deploy.pinning import pin_models
        from digitalhub_airflow.serving.deploy.reconcile import Desired

        models = pin_models(spec.models, self.tracking(), hub)
        return Desired(spec.with_models({n: m.pinned for n, m in models.items()}), models)

    def server_environment(self) -> tuple[dict[str, str], dict[str, str]]:
        """``(settings, secrets)`` of the server: catalog, store and tracking server."""

        def build() -> tuple[dict[str, str], dict[str, str]]:
            settings, secrets = self.dhub_hook.worker_environment()
            tracking_settings, tracking_secrets = self.tracking().process_environment()
            return {**settings, **tracking_settings}, {**secrets, **tracking_secrets}

        return self.execution_memo("server_environment", build)

    def apply_hook(self) -> KubernetesApplyHook:
        from digitalhub_airflow.hooks.kubernetes_apply import KubernetesApplyHook

        return KubernetesApplyHook(conn_id=self.kubernetes_conn_id)

    # -- local -----------------------------------------------------------------------------
    def deploy_local(
        self,
        hub: DataHub,
        desired: Desired,
        previous: dict[str, Any] | None = None,
        final_state: str = services.RUNNING,
    ) -> ServiceRecord:
        from digitalhub_airflow.serving.deploy.local_deploy import deploy_local
        from digitalhub_airflow.settings import dhub_home

        settings, secrets = self.server_environment()
        record = deploy_local(
            hub,
            desired.spec,
            desired.models,
            {**os.environ, **settings, **secrets},
            home=dhub_home(),
            timeout=self.ready_timeout,
            previous=previous,
            final_state=final_state,
        )
        self.log.info("%s %s at %s (pid %s)", record.state, record.key, record.url, record.pid)
        return record

    # -- kubernetes ------------------------------------------------------------------------
    def pod_environment(self, spec: ServiceSpec) -> tuple[dict[str, str], dict[str, str]]:
        """The server's settings and credentials for a pod, or why a pod cannot reach them
        (checked before anything is pinned, recorded or applied)."""
        from digitalhub_airflow.operators.pods import unreachable_settings

        settings, secrets = self.server_environment()
        problems = unreachable_settings(settings, self.mlflow_conn_id)
        if problems:
            raise DeploymentError(
                f"a pod cannot reach this deployment: {'; '.join(problems)}. Configure the "
                f"dhub_catalog (postgres), dhub_store (aws) and {self.mlflow_conn_id} connections"
            )
        if secrets and not spec.credentials_secret:
            raise DeploymentError(
                f"the server needs credentials ({', '.join(sorted(secrets))}) and they are never "
                "written into a pod spec: name the Kubernetes Secret holding them in "
                "credentials_secret"
            )
        return settings, secrets

    def apply_kubernetes(
        self,
        hub: DataHub,
        desired: Desired,
        previous: dict[str, Any] | None = None,
        final_state: str = services.RUNNING,
    ) -> dict[str, Any]:
        """Apply the service's manifests; the rollout to wait for (see ``wait``)."""
        from digitalhub_airflow.kube.resource_profiles import get_profile
        from digitalhub_airflow.serving.deploy.manifests import service_manifests

        spec = desired.spec
        settings, secrets = self.pod_environment(spec)
        profile = get_profile(spec.resource_profile)
        manifests = service_manifests(spec, profile, settings, sorted(secrets))
        services.begin_deployment(hub, spec, desired.models, previous=previous)
        hook = self.apply_hook()
        try:
            applied = [hook.apply(m) for m in manifests]
        except DeploymentError as exc:
            services.set_state(hub, spec, services.FAILED, message=str(exc))
            raise
        generation = int(applied[0]["metadata"]["generation"])
        return {
            "namespace": spec.namespace,
            "name": spec.name,
            "generation": generation,
            "spec": spec.to_json(),
            "final_state": final_state,
        }

    def wait(self, rollouts: list[dict[str, Any]], summary: dict[str, Any]) -> None:
        """Defer until every rollout is over; ``rollout_complete`` records the outcome."""
        from digitalhub_airflow.triggers.rollout import RolloutTrigger

        trigger = RolloutTrigger(
            rollouts=[{k: r[k] for k in ("namespace", "name", "generation")} for r in rollouts],
            kubernetes_conn_id=self.kubernetes_conn_id,
            poll_interval=self.poll_interval,
            timeout=self.rollout_timeout,
            carry={"rollouts": rollouts, "summary": summary},
        )
        self.defer(
            trigger=trigger,
            method_name="rollout_complete",
            timeout=timedelta(seconds=self.rollout_timeout + 60),
        )

    def rollout_complete(self, context: Any, event: dict[str, Any]) -> Any:
        """Record each rollout's outcome (the event carries the rollouts and summary)."""
        rollouts, summary = event["carry"]["rollouts"], event["carry"]["summary"]
        from digitalhub_airflow.serving.deploy.manifests import cluster_url
        from digitalhub_airflow.serving.deploy.spec import spec_from_json

        ok = event.get("status") == "success"
        message = "; ".join(event.get("messages") or []) if ok else str(event.get("message"))
        with self.dhub_hook.get_hub() as hub:
            for rollout in rollouts:
                spec = spec_from_json(rollout["spec"])
                if ok:
                    record = services.set_state(
                        hub, spec, rollout["final_state"], url=cluster_url(spec), message=message
                    )
                    summary.setdefault("records", []).append(record.to_json())
                else:
                    services.set_state(hub, spec, services.FAILED, message=message)
        if not ok:
            raise DeploymentError(f"rollout failed: {message}")
        self.log.info("rolled out: %s", message)
        return summary

    def undeploy_kubernetes(self, hub: DataHub, record: ServiceRecord) -> ServiceRecord:
        from digitalhub_airflow.kube.resource_profiles import get_profile
        from digitalhub_airflow.serving.deploy.manifests import service_manifests

        spec = record.service_spec()
        hook = self.apply_hook()
        deleted = []
        for manifest in reversed(service_manifests(spec, get_profile(spec.resource_profile), {})):
            meta = manifest["metadata"]
            if hook.delete(
                manifest["apiVersion"], manifest["kind"], meta["namespace"], meta["name"]
            ):
                deleted.append(manifest["kind"])
        message = f"deleted {', '.join(deleted)}" if deleted else "nothing was deployed"
        return services.set_state(hub, spec, services.STOPPED, message=message)

    def live_digest(self, record: ServiceRecord) -> str | None:
        """The digest of what really runs for ``record`` (``None``: nothing does)."""
        from digitalhub_airflow.serving.deploy.local_deploy import is_alive
        from digitalhub_airflow.serving.deploy.manifests import DIGEST_ANNOTATION

        if record.target == "local":
            return record.spec_digest if is_alive(record) else None
        spec = record.service_spec()
        live = self.apply_hook().read("apps/v1", "Deployment", spec.namespace, spec.name)
        return ((live or {}).get("metadata", {}).get("annotations") or {}).get(DIGEST_ANNOTATION)


class DeployModelOperator(_ServingOperator):
    """Deploy (or update) a model server.

    :param project: the catalog project of the service.
    :param name: the service's name (a Kubernetes name for ``kubernetes``).
    :param models: served name -> model reference (``models:/wine@champion``, a catalog
        model key, ``runs:/…``); pinned to exact versions before anything runs.
    :param target: ``local`` or ``kubernetes``.
    :param spec: the other fields of the spec (``port``, ``replicas``, ``namespace``,
        ``image``, ``resource_profile``, ``credentials_secret``, ``exposure``,
        ``request_log``, ``log_sample_rate``…), see
        :class:`~digitalhub_airflow.serving.deploy.spec.ServiceSpec`.

    Deploying the same spec and versions again changes nothing; a new model version
    rolls the service (Kubernetes: a rolling update, no replica down).
    """

    template_fields: Sequence[str] = ("project", "name", "models", "target", "spec")
    template_fields_renderers: ClassVar[dict[str, str]] = {"models": "json", "spec": "json"}

    def __init__(
        self,
        *,
        project: str,
        name: str,
        models: dict[str, str],
        target: str = "local",
        spec: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.project = project
        self.name = name
        self.models = models
        self.target = target
        self.spec = spec or {}

    def execute(self, context: Any) -> dict[str, Any]:
        from digitalhub_airflow.serving.deploy.spec import spec_from_json

        fields = {**self.spec, "project": self.project, "name": self.name}
        spec = spec_from_json({**fields, "target": self.target, "models": self.models})
        if spec.target == "kubernetes":
            self.pod_environment(spec)  # a cluster that cannot work fails before pinning
        with self.task_hub() as hub:
            desired = self.desired(hub, spec)
            if spec.target == "local":
                return self.deploy_local(hub, desired).to_json()
            current = services.find_service(hub, spec.project, spec.target, spec.name)
            if (
                current is not None
                and current.serving
                and current.spec_digest == desired.spec.digest
                and self.live_digest(current) == desired.spec.digest
            ):
                self.log.info("%s already runs this spec: nothing to do", current.key)
                return current.to_json()
            rollout = self.apply_kubernetes(hub, desired)
        self.wait([rollout], {})
        return {}  # not reached: the task resumes in rollout_complete

    def rollout_complete(self, context: Any, event: dict[str, Any]) -> Any:
        return super().rollout_complete(context, event)["records"][0]


class _ExistingServiceOperator(_ServingOperator):
    """An operation on a recorded service, named by project, name and target."""

    template_fields: Sequence[str] = ("project", "name", "target")

    def __init__(self, *, project: str, name: str, target: str = "local", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.project = project
        self.name = name
        self.target = target


class UndeployModelOperator(_ExistingServiceOperator):
    """Stop a service (the process, or its Deployment, Service and Ingress) and record it
    ``stopped``; its history stays in the catalog."""

    def execute(self, context: Any) -> dict[str, Any]:
        from digitalhub_airflow.serving.deploy.local_deploy import undeploy_local

        with self.task_hub() as hub:
            if self.target == "local":
                record = undeploy_local(hub, self.project, self.name)
            else:
                record = services.get_service(hub, self.project, self.target, self.name)
                record = self.undeploy_kubernetes(hub, record)
        self.log.info("%s: %s", record.key, record.message)
        return record.to_json()


class RollbackModelOperator(_ExistingServiceOperator):
    """Go back to the spec (exact model versions) the last deployment replaced."""

    def execute(self, context: Any) -> dict[str, Any]:
        from digitalhub_airflow.serving.deploy.pinning import already_pinned
        from digitalhub_airflow.serving.deploy.reconcile import Desired

        with self.task_hub() as hub:
            record = services.get_service(hub, self.project, self.target, self.name)
            spec = services.rollback_target(record)
            desired = Desired(spec, already_pinned(spec.models))
            if self.target == "local":
                return self.deploy_local(
                    hub, desired, previous=record.spec, final_state=services.ROLLED_BACK
                ).to_json()
            rollout = self.apply_kubernetes(
                hub, desired, previous=record.spec, final_state=services.ROLLED_BACK
            )
        self.wait([rollout], {})
        return {}

    def rollout_complete(self, context: Any, event: dict[str, Any]) -> Any:
        return super().rollout_complete(context, event)["records"][0]


class ReconcileServicesOperator(_ServingOperator):
    """Make the services declared in YAML files (in git) run, changing only what differs.

    :param services_files: files or globs; relative paths are read from the DAG's folder.

    Returns the plan (``deploy``, ``unchanged``, ``undeploy``, ``kept``); with nothing to
    change it starts, stops and applies nothing.
    """

    template_fields: Sequence[str] = ("services_files",)

    def __init__(self, *, services_files: str | Sequence[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.services_files = services_files

    def paths(self, context: Any) -> list[Path]:
        patterns = (
            [self.services_files] if isinstance(self.services_files, str) else self.services_files
        )
        dag = context.get("dag") if context else None
        base = Path(dag.fileloc).parent if dag is not None and dag.fileloc else Path.cwd()
        found: list[Path] = []
        for pattern in patterns:
            full = pattern if os.path.isabs(pattern) else str(base / pattern)
            matches = sorted(glob.glob(full)) or [full]  # a missing file: a clear error below
            found += [Path(m) for m in matches]
        return found

    def execute(self, context: Any) -> dict[str, Any]:
        from digitalhub_airflow.serving.deploy.local_deploy import undeploy_local
        from digitalhub_airflow.serving.deploy.reconcile import load_services_file, plan

        files = [load_services_file(p) for p in self.paths(context)]
        projects: dict[str, tuple[bool, list[ServiceSpec]]] = {}
        for file in files:
            prune, specs = projects.get(file.project, (False, []))
            projects[file.project] = (prune or file.prune, [*specs, *file.services])
        summary: dict[str, Any] = {"deploy": [], "unchanged": [], "undeploy": [], "kept": []}
        rollouts = []
        with self.task_hub() as hub:
            for project, (prune, specs) in sorted(projects.items()):
                desired = [self.desired(hub, s) for s in specs]
                result = plan(
                    desired,
                    services.list_services(hub, project),
                    prune=prune,
                    live_digest=self.live_digest,
                )
                for key, items in result.to_json().items():
                    summary[key] += items
                for item in result.deploy:
                    if item.spec.target == "local":
                        self.deploy_local(hub, item)
                    else:
                        rollouts.append(self.apply_kubernetes(hub, item))
                for record in result.undeploy:
                    if record.target == "local":
                        undeploy_local(hub, record.project, record.name)
                    else:
                        self.undeploy_kubernetes(hub, record)
        self.log.info(
            "reconciled: %d deployed, %d unchanged, %d undeployed, %d kept",
            *(len(summary[k]) for k in ("deploy", "unchanged", "undeploy", "kept")),
        )
        if rollouts:
            self.wait(rollouts, summary)
        return summary

    def rollout_complete(self, context: Any, event: dict[str, Any]) -> Any:
        summary = super().rollout_complete(context, event)
        summary.pop("records", None)
        return summary
