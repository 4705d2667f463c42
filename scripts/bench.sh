#!/usr/bin/env bash
# `make bench`: the benchmarks in bench/, each measuring a baseline and the product in the
# same run and printing their ratios (tables on stdout, JSON summaries in bench/out/).
# Starts a throw-away S3 server (Ceph radosgw) on 127.0.0.1 and stops it on exit.
#
#   scripts/bench.sh            full sizes, median of 3 runs (~10 minutes on 2 cores)
#   scripts/bench.sh --quick    smaller sizes, 1 run each (~2 minutes)
#
# Each benchmark runs with --strict: `make bench` fails when any target of the table in
# bench/README.md fails.
#
# The server gets its own state folder (.services/bench) so that a benchmark never
# stops the S3 server of a `make test` running beside it, and vice versa.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PWD/.venv/bin:$PATH
export DHUB_SERVICES_DIR=${DHUB_BENCH_SERVICES_DIR:-$PWD/.services/bench}
# The in-memory OSD only uses RAM for what is stored; deleted multipart uploads are
# freed by radosgw's garbage collector seconds later, so leave room for a few GiB.
export DHUB_S3_MEMSTORE_BYTES=${DHUB_S3_MEMSTORE_BYTES:-$((12 * 1024 * 1024 * 1024))}
export DHUB_USER=${DHUB_USER:-bench}

stop_services() {
  scripts/services/s3.sh stop >/dev/null 2>&1 || true
  scripts/services/postgres.sh stop >/dev/null 2>&1 || true
}
trap stop_services EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

t0=$(date +%s)
echo "== S3 server (radosgw) on 127.0.0.1"
eval "$(scripts/services/s3.sh start)"
: "${DHUB_TEST_S3_ENDPOINT:?S3 did not start}"
export DHUB_TEST_S3_ENDPOINT DHUB_TEST_S3_ACCESS_KEY DHUB_TEST_S3_SECRET_KEY DHUB_TEST_S3_REGION

# Every benchmark runs with --strict (exit 1 when one of its targets fails); the others
# still run, and the script exits 1 at the end naming the ones that failed.
failed=()
bench() {
  local name=$1
  shift
  echo "== $name $*"
  python "bench/$name.py" --strict "$@" || failed+=("$name")
}
bench bench_cli "$@"
bench bench_parse "$@"
bench bench_commit "$@"
bench bench_get "$@"
bench bench_verify "$@"
bench bench_dataservice "$@"
bench bench_ui "$@"
bench bench_quality "$@"
bench bench_features "$@"
echo "== PostgreSQL on 127.0.0.1 (bench_lineage, bench_sql, bench_training)"
eval "$(scripts/services/postgres.sh start)"
export DHUB_TEST_PG_URL
bench bench_lineage "$@"
bench bench_sql "$@"
bench bench_training "$@"
bench bench_serving "$@"
echo "== bench: done in $(($(date +%s) - t0))s; summaries in bench/out/"
if [ ${#failed[@]} -gt 0 ]; then
  echo "bench: a target failed in: ${failed[*]}" >&2
  exit 1
fi
