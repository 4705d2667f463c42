"""Transform operators: a Python function or a SQL query from pinned versions to a version.

The work is :func:`digitalhub_airflow.transforms.transform.run_transform`: inputs pinned
when the task starts, a cache on (input versions, code digest, parameters), the run and
its edges recorded in the catalog. These operators add templating, the Asset event and
the OpenLineage record (from ``task_io``, like every suite operator).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from digitalhub_airflow.keys import as_dataset_key
from digitalhub_airflow.operators.base import DigitalHubOperator
from digitalhub_airflow.provider.assets import (
    announce,
    commit_alias,
    dataset_asset,
    is_templated,
)

if TYPE_CHECKING:
    from digitalhub_airflow.access import Principal
    from digitalhub_airflow.transforms.transform import Transform


def pipeline_principal(context: Any) -> Principal:
    """Who a DAG's transform reads as: the DAG itself, with no grants of its own, so a
    read of another project needs that project's read grant to the output's project."""
    from digitalhub_airflow.access import Principal

    return Principal(f"airflow:{context['ti'].dag_id}")


class _TransformOperator(DigitalHubOperator):
    """Shared by the Python and SQL transforms: pin, run (or reuse), announce."""

    records_own_run = True

    def __init__(self, *, target: str, message: str = "", **kwargs: Any) -> None:
        outlet = commit_alias(kwargs["task_id"]) if is_templated(target) else dataset_asset(target)
        kwargs["outlets"] = [*kwargs.get("outlets", []), outlet]
        super().__init__(**kwargs)
        self.target = target
        self.message = message

    def transform(self) -> Transform:
        raise NotImplementedError

    def perform(self, context: Any) -> dict[str, Any]:
        from digitalhub_airflow.transforms.transform import pin_inputs, run_transform

        transform = self.transform()
        spec = self.run_spec(context, as_dataset_key(self.target).project)
        self.run_key = spec.key
        with self.task_hub() as hub:
            pinned = pin_inputs(hub, transform.inputs)
            for info in pinned.values():
                self.task_io.read(info)
            try:
                result = run_transform(hub, transform, spec, pinned, pipeline_principal(context))
                self.task_io.wrote(result.output)
            finally:
                self.remember_locations(hub)
        self.cache_hit = result.cache_hit
        version = {**result.output.to_json(), "created": result.created}
        announce(context, dataset_asset(result.output.dataset), version)
        state = "cache hit, reusing" if result.cache_hit else "computed"
        self.log.info("%s %s (run %s)", state, result.output.key, result.run)
        return result.to_json()


class TransformDatasetOperator(_TransformOperator):
    """Run ``python_callable(**inputs_as_dataframes, **parameters)`` and commit the result.

    :param inputs: ``{argument name: dataset key}``; each pinned to its version at start.
    :param target: the table dataset the returned DataFrame / Arrow table is committed to.
    :param python_callable: a module-level function (its source digest is the code identity).
    :param parameters: keyword arguments for the function, part of the cache key.
    """

    template_fields: Sequence[str] = ("inputs", "target", "parameters", "message")
    ui_color = "#d5f5e3"

    def __init__(
        self,
        *,
        inputs: dict[str, str],
        target: str,
        python_callable: Callable[..., Any],
        parameters: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(target=target, **kwargs)
        self.inputs = dict(inputs)
        self.python_callable = python_callable
        self.parameters = dict(parameters or {})

    def declared_io(self) -> tuple[list[str], list[str]]:
        return list(self.inputs.values()), [self.target]

    def transform(self) -> Transform:
        from digitalhub_airflow.transforms.transform import PYTHON, Transform

        return Transform(
            output=self.target,
            kind=PYTHON,
            inputs=self.inputs,
            function=self.python_callable,
            parameters=self.parameters,
            message=self.message,
        )


class SqlTransformOperator(_TransformOperator):
    """Run a DuckDB ``SELECT … FROM ds('<key>')`` and commit the result as ``target``.

    :param query: one SELECT; every dataset named as ``ds('store://…')``, nothing else.
    :param target: the table dataset the result is committed to.
    """

    template_fields: Sequence[str] = ("query", "target", "message")
    template_fields_renderers: ClassVar[dict[str, str]] = {"query": "sql"}
    ui_color = "#fcf3cf"

    def __init__(self, *, query: str, target: str, **kwargs: Any) -> None:
        super().__init__(target=target, **kwargs)
        self.query = query

    def declared_io(self) -> tuple[list[str], list[str]]:
        from digitalhub_airflow.query.sql import referenced_keys

        return referenced_keys(self.query), [self.target]

    def transform(self) -> Transform:
        from digitalhub_airflow.transforms.transform import SQL, Transform

        return Transform(output=self.target, kind=SQL, query=self.query, message=self.message)


def dataset_transform(
    target: str,
    *,
    inputs: dict[str, str],
    **operator_kwargs: Any,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """TaskFlow style: ``@dataset_transform(target, inputs={...})`` over a function.

    Calling the decorated function inside a DAG adds a :class:`TransformDatasetOperator`
    (task id: the function name) and returns its XCom; keyword arguments of the call are
    the transform's parameters (templated, part of the cache key).
    """

    def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        def add_task(**parameters: Any) -> Any:
            options = {"task_id": func.__name__, **operator_kwargs}
            operator = TransformDatasetOperator(
                inputs=inputs,
                target=target,
                python_callable=func,
                parameters=parameters,
                **options,
            )
            return operator.output

        return add_task

    return decorator
