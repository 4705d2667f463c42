#!/usr/bin/env bash
# `make demo`: run the ingest DAG with `airflow dags test` on the embedded default
# (SQLite catalog + folder store under .dhub-demo/). Each capability adds a step file in
# scripts/demo.d/, sourced in name order.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/demo.env
source scripts/demo.env

WINE=store://demo/dataitem/table/wine
say() { printf '\n== %s\n' "$*"; }
# dags_test DAG_ID LOG [airflow dags test options]: run a DAG, show the log's tail on failure.
dags_test() {
  local dag=$1 log=$2
  shift 2
  if ! airflow dags test "$dag" "$@" >"$log" 2>&1; then
    tail -n 60 "$log"; echo "demo: DAG $dag failed (full log: $log)" >&2; exit 1
  fi
}

say "catalog and Airflow metadata (embedded: SQLite under .dhub-demo/)"
dhub init
airflow db migrate >"$AIRFLOW_HOME.migrate.log" 2>&1 || { cat "$AIRFLOW_HOME.migrate.log"; exit 1; }

for step in scripts/demo.d/[0-9]*.sh; do
  # shellcheck source=/dev/null
  source "$step"
done

cat <<TXT

The versions above are content-derived: run \`make demo\` again and the ids stay the same.
Airflow with the plugin on this catalog (reference DAGs unpaused, no examples; prints the
URL and the login; Ctrl-C stops it):
  make airflow
TXT
