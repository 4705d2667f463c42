#!/usr/bin/env bash
# The suite's install steps, shared by image/Dockerfile and tests/e2e/test_image_env.py, so
# the test builds the same Python environment the image gets.
#
#   install.sh wheels SRC WHEELHOUSE   builder stage: the suite's wheel and a wheel of every
#                                      dependency, resolved with SRC/requirements.lock as
#                                      constraints (the pins `make venv` tests)
#   install.sh install WHEELHOUSE      final stage: offline install from the wheelhouse with
#                                      the same constraints, then `pip check`
#
# PYTHON picks the interpreter (default: python). AIRFLOW_VERSION (set by the official image)
# is pinned on the command line as that image's documentation asks, so pip never changes
# Airflow itself; the lock pins the same version.
set -euo pipefail
PYTHON=${PYTHON:-python}
usage="usage: install.sh wheels SRC WHEELHOUSE | install.sh install WHEELHOUSE"

case "${1:-}" in
  wheels)
    src=${2:?$usage} out=${3:?$usage}
    mkdir -p "$out"
    cp "$src/requirements.lock" "$out/constraints.txt"
    "$PYTHON" -m pip wheel --wheel-dir "$out" --constraint "$out/constraints.txt" "$src"
    ;;
  install)
    wheels=${2:?$usage}
    "$PYTHON" -m pip install --no-cache-dir --no-index --find-links "$wheels" \
      --constraint "$wheels/constraints.txt" \
      "apache-airflow==${AIRFLOW_VERSION:-3.3.2}" digitalhub-airflow
    "$PYTHON" -m pip check
    ;;
  *)
    echo "$usage" >&2
    exit 2
    ;;
esac
