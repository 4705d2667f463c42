# Step 20 of `make demo` (sourced by scripts/demo.sh): the quality gate on the wine table.
# A deliberately broken copy of the wine table is committed as a new version; one run of
# dhub_quality_wine checks it and the ingested version: the good one passes the suite in
# dags/suites/wine.json, the broken one fails it and is quarantined, so `latest` keeps
# serving the last good version (the steps after this one read good data).
say "commit a deliberately broken copy: missing alcohol, negative hue, an unknown class"
broken=$ROOT/.dhub-demo/wine-broken.parquet
good=$(dhub show "$WINE" --json | python -c 'import json, sys; print(json.load(sys.stdin)["key"])')
python - "$good" "$broken" <<'PY'
import sys

from digitalhub_airflow.hub import DataHub

with DataHub.from_settings() as hub:
    frame = hub.read_table(sys.argv[1]).to_pandas()
frame.loc[frame.index[:5], "alcohol"] = None
frame.loc[frame.index[5:8], "hue"] = -1.0
frame.loc[frame.index[8], "target"] = 7
frame.to_parquet(sys.argv[2], index=False)
PY
bad=$(dhub commit "$WINE" "$broken" -m "deliberately broken copy (demo)" --json \
  | python -c 'import json, sys; print(json.load(sys.stdin)["key"])')
echo "  $bad"

say "airflow dags test dhub_quality_wine (validate, profile, drift: both versions)"
log=$ROOT/.dhub-demo/quality.log
dags_test dhub_quality_wine "$log" --conf "{\"versions\": [\"$good\", \"$bad\"]}"
grep -oE "v[0-9]+ is quarantined: downstream tasks are skipped" "$log" | head -n 1 | sed 's/^/  /'
for key in "$good" "$bad"; do
  say "dhub results $key"
  dhub results "$key"
done
say "dhub profile $good (stored by the DAG)"
dhub profile "$good"

say "latest still serves the last good version"
dhub log "$WINE" --json | python -c '
import json, sys
for v in json.load(sys.stdin):
    print("  v%-3d %s  quality=%-11s %s" % (v["seq"], v["short_id"], v["quality"], v["message"]))'
echo "  dhub show $WINE -> $(dhub show "$WINE" --json | python -c 'import json, sys; print("v%d" % json.load(sys.stdin)["seq"])')"
echo "  after review: dhub release $WINE:v<N>  (explicit :v<N> keys always resolve)"
