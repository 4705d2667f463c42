# Step 30 of `make demo` (sourced by scripts/demo.sh): the wine table -> features (Python
# transform) -> per-class aggregate (SQL), with lineage in the catalog and OpenLineage
# events in a file (the embedded default; set an HTTP transport to send them to Marquez).
FEATURES=store://demo/dataitem/table/wine-features
BY_CLASS=store://demo/dataitem/table/wine-by-class
events=$ROOT/.dhub-demo/openlineage.jsonl
transport="{\"type\": \"file\", \"log_file_path\": \"$events\", \"append\": true}"

for attempt in 1 2; do
  say "airflow dags test dhub_features_wine (run $attempt)"
  log=$ROOT/.dhub-demo/features-$attempt.log
  AIRFLOW__OPENLINEAGE__TRANSPORT=$transport AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD=True \
    dags_test dhub_features_wine "$log"
  grep -oE "(computed|cache hit, reusing) store://[^ ]*" "$log" | sed 's/^/  /' || true
done

say "dhub lineage $BY_CLASS --upstream"
dhub lineage "$BY_CLASS" --upstream
say "dhub reproduce $FEATURES"
dhub reproduce "$FEATURES"
say "OpenLineage events (file transport): $events"
grep -c '"eventType"' "$events" | sed 's/^/  events so far: /'
