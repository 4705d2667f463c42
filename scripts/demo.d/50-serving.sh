# Step 50 of `make demo` (sourced by scripts/demo.sh): the champion of step 40 served by
# `dhub serve` as a local process, asked over Open Inference Protocol v2, its /metrics
# statistics stored with the service, undeployed, and the inputs it logged checked for
# drift against the model's training version.
say "airflow dags test dhub_serving_wine"
log=$ROOT/.dhub-demo/serving.log
dags_test dhub_serving_wine "$log"
grep -oE "(running|stopped) store://[^ ]* at [^ ]*|predicted [0-9]+ rows[^[]*|drift of [^[]*" \
  "$log" | sed 's/^/  /' || true

say "service demo/wine: state, statistics and drift report"
python - <<'PY'
from digitalhub_airflow.hub import DataHub
from digitalhub_airflow.serving.monitoring.drift import drift_reports
from digitalhub_airflow.serving.deploy.services import get_service

with DataHub.from_settings() as hub:
    service = get_service(hub, "demo", "local", "wine")
    report = drift_reports(hub, "store://demo/dataitem/table/wine-requests", limit=1)[0]
for name, model in service.models.items():
    print(f"  {service.key}: {service.state}; {name} = {model['ref']} -> {model['pinned']}")
for name, found in service.stats["models"].items():
    latency = found["latency_seconds"]
    print(
        f"  {name}: {found['requests']} requests, {found['errors']} errors, "
        f"p50 {latency['p50'] * 1000:.1f} ms, p99 {latency['p99'] * 1000:.1f} ms"
    )
window = report["window"]
print(f"  drift of {window['rows']} logged rows ({window['since']} .. {window['until']})")
print(f"  against {report['reference']}: {report['status']}")
for column in report["columns"][:3]:
    print(f"    {column['name']}: {column['metric']} {column['value']:.4f} {column['status']}")
print(f"    ... {len(report['columns'])} features compared")
PY
