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

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from digitalhub_airflow.hooks.mlflow import MlflowHook
from digitalhub_airflow.operators.base import DigitalHubOperator

if TYPE_CHECKING:
    from digitalhub_airflow.hub import DataHub
    from digitalhub_airflow.kube.client import KubeClient
    from digitalhub_airflow.serving.deploy.deployer import Deployer, Rollout
    from digitalhub_airflow.serving.deploy.environment import ServerEnvironment
    from digitalhub_airflow.serving.deploy.reconcile import Desired
    from digitalhub_airflow.serving.deploy.services import ServiceRecord
    from digitalhub_airflow.serving.deploy.spec import ServiceSpec
    from digitalhub_airflow.training.tracking import TrackingConfig


class _ServingOperator(DigitalHubOperator):
    """What the serving operators share: connections, pinning and the deployers of both
    targets (:mod:`digitalhub_airflow.serving.deploy.deployer`), the deferred rollout wait.

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
        from digitalhub_airflow.serving.deploy.deployer import pin

        return pin(hub, spec, self.tracking())

    def server_environment(self) -> tuple[dict[str, str], dict[str, str]]:
        """``(settings, secrets)`` of the server: catalog, store and tracking server."""

        def build() -> tuple[dict[str, str], dict[str, str]]:
            settings, secrets = self.dhub_hook.worker_environment()
            tracking_settings, tracking_secrets = self.tracking().process_environment()
            return {**settings, **tracking_settings}, {**secrets, **tracking_secrets}

        return self.execution_memo("server_environment", build)

    def environment(self) -> ServerEnvironment:
        from digitalhub_airflow.serving.deploy.environment import ServerEnvironment

        settings, secrets = self.server_environment()
        remedy = (
            "Configure the dhub_catalog (postgres), dhub_store (aws) and "
            f"{self.mlflow_conn_id} connections"
        )
        hint = f"no {self.mlflow_conn_id!r} connection"
        return ServerEnvironment(settings, secrets, remedy=remedy, tracking_hint=hint)

    def deployers(self) -> dict[str, Deployer]:
        """The deployer of each target, for this execution."""
        from digitalhub_airflow.serving.deploy.deployer import KubernetesDeployer, LocalDeployer

        def build() -> dict[str, Deployer]:
            def client() -> KubeClient:
                from digitalhub_airflow.hooks.kubernetes_apply import KubernetesApplyHook

                return KubernetesApplyHook(conn_id=self.kubernetes_conn_id).client()

            return {
                "local": LocalDeployer(self.environment, ready_timeout=self.ready_timeout),
                "kubernetes": KubernetesDeployer(
                    client,
                    self.environment,
                    rollout_timeout=self.rollout_timeout,
                    poll_interval=self.poll_interval,
                ),
            }

        return self.execution_memo("deployers", build)

    def deployer(self, target: str) -> Deployer:
        from digitalhub_airflow.serving.deploy.deployer import deployer_for

        return deployer_for(self.deployers(), target)

    def finish(self, started: ServiceRecord | Rollout) -> dict[str, Any]:
        """A service's record, or defer until its rollout is over (``rollout_complete``)."""
        from digitalhub_airflow.serving.deploy.services import ServiceRecord

        if isinstance(started, ServiceRecord):
            self.log.info("%s %s at %s", started.state, started.key, started.url)
            return started.to_json()
        self.wait([started], {})
        return {}  # not reached: the task resumes in rollout_complete

    # -- kubernetes: the deferred wait -----------------------------------------------------
    def wait(self, rollouts: list[Rollout], summary: dict[str, Any]) -> None:
        """Defer until every rollout is over; ``rollout_complete`` records the outcome."""
        from digitalhub_airflow.triggers.rollout import RolloutTrigger

        trigger = RolloutTrigger(
            rollouts=[
                {"namespace": r.namespace, "name": r.name, "generation": r.generation}
                for r in rollouts
            ],
            kubernetes_conn_id=self.kubernetes_conn_id,
            poll_interval=self.poll_interval,
            timeout=self.rollout_timeout,
            carry={"rollouts": [r.to_json() for r in rollouts], "summary": summary},
        )
        self.defer(
            trigger=trigger,
            method_name="rollout_complete",
            timeout=timedelta(seconds=self.rollout_timeout + 60),
        )

    def rollout_complete(self, context: Any, event: dict[str, Any]) -> Any:
        """Record each rollout's outcome (the event carries the rollouts and summary)."""
        from digitalhub_airflow.serving.deploy.deployer import Rollout, finish_rollouts

        rollouts = [Rollout.from_json(r) for r in event["carry"]["rollouts"]]
        summary = event["carry"]["summary"]
        ok = event.get("status") == "success"
        message = "; ".join(event.get("messages") or []) if ok else str(event.get("message"))
        with self.dhub_hook.get_hub() as hub:
            records = finish_rollouts(hub, rollouts, ok=ok, message=message)
        summary.setdefault("records", []).extend(r.to_json() for r in records)
        self.log.info("rolled out: %s", message)
        return summary


class _DeployOperator(_ServingOperator):
    """Deploy (or update) one service from its spec's fields; the kind says what it serves."""

    def __init__(
        self,
        *,
        project: str,
        name: str,
        target: str = "local",
        spec: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.project = project
        self.name = name
        self.target = target
        self.spec = spec or {}

    def served(self) -> dict[str, Any]:
        """The spec's fields that say what the service serves (and its kind)."""
        raise NotImplementedError

    def perform(self, context: Any) -> dict[str, Any]:
        from digitalhub_airflow.serving.deploy.deployer import start_deploy
        from digitalhub_airflow.serving.deploy.spec import spec_from_json

        fields = {**self.spec, "project": self.project, "name": self.name}
        spec = spec_from_json({**fields, "target": self.target, **self.served()})
        with self.task_hub() as hub:
            started = start_deploy(hub, self.deployer(spec.target), spec, self.desired)
        return self.finish(started)

    def rollout_complete(self, context: Any, event: dict[str, Any]) -> Any:
        return super().rollout_complete(context, event)["records"][0]


class DeployModelOperator(_DeployOperator):
    """Deploy (or update) a model server.

    :param project: the catalog project of the service.
    :param name: the service's name (a Kubernetes name for ``kubernetes``).
    :param models: served name -> model reference (``models:/wine@champion``, a catalog
        model key, ``runs:/…``); pinned to exact versions before anything runs.
    :param target: ``local`` or ``kubernetes``.
    :param spec: the other fields of the spec (``port``, ``replicas``, ``namespace``,
        ``image``, ``resource_profile``, ``credentials_secret``, ``exposure``,
        ``request_log``, ``log_sample_rate``, ``autoscaling``, ``disruption_budget``…), see
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
        super().__init__(project=project, name=name, target=target, spec=spec, **kwargs)
        self.models = models

    def served(self) -> dict[str, Any]:
        return {"models": self.models}


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

    def perform(self, context: Any) -> dict[str, Any]:
        from digitalhub_airflow.serving.deploy.deployer import undeploy

        with self.task_hub() as hub:
            record = undeploy(hub, self.deployers(), self.project, self.target, self.name)
        self.log.info("%s: %s", record.key, record.message)
        return record.to_json()


class RollbackModelOperator(_ExistingServiceOperator):
    """Go back to the spec (exact model versions) the last deployment replaced."""

    def perform(self, context: Any) -> dict[str, Any]:
        from digitalhub_airflow.serving.deploy.deployer import start_rollback

        with self.task_hub() as hub:
            started = start_rollback(hub, self.deployer(self.target), self.project, self.name)
        return self.finish(started)

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
        from digitalhub_airflow.serving.deploy.reconcile import expand_paths

        dag = context.get("dag") if context else None
        base = Path(dag.fileloc).parent if dag is not None and dag.fileloc else Path.cwd()
        return expand_paths(self.services_files, base)

    def perform(self, context: Any) -> dict[str, Any]:
        from digitalhub_airflow.serving.deploy.reconcile import load_services_file, reconcile

        files = [load_services_file(p) for p in self.paths(context)]
        with self.task_hub() as hub:
            result = reconcile(hub, files, self.deployers(), self.desired)
        self.log.info(
            "reconciled: %d deployed, %d unchanged, %d undeployed, %d kept", *result.counts
        )
        if result.rollouts:
            self.wait(result.rollouts, result.summary)
        return result.summary

    def rollout_complete(self, context: Any, event: dict[str, Any]) -> Any:
        summary = super().rollout_complete(context, event)
        summary.pop("records", None)
        return summary
