#!/usr/bin/env bash
# Throw-away PostgreSQL server on 127.0.0.1 for the test suite / CI.
#
# Usage:
#   eval "$(scripts/services/postgres.sh start)"   # start (idempotent), print exports
#   scripts/services/postgres.sh status            # print exports if running, else exit 1
#   scripts/services/postgres.sh stop              # stop, leave no process, remove state
#
# stdout carries only `export ...` lines; diagnostics go to stderr.
#
# Environment (all optional):
#   DHUB_SERVICES_DIR   state folder (default: <repo>/.services); uses ./postgres in it
#   DHUB_PG_PORT        TCP port (default: a free port, remembered while running)
#   DHUB_PG_USER        role tests connect as           (default: dhub)
#   DHUB_PG_PASSWORD    its password                    (default: dhub)
#   DHUB_PG_DB          database                        (default: dhub_test)
#   DHUB_PG_OS_USER     unprivileged OS user when run as root (default: dhubtest)
#   DHUB_PG_BIN         directory holding initdb/pg_ctl/postgres/psql
#   DHUB_PG_KEEP_DATA=1 `stop` keeps the data directory
#
# Printed: DHUB_TEST_PG_URL (SQLAlchemy, postgresql+psycopg2://...),
#          DHUB_TEST_PG_DSN (libpq URL), DHUB_TEST_PG_HOST, DHUB_TEST_PG_PORT,
#          DHUB_TEST_PG_USER, DHUB_TEST_PG_PASSWORD, DHUB_TEST_PG_DB
set -euo pipefail

LOG_TAG=postgres
# shellcheck source-path=SCRIPTDIR source=_common.sh
. "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

STATE="$SERVICES_DIR/postgres"
PG_USER="${DHUB_PG_USER:-dhub}"
PG_PASSWORD="${DHUB_PG_PASSWORD:-dhub}"
PG_DB="${DHUB_PG_DB:-dhub_test}"
OS_USER="${DHUB_PG_OS_USER:-dhubtest}"
PGBIN=""
PGHOME=""   # owned by the user running postgres: data/, run/, postgres.log
SOCKDIR=""

is_root() { [ "$(id -u)" -eq 0 ]; }

# Run a command as the user that owns the cluster (initdb/pg_ctl refuse root).
as_pg() {
    if is_root; then
        (cd / && runuser -u "$OS_USER" -- "$@")
    else
        (cd / && "$@")
    fi
}

# Same, with no inherited file descriptors above 2 (for the postmaster).
run_closed_fds_as_pg() {
    if is_root; then
        (cd / && run_closed_fds runuser -u "$OS_USER" -- "$@")
    else
        (cd / && run_closed_fds "$@")
    fi
}

find_pgbin() {
    local d
    if [ -n "${DHUB_PG_BIN:-}" ]; then
        [ -x "$DHUB_PG_BIN/pg_ctl" ] || die "DHUB_PG_BIN=$DHUB_PG_BIN has no pg_ctl"
        PGBIN="$DHUB_PG_BIN"
        return
    fi
    if command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
        d="$(dirname "$(readlink -f "$(command -v pg_ctl)")")"
        if [ -x "$d/initdb" ] && [ -x "$d/postgres" ]; then
            PGBIN="$d"
            return
        fi
    fi
    # Debian layout: /usr/lib/postgresql/<major>/bin, newest first.
    for d in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -t/ -k4,4 -rn); do
        if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/postgres" ]; then
            PGBIN="$d"
            return
        fi
    done
    return 1
}

ensure_binaries() {
    find_pgbin && return
    log "PostgreSQL binaries not found; installing Debian's postgresql"
    # Do not let the package create (and start) a system-wide 'main' cluster.
    if is_root && [ ! -e /etc/postgresql-common/createcluster.d/50-dhub-no-main.conf ]; then
        mkdir -p /etc/postgresql-common/createcluster.d
        echo 'create_main_cluster = false' >/etc/postgresql-common/createcluster.d/50-dhub-no-main.conf
    fi
    apt_install postgresql postgresql-client
    find_pgbin || die "PostgreSQL binaries still not found after install"
}

ensure_os_user() {
    is_root || return 0
    id -u "$OS_USER" >/dev/null 2>&1 && return 0
    log "creating system user $OS_USER"
    if command -v useradd >/dev/null 2>&1; then
        useradd --system --user-group --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin "$OS_USER" 2>/dev/null \
            || id -u "$OS_USER" >/dev/null 2>&1 || die "useradd $OS_USER failed"
    else
        adduser --system --group --no-create-home --disabled-login "$OS_USER" >&2 \
            || die "adduser $OS_USER failed"
    fi
}

# Decide where PGHOME lives (state dir if the OS user can use it, else a
# private temp dir recorded in the state dir). Creates it when $1 = create.
locate_home() {
    local mode="${1:-}" h="$STATE/home"
    if [ -f "$STATE/home.location" ]; then
        h="$(cat "$STATE/home.location")"
    fi
    if [ "$mode" = create ] && [ ! -d "$h/data" ]; then
        mkdir -p "$h"
        if is_root; then
            chown "$OS_USER:" "$h"
            if ! runuser -u "$OS_USER" -- test -w "$h" -a -x "$h" 2>/dev/null; then
                log "$OS_USER cannot use $h; using a private temp dir instead"
                rmdir "$h" 2>/dev/null || true
                h="$(mktemp -d "${TMPDIR:-/tmp}/dhub-pg-XXXXXX")"
                chown "$OS_USER:" "$h"
                chmod 700 "$h"
                printf '%s\n' "$h" >"$STATE/home.location"
            fi
        fi
    fi
    PGHOME="$h"
}

locate_sockdir() {
    if [ -f "$STATE/sock.location" ]; then
        SOCKDIR="$(cat "$STATE/sock.location")"
    elif [ "${#PGHOME}" -le 80 ]; then
        SOCKDIR="$PGHOME/run"
    else
        SOCKDIR="$(mktemp -d "${TMPDIR:-/tmp}/dhub-pgs-XXXXXX")"
        printf '%s\n' "$SOCKDIR" >"$STATE/sock.location"
    fi
    mkdir -p "$SOCKDIR"
    if is_root; then chown "$OS_USER:" "$SOCKDIR"; fi
}

running() {
    local pid
    [ -n "$PGHOME" ] && [ -f "$PGHOME/data/PG_VERSION" ] && [ -f "$PGHOME/data/postmaster.pid" ] \
        || return 1
    pid="$(head -n1 "$PGHOME/data/postmaster.pid" 2>/dev/null || true)"
    # pg_ctl only checks that *some* process has that pid.
    pid_alive "$pid" && pid_cmdline_has "$pid" "$PGHOME/data" \
        && as_pg "$PGBIN/pg_ctl" -D "$PGHOME/data" status >/dev/null 2>&1
}

urlencode() {
    local s="$1" out="" c i
    for ((i = 0; i < ${#s}; i++)); do
        c="${s:i:1}"
        case "$c" in
            [a-zA-Z0-9._~-]) out+="$c" ;;
            *) out+="$(printf '%%%02X' "'$c")" ;;
        esac
    done
    printf '%s' "$out"
}

print_env() {
    local port="$1" cred
    cred="$(urlencode "$PG_USER"):$(urlencode "$PG_PASSWORD")"
    {
        emit DHUB_TEST_PG_URL "postgresql+psycopg2://$cred@$LOOPBACK:$port/$PG_DB"
        emit DHUB_TEST_PG_DSN "postgresql://$cred@$LOOPBACK:$port/$PG_DB"
        emit DHUB_TEST_PG_HOST "$LOOPBACK"
        emit DHUB_TEST_PG_PORT "$port"
        emit DHUB_TEST_PG_USER "$PG_USER"
        emit DHUB_TEST_PG_PASSWORD "$PG_PASSWORD"
        emit DHUB_TEST_PG_DB "$PG_DB"
    } >"$STATE/env.sh.tmp"
    mv "$STATE/env.sh.tmp" "$STATE/env.sh"
    cat "$STATE/env.sh"
}

sql_lit() { printf "'%s'" "${1//\'/\'\'}"; }
sql_ident() { printf '"%s"' "${1//\"/\"\"}"; }

setup_role_and_db() {
    local port="$1" u p d
    u="$(sql_ident "$PG_USER")"
    p="$(sql_lit "$PG_PASSWORD")"
    d="$(sql_ident "$PG_DB")"
    as_pg "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCKDIR" -p "$port" -U postgres -d postgres >&2 <<SQL
SELECT format('CREATE ROLE %s', $(sql_lit "$u")) WHERE NOT EXISTS
    (SELECT 1 FROM pg_roles WHERE rolname = $(sql_lit "$PG_USER")) \gexec
ALTER ROLE $u WITH LOGIN SUPERUSER PASSWORD $p;
SELECT format('CREATE DATABASE %s OWNER %s', $(sql_lit "$d"), $(sql_lit "$u")) WHERE NOT EXISTS
    (SELECT 1 FROM pg_database WHERE datname = $(sql_lit "$PG_DB")) \gexec
SQL
}

on_start_failure() {
    local rc=$?
    [ "$rc" -ne 0 ] || return 0
    log "start failed (rc=$rc); stopping the server if it runs (log: $PGHOME/postgres.log)"
    if [ -n "$PGBIN" ] && [ -f "$PGHOME/data/postmaster.pid" ]; then
        as_pg "$PGBIN/pg_ctl" -D "$PGHOME/data" -m immediate -w -t 30 stop >&2 9>&- || true
    fi
}

cmd_start() {
    local t0 port conf
    t0="$(now_s)"
    mkdir -p "$STATE"
    take_lock "$STATE/lock"
    trap on_start_failure EXIT
    ensure_binaries
    ensure_os_user
    locate_home create
    locate_sockdir

    if running; then
        port="$(cat "$STATE/port" 2>/dev/null || true)"
        if [ -n "$port" ] && [ -f "$STATE/env.sh" ]; then
            log "already running on $LOOPBACK:$port"
            trap - EXIT
            setup_role_and_db "$port"
            print_env "$port"
            return 0
        fi
        log "running but state is incomplete; restarting"
        as_pg "$PGBIN/pg_ctl" -D "$PGHOME/data" -m fast -w -t 60 stop >&2 9>&- || true
    fi

    if [ ! -f "$PGHOME/data/PG_VERSION" ]; then
        log "initdb in $PGHOME/data ($("$PGBIN/postgres" --version))"
        rm -rf "$PGHOME/data"
        as_pg "$PGBIN/initdb" -D "$PGHOME/data" -U postgres -E UTF8 --no-locale \
            --auth-local=trust --auth-host=scram-sha-256 --no-sync >"$PGHOME/initdb.log" 2>&1 \
            9>&- || { cat "$PGHOME/initdb.log" >&2; die "initdb failed"; }
        # shellcheck disable=SC2016  # $1/$2 are expanded by the inner sh
        as_pg sh -c 'printf "%s\n" "$2" >>"$1"' \
            sh "$PGHOME/data/postgresql.conf" "include_if_exists = 'dhub_runtime.conf'"
    fi

    port="${DHUB_PG_PORT:-}"
    if [ -z "$port" ]; then
        port="$(cat "$STATE/port" 2>/dev/null || true)"
        if [ -z "$port" ] || _port_in_use "$port"; then port="$(free_port "")"; fi
    elif _port_in_use "$port"; then
        die "DHUB_PG_PORT=$port is already in use on $LOOPBACK"
    fi

    conf="$(
        printf "port = %s\n" "$port"
        printf "listen_addresses = '%s'\n" "$LOOPBACK"
        printf "unix_socket_directories = %s\n" "$(sql_lit "$SOCKDIR")"
        printf "max_connections = 200\n"
        printf "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
        printf "logging_collector = off\n"
    )"
    # shellcheck disable=SC2016  # $1/$2 are expanded by the inner sh
    as_pg sh -c 'printf "%s\n" "$2" >"$1"' sh "$PGHOME/data/dhub_runtime.conf" "$conf"

    log "starting PostgreSQL on $LOOPBACK:$port (log: $PGHOME/postgres.log)"
    if ! run_closed_fds_as_pg "$PGBIN/pg_ctl" -D "$PGHOME/data" -l "$PGHOME/postgres.log" \
        -w -t 60 start </dev/null >&2; then
        tail -n 30 "$PGHOME/postgres.log" >&2 || true
        die "pg_ctl start failed"
    fi
    printf '%s\n' "$port" >"$STATE/port"
    setup_role_and_db "$port"
    trap - EXIT
    log "ready in $(($(now_s) - t0))s"
    print_env "$port"
}

cmd_stop() {
    local pid=""
    [ -d "$STATE" ] || { log "not running (no state dir)"; return 0; }
    take_lock "$STATE/lock"
    locate_home
    if [ -f "$PGHOME/data/postmaster.pid" ]; then
        pid="$(head -n1 "$PGHOME/data/postmaster.pid" 2>/dev/null || true)"
    fi
    if [ -n "$pid" ] && pid_alive "$pid"; then
        find_pgbin || true
        if [ -n "$PGBIN" ]; then
            log "stopping PostgreSQL (pid $pid)"
            as_pg "$PGBIN/pg_ctl" -D "$PGHOME/data" -m fast -w -t 30 stop >&2 9>&- \
                || as_pg "$PGBIN/pg_ctl" -D "$PGHOME/data" -m immediate -w -t 30 stop >&2 9>&- \
                || true
        fi
        if pid_alive "$pid" && pid_cmdline_has "$pid" "$PGHOME/data"; then
            kill_pid "$pid" TERM 10 || true
        fi
    else
        log "not running"
    fi
    if [ "${DHUB_PG_KEEP_DATA:-0}" = 1 ]; then
        rm -f "$STATE/env.sh"
        return 0
    fi
    if [ -f "$STATE/sock.location" ]; then rm -rf "$(cat "$STATE/sock.location")"; fi
    if [ -f "$STATE/home.location" ]; then rm -rf "$(cat "$STATE/home.location")"; fi
    rm -rf "${STATE:?}/home" "$STATE/env.sh" "$STATE/port" "$STATE/home.location" "$STATE/sock.location"
    log "stopped; state removed"
}

cmd_status() {
    [ -d "$STATE" ] || { log "not running"; return 1; }
    locate_home
    find_pgbin || { log "not running (no binaries)"; return 1; }
    if running && [ -f "$STATE/env.sh" ]; then
        log "running on $LOOPBACK:$(cat "$STATE/port")"
        cat "$STATE/env.sh"
        return 0
    fi
    log "not running"
    return 1
}

dispatch "$@"
