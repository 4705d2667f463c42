#!/usr/bin/env bash
# Build .venv from the pinned lock file (requirements.lock) and install the project.
# Re-running is cheap: it does nothing while the lock and pyproject are unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=.venv
STAMP=$VENV/.installed-$(cat requirements.lock pyproject.toml | sha256sum | cut -c1-16)

if [ -f "$STAMP" ]; then
  exit 0
fi
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
  echo "bootstrap: Python 3.10+ is required ($PYTHON is $("$PYTHON" --version 2>&1))" >&2
  exit 1
fi
if ! "$PYTHON" -m venv --help >/dev/null 2>&1 || ! "$PYTHON" -c 'import ensurepip' 2>/dev/null; then
  echo "bootstrap: installing python3-venv" >&2
  SUDO=$([ "$(id -u)" = 0 ] && echo "" || echo sudo)
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq python3-venv >/dev/null
fi
echo "bootstrap: creating $VENV from requirements.lock" >&2
[ -x $VENV/bin/python ] || "$PYTHON" -m venv $VENV
$VENV/bin/python -m pip install -q --upgrade pip
$VENV/bin/python -m pip install -q --no-deps -r requirements.lock
$VENV/bin/python -m pip install -q --no-deps --no-build-isolation -e .
$VENV/bin/python -m pip check >&2 || { echo "bootstrap: pip check failed" >&2; exit 1; }
rm -f $VENV/.installed-*
touch "$STAMP"
