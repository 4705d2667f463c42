#!/usr/bin/env bash
# `make bench`: the benchmarks in bench/, each measuring a baseline and the product in the
# same run and printing their ratios (tables on stdout, JSON summaries in bench/out/).
# Starts a throw-away S3 server (Ceph radosgw) on 127.0.0.1 and stops it on exit.
#
#   scripts/bench.sh            full sizes, median of 3 runs (~10 minutes on 2 cores)
#   scripts/bench.sh --quick    smaller sizes, 1 run each (~2 minutes)
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

echo "== bench_cli $*"
python bench/bench_cli.py "$@"
echo "== bench_commit $*"
python bench/bench_commit.py "$@"
echo "== bench_verify $*"
python bench/bench_verify.py "$@"
echo "== bench_ui $*"
python bench/bench_ui.py "$@"
echo "== bench_quality $*"
python bench/bench_quality.py "$@"
echo "== bench_lineage $* (PostgreSQL on 127.0.0.1)"
eval "$(scripts/services/postgres.sh start)"
export DHUB_TEST_PG_URL
python bench/bench_lineage.py "$@"
echo "== bench_training $*"
python bench/bench_training.py "$@"
echo "== bench_serving $*"
python bench/bench_serving.py "$@"
echo "== bench: done in $(($(date +%s) - t0))s; summaries in bench/out/"
