"""Models and serving from a notebook: train, list, compare with the champion, deploy,
predict. Each is the core call an operator or ``dhub`` command makes, with the
notebook's identity as the producer."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from digitalhub_airflow.errors import DeploymentError, InferenceError, InvalidOptionError
from digitalhub_airflow.keys import as_key, parse_key, validate_name
from digitalhub_airflow.sdk.display import grid, mask_url, table
from digitalhub_airflow.sdk.items import DataItem

if TYPE_CHECKING:
    from digitalhub_airflow.sdk.client import Client
    from digitalhub_airflow.serving.deploy.deployer import LocalDeployer
    from digitalhub_airflow.serving.deploy.services import ServiceRecord
    from digitalhub_airflow.training.model_catalog import GateRecord

#: The built-in training function: scikit-learn families (``params={"estimator": …}``).
DEFAULT_ENTRYPOINT = "digitalhub_airflow.training.estimators:train_estimator"
CHAMPION = "champion"


@dataclass
class Model:
    """A trained model entity: ``store://<project>/model/mlflow/<name>:<run id>``."""

    key: str
    name: str
    project: str
    run_id: str
    model_uri: str
    metrics: dict[str, float]
    params: dict[str, Any]
    datasets: list[str]
    target: str
    task: str
    producer: dict[str, Any] | None = None
    reused: bool = False
    #: For ``dh.champion``: the registry version, gate metric and value.
    registry: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any], **extra: Any) -> Model:
        key = as_key(str(data["key"]))
        return cls(
            key=str(data["key"]),
            name=key.name or "",
            project=key.project,
            run_id=key.version or str(data.get("run_id", "")),
            model_uri=mask_url(str(data.get("model_uri", ""))),
            metrics=dict(data.get("metrics") or {}),
            params=dict(data.get("params") or {}),
            datasets=list(data.get("datasets") or []),
            target=str(data.get("target", "")),
            task=str(data.get("task", "")),
            producer=data.get("producer"),
            **extra,
        )

    def __repr__(self) -> str:
        metrics = ", ".join(f"{k}={v:.4g}" for k, v in sorted(self.metrics.items()))
        return f"<Model {self.key} {metrics}>"

    def _repr_html_(self) -> str:
        producer = self.producer or {}
        return table(
            f"model {self.project}/{self.name}",
            [
                ("key", self.key),
                ("metrics", self.metrics),
                ("params", self.params),
                ("trained on", self.datasets),
                ("target", self.target),
                ("task", self.task),
                ("model uri", self.model_uri),
                ("produced by", producer.get("notebook") or producer.get("task_id")),
                ("reused", self.reused or None),
                ("registry", self.registry or None),
            ],
        )


class Models(list[Model]):
    """Models, newest first; a list that prints as a table."""

    def _repr_html_(self) -> str:
        metrics = sorted({m for model in self for m in model.metrics})
        return grid(
            ["key", *metrics, "trained on"],
            ([m.key, *(m.metrics.get(n) for n in metrics), m.datasets] for m in self),
        )


@dataclass
class Gate:
    """A champion-gate decision: the candidate against ``@champion`` on one dataset."""

    record: GateRecord

    @property
    def promoted(self) -> bool:
        return self.record.promoted

    @property
    def reason(self) -> str:
        return self.record.reason

    @property
    def candidate_value(self) -> float:
        return self.record.candidate_value

    @property
    def champion_value(self) -> float | None:
        return self.record.champion_value

    @property
    def registered_version(self) -> str:
        return self.record.registered_version

    def to_json(self) -> dict[str, Any]:
        return self.record.to_json()

    def __bool__(self) -> bool:
        return self.promoted

    def __repr__(self) -> str:
        verdict = "promoted" if self.promoted else "not promoted"
        name = f"{self.record.registered_name} v{self.registered_version}"
        return f"<Gate {name} {verdict}: {self.reason}>"

    def _repr_html_(self) -> str:
        r = self.record
        verdict = "promoted" if r.promoted else "not promoted"
        return table(
            f"{r.registered_name} v{r.registered_version}: {verdict}",
            [
                ("reason", r.reason),
                ("metric", r.metric),
                ("candidate", r.candidate_value),
                (
                    "champion",
                    f"v{r.champion_version} {r.champion_value:.6g}"
                    if r.champion_value is not None
                    else None,
                ),
                ("evaluated on", r.evaluation_dataset),
                ("model", r.model_key),
            ],
        )


@dataclass
class Service:
    """A model server recorded in the catalog (``dh.deploy``): key, URL, state, pins."""

    record: ServiceRecord
    _client: Client = field(repr=False)

    @property
    def key(self) -> str:
        return self.record.key

    @property
    def url(self) -> str | None:
        return self.record.url

    @property
    def state(self) -> str:
        return self.record.state

    @property
    def models(self) -> dict[str, str]:
        return {n: str(m.get("pinned")) for n, m in sorted(self.record.models.items())}

    def predict(self, rows: Any, *, model: str | None = None) -> list[Any]:
        return predict(self._client, self.record.url or self.key, rows, model=model)

    def stop(self) -> Service:
        return undeploy(self._client, f"{self.record.project}/{self.record.name}")

    def __repr__(self) -> str:
        return f"<Service {self.key} {self.state} at {self.url} {self.models}>"

    def _repr_html_(self) -> str:
        r = self.record
        return table(
            f"service {r.project}/{r.name}",
            [
                ("key", r.key),
                ("state", r.state),
                ("url", r.url),
                ("models", self.models),
                ("pid", r.pid),
            ],
        )


def _key_text(item: DataItem | str) -> str:
    return item.key if isinstance(item, DataItem) else item


def train(
    client: Client,
    name: str,
    data: DataItem | str | Iterable[DataItem | str],
    target: str,
    *,
    entrypoint: str | Any = DEFAULT_ENTRYPOINT,
    params: dict[str, Any] | None = None,
    task: str = "classification",
    features: list[str] | None = None,
    project: str | None = None,
    test_size: float = 0.25,
    seed: int = 0,
    experiment: str | None = None,
    force: bool = False,
    autolog: bool = True,
) -> Model:
    """Train on exact dataset versions in an MLflow run (what ``TrainModelOperator``
    runs); the same versions, code and parameters reuse the earlier run."""
    from digitalhub_airflow.training.model_catalog import get_model
    from digitalhub_airflow.training.runner import TrainingRequest, train_model

    items = [data] if isinstance(data, DataItem | str) else list(data)
    keys = [client.hub.resolve(_key_text(i)).key for i in items]
    if not keys:
        raise InvalidOptionError("train needs at least one dataset version")
    request = TrainingRequest(
        project=project or as_key(keys[0]).project,
        name=name,
        entrypoint=entrypoint,
        datasets=keys,
        target=target,
        task=task,
        features=features,
        params=params or {},
        experiment=experiment,
        test_size=test_size,
        seed=seed,
        producer=client.producer(),
        force=force,
        autolog=autolog,
    )
    outcome = train_model(client.hub, client.tracking, request)
    for key in outcome.datasets:
        client.note_read(key)
    record = get_model(client.hub, outcome.model_key)
    data_json = {f: getattr(record, f) for f in record.__dataclass_fields__}
    return Model.from_json(data_json, reused=outcome.reused)


def _project_and_name(text: str, project: str | None) -> tuple[str, str | None]:
    if "/" in text:
        found, name = text.split("/", 1)
        return validate_name(found, "project"), validate_name(name, "model name")
    if project:
        return validate_name(project, "project"), validate_name(text, "model name")
    return validate_name(text, "project"), None


def models(client: Client, name: str, *, project: str | None = None) -> Models:
    """The trained models of ``<project>/<name>`` (or of a whole ``<project>``), newest
    first, each with its metrics and the exact versions it learnt from."""
    from digitalhub_airflow.browse.read_model import list_models

    found_project, model_name = _project_and_name(name, project)
    rows = list_models(client.hub, found_project)
    return Models(Model.from_json(r) for r in rows if model_name in (None, r["name"]))


def champion(
    client: Client, name: str, *, project: str | None = None, alias: str = CHAMPION
) -> Model:
    """The model ``@champion`` (or ``alias``) points at, with its registry version and
    gate result; :class:`~digitalhub_airflow.errors.NotFoundError` if there is none."""
    from digitalhub_airflow.training.model_catalog import get_model
    from digitalhub_airflow.training.selection import describe_champion

    found_project, model_name = _project_and_name(name, project)
    if model_name is None:
        raise InvalidOptionError(f"which model of project {found_project!r}? give <project>/<name>")
    described = describe_champion(client.hub, client.tracking, found_project, model_name, alias)
    record = get_model(client.hub, described["model_key"])
    data = {f: getattr(record, f) for f in record.__dataclass_fields__}
    registry = {
        k: described[k]
        for k in ("registered_name", "version", "metric", "value", "evaluation_dataset")
    }
    return Model.from_json(data, registry=registry)


def promote(
    client: Client,
    model: Model | str,
    *,
    metric: str,
    evaluation: DataItem | str | None = None,
    alias: str = CHAMPION,
    greater_is_better: bool | None = None,
) -> Gate:
    """Compare ``model`` with ``@champion`` on one evaluation version (default: the
    version it was trained on) and move the alias only if it is strictly better
    (``SelectBestModelOperator``'s gate); the decision is recorded either way."""
    from digitalhub_airflow.training.model_catalog import get_model
    from digitalhub_airflow.training.selection import select_and_gate

    if isinstance(model, str):
        model = Model.from_json(
            {
                f: getattr(r, f)
                for r in [get_model(client.hub, model)]
                for f in r.__dataclass_fields__
            }
        )
    evaluation_key = (
        client.hub.resolve(_key_text(evaluation)).key if evaluation is not None else None
    )
    record = select_and_gate(
        client.hub,
        client.tracking,
        project=model.project,
        name=model.name,
        run_ids=[model.run_id],
        metric=metric,
        greater_is_better=greater_is_better,
        evaluation_dataset=evaluation_key,
        alias=alias,
    )
    return Gate(record)


# -- serving -----------------------------------------------------------------------------
def _deployer(client: Client, ready_timeout: float) -> LocalDeployer:
    from digitalhub_airflow.serving.deploy.deployer import LocalDeployer
    from digitalhub_airflow.serving.deploy.environment import environment_from_settings

    return LocalDeployer(
        lambda: environment_from_settings(client.settings, client.tracking),
        home=client.settings.home,
        ready_timeout=ready_timeout,
    )


def _service_name(text: str, project: str | None) -> tuple[str, str]:
    if text.startswith("store://"):
        key = parse_key(text)
        if key.entity_type != "service" or not key.name:
            raise InvalidOptionError(f"{text} is not a service key")
        return key.project, key.name
    found, name = _project_and_name(text, project)
    if name is None:
        raise InvalidOptionError(f"which service of project {found!r}? give <project>/<name>")
    return found, name


def deploy(
    client: Client,
    name: str,
    models: Mapping[str, str] | str,
    *,
    project: str | None = None,
    port: int | None = None,
    ready_timeout: float = 180.0,
    **spec: Any,
) -> Service:
    """Run a model server for ``models`` (served name -> ``models:/…@champion``, a run
    URI or a model key; a single reference is served under the service's name) as a
    managed local process (``dhub deploy --target local``); returns once it is ready."""
    from digitalhub_airflow.serving.deploy.deployer import deploy_service, pin
    from digitalhub_airflow.serving.deploy.spec import spec_from_json

    found_project, service = _service_name(name, project)
    served = {service: models} if isinstance(models, str) else dict(models)
    fields: dict[str, Any] = {
        "project": found_project,
        "name": service,
        "target": "local",
        "models": served,
    }
    if port is not None:
        fields["port"] = port
    fields.update(spec)
    deployer = _deployer(client, ready_timeout)
    record = deploy_service(
        client.hub, deployer, spec_from_json(fields), lambda hub, s: pin(hub, s, client.tracking)
    )
    return Service(record, client)


def undeploy(client: Client, name: str, *, project: str | None = None) -> Service:
    """Stop a local service's process and record it ``stopped`` (``dhub undeploy``)."""
    from digitalhub_airflow.serving.deploy.deployer import undeploy as stop

    found_project, service = _service_name(name, project)
    record = stop(client.hub, {"local": _deployer(client, 60.0)}, found_project, "local", service)
    return Service(record, client)


def service_url(client: Client, service: str, project: str | None = None) -> str:
    """A server's base URL: ``service`` itself when it is a URL, else the URL recorded
    for the service ``<project>/<name>`` (or its key)."""
    if service.startswith(("http://", "https://")):
        return service.rstrip("/")
    from digitalhub_airflow.errors import NotFoundError
    from digitalhub_airflow.serving.deploy.services import list_services

    found_project, name = _service_name(service, project)
    records = [r for r in list_services(client.hub, found_project) if r.name == name]
    if not records:
        raise NotFoundError(f"service {name} does not exist in project {found_project!r}")
    serving = [r for r in records if r.serving and r.url]
    if not serving:
        raise DeploymentError(f"service {found_project}/{name} is {records[0].state}: not serving")
    return str(serving[0].url).rstrip("/")


def _payload(rows: Any) -> dict[str, Any]:
    """MLflow's JSON input from a DataFrame, a list of row dicts or a dict of columns."""
    if hasattr(rows, "to_dict") and hasattr(rows, "columns"):
        return {"dataframe_split": json.loads(rows.to_json(orient="split", index=False))}
    if isinstance(rows, Mapping):
        return {"inputs": {k: list(v) for k, v in rows.items()}}
    if isinstance(rows, list | tuple) and all(isinstance(r, Mapping) for r in rows):
        return {"dataframe_records": list(rows)}
    raise InferenceError("rows must be a DataFrame, a list of row dicts or a dict of columns")


def predict(
    client: Client,
    service: str,
    rows: Any,
    *,
    model: str | None = None,
    project: str | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> list[Any]:
    """Predictions of a served model for ``rows`` (MLflow's ``/invocations``).

    ``service``: a URL, ``<project>/<name>`` or a service key; ``model``: the served
    name, when the server serves several. A request the server refuses raises
    :class:`~digitalhub_airflow.errors.InferenceError` with its HTTP ``status``."""
    url = service_url(client, service, project) + "/invocations"
    if model is not None:
        url += f"?model={validate_name(model, 'served model name')}"
    request = urllib.request.Request(
        url,
        data=json.dumps(_payload(rows), default=str).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read()).get("error") or exc.reason
        except ValueError:
            message = exc.reason
        raise InferenceError(f"{mask_url(url)}: {message}", exc.code) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DeploymentError(
            f"the model server at {mask_url(url)} is unreachable: {reason}"
        ) from None
    predictions = body.get("predictions", body) if isinstance(body, dict) else body
    return list(predictions)
