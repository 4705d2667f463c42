"""Test DAG: scheduled on the wine dataset's Asset; records the triggering versions."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from airflow.sdk import dag, task

from digitalhub_airflow.provider.assets import dataset_asset


@dag(schedule=[dataset_asset("store://demo/dataitem/table/wine")], catchup=False, tags=["test"])
def dhub_on_new_wine() -> None:
    @task
    def record(**context: Any) -> None:
        events = context["triggering_asset_events"]
        extras = [e.extra for evs in events.values() for e in evs]
        out = Path(os.environ["DHUB_TEST_OUT"]) / f"{context['run_id'].replace(':', '_')}.json"
        out.write_text(json.dumps(extras))

    record()


dhub_on_new_wine()
