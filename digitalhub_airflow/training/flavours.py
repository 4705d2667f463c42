"""How a trained model is logged to MLflow: one flavour per kind of model, first match wins.

The server (`dhub serve`) loads any MLflow pyfunc, so a flavour only decides how the
training run writes the model. scikit-learn (cloudpickle) is the default and takes any
estimator with ``predict``; register another flavour (XGBoost's native format, a custom
``mlflow.pyfunc.PythonModel`` …) to log the models it accepts its own way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: (model, signature, input example) -> the logged model's URI
LogModel = Callable[[Any, Any, Any], str]
#: The artifact path every flavour logs the model under.
MODEL_ARTIFACT = "model"


@dataclass(frozen=True)
class Flavour:
    name: str
    accepts: Callable[[Any], bool]
    log: LogModel


def _log_sklearn(model: Any, signature: Any, example: Any) -> str:
    """Not skops: importing ``skops.io`` searches every loaded module for each scipy
    ufunc, which in an Airflow task (3,600 modules, deprecation shims that warn on lookup)
    took 3.6 s plus about 1,200 logged warnings per task, and saving with it cost 0.3 s
    more. It would not be safer here: MLflow gates loading either format behind
    ``MLFLOW_ALLOW_PICKLE_DESERIALIZATION`` and reads skops' trusted types from the
    model's own ``MLmodel``."""
    import mlflow.sklearn

    info = mlflow.sklearn.log_model(
        model,
        name=MODEL_ARTIFACT,
        signature=signature,
        input_example=example,
        serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE,
        # The flavor's own list: inferring requirements imports the model in a subprocess
        # (~20 s, most of a small training's time).
        pip_requirements=mlflow.sklearn.get_default_pip_requirements(include_cloudpickle=True),
    )
    return str(info.model_uri)


SKLEARN = Flavour("sklearn", lambda model: hasattr(model, "predict"), _log_sklearn)
_registered: list[Flavour] = []


def register(flavour: Flavour) -> None:
    """Add a flavour, tried before the ones registered earlier and before scikit-learn."""
    _registered.insert(0, flavour)


def flavour_for(model: Any) -> Flavour:
    from digitalhub_airflow.errors import TrainingFunctionError

    for flavour in (*_registered, SKLEARN):
        if flavour.accepts(model):
            return flavour
    raise TrainingFunctionError(f"no model flavour logs a {type(model).__name__}")


def log_model(model: Any, example: Any) -> str:
    """Log ``model`` with the signature inferred on ``example`` and its predictions."""
    from mlflow.models import infer_signature

    signature = infer_signature(example, model.predict(example))
    return flavour_for(model).log(model, signature, example)
