"""``@dataset_task``: a TaskFlow task whose returned DataFrame is committed as a version."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from airflow.sdk import get_current_context, task

from digitalhub_airflow.hooks.digitalhub import DigitalHubHook
from digitalhub_airflow.operators.assets import dataset_asset
from digitalhub_airflow.operators.commit import commit_and_announce


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
    version (key, id, sequence, rows…), and its Asset event carries the same.
    """
    asset = dataset_asset(target)

    def decorator(func: Callable[..., Any]) -> Any:
        @functools.wraps(func)
        def run_and_commit(*args: Any, **kwargs: Any) -> dict[str, Any]:
            data = func(*args, **kwargs)
            hook = DigitalHubHook(catalog_conn_id, store_conn_id)
            return commit_and_announce(
                get_current_context(),
                hook,
                target,
                data,
                "table",
                message=message,
                schema_policy=schema_policy,
            ).to_json()

        outlets = [asset, *task_kwargs.pop("outlets", [])]
        return task(outlets=outlets, **task_kwargs)(run_and_commit)

    return decorator
