#!/usr/bin/env bash
# `make demo`: run the reference DAGs with `airflow dags test --use-executor` on the embedded
# default (SQLite catalog + folder store under .dhub-demo/). Each task runs as Airflow runs
# it in production: in its own process started by the LocalExecutor, talking to an
# `airflow api-server` (its execution API) started here on loopback, its log written where
# the UI reads it (so `make airflow` shows the demo's runs with their task logs). Each
# capability adds a step file in scripts/demo.d/, sourced in name order.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/demo.env
source scripts/demo.env

WINE=store://demo/dataitem/table/wine
say() { printf '\n== %s\n' "$*"; }
# dags_test DAG_ID LOG [airflow dags test options]: run a DAG (parsing only its own file,
# dags/DAG_ID.py), its tasks through the executor (their output comes back on stdout, into
# LOG, and into the task logs the UI shows); show the log's tail on failure.
dags_test() {
  local dag=$1 log=$2
  shift 2
  if ! airflow dags test "$dag" --use-executor --dagfile-path "$AIRFLOW__CORE__DAGS_FOLDER/$dag.py" \
    "$@" >"$log" 2>&1; then
    tail -n 60 "$log"; echo "demo: DAG $dag failed (full log: $log)" >&2; exit 1
  fi
}
stop_api_server() {
  [ -z "${api_server:-}" ] || { kill "$api_server" 2>/dev/null; wait "$api_server" 2>/dev/null || true; }
}
trap stop_api_server EXIT

say "catalog and Airflow metadata (embedded: SQLite under .dhub-demo/)"
dhub init
airflow db migrate >"$AIRFLOW_HOME.migrate.log" 2>&1 || { cat "$AIRFLOW_HOME.migrate.log"; exit 1; }

say "airflow api-server (the execution API the tasks report to) on 127.0.0.1"
port=$(python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# A secret of this run only: the executor signs each task's token, the API server checks it.
AIRFLOW__API_AUTH__JWT_SECRET=$(python -c 'import secrets; print(secrets.token_urlsafe(32))')
export AIRFLOW__API_AUTH__JWT_SECRET AIRFLOW__CORE__EXECUTOR=LocalExecutor
export AIRFLOW__CORE__PARALLELISM=${AIRFLOW__CORE__PARALLELISM:-$(nproc)}  # a task per core
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL=http://127.0.0.1:$port/execution/
airflow api-server --apps execution --workers 1 --host 127.0.0.1 --port "$port" \
  >"$AIRFLOW_HOME.api-server.log" 2>&1 &
api_server=$!
for _ in $(seq 240); do
  curl -s -o /dev/null "http://127.0.0.1:$port/execution/health" && break
  kill -0 "$api_server" 2>/dev/null || { cat "$AIRFLOW_HOME.api-server.log"; exit 1; }
  sleep 0.25
done
echo "  ready: $AIRFLOW__CORE__EXECUTION_API_SERVER_URL"

for step in scripts/demo.d/[0-9]*.sh; do
  # shellcheck source=/dev/null
  source "$step"
done

logs=$(find "$AIRFLOW_HOME/logs" -name 'attempt=*.log' | wc -l)
cat <<TXT

The versions above are content-derived: run \`make demo\` again and the ids stay the same.
The demo's runs and their $logs task logs are in Airflow's metadata and logs under .dhub-demo/.
Airflow with the plugin on this catalog (reference DAGs unpaused, no examples; prints the
URL and the login; Ctrl-C stops it):
  make airflow
TXT
