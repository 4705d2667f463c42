"""Ingest: commit scikit-learn's wine data as a versioned table, then a derived version.

Each task's return value is committed by ``dataset_task``; the Asset event of each
commit carries the version, so DAGs scheduled on ``store://demo/dataitem/table/wine``
run on every new version. Re-running commits nothing new: the ids are content-derived.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import dag

from digitalhub_airflow.operators import dataset_task

WINE = "store://demo/dataitem/table/wine"


@dag(schedule=None, catchup=False, tags=["dhub", "demo"], doc_md=__doc__)
def dhub_ingest_wine() -> None:
    @dataset_task(WINE, message="wine recognition data, as shipped with scikit-learn")
    def load_wine() -> Any:
        from sklearn.datasets import load_wine

        return load_wine(as_frame=True).frame

    @dataset_task(WINE, message="derived: alcohol band per sample", schema_policy="additive")
    def add_alcohol_band(raw: dict[str, Any]) -> Any:
        import pandas as pd

        from digitalhub_airflow.hooks.digitalhub import DigitalHubHook

        with DigitalHubHook().get_hub() as hub:
            frame = hub.read_table(raw["key"]).to_pandas()
        bands = pd.cut(frame["alcohol"], bins=[0, 12.0, 13.5, 100], labels=["low", "mid", "high"])
        return frame.assign(alcohol_band=bands.astype(str))

    add_alcohol_band(load_wine())


dhub_ingest_wine()
