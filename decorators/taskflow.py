"""``@dataset_task``: a TaskFlow task whose returned DataFrame is committed as a version."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from airflow.sdk import get_current_context, task

from digitalhub_airflow.hooks.digitalhub import DigitalHubHook
from digitalhub_airflow.keys import as_dataset_key
from digitalhub_airflow.operators.base import lineage_enabled, task_run_spec
from digitalhub_airflow.operators.commit import commit_and_announce
from digitalhub_airflow.provider.assets import dataset_asset

if TYPE_CHECKING:
    from digitalhub_airflow.hub import DataHub
    from digitalhub_airflow.lineage.producing import ProducingRun


def version_arguments(args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[str]:
    """Keys of the versions handed to the task (upstream version XComs): its inputs."""
    return [
        value["key"]
        for value in (*args, *kwargs.values())
        if isinstance(value, dict) and "version_id" in value and "key" in value
    ]


def dataset_task(
    target: str,
    *,
    message: str = "",
    schema_policy: str = "any",
    catalog_conn_id: str = "dhub_catalog",
    store_conn_id: str = "dhub_store",
    **task_kwargs: Any,
) -> Callable[[Callable[..., Any]], Any]:
    """Decorate a function returning a pandas DataFrame or Arrow table.

    The table is committed to ``target`` (a table dataset); the task's XCom is the
    version (key, id, sequence, rows…), and its Asset event carries the same. The run
    is recorded in the catalog: it consumes the versions passed in as arguments (the
    XComs of upstream dataset tasks) and produced the committed version.
    """
    asset = dataset_asset(target)

    def decorator(func: Callable[..., Any]) -> Any:
        @functools.wraps(func)
        def run_and_commit(*args: Any, **kwargs: Any) -> dict[str, Any]:
            from digitalhub_airflow.lineage.producing import ProducingRun, producing

            context = get_current_context()
            inputs = version_arguments(args, kwargs)
            project = as_dataset_key(target).project
            run = None
            if lineage_enabled():
                run = ProducingRun.start_now(task_run_spec(context, project, func, {}))
            result, error = None, None
            with DigitalHubHook(catalog_conn_id, store_conn_id).get_hub() as hub:
                try:
                    data = func(*args, **kwargs)
                    with producing(run):
                        result = commit_and_announce(
                            context,
                            hub,
                            target,
                            data,
                            "table",
                            message=message,
                            schema_policy=schema_policy,
                        )
                except Exception as exc:
                    error = exc
                    raise
                finally:
                    record_task_run(
                        hub,
                        run,
                        inputs=inputs,
                        outputs=[result.key] if result else [],
                        error=error,
                    )
            return result.to_json()

        outlets = [asset, *task_kwargs.pop("outlets", [])]
        return task(outlets=outlets, **task_kwargs)(run_and_commit)

    return decorator


def record_task_run(
    hub: DataHub,
    run: ProducingRun | None,
    *,
    inputs: list[str],
    outputs: list[str],
    error: Exception | None = None,
) -> None:
    """The catalog run of one ``@dataset_task`` try, with its edges (the commit wrote the
    run and the output's ``produced_by`` edge already, with the version); ``None`` when
    lineage is off."""
    if run is None:
        return
    from digitalhub_airflow.lineage.producing import finish_producing_run
    from digitalhub_airflow.lineage.runs import FAILED, SUCCESS, RunOutcome

    outcome = RunOutcome(
        FAILED if error else SUCCESS,
        inputs,
        outputs,
        error=f"{type(error).__name__}: {error}" if error else None,
    )
    finish_producing_run(hub.catalog, run, outcome, run.spec.project)
