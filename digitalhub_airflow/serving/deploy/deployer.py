"""Deployers: one small interface over where a service runs.

:class:`LocalDeployer` runs ``dhub serve`` as a managed process on this machine;
:class:`KubernetesDeployer` applies a Deployment + Service (+ Ingress, autoscaler,
disruption budget) by server-side apply and waits for the rollout. Both record each step
with the ``service`` entity.
The CLI and the Airflow operators drive the same deployers:

- ``start(hub, desired)`` does the work up to what takes long: a local server is started
  and ready (a :class:`~digitalhub_airflow.serving.deploy.services.ServiceRecord` comes
  back), Kubernetes manifests are applied (a :class:`Rollout` to wait for comes back; a
  spec that already runs comes back as its record);
- ``check(rollouts)`` reads where pending rollouts are, ``wait`` polls it, and
  :func:`finish_rollouts` records the outcome. A CLI waits in-process (``deploy``); an
  Airflow task defers to the triggerer between ``start`` and :func:`finish_rollouts`.

Every model reference is pinned before anything starts (:func:`pin`), and nothing
secret reaches a pod spec: credentials go by Kubernetes Secret reference only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from digitalhub_airflow.errors import DeploymentError
from digitalhub_airflow.serving.deploy import services
from digitalhub_airflow.serving.deploy.reconcile import Desired
from digitalhub_airflow.serving.deploy.rollout import DONE, FAILED, WAITING
from digitalhub_airflow.serving.deploy.services import ServiceRecord

if TYPE_CHECKING:
    from digitalhub_airflow.hub import DataHub
    from digitalhub_airflow.kube.client import KubeClient
    from digitalhub_airflow.serving.deploy.environment import ServerEnvironment
    from digitalhub_airflow.serving.deploy.spec import ServiceSpec
    from digitalhub_airflow.training.tracking import TrackingConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rollout:
    """A Kubernetes rollout under way: the Deployment, the generation the apply returned,
    the pinned spec and the state to record once it is over (JSON: a trigger carries it)."""

    namespace: str
    name: str
    generation: int
    spec: dict[str, Any]
    final_state: str = services.RUNNING

    def to_json(self) -> dict[str, Any]:
        return {
            "namespace": self.namespace,
            "name": self.name,
            "generation": self.generation,
            "spec": self.spec,
            "final_state": self.final_state,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Rollout:
        return cls(
            str(data["namespace"]),
            str(data["name"]),
            int(data["generation"]),
            dict(data["spec"]),
            str(data.get("final_state") or services.RUNNING),
        )


#: What ``start`` returns: the service as it runs now, or a rollout to wait for.
Started = ServiceRecord | Rollout


@dataclass(frozen=True)
class RolloutCheck:
    """Where pending rollouts are: ``done``, ``waiting`` or ``failed``, with messages."""

    state: str
    messages: list[str]

    @property
    def message(self) -> str:
        return "; ".join(self.messages)


class Deployer(Protocol):
    """Where services of one ``target`` run."""

    target: str

    def preflight(self, spec: ServiceSpec) -> None:
        """Refuse a spec this target cannot run, before anything is pinned or recorded."""

    def start(
        self,
        hub: DataHub,
        desired: Desired,
        *,
        previous: dict[str, Any] | None = None,
        final_state: str = services.RUNNING,
    ) -> Started:
        """Deploy ``desired`` up to what takes long (see the module's documentation)."""

    def deploy(
        self,
        hub: DataHub,
        desired: Desired,
        *,
        previous: dict[str, Any] | None = None,
        final_state: str = services.RUNNING,
    ) -> ServiceRecord:
        """Deploy ``desired`` and wait until it serves (or raise, recorded ``failed``)."""

    def complete(self, hub: DataHub, rollouts: Sequence[Rollout]) -> list[ServiceRecord]:
        """Wait for the rollouts ``start`` returned and record how they ended."""

    def undeploy(self, hub: DataHub, record: ServiceRecord) -> ServiceRecord:
        """Stop what runs for ``record``; recorded ``stopped``."""

    def live_digest(self, record: ServiceRecord) -> str | None:
        """The spec digest of what really runs for ``record`` (``None``: nothing does;
        another value than the record's: something was changed by hand)."""


def pin(hub: DataHub, spec: ServiceSpec, tracking: TrackingConfig) -> Desired:
    """``spec`` with every model pinned (an unknown model fails here, nothing started)."""
    from digitalhub_airflow.serving.deploy.pinning import pin_models

    models = pin_models(spec.models, tracking, hub)
    return Desired(spec.with_models({n: m.pinned for n, m in models.items()}), models)


def rollback_desired(record: ServiceRecord) -> Desired:
    """What a rollback of ``record`` deploys: the spec its last deployment replaced."""
    from digitalhub_airflow.serving.deploy.pinning import already_pinned

    spec = services.rollback_target(record)
    return Desired(spec, already_pinned(spec.models))


# -- local ---------------------------------------------------------------------------------
class LocalDeployer:
    """``dhub serve`` as a managed process (port, readiness wait, pid, log under
    ``DHUB_HOME/services``); ``start`` returns once the server is ready."""

    target = "local"

    def __init__(
        self,
        environment: Callable[[], ServerEnvironment],
        *,
        home: Path | None = None,
        ready_timeout: float = 180.0,
    ) -> None:
        self.environment = environment
        self.home = home
        self.ready_timeout = ready_timeout

    def preflight(self, spec: ServiceSpec) -> None:
        pass

    @staticmethod
    def ignored(spec: ServiceSpec) -> str | None:
        """What of ``spec`` one local process cannot do (scale-out), or ``None``."""
        fields = [
            name
            for name, value in (
                ("autoscaling", spec.autoscaling),
                ("disruption_budget", spec.disruption_budget),
            )
            if value is not None
        ]
        if not fields:
            return None
        return f"{', '.join(fields)} ignored: a local service is one process"

    def start(
        self,
        hub: DataHub,
        desired: Desired,
        *,
        previous: dict[str, Any] | None = None,
        final_state: str = services.RUNNING,
    ) -> Started:
        return self.deploy(hub, desired, previous=previous, final_state=final_state)

    def deploy(
        self,
        hub: DataHub,
        desired: Desired,
        *,
        previous: dict[str, Any] | None = None,
        final_state: str = services.RUNNING,
    ) -> ServiceRecord:
        from digitalhub_airflow.serving.deploy.local_deploy import deploy_local
        from digitalhub_airflow.settings import dhub_home

        note = self.ignored(desired.spec)
        if note:
            log.warning("%s/%s: %s", desired.spec.project, desired.spec.name, note)
        record = deploy_local(
            hub,
            desired.spec,
            desired.models,
            self.environment().process_env(),
            home=self.home or dhub_home(),
            timeout=self.ready_timeout,
            previous=previous,
            final_state=final_state,
            note=note,
        )
        log.info("%s %s at %s (pid %s)", record.state, record.key, record.url, record.pid)
        return record

    def complete(self, hub: DataHub, rollouts: Sequence[Rollout]) -> list[ServiceRecord]:
        if rollouts:
            raise DeploymentError("a local service has no rollout to wait for")
        return []

    def undeploy(self, hub: DataHub, record: ServiceRecord) -> ServiceRecord:
        from digitalhub_airflow.serving.deploy.local_deploy import undeploy_local

        return undeploy_local(hub, record.project, record.name)

    def live_digest(self, record: ServiceRecord) -> str | None:
        from digitalhub_airflow.serving.deploy.local_deploy import is_alive

        return record.spec_digest if is_alive(record) else None


# -- kubernetes ----------------------------------------------------------------------------
class KubernetesDeployer:
    """A Deployment + Service (+ Ingress) per service, by server-side apply; ``start``
    returns the :class:`Rollout` to wait for (``check``, ``wait``, :func:`finish_rollouts`).

    ``client`` is a :class:`~digitalhub_airflow.kube.client.KubeClient` or a callable
    making one when first needed (a connection lookup, a kubeconfig read).
    """

    target = "kubernetes"

    def __init__(
        self,
        client: KubeClient | Callable[[], KubeClient],
        environment: Callable[[], ServerEnvironment],
        *,
        rollout_timeout: float = 900.0,
        poll_interval: float = 5.0,
    ) -> None:
        self._client = client
        self.environment = environment
        self.rollout_timeout = rollout_timeout
        self.poll_interval = poll_interval

    @property
    def client(self) -> KubeClient:
        if callable(self._client):
            self._client = self._client()
        return self._client

    def pod_environment(self, spec: ServiceSpec) -> tuple[dict[str, str], list[str]]:
        from dataclasses import replace

        from digitalhub_airflow.serving.deploy.environment import pod_environment

        environment = self.environment()
        if spec.kind == "data":  # a data service reads the catalog and store, not MLflow
            environment = replace(environment, tracking_hint=None)
        return pod_environment(environment, spec.credentials_secret)

    def preflight(self, spec: ServiceSpec) -> None:
        """A pod's environment and the cluster's configuration (no call made yet); a CPU
        autoscaling target needs a CPU request to measure utilization against."""
        from digitalhub_airflow.errors import ServingSpecError
        from digitalhub_airflow.kube.resource_profiles import get_profile

        scaling = spec.autoscaling
        if (
            scaling is not None
            and scaling.cpu_utilization is not None
            and "cpu" not in (get_profile(spec.resource_profile).requests or {})
        ):
            raise ServingSpecError(
                f"autoscaling.cpu_utilization needs a CPU request: resource profile "
                f"{spec.resource_profile!r} has none"
            )
        self.pod_environment(spec)
        self.client  # noqa: B018 - a missing or bad cluster configuration fails here

    def manifests(
        self,
        spec: ServiceSpec,
        settings: dict[str, str] | None = None,
        secret_names: Sequence[str] = (),
    ) -> list[dict[str, Any]]:
        from digitalhub_airflow.kube.resource_profiles import get_profile
        from digitalhub_airflow.serving.deploy.manifests import service_manifests

        profile = get_profile(spec.resource_profile)
        return service_manifests(spec, profile, settings or {}, secret_names)

    def start(
        self,
        hub: DataHub,
        desired: Desired,
        *,
        previous: dict[str, Any] | None = None,
        final_state: str = services.RUNNING,
    ) -> Started:
        """Apply the service's manifests (a deployment, not a rollback, of the spec that
        already runs changes nothing and returns its record)."""
        spec = desired.spec
        if spec.target != self.target:
            raise DeploymentError(f"service {spec.name!r} targets {spec.target}, not kubernetes")
        settings, secret_names = self.pod_environment(spec)
        current = services.find_service(hub, spec.project, spec.target, spec.name)
        if (
            previous is None
            and current is not None
            and current.serving
            and current.spec_digest == spec.digest
            and self.live_digest(current) == spec.digest
        ):
            log.info("%s already runs this spec: nothing to do", current.key)
            return current
        manifests = self.manifests(spec, settings, secret_names)
        unwanted = self._unwanted(current, manifests)
        services.begin_deployment(hub, spec, desired.models, previous=previous)
        try:
            self._delete_unwanted(spec, unwanted)
            live = None
            if spec.autoscaling is not None:
                live = self.client.read("apps/v1", "Deployment", spec.namespace, spec.name)
                if live is not None:
                    self._hand_over_replicas(spec, int(live.get("spec", {}).get("replicas", 1)))
            applied = [self.client.apply(m) for m in manifests]
            deployment = applied[0]
            if spec.autoscaling is not None and live is None:
                deployment = (
                    self._hand_over_replicas(spec, spec.autoscaling.min_replicas) or deployment
                )
        except DeploymentError as exc:
            services.set_state(hub, spec, services.FAILED, message=str(exc))
            raise
        generation = int(deployment["metadata"]["generation"])
        return Rollout(spec.namespace, spec.name, generation, spec.to_json(), final_state)

    def _hand_over_replicas(self, spec: ServiceSpec, replicas: int) -> dict[str, Any] | None:
        """Make the autoscaler's ``replicas`` safe from our apply, which leaves the field
        out: a second field manager claims it (without force) at ``replicas``, so the
        API server keeps the value instead of resetting it to 1 when our manager lets
        go; the autoscaler takes it over at its next scale. A conflict means the
        autoscaler already owns the field: nothing to hand over (``None``)."""
        from digitalhub_airflow.kube.client import HANDOVER_MANAGER, ApplyConflict

        claim = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": spec.name, "namespace": spec.namespace},
            "spec": {"replicas": replicas},
        }
        try:
            return self.client.apply(claim, field_manager=HANDOVER_MANAGER, force=False)
        except ApplyConflict:
            return None

    def _unwanted(
        self, current: ServiceRecord | None, manifests: Sequence[dict[str, Any]]
    ) -> list[tuple[str, str]]:
        """The optional kinds (Ingress, autoscaler, disruption budget) the recorded
        specs of the service (the last one, and the one it replaced) rendered and
        ``manifests`` no longer have. Only those are looked at: a cluster whose Role
        does not grant a kind the service never used is never asked about it."""
        from digitalhub_airflow.serving.deploy.manifests import OPTIONAL_KINDS
        from digitalhub_airflow.serving.deploy.spec import spec_from_json

        if current is None:
            return []
        had: set[str] = set()
        for data in (current.spec, current.previous_spec):
            if data:
                had.update(m["kind"] for m in self.manifests(spec_from_json(data)))
        wanted = {m["kind"] for m in manifests}
        return [(v, k) for v, k in OPTIONAL_KINDS if k in had and k not in wanted]

    def _delete_unwanted(self, spec: ServiceSpec, unwanted: Sequence[tuple[str, str]]) -> None:
        """Delete what the spec no longer asks for; only ours (by the managed-by label)."""
        from digitalhub_airflow.serving.deploy.manifests import MANAGED_BY

        for api_version, kind in unwanted:
            live = self.client.read(api_version, kind, spec.namespace, spec.name)
            found = ((live or {}).get("metadata") or {}).get("labels") or {}
            if live is not None and MANAGED_BY.items() <= found.items():
                self.client.delete(api_version, kind, spec.namespace, spec.name)

    def check(self, rollouts: Sequence[Rollout]) -> RolloutCheck:
        """Read each Deployment once: ``failed`` as soon as one failed (or is missing)."""
        from digitalhub_airflow.serving.deploy.rollout import rollout_status

        messages, state = [], DONE
        for rollout in rollouts:
            body = self.client.deployment_status(rollout.namespace, rollout.name)
            status = rollout_status(body, rollout.generation)
            if status.state == FAILED:
                return RolloutCheck(FAILED, [status.message])
            if status.state == WAITING:
                state = WAITING
            messages.append(status.message)
        return RolloutCheck(state, messages)

    def wait(self, rollouts: Sequence[Rollout]) -> RolloutCheck:
        """Poll until every rollout is over, one failed or ``rollout_timeout`` passed."""
        deadline = time.monotonic() + self.rollout_timeout
        while True:
            try:
                check = self.check(rollouts)
            except DeploymentError as exc:
                return RolloutCheck(FAILED, [str(exc)])
            if check.state != WAITING:
                return check
            if time.monotonic() > deadline:
                message = f"rollout not finished within {self.rollout_timeout:.0f} s: "
                return RolloutCheck(FAILED, [message + check.message])
            log.info("%s", check.message)
            time.sleep(self.poll_interval)

    def deploy(
        self,
        hub: DataHub,
        desired: Desired,
        *,
        previous: dict[str, Any] | None = None,
        final_state: str = services.RUNNING,
    ) -> ServiceRecord:
        started = self.start(hub, desired, previous=previous, final_state=final_state)
        if isinstance(started, ServiceRecord):
            return started
        return self.complete(hub, [started])[0]

    def complete(self, hub: DataHub, rollouts: Sequence[Rollout]) -> list[ServiceRecord]:
        """Wait for ``rollouts`` and record how they ended (raises if one failed)."""
        if not rollouts:
            return []
        check = self.wait(rollouts)
        return finish_rollouts(hub, rollouts, ok=check.state == DONE, message=check.message)

    def undeploy(self, hub: DataHub, record: ServiceRecord) -> ServiceRecord:
        """Delete the disruption budget, autoscaler, Ingress, Service and Deployment
        (what is already gone is fine)."""
        spec = record.service_spec()
        deleted = []
        for manifest in reversed(self.manifests(spec)):
            meta = manifest["metadata"]
            if self.client.delete(
                manifest["apiVersion"], manifest["kind"], meta["namespace"], meta["name"]
            ):
                deleted.append(manifest["kind"])
        message = f"deleted {', '.join(deleted)}" if deleted else "nothing was deployed"
        return services.set_state(hub, spec, services.STOPPED, message=message)

    def live_digest(self, record: ServiceRecord) -> str | None:
        """The Deployment's spec digest, when each optional object the spec renders
        (Ingress, autoscaler, disruption budget) is there with that digest and with
        every field the suite sets unchanged; else a value naming what differs, so
        that reconciliation applies the spec again."""
        from digitalhub_airflow.serving.deploy.manifests import DIGEST_ANNOTATION

        spec = record.service_spec()
        live = self.client.read("apps/v1", "Deployment", spec.namespace, spec.name)
        annotations = (live or {}).get("metadata", {}).get("annotations") or {}
        digest = annotations.get(DIGEST_ANNOTATION)
        if digest is None:
            return None
        for manifest in self.manifests(spec)[2:]:
            meta = manifest["metadata"]
            found = self.client.read(
                manifest["apiVersion"], manifest["kind"], meta["namespace"], meta["name"]
            )
            found_meta = (found or {}).get("metadata") or {}
            if (
                found is None
                or (found_meta.get("annotations") or {}).get(DIGEST_ANNOTATION) != digest
                or not _contains(found.get("spec"), manifest["spec"])
            ):
                return f"{digest} ({manifest['kind']} differs)"
        return str(digest)


def _contains(live: Any, wanted: Any) -> bool:
    """Whether ``live`` has every field of ``wanted`` with its value (fields the API
    server defaulted or other managers added do not count; list items pairwise)."""
    if isinstance(wanted, Mapping):
        return isinstance(live, Mapping) and all(
            k in live and _contains(live[k], v) for k, v in wanted.items()
        )
    if isinstance(wanted, list):
        return (
            isinstance(live, list)
            and len(live) == len(wanted)
            and all(_contains(a, b) for a, b in zip(live, wanted, strict=True))
        )
    return bool(live == wanted)


def finish_rollouts(
    hub: DataHub, rollouts: Sequence[Rollout], *, ok: bool, message: str
) -> list[ServiceRecord]:
    """Record how ``rollouts`` ended: their final state and URL, or ``failed`` (and raise)."""
    from digitalhub_airflow.serving.deploy.manifests import cluster_url
    from digitalhub_airflow.serving.deploy.spec import spec_from_json

    records = []
    for rollout in rollouts:
        spec = spec_from_json(rollout.spec)
        if ok:
            records.append(
                services.set_state(
                    hub, spec, rollout.final_state, url=cluster_url(spec), message=message
                )
            )
        else:
            services.set_state(hub, spec, services.FAILED, message=message)
    if not ok:
        raise DeploymentError(f"rollout failed: {message}")
    log.info("rolled out: %s", message)
    return records


# -- the operations, over any deployer -------------------------------------------------------
Deployers = Mapping[str, Deployer]


def deployer_for(deployers: Deployers, target: str) -> Deployer:
    try:
        return deployers[target]
    except KeyError:
        raise DeploymentError(
            f"no deployer for target {target!r}; known: {sorted(deployers)}"
        ) from None


def start_deploy(
    hub: DataHub,
    deployer: Deployer,
    spec: ServiceSpec,
    pin_spec: Callable[[DataHub, ServiceSpec], Desired],
) -> Started:
    """Deploy (or update) ``spec``: refused early when the target cannot run it, then
    pinned, then started. Deploying the same spec and versions again changes nothing."""
    deployer.preflight(spec)
    return deployer.start(hub, pin_spec(hub, spec))


def start_rollback(hub: DataHub, deployer: Deployer, project: str, name: str) -> Started:
    """Go back to the spec (exact model versions) the last deployment replaced."""
    record = services.get_service(hub, project, deployer.target, name)
    desired = rollback_desired(record)
    return deployer.start(hub, desired, previous=record.spec, final_state=services.ROLLED_BACK)


def settle(hub: DataHub, deployer: Deployer, started: Started) -> ServiceRecord:
    """The record of what ``start`` began, once it serves (a rollout waited for)."""
    if isinstance(started, ServiceRecord):
        return started
    return deployer.complete(hub, [started])[0]


def deploy_service(
    hub: DataHub,
    deployer: Deployer,
    spec: ServiceSpec,
    pin_spec: Callable[[DataHub, ServiceSpec], Desired],
) -> ServiceRecord:
    """:func:`start_deploy`, then wait until the service serves."""
    return settle(hub, deployer, start_deploy(hub, deployer, spec, pin_spec))


def rollback_service(hub: DataHub, deployer: Deployer, project: str, name: str) -> ServiceRecord:
    """:func:`start_rollback`, then wait until the previous spec serves again."""
    return settle(hub, deployer, start_rollback(hub, deployer, project, name))


def undeploy(
    hub: DataHub, deployers: Deployers, project: str, target: str, name: str
) -> ServiceRecord:
    """Stop a recorded service and record it ``stopped``; its history stays."""
    record = services.get_service(hub, project, target, name)
    return deployer_for(deployers, target).undeploy(hub, record)
