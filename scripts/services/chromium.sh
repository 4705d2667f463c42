#!/usr/bin/env bash
# Debian's Chromium for the browser tests (Playwright drives it by its path; no
# browser is ever downloaded).
#
# Usage:
#   eval "$(scripts/services/chromium.sh ensure)"   # install if missing, print exports
#   scripts/services/chromium.sh status             # print exports if present, else exit 1
#
# stdout carries only `export ...` lines; diagnostics go to stderr.
# Printed: DHUB_TEST_CHROMIUM (the browser's path).
set -euo pipefail

LOG_TAG=chromium
# shellcheck source-path=SCRIPTDIR source=_common.sh
. "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

find_browser() {
    local name
    for name in chromium chromium-browser; do
        if command -v "$name" >/dev/null 2>&1; then
            command -v "$name"
            return 0
        fi
    done
    return 1
}

print_exports() {
    printf 'export DHUB_TEST_CHROMIUM=%q\n' "$1"
}

case "${1:-}" in
    ensure)
        browser="$(find_browser)" || {
            apt_install chromium
            browser="$(find_browser)" || die "chromium is still missing after apt-get install"
        }
        "$browser" --version >&2 || die "$browser does not run"
        print_exports "$browser"
        ;;
    status)
        browser="$(find_browser)" || exit 1
        print_exports "$browser"
        ;;
    *)
        echo "usage: $0 ensure|status" >&2
        exit 2
        ;;
esac
