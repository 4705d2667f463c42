"""``GpuTrainingPodOperator``: the training of ``TrainModelOperator``, in a GPU pod.

The pod runs ``python -m digitalhub_airflow.training.runner`` in the training image with
the request as JSON in its environment, the tracking server's URI in plain settings and
its token or password only by Kubernetes Secret reference. The runner prints its outcome
as the last line of its output; the operator reads it from the pod log (or from the
local process without a cluster) and returns it, as ``TrainModelOperator`` does.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, ClassVar

from airflow.providers.cncf.kubernetes.callbacks import KubernetesPodOperatorCallback

from digitalhub_airflow.hooks.mlflow import MlflowHook
from digitalhub_airflow.operators.pods import (
    DigitalHubPodOperator,
    WorkloadError,
    unreachable_settings,
)
from digitalhub_airflow.operators.training import training_request

RUNNER = "digitalhub_airflow.training.runner"


def last_outcome(output: str) -> dict[str, Any]:
    """The runner's outcome: the last output line that is a JSON object with a model key."""
    for raw in reversed(output.splitlines()):
        line = raw.strip()
        if line.startswith("{"):
            try:
                data = json.loads(line)
            except ValueError:
                continue
            if isinstance(data, dict) and "model_key" in data:
                return data
    raise WorkloadError("the training workload finished without printing its outcome")


class _ReadOutcome(KubernetesPodOperatorCallback):
    """Reads the outcome from the finished pod's log, before the pod is deleted."""

    @staticmethod
    def on_pod_completion(*, pod: Any, client: Any, operator: Any, **kwargs: Any) -> None:
        # Raw bytes: the client's deserialiser would turn a JSON-looking log into a repr.
        response = client.read_namespaced_pod_log(
            pod.metadata.name, pod.metadata.namespace, container="base", _preload_content=False
        )
        log = response.data.decode("utf-8", errors="replace")
        operator.workload_output = log
        operator.log.info("read %d characters of output from pod %s", len(log), pod.metadata.name)


class GpuTrainingPodOperator(DigitalHubPodOperator):
    """Train on exact dataset versions in a pod with a GPU resource profile.

    :param training: the fields of a training request, as ``TrainModelOperator`` takes
        them (``project``, ``name``, ``entrypoint`` as ``module:function``, ``datasets``,
        ``target``, ``hyperparameters``, ``experiment``, ``task``, ``features``, ``seed``,
        ``force``…); templated.
    :param resource_profile: default ``1xa100``.
    :param image: a training image with this package and the entrypoint's code.
    :param mlflow_conn_id: the tracking server; a pod needs a real one (not the embedded).
    """

    template_fields: Sequence[str] = (*DigitalHubPodOperator.template_fields, "training")
    template_fields_renderers: ClassVar[dict[str, str]] = {"training": "json"}
    ui_color = "#e8daef"

    def __init__(
        self,
        *,
        training: dict[str, Any],
        resource_profile: str = "1xa100",
        mlflow_conn_id: str = "mlflow_default",
        **kwargs: Any,
    ) -> None:
        kwargs["callbacks"] = [*(kwargs.get("callbacks") or []), _ReadOutcome]
        super().__init__(module=RUNNER, resource_profile=resource_profile, **kwargs)
        self.training = training
        self.mlflow_conn_id = mlflow_conn_id
        self.request_json = ""

    def workload_environment(self) -> tuple[dict[str, str], dict[str, str]]:
        settings, secrets = super().workload_environment()
        tracking_settings, tracking_secrets = (
            MlflowHook(self.mlflow_conn_id).tracking().process_environment()
        )
        settings.update(tracking_settings, DHUB_TRAINING_REQUEST=self.request_json)
        return settings, {**secrets, **tracking_secrets}

    def perform(self, context: Any) -> Any:
        fields = dict(self.training)
        fields["params"] = fields.pop("hyperparameters", fields.get("params") or {})
        request = training_request(context, **fields)
        if not isinstance(request.entrypoint, str):
            raise WorkloadError("a pod runs an entrypoint named 'module:function', not a callable")
        self.request_json = json.dumps(request.to_json())
        super().perform(context)
        return self.finish(context)

    def unreachable(self, settings: dict[str, str]) -> list[str]:
        return unreachable_settings(settings, self.mlflow_conn_id)

    def trigger_reentry(self, context: Any, event: dict[str, Any]) -> Any:
        """Deferrable mode: the pod finished while the task was deferred."""
        super().trigger_reentry(context, event)
        return self.finish(context)

    def finish(self, context: Any) -> dict[str, Any]:
        outcome = last_outcome(self.workload_output or "")
        with self.task_hub() as hub:
            for key in outcome.get("datasets", []):
                self.task_io.read(hub.resolve(key))
        state = "reused run" if outcome.get("reused") else "trained"
        self.log.info("%s %s: %s", state, outcome.get("run_id"), outcome.get("model_key"))
        # KubernetesPodOperator pushes no return value unless it runs its XCom sidecar:
        # push the outcome ourselves, so `.output` works as with TrainModelOperator.
        context["ti"].xcom_push(key="return_value", value=outcome)
        return outcome
