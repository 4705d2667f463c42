# Step 35 of `make demo` (sourced by scripts/demo.sh): the feature store (Feast). The wine
# table gets entity ids and event times (wine-orders); the definitions in dags/features/
# are applied, the online store materialised, a point-in-time training set committed and
# a model trained on the feature service (dhub_feature_store_wine). The model is then
# served from entity ids alone: the server fetches the features it was trained on, and an
# unknown id is refused by row (`--feature-default FEATURE=VALUE` would declare a value).
say "airflow dags test dhub_feature_store_wine"
log=$ROOT/.dhub-demo/features.log
dags_test dhub_feature_store_wine "$log"

say "dhub features list demo"
dhub features list demo
say "dhub features online demo wine_service --entities '{\"wine_id\": [7, 9]}'"
dhub features online demo wine_service --entities '{"wine_id": [7, 9]}'

say "the model that task train fitted on wine_service (its entity rows: the labels)"
model=$(dhub models demo --json | python -c '
import json, sys
model = next(m for m in json.load(sys.stdin) if m["name"] == "wine-fs-classifier")
facts = model["producer"]["features"]
print("  %s\n  service %s, digest %s\n  trained on %s" % (
    model["key"], facts["service"], facts["digest"][:12], facts["training_set"]), file=sys.stderr)
print(model["key"])')

say "dhub serve --model wine=$model --features demo/wine_service"
port=8183
dhub serve --model "wine=$model" --features demo/wine_service --port $port \
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
