"""Training functions named ``module:function``: loaded the same way in a worker, a pod
or a local subprocess, and digested so a changed function retrains instead of reusing.

Contract: ``fn(data: TrainingData, params: dict) -> model | Trained``. The model is a
fitted scikit-learn estimator (anything ``mlflow.sklearn`` can log); metrics the
function returns are logged beside the ones the runner computes on the test split.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from digitalhub_airflow.errors import TrainingFunctionError

ENTRYPOINT_RE = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")
TrainingFunction = Callable[..., Any]


@dataclass
class Trained:
    """What a training function may return instead of a bare model."""

    model: Any
    metrics: dict[str, float] = field(default_factory=dict)


def entrypoint_name(entrypoint: str | TrainingFunction) -> str:
    """``module:qualname`` of a callable (or the validated string itself)."""
    if isinstance(entrypoint, str):
        if not ENTRYPOINT_RE.fullmatch(entrypoint):
            raise TrainingFunctionError(
                f"entrypoint {entrypoint!r} is invalid: expected 'package.module:function'"
            )
        return entrypoint
    module = getattr(entrypoint, "__module__", None)
    qualname = getattr(entrypoint, "__qualname__", None)
    if not module or not qualname:
        raise TrainingFunctionError(f"{entrypoint!r} is not a named function")
    return f"{module}:{qualname}"


def load_entrypoint(entrypoint: str | TrainingFunction) -> TrainingFunction:
    if callable(entrypoint):
        return entrypoint
    module_name, _, attr = entrypoint_name(entrypoint).partition(":")
    try:
        target: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as exc:
        raise TrainingFunctionError(f"cannot load entrypoint {entrypoint!r}: {exc}") from exc
    if not callable(target):
        raise TrainingFunctionError(f"entrypoint {entrypoint!r} is not callable")
    return cast(TrainingFunction, target)


def code_digest(fn: TrainingFunction) -> str:
    """SHA-256 of the source of the function's module (the function alone if that fails).

    The whole module, because a function's behaviour depends on the helpers beside it.
    """
    module = inspect.getmodule(fn)
    for subject in (module, fn):
        try:
            source = inspect.getsource(subject)  # type: ignore[arg-type]
        except (OSError, TypeError):
            continue
        return hashlib.sha256(source.encode()).hexdigest()
    code = getattr(fn, "__code__", None)
    if code is None:
        raise TrainingFunctionError(f"cannot read the code of {entrypoint_name(fn)}")
    return hashlib.sha256(code.co_code).hexdigest()


def as_trained(result: Any) -> Trained:
    if isinstance(result, Trained):
        return result
    if result is None or not hasattr(result, "predict"):
        raise TrainingFunctionError(
            f"the training function returned {type(result).__name__}, not a fitted model "
            "with predict() or a Trained(model, metrics)"
        )
    return Trained(result)
