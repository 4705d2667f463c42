"""The deployment spec of one service: what a DAG or a YAML file in git asks to run.

A spec is plain data without secrets (credentials are named by Secret, never given), so
it can be recorded in the catalog and compared: its digest over the canonical JSON is
what reconciliation compares with the recorded state, and the service key's version.
Every field is checked here, so a bad spec fails before anything is started or written.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from digitalhub_airflow.errors import ServingSpecError
from digitalhub_airflow.keys import Key, parse_key, validate_name
from digitalhub_airflow.settings import suite_image

TARGETS = ("local", "kubernetes")
#: ``model``: MLflow models (``models``); ``data``: a table dataset (``dataset``) over REST.
KINDS = ("model", "data")
AUTH_MODES = ("none", "basic", "api-key", "token")
DEFAULT_IMAGE = suite_image()
#: Kubernetes object names (RFC 1035 labels): what a Deployment/Service may be called.
DNS_LABEL_RE = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")
HOSTNAME_RE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
#: The most replicas a service may have (fixed or autoscaled).
MAX_REPLICAS = 100
PERCENT_RE = re.compile(r"(100|[1-9]?[0-9])%")


@dataclass(frozen=True)
class Autoscaling:
    """A HorizontalPodAutoscaler (``autoscaling/v2``) owning the Deployment's replicas.

    ``cpu_utilization``: average CPU use in percent of the pods' CPU request;
    ``requests_per_second``: average requests per second per pod (a Pods metric served
    by a custom metrics adapter such as prometheus-adapter, see ``RPS_METRIC``). At
    least one; with both, the autoscaler follows whichever asks for more pods.
    """

    min_replicas: int = 1
    max_replicas: int = 0
    cpu_utilization: int | None = None
    requests_per_second: float | None = None

    def __post_init__(self) -> None:
        _check_int("autoscaling.min_replicas", self.min_replicas, 1, MAX_REPLICAS)
        _check_int("autoscaling.max_replicas", self.max_replicas, 1, MAX_REPLICAS)
        if self.min_replicas > self.max_replicas:
            raise ServingSpecError(
                f"autoscaling.min_replicas {self.min_replicas} is above "
                f"autoscaling.max_replicas {self.max_replicas}"
            )
        if self.cpu_utilization is None and self.requests_per_second is None:
            raise ServingSpecError(
                "autoscaling needs a target: cpu_utilization (percent of the CPU request) "
                "and/or requests_per_second (per pod)"
            )
        if self.cpu_utilization is not None:
            _check_int("autoscaling.cpu_utilization", self.cpu_utilization, 1, 1000)
        rps = self.requests_per_second
        if rps is not None:
            if isinstance(rps, bool) or not isinstance(rps, int | float) or not 0 < rps <= 1e6:
                raise ServingSpecError(
                    f"autoscaling.requests_per_second {rps!r} must be a number in (0, 1e6]"
                )
            if round(rps * 1000) < 1:
                raise ServingSpecError(
                    f"autoscaling.requests_per_second {rps!r} is below 0.001 (1m)"
                )


@dataclass(frozen=True)
class DisruptionBudget:
    """A PodDisruptionBudget (``policy/v1``): ``min_available`` or ``max_unavailable``
    pods, as a count or a percentage (``"25%"``), exactly one of them."""

    min_available: int | str | None = None
    max_unavailable: int | str | None = None

    def __post_init__(self) -> None:
        given = [n for n in ("min_available", "max_unavailable") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ServingSpecError(
                "disruption_budget takes exactly one of min_available and max_unavailable"
                + (" (both are set)" if given else " (neither is set)")
            )
        for what in given:
            value = getattr(self, what)
            if isinstance(value, str):
                if not PERCENT_RE.fullmatch(value):
                    raise ServingSpecError(
                        f"disruption_budget.{what} {value!r} must be a count or a percentage "
                        "like '25%'"
                    )
            else:
                _check_int(f"disruption_budget.{what}", value, 0, MAX_REPLICAS)

    def allowed_disruptions(self, replicas: int) -> int:
        """Pods the budget lets an eviction take out of ``replicas`` healthy ones
        (percentages round up, as the disruption controller rounds them)."""
        if self.min_available is not None:
            return replicas - _scaled(self.min_available, replicas)
        return _scaled(self.max_unavailable, replicas)


def _scaled(value: int | str | None, replicas: int) -> int:
    if isinstance(value, str):
        return -(-int(value[:-1]) * replicas // 100)
    return int(value or 0)


@dataclass(frozen=True)
class Exposure:
    """Gateway exposure through an Ingress; ``secret`` holds the basic-auth ``auth`` file
    (htpasswd) or, for ``api-key``, the key under ``api-key``; for ``api-key`` and
    ``token`` the access-token secret under ``token-secret`` (project tokens, optional
    with ``api-key``)."""

    host: str
    path: str = "/"
    auth: str = "basic"
    secret: str | None = None
    ingress_class: str = "nginx"
    tls_secret: str | None = None

    def __post_init__(self) -> None:
        if not HOSTNAME_RE.fullmatch(self.host or "") or len(self.host) > 253:
            raise ServingSpecError(f"exposure host {self.host!r} is not a DNS host name")
        if not self.path.startswith("/"):
            raise ServingSpecError(f"exposure path {self.path!r} must start with '/'")
        if self.auth not in AUTH_MODES:
            raise ServingSpecError(f"exposure auth {self.auth!r} is unknown; one of {AUTH_MODES}")
        if self.auth != "none" and not self.secret:
            raise ServingSpecError(f"exposure auth {self.auth!r} needs the Secret's name: secret=")
        for what, name in (("secret", self.secret), ("tls_secret", self.tls_secret)):
            if name is not None and not DNS_LABEL_RE.fullmatch(name):
                raise ServingSpecError(f"exposure {what} {name!r} is not a Kubernetes name")


@dataclass(frozen=True)
class ServiceSpec:
    """One service: ``models`` maps each served name to a model reference; a ``data``
    service serves ``dataset`` (a version, or an alias it follows) and no models."""

    project: str
    name: str
    target: str
    models: dict[str, str]
    port: int = 8080
    host: str = "127.0.0.1"
    workers: int = 1
    replicas: int = 1
    namespace: str = "default"
    image: str = DEFAULT_IMAGE
    resource_profile: str = "cpu-small"
    credentials_secret: str | None = None
    exposure: Exposure | None = None
    request_log: str | None = None
    log_sample_rate: float | None = None
    pipelines: tuple[str, ...] = field(default=())
    autoscaling: Autoscaling | None = None
    disruption_budget: DisruptionBudget | None = None
    kind: str = "model"
    dataset: str | None = None
    allow_quarantined: bool = False
    #: Served model -> ``[project/]feature service``, or ``{service: …, defaults: {feature:
    #: value}}``: its requests carry entity keys; a declared default stands in for a
    #: feature the online store lacks (checked against the feature's type at start).
    features: dict[str, str | dict[str, Any]] | None = None

    def __post_init__(self) -> None:
        validate_name(self.project, "project")
        validate_name(self.name, "service name")
        if self.target not in TARGETS:
            raise ServingSpecError(f"target {self.target!r} is unknown; one of {TARGETS}")
        if self.target == "kubernetes":
            if not DNS_LABEL_RE.fullmatch(self.name):
                raise ServingSpecError(
                    f"service name {self.name!r} is not a Kubernetes name: lowercase letters, "
                    "digits and '-', starting with a letter"
                )
            if not DNS_LABEL_RE.fullmatch(self.namespace):
                raise ServingSpecError(f"namespace {self.namespace!r} is not a Kubernetes name")
        if self.kind not in KINDS:
            raise ServingSpecError(f"kind {self.kind!r} is unknown; one of {KINDS}")
        if self.kind == "data":
            self._check_data()
        elif self.dataset is not None or self.allow_quarantined:
            raise ServingSpecError(
                f"service {self.name!r}: dataset and allow_quarantined belong to kind: data"
            )
        elif not isinstance(self.models, Mapping) or not self.models:
            raise ServingSpecError(f"service {self.name!r} serves no model: give models=")
        for served, ref in self.models.items():
            validate_name(served, "served model name")
            if not isinstance(ref, str) or not ref.strip():
                raise ServingSpecError(f"model {served!r} has no reference")
        object.__setattr__(self, "models", dict(sorted(self.models.items())))
        if self.features is not None:
            self._check_features(self.features)
        object.__setattr__(self, "pipelines", tuple(self.pipelines))
        _check_int("port", self.port, 0 if self.target == "local" else 1, 65535)
        _check_int("workers", self.workers, 1, 64)
        _check_int("replicas", self.replicas, 0, MAX_REPLICAS)
        self._check_scaling()
        if self.request_log is not None:
            key = parse_key(self.request_log)
            if key.entity_type != "dataitem" or key.version or key.alias:
                raise ServingSpecError(f"request_log {self.request_log!r} must be a dataset key")
        if self.log_sample_rate is not None and not 0 < self.log_sample_rate <= 1:
            raise ServingSpecError(f"log_sample_rate {self.log_sample_rate} is not in (0, 1]")
        if self.credentials_secret is not None and not DNS_LABEL_RE.fullmatch(
            self.credentials_secret
        ):
            raise ServingSpecError(
                f"credentials_secret {self.credentials_secret!r} is not a Kubernetes name"
            )

    def _check_features(self, features: Any) -> None:
        if not isinstance(features, Mapping) or set(features) - set(self.models):
            raise ServingSpecError(f"features maps served models {sorted(self.models)} to services")
        checked = {served: _feature_entry(served, entry) for served, entry in features.items()}
        object.__setattr__(self, "features", dict(sorted(checked.items())))

    def _check_data(self) -> None:
        if self.models or self.pipelines or self.request_log or self.log_sample_rate:
            raise ServingSpecError(
                f"data service {self.name!r} serves a dataset: no models, pipelines or request_log"
            )
        if not isinstance(self.dataset, str) or not self.dataset:
            raise ServingSpecError(f"data service {self.name!r} needs dataset: <key>")
        object.__setattr__(self, "dataset", data_key(self.dataset))
        if not isinstance(self.allow_quarantined, bool):
            raise ServingSpecError("allow_quarantined is true or false")

    def _check_scaling(self) -> None:
        scaling, budget = self.autoscaling, self.disruption_budget
        if scaling is not None and not isinstance(scaling, Autoscaling):
            raise ServingSpecError("autoscaling is a mapping (min_replicas, max_replicas…)")
        if budget is not None and not isinstance(budget, DisruptionBudget):
            raise ServingSpecError("disruption_budget is a mapping (min_available…)")
        if scaling is not None:
            # The autoscaler owns the replica count; ``replicas`` is its floor.
            if self.replicas not in (1, scaling.min_replicas):
                raise ServingSpecError(
                    f"replicas {self.replicas} and autoscaling are both set: the autoscaler "
                    "owns the replica count, give autoscaling.min_replicas instead"
                )
            object.__setattr__(self, "replicas", scaling.min_replicas)
        if (
            budget is not None
            and self.replicas > 0
            and budget.allowed_disruptions(self.replicas) < 1
        ):
            # A budget that lets no pod be evicted blocks every node drain: refused.
            given = (
                f"min_available {budget.min_available!r}"
                if budget.min_available is not None
                else f"max_unavailable {budget.max_unavailable!r}"
            )
            floor = "autoscaling.min_replicas" if scaling is not None else "replicas"
            raise ServingSpecError(
                f"disruption_budget.{given} with {self.replicas} replica(s) allows no "
                f"voluntary eviction: node drains would block; raise {floor} or "
                "loosen the budget"
            )

    # -- identity ----------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """The spec as plain JSON. ``autoscaling`` and ``disruption_budget`` appear only
        when set (specs without them keep the digests they had before these fields);
        with ``autoscaling``, ``replicas`` (then its ``min_replicas``) is left out."""
        data = asdict(self)
        data["pipelines"] = list(self.pipelines)
        for name in ("autoscaling", "disruption_budget"):
            if data[name] is None:
                del data[name]
            else:
                data[name] = {k: v for k, v in data[name].items() if v is not None}
        if self.autoscaling is not None:
            del data["replicas"]
        if self.features is None:  # specs without features keep their digests
            del data["features"]
        if self.kind == "model":  # model specs keep the digests they had before kinds
            for name in ("kind", "dataset", "allow_quarantined"):
                del data[name]
        return data

    @property
    def digest(self) -> str:
        """SHA-256 of the canonical JSON: equal specs, equal digests, on any machine."""
        text = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def key(self) -> str:
        return f"store://{self.project}/service/{self.target}/{self.name}:{self.digest[:16]}"

    def with_models(self, models: Mapping[str, str]) -> ServiceSpec:
        return replace(self, models=dict(models))

    # -- the server's command line ---------------------------------------------------------
    def serve_args(self, host: str | None = None, port: int | None = None) -> list[str]:
        """Arguments of ``python -m digitalhub_airflow.cli`` that run this service."""
        if self.kind == "data":
            return self._serve_data_args(host, port)
        args = ["serve"]
        for served, ref in self.models.items():
            args += ["--model", f"{served}={ref}"]
        for pipeline in self.pipelines:
            args += ["--pipeline", pipeline]
        args += ["--host", host or self.host, "--port", str(self.port if port is None else port)]
        args += ["--workers", str(self.workers), "--service", self.name, "--project", self.project]
        if self.request_log:
            args += ["--request-log", self.request_log]
        if self.log_sample_rate is not None:
            args += ["--log-sample-rate", str(self.log_sample_rate)]
        for served, entry in (self.features or {}).items():
            if isinstance(entry, str):
                args += ["--features", f"{served}={entry}"]
                continue
            args += ["--features", f"{served}={entry['service']}"]
            for feature, value in entry["defaults"].items():
                text = str(value).lower() if isinstance(value, bool) else str(value)
                args += ["--feature-default", f"{served}:{feature}={text}"]
        return args

    def _serve_data_args(self, host: str | None, port: int | None) -> list[str]:
        args = ["serve-data", "--dataset", str(self.dataset)]
        if self.allow_quarantined:
            args.append("--allow-quarantined")
        args += ["--host", host or self.host, "--port", str(self.port if port is None else port)]
        return [
            *args,
            "--workers",
            str(self.workers),
            "--service",
            self.name,
            "--project",
            self.project,
        ]


def _feature_entry(served: str, entry: Any) -> str | dict[str, Any]:
    """A ``features`` entry: the service, or the service and its declared defaults
    (scalars by feature name, sorted, so equal entries give equal digests); an entry
    without defaults is the bare service, as it always was."""
    if isinstance(entry, str) and entry:
        return entry
    if not isinstance(entry, Mapping) or set(entry) - {"service", "defaults"}:
        raise ServingSpecError(
            f"features.{served} is a feature service or {{service: …, defaults: {{…}}}}"
        )
    service, defaults = entry.get("service"), entry.get("defaults") or {}
    if not isinstance(service, str) or not service:
        raise ServingSpecError(f"features.{served} needs service: [project/]name")
    if not isinstance(defaults, Mapping):
        raise ServingSpecError(f"features.{served}.defaults maps feature names to values")
    for feature, value in defaults.items():
        if not isinstance(feature, str) or not feature or set(feature) & {"=", ":"}:
            raise ServingSpecError(f"features.{served}.defaults: {feature!r} is no feature name")
        if not isinstance(value, (str, int, float, bool)):
            raise ServingSpecError(
                f"features.{served}.defaults.{feature} must be a number, text or true/false, "
                f"not {type(value).__name__}"
            )
    if not defaults:
        return service
    return {"service": service, "defaults": dict(sorted(defaults.items()))}


def data_key(text: str) -> str:
    """A data service's dataset as a full table key: ``store://…`` or the short
    ``<project>/<name>[:<version>|@<alias>]``; without either it follows ``latest``."""
    if text.startswith("store://"):
        key = parse_key(text)
    else:
        project, sep, rest = text.partition("/")
        if not sep:
            raise ServingSpecError(f"dataset {text!r} is not <project>/<name> or a store:// key")
        name, at, alias = rest.partition("@")
        name, colon, version = name.partition(":")
        key = Key(
            project, "dataitem", "table", name, version if colon else None, alias if at else None
        )
    if key.entity_type != "dataitem" or key.kind != "table":
        raise ServingSpecError(f"dataset {text!r} is not a table dataset key")
    return str(key)


def _check_int(what: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ServingSpecError(f"{what} {value!r} must be an integer in [{low}, {high}]")


SPEC_FIELDS = frozenset(ServiceSpec.__dataclass_fields__)
EXPOSURE_FIELDS = frozenset(Exposure.__dataclass_fields__)
AUTOSCALING_FIELDS = frozenset(Autoscaling.__dataclass_fields__)
BUDGET_FIELDS = frozenset(DisruptionBudget.__dataclass_fields__)


def _nested(what: str, value: Any, known: frozenset[str], required: tuple[str, ...]) -> Any:
    if not isinstance(value, Mapping):
        raise ServingSpecError(f"{what} is a mapping of {sorted(known)}")
    unknown = sorted(set(value) - known)
    if unknown:
        raise ServingSpecError(f"unknown {what} field(s) {unknown}; known: {sorted(known)}")
    missing = [f"{what}.{name}" for name in required if name not in value]
    if missing:
        raise ServingSpecError(f"{what} lacks {missing}")
    return dict(value)


def spec_from_json(data: Mapping[str, Any], project: str | None = None) -> ServiceSpec:
    """A spec from a mapping (a YAML entry, operator arguments, a recorded spec).

    Unknown fields are refused by name: a typo must not silently deploy the default.
    """
    if not isinstance(data, Mapping):
        raise ServingSpecError(f"a service spec is a mapping, not {type(data).__name__}")
    fields = dict(data)
    if project is not None:
        fields.setdefault("project", project)
    unknown = sorted(set(fields) - SPEC_FIELDS)
    if unknown:
        raise ServingSpecError(f"unknown service field(s) {unknown}; known: {sorted(SPEC_FIELDS)}")
    if fields.get("kind") == "data":
        fields.setdefault("models", {})
    missing = sorted({"project", "name", "target", "models"} - set(fields))
    if missing:
        raise ServingSpecError(f"service {fields.get('name', '?')!r} lacks {missing}")
    exposure = fields.get("exposure")
    if exposure is not None:
        if not isinstance(exposure, Mapping):
            raise ServingSpecError("exposure is a mapping (host, path, auth, secret…)")
        unknown = sorted(set(exposure) - EXPOSURE_FIELDS)
        if unknown:
            raise ServingSpecError(f"unknown exposure field(s) {unknown}")
        if "host" not in exposure:
            raise ServingSpecError("exposure needs a host")
        fields["exposure"] = Exposure(**exposure)
    scaling = fields.get("autoscaling")
    if scaling is not None:
        scaling = _nested("autoscaling", scaling, AUTOSCALING_FIELDS, ("max_replicas",))
        if "replicas" in fields:
            raise ServingSpecError(
                "replicas and autoscaling are both set: the autoscaler owns the replica "
                "count, give autoscaling.min_replicas instead"
            )
        fields["autoscaling"] = Autoscaling(**scaling)
    budget = fields.get("disruption_budget")
    if budget is not None:
        fields["disruption_budget"] = DisruptionBudget(
            **_nested("disruption_budget", budget, BUDGET_FIELDS, ())
        )
    try:
        return ServiceSpec(**fields)
    except TypeError as exc:
        raise ServingSpecError(f"service spec is malformed: {exc}") from exc
