"""``DigitalHubPodOperator``: a ``python -m`` workload in a Kubernetes pod, or locally.

The pod gets a resource profile (limits, node selector, tolerations), the catalog and
store settings of this deployment as plain environment variables (the store's backend
says which), and the credentials (catalog password, store keys, tracking tokens) only as
references to a Kubernetes Secret,
never inline in the pod spec. Without a Kubernetes connection the same module runs as a
local subprocess, with the credentials in that process's environment alone, so a DAG
written for a GPU cluster also runs on a laptop.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.providers.cncf.kubernetes.secret import Secret

from digitalhub_airflow.errors import InvalidSourceError
from digitalhub_airflow.kube.resource_profiles import ResourceProfile, get_profile
from digitalhub_airflow.operators.base import DigitalHubOperator
from digitalhub_airflow.settings import suite_image

DEFAULT_IMAGE = suite_image()


class WorkloadError(InvalidSourceError):
    """A pod workload that cannot run as configured, or that exited with an error."""


def pod_fields(profile: ResourceProfile) -> dict[str, Any]:
    """KubernetesPodOperator arguments for a resource profile."""
    from kubernetes.client import models as k8s

    return {
        "container_resources": k8s.V1ResourceRequirements(
            requests=profile.requests or None, limits=profile.limits or None
        ),
        "node_selector": dict(profile.node_selector) or None,
        "tolerations": [k8s.V1Toleration(**t) for t in profile.tolerations] or None,
    }


def unreachable_settings(settings: dict[str, str], mlflow_conn_id: str | None = None) -> list[str]:
    """What a pod on another machine could not reach (the core's check; ``mlflow_conn_id``
    given when the workload uses MLflow)."""
    from digitalhub_airflow.serving.deploy.environment import unreachable_settings as check

    hint = None if mlflow_conn_id is None else f"no {mlflow_conn_id!r} connection"
    return check(settings, hint)


class DigitalHubPodOperator(DigitalHubOperator, KubernetesPodOperator):
    """Run ``python -m <module> <module_args>`` in a pod sized by a resource profile.

    :param module: the Python module to run (``python -m``) in the container image.
    :param module_args: its arguments (templated, as ``arguments``).
    :param resource_profile: a profile name (``cpu-small``, ``1xa100``…, see
        :mod:`digitalhub_airflow.kube.resource_profiles`).
    :param credentials_secret: the Kubernetes Secret holding the credentials the workload
        needs, under the environment variable names as keys (``PGPASSWORD``,
        ``MLFLOW_TRACKING_TOKEN``…, and the store backend's: ``AWS_ACCESS_KEY_ID``,
        ``AWS_SECRET_ACCESS_KEY`` for s3).
    :param kubernetes_conn_id: without this connection the module runs locally.
    """

    template_fields: Sequence[str] = (*KubernetesPodOperator.template_fields, "credentials_secret")
    commits_elsewhere = True

    def __init__(
        self,
        *,
        module: str,
        module_args: Sequence[str] = (),
        resource_profile: str = "cpu-small",
        profiles_file: str | None = None,
        credentials_secret: str | None = None,
        image: str = DEFAULT_IMAGE,
        kubernetes_conn_id: str = "kubernetes_default",
        **kwargs: Any,
    ) -> None:
        self.profile = get_profile(resource_profile, profiles_file)
        kwargs.setdefault("name", kwargs["task_id"].replace("_", "-").lower())
        kwargs.setdefault("get_logs", True)
        super().__init__(
            image=image,
            cmds=["python", "-m", module],
            arguments=list(module_args),
            kubernetes_conn_id=kubernetes_conn_id,
            **pod_fields(self.profile),
            **kwargs,
        )
        self.module = module
        self.credentials_secret = credentials_secret
        #: What the workload printed (local process, or the pod log where a subclass
        #: reads it): how a workload hands its result back.
        self.workload_output: str | None = None

    def workload_environment(self) -> tuple[dict[str, str], dict[str, str]]:
        """``(settings, secrets)`` for the workload; subclasses add their services'."""
        return self.dhub_hook.worker_environment()

    def unreachable(self, settings: dict[str, str]) -> list[str]:
        """Settings a pod on another machine could not reach: a SQLite file, a folder."""
        return unreachable_settings(settings)

    def has_cluster(self) -> bool:
        from airflow.sdk import BaseHook
        from airflow.sdk.exceptions import AirflowNotFoundException

        try:
            BaseHook.get_connection(self.kubernetes_conn_id)
        except AirflowNotFoundException:
            return False
        return True

    def perform(self, context: Any) -> Any:
        settings, secrets = self.workload_environment()
        if self._producing_run is not None:
            # The workload's commits record this task's run and their produced_by edges
            # with their versions; its identity only, no parameters, in the pod spec.
            from digitalhub_airflow.lineage.producing import RUN_ENV

            settings[RUN_ENV] = self._producing_run.to_env()
        if not self.has_cluster():
            self.log.info(
                "no connection %r: running %s as a local process",
                self.kubernetes_conn_id,
                self.module,
            )
            return self.run_locally({**settings, **secrets})
        problems = self.unreachable(settings)
        if problems:
            raise WorkloadError(
                f"a pod cannot reach this deployment: {'; '.join(problems)}. Configure the "
                "dhub_catalog (postgres) and dhub_store (a shared store, e.g. aws) connections"
            )
        if secrets and not self.credentials_secret:
            raise WorkloadError(
                f"the workload needs credentials ({', '.join(sorted(secrets))}) and they are "
                "never written into a pod spec: name the Kubernetes Secret holding them "
                "with credentials_secret="
            )
        from kubernetes.client import models as k8s

        self.env_vars = [k8s.V1EnvVar(name=k, value=v) for k, v in sorted(settings.items())]
        self.secrets = [
            *self.secrets,
            *(Secret("env", name, self.credentials_secret, name) for name in sorted(secrets)),
        ]
        return super().execute(context)

    def run_locally(self, env: dict[str, str]) -> None:
        """The same module in a subprocess; its output goes to the task log and is kept
        in ``workload_output``."""
        argv = [sys.executable, "-m", self.module, *(self.arguments or [])]
        process = subprocess.Popen(
            argv,
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        lines = []
        for line in process.stdout or ():
            self.log.info("%s", line.rstrip())
            lines.append(line)
        self.workload_output = "".join(lines)
        if process.wait() != 0:
            raise WorkloadError(f"{self.module} exited with code {process.returncode}")
