"""Serve: the wine classifier's champion as a local model server, asked by a real Open
Inference Protocol v2 client, then watched: its latency and error statistics, and the
drift of the inputs it logged against the data the model was trained on.

``models:/demo.wine-classifier@champion`` is pinned to its registry version before the
server starts (the service records both). Every request is logged (sample rate 1) to
a versioned dataset; the server flushes it when it stops, so the drift report, which
reads what was logged since this DAG run started, runs after the undeploy. The undeploy
runs whatever happened before it: no server outlives the DAG run.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import dag, task

from digitalhub_airflow.operators.monitoring import DriftReportOperator, ServiceStatsOperator
from digitalhub_airflow.operators.serving import DeployModelOperator, UndeployModelOperator

PROJECT, NAME, MODEL = "demo", "wine", "wine"
SERVICE = f"store://{PROJECT}/service/local/{NAME}"
CHAMPION = "models:/demo.wine-classifier@champion"
FEATURES = "store://demo/dataitem/table/wine-features"
REQUESTS = "store://demo/dataitem/table/wine-requests"
BATCH = 16
log = logging.getLogger(__name__)


@dag(schedule=None, catchup=False, tags=["dhub", "demo", "serving"], doc_md=__doc__)
def dhub_serving_wine() -> None:
    deploy = DeployModelOperator(
        task_id="deploy",
        project=PROJECT,
        name=NAME,
        models={MODEL: CHAMPION},
        target="local",
        spec={"port": 0, "request_log": REQUESTS, "log_sample_rate": 1.0},
    )

    @task
    def send_requests(service: dict[str, Any]) -> dict[str, int]:
        """Every row of the latest wine features (what the champion learnt from), in batches of
        one tensor per input as the model's v2 metadata declares them; then one batch
        with a number sent as text, which the server refuses."""
        import httpx

        from digitalhub_airflow.hooks.digitalhub import DigitalHubHook

        with DigitalHubHook().get_hub() as hub:
            features = hub.read_table(FEATURES).to_pandas()
        path = f"/v2/models/{MODEL}"
        predicted = 0
        with httpx.Client(base_url=service["url"], timeout=30) as client:
            inputs = client.get(path).raise_for_status().json()["inputs"]
            for start in range(0, len(features), BATCH):
                batch = features.iloc[start : start + BATCH]
                tensors = [
                    {**i, "shape": [len(batch)], "data": batch[i["name"]].tolist()} for i in inputs
                ]
                answer = client.post(
                    f"{path}/infer", json={"id": f"rows-{start}", "inputs": tensors}
                )
                predicted += len(answer.raise_for_status().json()["outputs"][0]["data"])
            as_text = [
                {**t, "datatype": "BYTES", "data": [str(v) for v in t["data"]]}
                if t["name"] == "alcohol"
                else t
                for t in tensors
            ]
            refused = client.post(f"{path}/infer", json={"inputs": as_text})
        log.info(
            "predicted %s rows; text for a number: %s %s",
            predicted,
            refused.status_code,
            refused.text,
        )
        return {"predicted": predicted, "refused_status": refused.status_code}

    stats = ServiceStatsOperator(task_id="service_stats", service=SERVICE)
    undeploy = UndeployModelOperator(
        task_id="undeploy", project=PROJECT, name=NAME, target="local", trigger_rule="all_done"
    )
    drift = DriftReportOperator(
        task_id="drift_report", service=SERVICE, since="{{ dag_run.start_date }}", on_drift="fail"
    )
    requests = send_requests(deploy.output)
    deploy >> requests >> stats >> undeploy >> drift
    stats >> drift  # no report when the requests or the statistics failed


dhub_serving_wine()
