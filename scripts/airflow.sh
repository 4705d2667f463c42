#!/usr/bin/env bash
# `make airflow`: Airflow with the suite's plugin on the catalog and metadata of `make demo`
# (.dhub-demo/): `airflow standalone` (API server and UI, scheduler, triggerer, DAG
# processor), the reference DAGs of dags/ unpaused (so the Asset-scheduled ones run on each
# new version), no example DAGs, one user `admin` with a password of its own (kept in
# .dhub-demo/airflow/passwords.json). Prints the URL and the login; Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/demo.env
source scripts/demo.env
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=admin:admin
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=$AIRFLOW_HOME/passwords.json
export AIRFLOW__API__PORT=${DHUB_AIRFLOW_PORT:-8080}

mkdir -p "$AIRFLOW_HOME"
log=$AIRFLOW_HOME.start.log
dhub init >"$log"
airflow db migrate >>"$log" 2>&1 || { cat "$log"; exit 1; }
if [ ! -s "$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE" ]; then
  (umask 077 && python -c 'import json, secrets, sys
json.dump({"admin": secrets.token_urlsafe(12)}, open(sys.argv[1], "w"))' \
    "$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE")
fi
# Parse the DAGs into the metadata database now, so they can be unpaused before start-up
# (those `make demo` ran with `airflow dags test` exist already).
airflow dags reserialize >>"$log" 2>&1 || { cat "$log"; exit 1; }
airflow dags unpause --treat-dag-id-as-regex --yes '^dhub_' >>"$log" 2>&1 || { cat "$log"; exit 1; }
password=$(python -c 'import json, sys; print(json.load(open(sys.argv[1]))["admin"])' \
  "$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE")
cat <<TXT
== Airflow with the DigitalHub plugin on the demo's catalog
  URL:   http://localhost:$AIRFLOW__API__PORT  (the catalog: http://localhost:$AIRFLOW__API__PORT/dhub/ui/)
  login: admin / $password
Starting airflow standalone (Ctrl-C stops it; its log follows).
TXT
exec airflow standalone
