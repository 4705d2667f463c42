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

# With no arguments, the e2e tests (each starts Airflow: mostly CPU) run in a second pytest
# beside unit + integration (mostly waiting on the services), one per core; its log is
# printed after. Arguments (or DHUB_TEST_JOBS=1) run the whole suite in one pytest.
run_pytest() {
  pytest -p no:cacheprovider "$@"
  local rc=$?
  if [ "$rc" -eq 5 ]; then
    echo "test: pytest collected no tests in $*; that is a failure" >&2
    return 1
  fi
  return "$rc"
}

set +e
if [ $# -gt 0 ] || [ "${DHUB_TEST_JOBS:-2}" = 1 ]; then
  echo "== pytest"
  run_pytest "$@" tests
  exit $?
fi
echo "== pytest: tests/e2e in the background (log: test-artifacts/pytest-e2e.log), then unit + integration"
run_pytest tests/e2e >test-artifacts/pytest-e2e.log 2>&1 &
e2e=$!
run_pytest tests/unit tests/integration
rc_main=$?
wait "$e2e"
rc_e2e=$?
echo "== pytest tests/e2e (ran beside the above)"
cat test-artifacts/pytest-e2e.log
echo "== pytest: unit + integration exit $rc_main, e2e exit $rc_e2e"
[ "$rc_main" -eq 0 ] && [ "$rc_e2e" -eq 0 ]
