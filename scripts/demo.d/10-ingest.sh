# Step 10 of `make demo` (sourced by scripts/demo.sh): ingest two versions of the wine table.
say "airflow dags test dhub_ingest_wine"
log=$ROOT/.dhub-demo/dags-test.log
dags_test dhub_ingest_wine "$log"
grep -E "(committed|unchanged, reusing) v[0-9]+: store://" "$log" \
  | sed -E 's/.*((committed|unchanged, reusing) v[0-9]+: store:[^ ]*).*/  \1/' || true

say "dhub log $WINE"
dhub log "$WINE"
say "dhub diff $WINE:v1 $WINE:v2"
dhub diff "$WINE:v1" "$WINE:v2"
say "dhub verify $WINE"
dhub verify "$WINE"

