"""A loaded MLflow pyfunc model and the fast path that skips pandas for numeric tensors.

``mlflow.pyfunc`` turns every request into a DataFrame and enforces the signature on it,
which costs more than predicting with a small scikit-learn model. When the model is a
scikit-learn flavor and every input column is numeric, :class:`LoadedModel` checks the
request against the signature itself (names, widths, datatypes) and calls the unwrapped
estimator on the numpy matrix. The fast path is enabled only after it gave exactly the
pyfunc's predictions on the model's input example (or zeros) at load time; anything else
goes through ``pyfunc.predict`` with a DataFrame built from the signature.

A tensor-based signature (a model logged from numpy arrays) gets the request's tensor
checked against each ``TensorSpec``'s shape and cast to its dtype, then ``pyfunc.predict``
on the array. Every cast keeps each value's meaning (FP32 -> FP64, INT32 -> INT64, ...;
:func:`~digitalhub_airflow.serving.runtime.protocol.cast_to_signature`) or is refused with
a 400. Metadata lists the signature's inputs and outputs for both kinds of signature.
"""

from __future__ import annotations

import functools
import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from digitalhub_airflow.errors import InferenceError
from digitalhub_airflow.serving.runtime.protocol import cast_to_signature, v2_datatype

if TYPE_CHECKING:
    import numpy as np

    from digitalhub_airflow.serving.runtime.protocol import Features

log = logging.getLogger(__name__)

#: The v2 output tensor holding a model's predictions.
OUTPUT_NAME = "predict"
#: The name of an unnamed tensor input in metadata (``input-0``, ...), as KServe's.
UNNAMED_INPUT = "input-{}"


@dataclass(frozen=True)
class InputColumn:
    name: str
    dtype: np.dtype

    @property
    def datatype(self) -> str:
        return v2_datatype(self.dtype)


@dataclass(frozen=True)
class TensorInput:
    """One ``TensorSpec`` of a tensor-based signature; ``-1`` in ``shape`` is any size."""

    name: str | None
    dtype: np.dtype
    shape: tuple[int, ...]

    @property
    def datatype(self) -> str:
        return v2_datatype(self.dtype)

    def label(self, index: int) -> str:
        return self.name or UNNAMED_INPUT.format(index)


class LoadedModel:
    """One served model version: metadata for v2, prediction for every request shape."""

    def __init__(self, name: str, version: str, path: Path) -> None:
        import mlflow.pyfunc

        self.name = name
        self.version = version
        self.pyfunc = mlflow.pyfunc.load_model(str(path))
        meta = self.pyfunc.metadata
        flavor = meta.flavors.get("python_function", {})
        self.platform = "mlflow_" + str(flavor.get("loader_module", "pyfunc")).rsplit(".", 1)[-1]
        self.columns = _input_columns(meta.signature)
        self.tensors = _input_tensors(meta.signature)
        self.outputs = _outputs(meta.signature)
        self.output_datatype = self.outputs[0]["datatype"]
        self._fast = self._verified_fast_path(path, flavor.get("predict_fn", "predict"))

    @property
    def fast_path(self) -> bool:
        return self._fast is not None

    # Fixed by the signature: computed once, not on every request.
    @functools.cached_property
    def feature_names(self) -> list[str] | None:
        return [c.name for c in self.columns] if self.columns else None

    @functools.cached_property
    def _column_names(self) -> frozenset[str]:
        return frozenset(c.name for c in self.columns or [])

    @functools.cached_property
    def _matrix_dtype(self) -> np.dtype:
        import numpy as np

        return np.result_type(*(c.dtype for c in self.columns or []))

    @functools.cached_property
    def _uniform_dtype(self) -> np.dtype | None:
        """The columns' one dtype, when they share it (a matrix is then cast at once)."""
        dtypes = {c.dtype for c in self.columns or []}
        return dtypes.pop() if len(dtypes) == 1 else None

    def metadata(self) -> dict[str, Any]:
        """OIP v2 model metadata: one input per signature column (shape ``[-1]``) or per
        tensor (its dtype and shape), and the ``predict`` output this server answers."""
        if self.tensors is not None:
            inputs = [
                {"name": t.label(i), "datatype": t.datatype, "shape": list(t.shape)}
                for i, t in enumerate(self.tensors)
            ]
        else:
            inputs = [
                {"name": c.name, "datatype": c.datatype, "shape": [-1]} for c in self.columns or []
            ]
        return {
            "name": self.name,
            "versions": [self.version],
            "platform": self.platform,
            "inputs": inputs,
            "outputs": [dict(o) for o in self.outputs],
        }

    # -- prediction ------------------------------------------------------------------
    def predict(self, features: Features) -> tuple[Any, np.ndarray]:
        """(the features as logged: a matrix or columns, predictions as an array)."""
        if self.tensors is not None:
            value = self.as_tensors(features)
            logged = value if isinstance(value, dict) or value.ndim != 1 else value[:, None]
            return logged, self._predict_pyfunc(value)
        if self.columns is None:
            frame = _schemaless_frame(features)
            return frame, self._predict_pyfunc(frame)
        if self._fast is not None:
            matrix = self.as_matrix(features)
            return matrix, self._call(self._fast, matrix)
        frame = self.as_frame(features)
        return frame, self._predict_pyfunc(frame)

    def as_tensors(self, features: Features) -> np.ndarray | dict[str, np.ndarray]:
        """The request as the tensor signature's input(s): checked shapes, cast dtypes.

        One tensor spec takes the request's one tensor whatever its name (``input-0``,
        ``features``...); several take the request's tensors by their names.
        """
        tensors = self.tensors or []
        if len(tensors) == 1:
            if isinstance(features, dict):
                if len(features) != 1:
                    raise InferenceError(
                        f"model {self.name!r} takes one input tensor "
                        f"({tensors[0].label(0)}), got {len(features)}"
                    )
                ((name, array),) = features.items()
                what = f"input {name!r}"
            else:
                array, what = features, "the input tensor"
            return self._checked_tensor(array, tensors[0], 0, what)
        if not isinstance(features, dict):
            features = {tensors[0].label(0): features}
        expected = [t.label(i) for i, t in enumerate(tensors)]
        unknown = [n for n in features if n not in expected]
        missing = [n for n in expected if n not in features]
        if missing or unknown:
            raise InferenceError(
                f"model {self.name!r} takes the input tensors {', '.join(expected)}; "
                f"got {', '.join(features) or 'none'}"
            )
        return {
            label: self._checked_tensor(features[label], t, i, f"input {label!r}")
            for i, (label, t) in enumerate(zip(expected, tensors, strict=True))
        }

    def _checked_tensor(
        self, array: np.ndarray, spec: TensorInput, index: int, what: str
    ) -> np.ndarray:
        shape = spec.shape
        if array.ndim != len(shape) or any(
            want not in (-1, got) for want, got in zip(shape, array.shape, strict=True)
        ):
            raise InferenceError(
                f"model {self.name!r} expects {spec.label(index)} of shape {list(shape)} "
                f"(-1: any size); {what} has shape {list(array.shape)}"
            )
        return cast_to_signature(array, spec.dtype, what, f"tensor {spec.label(index)!r}")

    def as_matrix(self, features: Features) -> np.ndarray:
        """The request as one numeric ``[batch, n_columns]`` matrix in signature order."""
        import numpy as np

        matrix = self._checked_matrix(features)
        if matrix is not None:
            return matrix.astype(self._matrix_dtype, copy=False)
        arrays = self._named_columns(features)  # type: ignore[arg-type]
        return np.column_stack([a.astype(self._matrix_dtype, copy=False) for a in arrays])

    def as_frame(self, features: Features) -> Any:
        """The request as a DataFrame with the signature's columns and types."""
        import pandas as pd

        columns = self.columns or []
        matrix = self._checked_matrix(features)
        if matrix is None:
            arrays = self._named_columns(features)  # type: ignore[arg-type]
        else:
            arrays = [matrix[:, i] for i in range(len(columns))]
        return pd.DataFrame(
            {c.name: a.astype(c.dtype, copy=False) for c, a in zip(columns, arrays, strict=True)}
        )

    def _checked_matrix(self, features: Features) -> np.ndarray | None:
        """The request's feature matrix, checked; None when it sends columns by name.

        One 2-D tensor whose name is not a column is the matrix (any name: clients call
        it ``input-0``, ``features``...); anything else is one tensor per column.
        """
        columns = self.columns or []
        if isinstance(features, dict):
            if len(features) != 1:
                return None
            ((name, features),) = features.items()
            if features.ndim != 2 or name in self._column_names:
                return None
        if features.ndim != 2 or features.shape[1] != len(columns):
            raise InferenceError(
                f"model {self.name!r} expects a [batch, {len(columns)}] tensor "
                f"({', '.join(c.name for c in columns)}), got shape {list(features.shape)}"
            )
        uniform = self._uniform_dtype
        if uniform is not None:
            return cast_to_signature(
                features, uniform, "the input tensor", f"every column of model {self.name!r}"
            )
        for i, column in enumerate(columns):  # checked here, cast by the caller
            cast_to_signature(
                features[:, i], column.dtype, "the input tensor", f"column {column.name!r}"
            )
        return features

    def _named_columns(self, features: dict[str, np.ndarray]) -> list[np.ndarray]:
        columns = self.columns or []
        expected = [c.name for c in columns]
        missing = [n for n in expected if n not in features]
        unknown = [n for n in features if n not in expected]
        if missing or unknown:
            parts = []
            if missing:
                parts.append(f"missing input(s) {', '.join(missing)}")
            if unknown:
                parts.append(f"unknown input(s) {', '.join(unknown)}")
            raise InferenceError(
                f"model {self.name!r}: {'; '.join(parts)}; its inputs are {', '.join(expected)}"
            )
        arrays = []
        batch = None
        for column in columns:
            array = features[column.name]
            if array.ndim == 2 and array.shape[1] == 1:
                array = array[:, 0]
            if array.ndim != 1:
                raise InferenceError(
                    f"input {column.name!r} must have shape [batch] or [batch, 1], "
                    f"got {list(array.shape)}"
                )
            if batch is not None and len(array) != batch:
                raise InferenceError(
                    f"input {column.name!r} has {len(array)} rows; the others have {batch}"
                )
            batch = len(array)
            what = f"input {column.name!r}"
            arrays.append(cast_to_signature(array, column.dtype, what, f"column {column.name!r}"))
        return arrays

    def _predict_pyfunc(self, frame: Any) -> Any:
        return self._call(self.pyfunc.predict, frame)

    def _call(self, fn: Callable[[Any], Any], data: Any) -> np.ndarray:
        import numpy as np
        from mlflow.exceptions import MlflowException

        try:
            result = fn(data)
        except (ValueError, TypeError, MlflowException) as exc:
            message = getattr(exc, "message", None) or str(exc)
            raise InferenceError(f"model {self.name!r} refused the input: {message}") from exc
        if hasattr(result, "to_numpy"):  # a pandas result of pyfunc
            result = result.to_numpy()
        return np.asarray(result)

    # -- fast path ---------------------------------------------------------------------
    def _verified_fast_path(self, path: Path, predict_fn: str) -> Callable[[Any], Any] | None:
        import numpy as np

        raw = getattr(self.pyfunc._model_impl, "get_raw_model", None)
        if (
            self.platform != "mlflow_sklearn"
            or raw is None
            or not self.columns
            or any(c.dtype.kind not in "iufb" for c in self.columns)
        ):
            return None
        fast: Callable[[Any], Any] | None = getattr(raw(), predict_fn, None)
        if fast is None:
            return None
        sample = self._sample(path)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                expected = self._predict_pyfunc(self.as_frame(sample))
                got = np.asarray(fast(sample))
        except Exception as exc:  # the estimator needs a DataFrame (e.g. named columns)
            log.info("model %s: no numpy fast path (%s)", self.name, exc)
            return None
        if expected.shape != got.shape or not np.array_equal(expected, got):
            log.info("model %s: no numpy fast path (predictions differ)", self.name)
            return None
        # Estimators fitted on a DataFrame warn on every numpy call; the columns were checked.
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
        return fast

    def _sample(self, path: Path) -> np.ndarray:
        """The input example as a matrix in signature order, else two rows of zeros."""
        import numpy as np

        names = self.feature_names or []
        try:
            example = self.pyfunc.metadata.load_input_example(str(path))
        except Exception:  # a missing or unreadable example only means zeros are used
            example = None
        if example is not None and hasattr(example, "columns") and set(names) <= set(example):
            matrix: np.ndarray = example[names].to_numpy(dtype=self._matrix_dtype)
            return matrix
        return np.zeros((2, len(names)), dtype=self._matrix_dtype)


def _schemaless_frame(features: Features) -> Any:
    """Without a signature the model gets what was sent: a matrix or named columns."""
    import pandas as pd

    if isinstance(features, dict) and len(features) == 1:
        (only,) = features.values()
        if only.ndim == 2:
            features = only
    try:
        return pd.DataFrame(features)
    except ValueError as exc:
        raise InferenceError(f"the inputs do not form a table: {exc}") from exc


def _input_columns(signature: Any) -> list[InputColumn] | None:
    """Named columns of a column-based signature; None for tensor or missing signatures."""

    if signature is None or signature.inputs is None or signature.inputs.is_tensor_spec():
        return None
    names = signature.inputs.input_names()
    if any(not isinstance(n, str) for n in names):
        return None
    types = signature.inputs.input_types()
    return [InputColumn(n, _numpy_type(t)) for n, t in zip(names, types, strict=True)]


def _input_tensors(signature: Any) -> list[TensorInput] | None:
    """The ``TensorSpec`` inputs of a tensor-based signature; None for any other."""
    import numpy as np

    if signature is None or signature.inputs is None or not signature.inputs.is_tensor_spec():
        return None
    specs = signature.inputs.inputs
    names = [s.name for s in specs]
    if len(specs) > 1 and (None in names or len(set(names)) != len(names)):
        return None  # several unnamed tensors: nothing to match a request's tensors by
    return [TensorInput(s.name, np.dtype(s.type), tuple(int(d) for d in s.shape)) for s in specs]


def _outputs(signature: Any) -> list[dict[str, Any]]:
    """The one ``predict`` output this server answers, typed and shaped by the signature.

    A tensor output keeps its shape; one column is ``[-1]``, n columns ``[-1, n]`` (one
    datatype when they share it, else BYTES); no signature outputs: BYTES ``[-1]``.
    """
    import numpy as np

    shape: list[int] = [-1]
    datatype = "BYTES"
    outputs = None if signature is None else signature.outputs
    if outputs is not None and outputs.inputs:
        if outputs.is_tensor_spec():
            types = [np.dtype(t) for t in outputs.numpy_types()]
            if len(types) == 1:
                shape = [int(d) for d in outputs.inputs[0].shape] or [-1]
        else:
            types = [_numpy_type(t) for t in outputs.input_types()]
            if len(types) > 1:
                shape = [-1, len(types)]
        if len(set(types)) == 1:
            datatype = _datatype_or_bytes(types[0])
    return [{"name": OUTPUT_NAME, "datatype": datatype, "shape": shape}]


def _datatype_or_bytes(dtype: np.dtype) -> str:
    try:
        return v2_datatype(dtype)
    except InferenceError:  # e.g. datetimes: sent as strings
        return "BYTES"


def _numpy_type(mlflow_type: Any) -> np.dtype:
    """A column type of a signature as numpy's; object for arrays, maps and objects."""
    import numpy as np

    to_numpy = getattr(mlflow_type, "to_numpy", None)
    return np.dtype(to_numpy() if to_numpy is not None else object)
