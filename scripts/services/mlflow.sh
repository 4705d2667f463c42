#!/usr/bin/env bash
# Throw-away MLflow tracking server on 127.0.0.1 for the test suite / CI: backend store
# in the test PostgreSQL (its own database), artifacts proxied to the test S3 server.
#
# Usage (PostgreSQL and S3 first: this script reads their exports):
#   eval "$(scripts/services/postgres.sh start)"; eval "$(scripts/services/s3.sh start)"
#   eval "$(scripts/services/mlflow.sh start)"    # start (idempotent), print exports
#   scripts/services/mlflow.sh status             # print exports if running, else exit 1
#   scripts/services/mlflow.sh stop               # stop, remove state (the DB and bucket stay)
#
# Needs: DHUB_TEST_PG_URL, DHUB_TEST_S3_ENDPOINT, DHUB_TEST_S3_ACCESS_KEY, DHUB_TEST_S3_SECRET_KEY.
# Optional: DHUB_MLFLOW_PORT, DHUB_MLFLOW_DB (default dhub_mlflow), DHUB_MLFLOW_BUCKET
#           (default dhub-mlflow), DHUB_MLFLOW_PYTHON (default <repo>/.venv/bin/python).
# Printed: DHUB_TEST_MLFLOW_URI (http://127.0.0.1:PORT), DHUB_TEST_MLFLOW_BUCKET.
set -euo pipefail

LOG_TAG=mlflow
# shellcheck source-path=SCRIPTDIR source=_common.sh
. "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

STATE="$SERVICES_DIR/mlflow"
PYTHON="${DHUB_MLFLOW_PYTHON:-$REPO_ROOT/.venv/bin/python}"
DB="${DHUB_MLFLOW_DB:-dhub_mlflow}"
BUCKET="${DHUB_MLFLOW_BUCKET:-dhub-mlflow}"

print_env() {
    emit DHUB_TEST_MLFLOW_URI "http://$LOOPBACK:$1"
    emit DHUB_TEST_MLFLOW_BUCKET "$BUCKET"
}

healthy() { "$PYTHON" - "$1" <<'PY' 2>/dev/null
import sys, urllib.request
urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/health", timeout=3).read()
PY
}

running() {
    local pid port
    pid="$(cat "$STATE/pid" 2>/dev/null || true)"
    port="$(cat "$STATE/port" 2>/dev/null || true)"
    [ -n "$pid" ] && [ -n "$port" ] && pid_alive "$pid" && pid_cmdline_has "$pid" mlflow \
        && healthy "$port"
}

# The backend database and the artifact bucket, created once.
prepare_stores() {
    "$PYTHON" - "$DB" "$BUCKET" <<'PY' >&2
import os, sys
import boto3, botocore.config, sqlalchemy
db, bucket = sys.argv[1], sys.argv[2]
engine = sqlalchemy.create_engine(os.environ["DHUB_TEST_PG_URL"], isolation_level="AUTOCOMMIT")
with engine.connect() as conn:
    if not conn.execute(sqlalchemy.text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": db}).first():
        conn.execute(sqlalchemy.text(f'CREATE DATABASE "{db}"'))
engine.dispose()
s3 = boto3.client(
    "s3", endpoint_url=os.environ["DHUB_TEST_S3_ENDPOINT"], region_name="us-east-1",
    aws_access_key_id=os.environ["DHUB_TEST_S3_ACCESS_KEY"],
    aws_secret_access_key=os.environ["DHUB_TEST_S3_SECRET_KEY"],
    config=botocore.config.Config(s3={"addressing_style": "path"}),
)
if bucket not in [b["Name"] for b in s3.list_buckets().get("Buckets", [])]:
    s3.create_bucket(Bucket=bucket)
PY
}

cmd_start() {
    local t0 port pg_url
    t0="$(now_s)"
    : "${DHUB_TEST_PG_URL:?start scripts/services/postgres.sh first}"
    : "${DHUB_TEST_S3_ENDPOINT:?start scripts/services/s3.sh first}"
    mkdir -p "$STATE"
    take_lock "$STATE/lock"
    if running; then
        port="$(cat "$STATE/port")"
        log "already running on $LOOPBACK:$port"
        print_env "$port"
        return 0
    fi
    prepare_stores || die "cannot create database $DB or bucket $BUCKET"
    port="${DHUB_MLFLOW_PORT:-$(free_port)}"
    pg_url="${DHUB_TEST_PG_URL%/*}/$DB"
    log "mlflow server on $LOOPBACK:$port (backend $DB, artifacts s3://$BUCKET/artifacts)"
    # The subshell execs into the server (no shell lingers holding the lock on fd 9);
    # setsid makes the server and its workers one process group for `stop`.
    (
        cd "$STATE" || exit 1
        exec env MLFLOW_S3_ENDPOINT_URL="$DHUB_TEST_S3_ENDPOINT" \
            AWS_ACCESS_KEY_ID="$DHUB_TEST_S3_ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$DHUB_TEST_S3_SECRET_KEY" \
            AWS_DEFAULT_REGION=us-east-1 MLFLOW_DISABLE_TELEMETRY=true DO_NOT_TRACK=true \
            MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false \
            setsid "$PYTHON" -m mlflow server --backend-store-uri "$pg_url" \
            --artifacts-destination "s3://$BUCKET/artifacts" --host "$LOOPBACK" --port "$port" \
            --workers 2
    ) </dev/null >"$STATE/server.log" 2>&1 9>&- &
    echo $! >"$STATE/pid"
    printf '%s\n' "$port" >"$STATE/port"
    local i
    for ((i = 0; i < 240; i++)); do
        healthy "$port" && break
        pid_alive "$(cat "$STATE/pid")" || { tail -n 30 "$STATE/server.log" >&2; die "mlflow server exited"; }
        sleep 0.5
    done
    healthy "$port" || { tail -n 30 "$STATE/server.log" >&2; die "mlflow server did not answer"; }
    log "ready in $(($(now_s) - t0))s"
    print_env "$port"
}

cmd_stop() {
    mkdir -p "$STATE"
    take_lock "$STATE/lock"
    local pid
    pid="$(cat "$STATE/pid" 2>/dev/null || true)"
    if [ -n "$pid" ] && pid_alive "$pid" && pid_cmdline_has "$pid" mlflow; then
        # setsid made the server its own process group: stop its workers with it.
        kill -TERM -- "-$pid" 2>/dev/null || true
        kill_pid "$pid" TERM 10 || true
    fi
    rm -rf "${STATE:?}"
    log "stopped; state removed"
}

cmd_status() {
    if running; then
        log "running on $LOOPBACK:$(cat "$STATE/port")"
        print_env "$(cat "$STATE/port")"
        return 0
    fi
    log "not running"
    return 1
}

dispatch "$@"
