"""Datasets as Airflow Assets: the Asset URI is the dataset key without version.

Every commit announces an Asset event whose ``extra`` carries the exact version, so a
DAG with ``schedule=[dataset_asset(key)]`` runs on each new version and can read which.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import attrs
from airflow.sdk import Asset, AssetAlias

from digitalhub_airflow.keys import Key, as_dataset_key
from digitalhub_airflow.provider.asset_uri import sanitize_uri


def _store_uri(uri: str) -> str:
    """The URI Airflow would keep: its lookup would find this same handler for ``store``."""
    return sanitize_uri(urlsplit(str(uri))).geturl()


@attrs.define(init=False, eq=False, repr=False, kw_only=True)
class DatasetAsset(Asset):
    """An Asset whose URI the suite's ``store://`` handler checks, called directly.

    ``Asset`` finds the handler of a URI's scheme through ``ProvidersManagerTaskRuntime``,
    whose first lookup imports every installed provider's Asset modules (the Amazon
    provider's imports boto3): 0.3-0.8 s in each DAG-processor child that parses a file
    with a ``store://`` Asset. Everything else (equality, hash, serialisation, events) is
    ``Asset``'s: a deserialised ``Asset`` with this URI equals it.
    """

    uri: str = attrs.field(converter=_store_uri)


def dataset_asset(target: str | Key, kind: str = "table") -> Asset:
    """The Asset for a dataset given as a key or as ``<project>/<name>``."""
    key = as_dataset_key(target, kind).unversioned()
    return DatasetAsset(uri=str(key), name=str(key), group="dhub")


def is_templated(value: Any) -> bool:
    return isinstance(value, str) and "{{" in value


def event_extra(version: dict[str, Any]) -> dict[str, Any]:
    """The Asset event ``extra`` of a committed version."""
    return {
        "version_key": version["key"],
        "version_id": version["version_id"],
        "seq": version["seq"],
        "rows": version["row_count"],
        "schema_digest": version["schema_digest"],
        "created": version.get("created", True),
    }


def producer_of(context: Any) -> dict[str, Any]:
    """The producing task instance, recorded with every version it writes."""
    ti = context["ti"]
    return {
        "dag_id": ti.dag_id,
        "run_id": ti.run_id,
        "task_id": ti.task_id,
        "try_number": ti.try_number,
        **({"map_index": ti.map_index} if getattr(ti, "map_index", -1) not in (-1, None) else {}),
    }


def announce(context: Any, asset: Asset, version: dict[str, Any]) -> None:
    """Attach the version to the Asset event Airflow emits for this task.

    A dataset known at parse time is a static outlet: its event gets the extra. A
    templated one is only known now, so it is emitted through the task's AssetAlias.
    """
    extra = event_extra(version)
    outlets = list(getattr(context.get("task"), "outlets", None) or [])
    if not any(isinstance(o, Asset) and o.uri == asset.uri for o in outlets):
        alias = next((o for o in outlets if isinstance(o, AssetAlias)), None)
        if alias is not None:
            context["outlet_events"][alias].add(asset, extra=extra)
            return
    context["outlet_events"][asset].extra.update(extra)


def commit_alias(task_id: str) -> AssetAlias:
    """The alias a commit with a templated target emits its dataset's event through."""
    return AssetAlias(name=f"dhub-commit:{task_id}")
