"""Quality gate: validate, profile and drift-check every new version of the wine table.

Scheduled on the dataset's Asset, so each commit of ``store://demo/dataitem/table/wine``
triggers a run; the Asset events carry the exact versions, and each one is checked
(mapped tasks: several commits between runs are all checked). A manual run checks the
keys in the ``versions`` param, or the latest usable version.

- ``validate``: the suite in ``suites/wine.json``; a failing version is quarantined:
  ``latest`` keeps serving the last good version until a person runs ``dhub release``.
- ``profile``: types, nulls, distinct counts, quantiles, top values and histograms,
  stored with the version (also for a failing version: the profile helps the review).
- ``drift``: each version against its parent (PSI, Jensen-Shannon, schema, rows), a
  warning only: a new harvest may legitimately differ.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import Param, dag, task

from digitalhub_airflow.operators.quality import (
    CompareProfilesOperator,
    ProfileDatasetOperator,
    ValidateDatasetOperator,
)
from digitalhub_airflow.provider.assets import dataset_asset

WINE = "store://demo/dataitem/table/wine"


@dag(
    schedule=[dataset_asset(WINE)],
    catchup=False,
    tags=["dhub", "demo", "quality"],
    params={
        "versions": Param(
            [], type="array", items={"type": "string"}, description="version keys to check"
        )
    },
    doc_md=__doc__,
)
def dhub_quality_wine() -> None:
    @task
    def new_versions(**context: Any) -> list[str]:
        """The exact versions to check: from the triggering events, else the param, else
        the latest usable version."""
        from digitalhub_airflow.hooks.digitalhub import DigitalHubHook

        events = context["triggering_asset_events"]
        keys = [e.extra["version_key"] for evs in events.values() for e in evs if e.extra]
        with DigitalHubHook().get_hub() as hub:
            keys = keys or [hub.resolve(k).key for k in context["params"]["versions"] or [WINE]]
        return list(dict.fromkeys(keys))

    @task
    def with_parents(keys: list[str]) -> list[dict[str, str]]:
        from digitalhub_airflow.hooks.digitalhub import DigitalHubHook

        with DigitalHubHook().get_hub() as hub:
            infos = [hub.resolve(k) for k in keys]
        return [{"reference": i.parent, "current": i.key} for i in infos if i.parent]

    versions = new_versions()
    ValidateDatasetOperator.partial(
        task_id="validate", suite="suites/wine.json", on_failure="quarantine"
    ).expand(dataset=versions)
    ProfileDatasetOperator.partial(task_id="profile").expand(dataset=versions)
    CompareProfilesOperator.partial(task_id="drift", on_drift="warn").expand_kwargs(
        with_parents(versions)
    )


dhub_quality_wine()
