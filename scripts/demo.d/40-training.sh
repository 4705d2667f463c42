# Step 40 of `make demo` (sourced by scripts/demo.sh): a grid of 8 configurations on the
# wine features in mapped tasks -> the best registered -> @champion if it beats the
# current one (MLflow embedded: SQLite + local artifacts under DHUB_HOME/mlflow).
say "airflow dags test dhub_train_wine"
log=$ROOT/.dhub-demo/train.log
dags_test dhub_train_wine "$log"
grep -oE "(trained|reused run) [0-9a-f]+: store://[^ ]*" "$log" | sed 's/^/  /' || true
grep -oE "gate: [^[]*" "$log" | sed 's/^/  /' || true

say "champion of demo/wine-classifier"
python - <<'PY'
from digitalhub_airflow.hub import DataHub
from digitalhub_airflow.settings import load_settings
from digitalhub_airflow.training.selection import describe_champion
from digitalhub_airflow.training.tracking import embedded_tracking

settings = load_settings()
with DataHub.from_settings(settings) as hub:
    champion = describe_champion(
        hub, embedded_tracking(settings.home), "demo", "wine-classifier"
    )
print(f"  models:/{champion['registered_name']}@champion = version {champion['version']}")
print(f"  {champion['metric']} = {champion['value']:.4f} on {champion['evaluation_dataset']}")
print(f"  trained on {', '.join(champion['trained_on'])}")
print(f"  catalog key {champion['model_key']}")
PY
