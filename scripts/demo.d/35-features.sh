# Step 35 of `make demo` (sourced by scripts/demo.sh): the feature store (Feast). The wine
# table gets entity ids and event times (wine-orders); the definitions in dags/features/
# are applied, the online store materialised and a point-in-time training set committed
# (dhub_feature_store_wine). A model trained on the feature service is then served from
# entity ids alone: the server fetches the features it was trained on.
say "airflow dags test dhub_feature_store_wine"
log=$ROOT/.dhub-demo/features.log
dags_test dhub_feature_store_wine "$log"

say "dhub features list demo"
dhub features list demo
say "dhub features online demo wine_service --entities '{\"wine_id\": [7, 9]}'"
dhub features online demo wine_service --entities '{"wine_id": [7, 9]}'

say "train on the feature service (the labels are the entity rows)"
model_uri=$(python - <<'PY'
from digitalhub_airflow.hub import DataHub
from digitalhub_airflow.settings import load_settings
from digitalhub_airflow.training.runner import TrainingRequest, train_model
from digitalhub_airflow.training.tracking import embedded_tracking

settings = load_settings()
request = TrainingRequest(
    project="demo",
    name="wine-fs-classifier",
    entrypoint="digitalhub_airflow.training.estimators:train_estimator",
    datasets=["store://demo/dataitem/table/wine-labels"],
    target="target",
    params={"estimator": "random_forest", "n_estimators": 50},
    feature_service="demo/wine_service",
)
with DataHub.from_settings(settings) as hub:
    outcome = train_model(hub, embedded_tracking(settings.home), request)
import sys
print(f"  {outcome.model_key} on {outcome.datasets[0]}", file=sys.stderr)
print(outcome.model_uri)
PY
)

say "dhub serve --model wine=$model_uri --features demo/wine_service"
port=8183
dhub serve --model "wine=$model_uri" --features demo/wine_service --port $port \
  >"$ROOT/.dhub-demo/serve-features.log" 2>&1 &
server=$!
for _ in $(seq 240); do
  curl -sf "http://127.0.0.1:$port/v2/health/ready" >/dev/null && break
  sleep 0.5
done
curl -sf "http://127.0.0.1:$port/v2/health/ready" >/dev/null \
  || { tail -n 30 "$ROOT/.dhub-demo/serve-features.log"; kill "$server"; exit 1; }
body='{"inputs":[{"name":"wine_id","shape":[2],"datatype":"INT64","data":[7,9]}]}'
echo "  POST /v2/models/wine/infer $body"
echo "  -> $(curl -sf "http://127.0.0.1:$port/v2/models/wine/infer" -d "$body")"
body='{"inputs":[{"name":"wine_id","shape":[1],"datatype":"INT64","data":[999]}]}'
echo "  unknown wine 999 -> $(curl -s "http://127.0.0.1:$port/v2/models/wine/infer" -d "$body")"
kill "$server"
wait "$server" || true
