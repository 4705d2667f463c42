#!/usr/bin/env bash
# `make test`: lint, then the whole suite (unit, integration, e2e) against a real
# PostgreSQL server, a real S3 server (Ceph radosgw) and a real MLflow server, all started
# on loopback here and stopped on exit; Chromium for the browser tests. pytest's "no tests
# collected" (exit 5) is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PWD/.venv/bin:$PATH
export DHUB_SERVICES_DIR=${DHUB_SERVICES_DIR:-$PWD/.services}
export NO_PROXY=${NO_PROXY:+$NO_PROXY,}127.0.0.1,localhost no_proxy=${no_proxy:+$no_proxy,}127.0.0.1,localhost
mkdir -p test-artifacts

stop_services() {
  scripts/services/mlflow.sh stop >/dev/null 2>&1 || true
  scripts/services/s3.sh stop >/dev/null 2>&1 || true
  scripts/services/postgres.sh stop >/dev/null 2>&1 || true
}
trap stop_services EXIT INT TERM

echo "== lint: ruff, mypy (strict on the core)"
ruff check .
ruff format --check .
mypy

echo "== services: PostgreSQL, S3 (radosgw) and an MLflow server on 127.0.0.1"
eval "$(scripts/services/postgres.sh start)"
eval "$(scripts/services/s3.sh start)"
eval "$(scripts/services/mlflow.sh start)"  # PostgreSQL backend store, artifacts on the S3
eval "$(scripts/services/chromium.sh ensure)"  # Debian's browser for tests/e2e/test_ui_browser.py
: "${DHUB_TEST_PG_URL:?PostgreSQL did not start}" "${DHUB_TEST_S3_ENDPOINT:?S3 did not start}"
: "${DHUB_TEST_MLFLOW_URI:?the MLflow server did not start}"

# One pytest over the suite, spread over xdist workers, a test file per worker at a time
# (--dist loadfile: a module's fixtures, e.g. an `airflow standalone`, start once).
# xdist hands out the files with the most tests first; a simulation of other orders on a
# run's JUnit report (longest file first) moved the end by under a minute, as the workers
# finish within a minute of each other: the suite is bound by its total work. Integration
# tests mostly wait on the services, hence more workers than cores (DHUB_TEST_WORKERS; 0
# runs in one process). Each worker has its own HOME, temp folders and Airflow home (a
# copy of one migrated metadata database: tests/e2e/conftest.py).
# Arguments replace the test paths. The 25 slowest tests are listed at the end.
workers=${DHUB_TEST_WORKERS:-3}
echo "== pytest: ${workers} workers"
set +e
pytest -p no:cacheprovider -n "$workers" --dist loadfile --durations=25 "${@:-tests}"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "test: pytest collected no tests in ${*:-tests}; that is a failure" >&2
  exit 1
fi
exit "$rc"
