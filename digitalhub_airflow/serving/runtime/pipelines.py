"""Pipelines: served names that chain steps (pre-processing -> model -> post-processing,
or model -> model), declared in YAML so they live in git beside the deployment spec::

    name: wine-labelled
    steps:
      - function: mypackage.features:scale      # numpy array or dict of arrays -> same
      - model: wine                              # a --model name of the same server
      - function: mypackage.labels:to_names

Each step gets the previous step's value; a model step predicts on it (a matrix or
named columns) and passes its predictions on. What is logged for drift analysis is the
input of the first model step, in that model's feature space.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from digitalhub_airflow.errors import InferenceError, ServingSpecError
from digitalhub_airflow.keys import validate_name

if TYPE_CHECKING:
    import numpy as np

    from digitalhub_airflow.features.online import OnlineFeatures
    from digitalhub_airflow.serving.runtime.loaded_models import LoadedModel
    from digitalhub_airflow.serving.runtime.protocol import Features


@dataclass(frozen=True)
class PipelineSpec:
    name: str
    version: str
    steps: list[dict[str, str]] = field(default_factory=list)

    @property
    def models(self) -> list[str]:
        return [s["model"] for s in self.steps if "model" in s]


def load_pipeline_spec(path: str | Path) -> PipelineSpec:
    import yaml

    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ServingSpecError(f"pipeline spec {path}: {exc}") from exc
    return parse_pipeline_spec(raw, str(path))


def parse_pipeline_spec(raw: Any, source: str = "pipeline spec") -> PipelineSpec:
    if not isinstance(raw, dict) or set(raw) - {"name", "version", "steps"}:
        raise ServingSpecError(
            f"{source}: expected a mapping with name, steps and an optional version"
        )
    name = validate_name(str(raw.get("name", "")), f"{source}: pipeline name")
    steps = raw.get("steps")
    if not isinstance(steps, list) or not steps:
        raise ServingSpecError(f"{source}: 'steps' must be a non-empty list")
    for i, step in enumerate(steps):
        if not isinstance(step, dict) or len(step) != 1 or not {"model", "function"} & set(step):
            raise ServingSpecError(
                f"{source}: step {i + 1} must be {{model: NAME}} or {{function: module:function}}"
            )
        if not all(isinstance(v, str) and v for v in step.values()):
            raise ServingSpecError(f"{source}: step {i + 1} needs a non-empty string value")
    if not any("model" in s for s in steps):
        raise ServingSpecError(f"{source}: a pipeline needs at least one model step")
    return PipelineSpec(name, str(raw.get("version", "1")), steps)


def import_function(path: str) -> Callable[[Any], Any]:
    module, sep, attr = path.partition(":")
    if not sep or not module or not attr:
        raise ServingSpecError(f"function {path!r} must be written module:function")
    try:
        fn: Callable[[Any], Any] = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise ServingSpecError(f"function {path!r} cannot be imported: {exc}") from exc
    if not callable(fn):
        raise ServingSpecError(f"{path!r} is not callable")
    return fn


class Pipeline:
    """A served name over other served models and plain functions."""

    platform = "dhub_pipeline"

    def __init__(self, spec: PipelineSpec, models: dict[str, LoadedModel]) -> None:
        unknown = [m for m in spec.models if m not in models]
        if unknown:
            raise ServingSpecError(
                f"pipeline {spec.name!r} uses model(s) {', '.join(unknown)} that this server "
                "does not serve; add them with --model"
            )
        self.name = spec.name
        self.version = spec.version
        self.steps: list[tuple[str, Any]] = [
            ("model", models[s["model"]])
            if "model" in s
            else (s["function"], import_function(s["function"]))
            for s in spec.steps
        ]
        self.first_model: LoadedModel = models[spec.models[0]]

    @property
    def feature_names(self) -> list[str] | None:
        return self.first_model.feature_names

    def metadata(self) -> dict[str, Any]:
        first_kind, first = self.steps[0]
        last_kind, last = self.steps[-1]
        inputs = first.metadata()["inputs"] if first_kind == "model" else []
        outputs = last.metadata()["outputs"] if last_kind == "model" else []
        return {
            "name": self.name,
            "versions": [self.version],
            "platform": self.platform,
            "inputs": inputs,
            "outputs": outputs,
        }

    def predict(self, features: Features) -> tuple[Any, np.ndarray]:
        import numpy as np

        # One tensor is passed on as the array itself; several as a dict of named arrays.
        value: Any = features
        if isinstance(value, dict) and len(value) == 1:
            (value,) = value.values()
        logged: Any = None
        for kind, step in self.steps:
            if kind == "model":
                if isinstance(value, np.ndarray) and value.ndim == 1:  # a previous model's output
                    value = value.reshape(-1, 1)
                model_input, value = step.predict(value)
                if logged is None:
                    logged = model_input
            else:
                try:
                    value = step(value)
                except InferenceError:
                    raise
                except (ValueError, TypeError) as exc:
                    raise InferenceError(f"pipeline {self.name!r} step {kind}: {exc}") from exc
        return logged, np.asarray(value)


class FeatureLookup:
    """A served model whose requests carry entity keys: the feature service's features
    are fetched from the online store, then the model predicts on them.

    What is logged is the model's input, the fetched features, so serving drift compares
    what the model saw with its training set. A key of the wrong type, or an entity the
    online store lacks (and no declared default), is a 400 naming the row.
    """

    def __init__(self, model: LoadedModel, online: OnlineFeatures) -> None:
        self.name = model.name
        self.version = model.version
        self.model = model
        self.online = online

    @property
    def feature_names(self) -> list[str] | None:
        return self.model.feature_names

    def metadata(self) -> dict[str, Any]:
        from feast import ValueType

        types = {ValueType.INT64: "INT64", ValueType.INT32: "INT32"}
        return {
            **self.model.metadata(),
            "inputs": [
                {"name": key, "datatype": types.get(value_type, "BYTES"), "shape": [-1]}
                for key, value_type in self.online.join_keys.items()
            ],
            "parameters": {
                "feature_service": self.online.service,
                "feature_digest": self.online.digest,
                **({"feature_defaults": self.online.defaults} if self.online.defaults else {}),
            },
        }

    def predict(self, features: Features) -> tuple[Any, np.ndarray]:
        import numpy as np

        from digitalhub_airflow.features.errors import FeatureRequestError

        if not isinstance(features, dict):
            keys = ", ".join(self.online.join_keys)
            raise InferenceError(f"model {self.name!r} takes entity keys by name: {keys}")
        unknown = sorted(set(features) - set(self.online.join_keys))
        if unknown:
            raise InferenceError(
                f"model {self.name!r} takes entity keys ({', '.join(self.online.join_keys)}), "
                f"not {', '.join(unknown)}: its features come from feature service "
                f"{self.online.service!r}"
            )
        rows = {name: np.asarray(values).reshape(-1).tolist() for name, values in features.items()}
        try:
            found = self.online.lookup(rows)
        except FeatureRequestError as exc:
            raise InferenceError(str(exc)) from exc
        return self.model.predict({name: np.asarray(found[name]) for name in found})
