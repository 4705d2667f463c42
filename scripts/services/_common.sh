# shellcheck shell=bash
# shellcheck disable=SC2034  # variables are used by the sourcing scripts
# Shared helpers for scripts/services/*.sh. Sourced, not executed.
#
# Conventions:
#   * stdout carries ONLY `export NAME=value` lines (so callers can
#     `eval "$(scripts/services/<svc>.sh start)"`); everything else -> stderr.
#   * All state lives under $DHUB_SERVICES_DIR (default: <repo>/.services).
#   * Nothing ever binds or connects to anything but 127.0.0.1.

SERVICES_SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SERVICES_SCRIPT_DIR/../.." && pwd)"
SERVICES_DIR="${DHUB_SERVICES_DIR:-$REPO_ROOT/.services}"
case "$SERVICES_DIR" in
    /*) ;;
    *) SERVICES_DIR="$PWD/$SERVICES_DIR" ;; # daemons chdir to /, so absolutise
esac
LOOPBACK=127.0.0.1

export DEBIAN_FRONTEND=noninteractive

log() { printf '[%s +%ss] %s\n' "${LOG_TAG:-services}" "$SECONDS" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# Print `export NAME=value` with the value shell-quoted.
emit() { printf 'export %s=%q\n' "$1" "$2"; }

now_s() { date +%s; }

ensure_dir() { mkdir -p "$1"; }

# Absolute, normalised path (the directory must exist).
abs_dir() { (cd "$1" && pwd -P); }

# A 'short' private directory for unix sockets (sun_path is limited to ~107
# bytes).  Prints the path of $1 if it is short enough, otherwise a mktemp dir
# whose location is remembered in $2 so later calls find the same one.
short_dir_for() {
    local want="$1" record="$2" max="${3:-70}" d
    if [ "${#want}" -le "$max" ]; then
        mkdir -p "$want"
        printf '%s\n' "$want"
        return
    fi
    if [ -f "$record" ] && d="$(cat "$record")" && [ -n "$d" ] && [ -d "$d" ]; then
        printf '%s\n' "$d"
        return
    fi
    d="$(mktemp -d "${TMPDIR:-/tmp}/dhub-XXXXXX")"
    printf '%s\n' "$d" >"$record"
    printf '%s\n' "$d"
}

# ---------------------------------------------------------------- packages --
_APT_UPDATED=0
apt_install() {
    # apt_install pkg... : install Debian packages non-interactively.
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            sudo=(sudo -n env DEBIAN_FRONTEND=noninteractive)
        else
            die "need to install '$*' but not root and no password-less sudo"
        fi
    fi
    command -v apt-get >/dev/null 2>&1 || die "apt-get not available; install '$*' manually"
    local t0
    t0="$(now_s)"
    if [ "$_APT_UPDATED" -eq 0 ]; then
        log "apt-get update"
        "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=300 update -qq </dev/null >&2 \
            || log "apt-get update failed (continuing)"
        _APT_UPDATED=1
    fi
    log "apt-get install -y --no-install-recommends $*"
    "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confdef \
        -o Dpkg::Options::=--force-confold install -y -qq --no-install-recommends "$@" \
        </dev/null >&2 || die "apt-get install $* failed"
    log "installed $* in $(($(now_s) - t0))s"
}

# ------------------------------------------------------------------- ports --
_port_in_use() {
    local p="$1"
    if command -v ss >/dev/null 2>&1; then
        [ -n "$(ss -Htan "sport = :$p" 2>/dev/null)" ]
    else
        (exec 3<>"/dev/tcp/$LOOPBACK/$p") 2>/dev/null
    fi
}

# Print a currently free TCP port on 127.0.0.1, not in the exclusion list.
free_port() {
    local exclude=" $* " py p i
    for py in /usr/bin/python3 python3; do
        if command -v "$py" >/dev/null 2>&1; then
            for i in 1 2 3 4 5 6 7 8 9 10; do
                p="$("$py" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])' 2>/dev/null)" || break
                [ -n "$p" ] || break
                case "$exclude" in *" $p "*) continue ;; esac
                # Avoid the ceph daemon port range (6800-7300).
                if [ "$p" -ge 6800 ] && [ "$p" -le 7300 ]; then continue; fi
                printf '%s\n' "$p"
                return 0
            done
        fi
    done
    for i in $(seq 1 200); do
        p=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
        case "$exclude" in *" $p "*) continue ;; esac
        if ! _port_in_use "$p"; then
            printf '%s\n' "$p"
            return 0
        fi
    done
    die "could not find a free port"
}

# --------------------------------------------------------------- processes --
pid_alive() {
    local pid="$1"
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && [ "$(ps -o stat= -p "$pid" 2>/dev/null | cut -c1)" != Z ]
}

# pid_cmdline_has PID STRING: the process' command line contains STRING
# (guards against pid files that outlived a reboot and now name another process).
pid_cmdline_has() {
    local cmd
    cmd="$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null)" || return 1
    case "$cmd" in *"$2"*) return 0 ;; esac
    return 1
}

# kill_pid PID [SIGNAL] [GRACE_SECONDS]: signal, wait, then SIGKILL.
kill_pid() {
    local pid="$1" sig="${2:-TERM}" grace="${3:-10}" i
    pid_alive "$pid" || return 0
    kill "-$sig" "$pid" 2>/dev/null || true
    for ((i = 0; i < grace * 10; i++)); do
        pid_alive "$pid" || return 0
        sleep 0.1
    done
    log "pid $pid did not exit after SIG$sig, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        pid_alive "$pid" || return 0
        sleep 0.1
    done
    log "WARNING: pid $pid still alive"
    return 1
}

# Escape a string for use as a literal inside an extended regex (pgrep -f).
ere_escape() { printf '%s' "$1" | sed 's/[][\\.*^$+?(){}|]/\\&/g'; }

# Run a command with every file descriptor above 2 closed, so that daemons it
# starts do not keep the caller's pipes (CI log pipes, our lock) open.
run_closed_fds() {
    (
        local f n
        for f in /proc/"$BASHPID"/fd/*; do
            n="${f##*/}"
            case "$n" in '' | *[!0-9]*) continue ;; esac
            if [ "$n" -gt 2 ]; then eval "exec $n>&-" 2>/dev/null || true; fi
        done
        exec "$@"
    )
}

# Serialise start/stop of one service (e.g. parallel pytest workers).
# The lock fd (9) must not leak into daemons: launch them with `9>&-`.
take_lock() {
    local file="$1"
    exec 9>"$file"
    if command -v flock >/dev/null 2>&1; then
        flock -w 900 9 || die "timed out waiting for lock $file"
    fi
}

# The scripts' command line: `<svc>.sh start|stop|status|restart`, dispatched to the
# cmd_start / cmd_stop / cmd_status functions each script defines.
dispatch() {
    case "${1:-}" in
        start) cmd_start ;;
        stop) cmd_stop ;;
        status) cmd_status ;;
        restart) cmd_stop && cmd_start ;;
        *)
            echo "usage: $0 start|stop|status|restart" >&2
            exit 2
            ;;
    esac
}
