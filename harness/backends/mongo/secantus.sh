#!/usr/bin/env bash
# Installs SecantusDB (a MongoDB wire-protocol server, GPL-2.0-only) into a venv outside the repo
# and runs it as a separate process for the Mongo tests. It must never vendor or link its code, and
# never stop a server or remove a directory that this script did not start or create.
set -euo pipefail

usage() {
    cat >&2 <<'EOF'
usage: secantus.sh start [--port N]   start a standalone server (or reuse the one running),
                                      print `export SESSIONSPEC_MONGO_URL=...` on stdout
       secantus.sh up [--port N]      SESSIONSPEC_MONGO_URL if set (verified with hello, nothing
                                      started), otherwise `start`
       secantus.sh stop               stop the server this script started, remove its temp dir
       secantus.sh status             say whether it runs and answers (exit 0 if so, else 3)
       secantus.sh url                print the export line for the running server
       secantus.sh selftest [URL]     check upsert/$setOnInsert, $or find, TTL index, countDocuments
                                      and the TTL sweep against URL, the running server, or a
                                      server started just for the test

Environment: SESSIONSPEC_SECANTUS_VENV (default ${XDG_CACHE_HOME:-$HOME/.cache}/sessionspec/secantus-venv),
SESSIONSPEC_SECANTUS_STATE_DIR (one server per state dir), SESSIONSPEC_PYTHON (a CPython 3.11).
Exit codes: 0 success; 1 failure (said on stderr); 2 usage error; 3 `status`: not running.
EOF
}

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly HERE
readonly PACKAGE_PIN="SecantusDB==0.7.0b3"
# `address URL`: the URL without its credentials, for log lines.
source "$HERE/../address.sh"
readonly VENV="${SESSIONSPEC_SECANTUS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/sessionspec/secantus-venv}"
readonly STATE_DIR="${SESSIONSPEC_SECANTUS_STATE_DIR:-${XDG_RUNTIME_DIR:-${TMPDIR:-/tmp}}/sessionspec-$(id -u)/secantus}"
readonly STATE_FILE="$STATE_DIR/server.state"
readonly TMP_BASE="${TMPDIR:-/tmp}"
readonly READY_TIMEOUT="${SESSIONSPEC_SECANTUS_TIMEOUT:-30}"

log() { printf 'secantus: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

url_for() { printf 'mongodb://127.0.0.1:%s/?directConnection=true\n' "$1"; }
emit_export() { printf "export SESSIONSPEC_MONGO_URL='%s'\n" "$1"; }

# The wheel is built for CPython 3.11 only.
find_python() {
    local candidate
    for candidate in ${SESSIONSPEC_PYTHON:-} python3.11 /usr/bin/python3.11 python3; do
        command -v "$candidate" >/dev/null 2>&1 || continue
        if "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
            printf '%s\n' "$candidate"
            return 0
        fi
    done
    return 1
}

venv_ok() {
    [[ -x $VENV/bin/python ]] && "$VENV/bin/python" - <<'EOF' 2>/dev/null
import importlib.metadata as metadata
import pymongo, secantus  # noqa: F401  (imports must work, not just be listed)
assert metadata.version("SecantusDB") == "0.7.0b3"
EOF
}

# Creates or repairs the venv; a lock keeps two concurrent runs from installing at once.
ensure_venv() {
    mkdir -p "$(dirname "$VENV")"
    exec 8>"$VENV.lock"
    flock -w 300 8 || die "another run holds $VENV.lock for more than 300s"
    if venv_ok; then
        exec 8>&-
        return 0
    fi
    local python started=$SECONDS
    python=$(find_python) || die "MISSING: CPython 3.11 with the venv module (Debian package python3.11-venv); the $PACKAGE_PIN wheel is built for CPython 3.11 only. Set SESSIONSPEC_PYTHON to one."
    log "installing $PACKAGE_PIN into $VENV (with $python; ~150 MB, ~10 s)"
    rm -rf -- "$VENV"
    "$python" -m venv "$VENV" >&2 || die "could not create a venv with $python (Debian package python3.11-venv?)"
    "$VENV/bin/python" -m pip install --disable-pip-version-check --quiet "$PACKAGE_PIN" >&2 ||
        die "pip could not install $PACKAGE_PIN into $VENV"
    venv_ok || die "$VENV was installed but cannot import secantus and pymongo"
    log "installed in $((SECONDS - started))s"
    exec 8>&-
}

# Loads S_PID S_DIR S_PORT from the state file.
read_state() {
    local key value
    [[ -f $STATE_FILE ]] || return 1
    S_PID='' S_DIR='' S_PORT=''
    while IFS='=' read -r key value; do
        case $key in
            pid) S_PID=$value ;;
            dir) S_DIR=$value ;;
            port) S_PORT=$value ;;
        esac
    done <"$STATE_FILE"
}

# True while PID runs; an exited process can linger as a zombie until init reaps it.
alive() {
    local stat
    kill -0 "$1" 2>/dev/null || return 1
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
    stat=${stat##*) }
    [[ ${stat:0:1} != Z ]]
}

# True when the recorded pid is still our launcher for the recorded data dir (not a reused pid).
owns_server() {
    [[ -n ${S_PID:-} && -n ${S_DIR:-} ]] || return 1
    alive "$S_PID" || return 1
    [[ -r /proc/$S_PID/cmdline ]] || return 0
    tr '\0' ' ' <"/proc/$S_PID/cmdline" | grep -qF -- "secantus_server.py --data $S_DIR/"
}

hello() { "$VENV/bin/python" "$HERE/check.py" hello "$1" --timeout "${2:-5}"; }

cmd_start() {
    local port=0 dir pid started deadline
    while (($#)); do
        case $1 in
            --port) port=${2:?--port needs a number}; shift ;;
            --port=*) port=${1#--port=} ;;
            *) usage; exit 2 ;;
        esac
        shift
    done
    [[ $port =~ ^[0-9]+$ ]] || die "--port must be a number, not '$port'"

    mkdir -p "$STATE_DIR"
    chmod 700 "$STATE_DIR"
    exec 9>"$STATE_DIR/lock"
    flock -w "$READY_TIMEOUT" 9 || die "another secantus.sh run holds $STATE_DIR/lock"

    ensure_venv
    if read_state && owns_server && hello "$(url_for "$S_PORT")" 2 2>/dev/null; then
        if [[ $port != 0 && $port != "$S_PORT" ]]; then
            die "a server started earlier runs on port $S_PORT, not $port; run 'secantus.sh stop' first"
        fi
        log "reusing the server started earlier (pid $S_PID, port $S_PORT, $S_DIR)"
        emit_export "$(url_for "$S_PORT")"
        return 0
    fi
    if read_state; then
        log "the server recorded in $STATE_FILE is gone; cleaning up after it"
        stop_recorded
    fi

    dir=$(mktemp -d "$TMP_BASE/sessionspec-secantus.XXXXXX")
    chmod 700 "$dir"
    started=$(date +%s.%N)
    # setsid: its own session, so a Ctrl-C in the caller's terminal does not reach it. fd 8/9
    # closed, so it never holds this script's locks.
    setsid "$VENV/bin/python" "$HERE/secantus_server.py" --data "$dir/data" --port "$port" \
        --port-file "$dir/port" </dev/null >"$dir/server.log" 2>&1 8>&- 9>&- &
    pid=$!
    printf '%s\n' "pid=$pid" "dir=$dir" "port=" >"$STATE_FILE"

    deadline=$((SECONDS + READY_TIMEOUT))
    while [[ ! -s $dir/port ]]; do
        if ! alive "$pid"; then
            log "the server exited during start-up; last lines of $dir/server.log:"
            tail -n 20 "$dir/server.log" | sed 's/^/    /' >&2
            exit 1
        fi
        ((SECONDS < deadline)) || die "the server did not listen within ${READY_TIMEOUT}s (log: $dir/server.log)"
        sleep 0.05
    done
    port=$(<"$dir/port")
    printf '%s\n' "pid=$pid" "dir=$dir" "port=$port" >"$STATE_FILE"
    if ! hello "$(url_for "$port")" "$READY_TIMEOUT"; then
        tail -n 20 "$dir/server.log" | sed 's/^/    /' >&2
        die "the server listens on port $port but does not answer hello; 'secantus.sh stop' cleans up"
    fi
    log "pid $pid answers hello on 127.0.0.1:$port after $(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')s (data $dir/data, log $dir/server.log)"
    emit_export "$(url_for "$port")"
}

cmd_up() {
    if [[ -n ${SESSIONSPEC_MONGO_URL:-} ]]; then
        ensure_venv
        local shown
        shown="(at $(address "$SESSIONSPEC_MONGO_URL"))"
        hello "$SESSIONSPEC_MONGO_URL" 5 ||
            die "SESSIONSPEC_MONGO_URL $shown was given but does not answer hello; nothing started for it"
        log "using SESSIONSPEC_MONGO_URL $shown (answers hello)"
        emit_export "$SESSIONSPEC_MONGO_URL"
        return 0
    fi
    cmd_start "$@"
}

# Stops the recorded server if it is still ours, removes the temp dir this script created.
stop_recorded() {
    local deadline
    if owns_server; then
        log "stopping the server (pid $S_PID, port ${S_PORT:-?})"
        kill -TERM "$S_PID" 2>/dev/null || true
        deadline=$((SECONDS + 30))
        while alive "$S_PID" && ((SECONDS < deadline)); do
            sleep 0.1
        done
        if alive "$S_PID"; then
            log "pid $S_PID did not exit within 30s; killing it"
            kill -KILL "$S_PID" 2>/dev/null || true
        fi
    else
        log "the recorded server (pid ${S_PID:-?}) is not running"
    fi
    if [[ -n $S_DIR && $(basename "$S_DIR") == sessionspec-secantus.* && -d $S_DIR ]]; then
        rm -rf -- "$S_DIR"
        log "removed $S_DIR"
    fi
    rm -f "$STATE_FILE"
}

cmd_stop() {
    [[ -d $STATE_DIR ]] || { log "nothing was started"; return 0; }
    exec 9>"$STATE_DIR/lock"
    flock -w "$READY_TIMEOUT" 9 || die "another secantus.sh run holds $STATE_DIR/lock"
    read_state || { log "nothing was started"; return 0; }
    stop_recorded
}

running_url() {
    read_state && owns_server && [[ -n $S_PORT ]] && hello "$(url_for "$S_PORT")" 2 2>/dev/null
}

cmd_status() {
    if running_url; then
        log "running: pid $S_PID, $(url_for "$S_PORT"), data $S_DIR/data"
        return 0
    fi
    log "not running"
    return 3
}

cmd_url() {
    running_url || die "no server started by this script is running; use 'secantus.sh start'"
    emit_export "$(url_for "$S_PORT")"
}

cmd_selftest() {
    local url=${1:-} temporary=0 rc=0
    ensure_venv
    if [[ -z $url ]]; then
        if running_url; then
            url=$(url_for "$S_PORT")
        else
            log "no server running; starting one for the self-test"
            url=$(cmd_start) || exit 1
            url=$(sed -E "s/^export SESSIONSPEC_MONGO_URL='(.*)'$/\1/" <<<"$url")
            temporary=1
        fi
    fi
    log "self-test against $url"
    "$VENV/bin/python" "$HERE/check.py" selftest "$url" || rc=$?
    if ((temporary)); then
        read_state && stop_recorded
    fi
    return "$rc"
}

main() {
    local cmd=${1:-}
    shift || true
    case $cmd in
        start) cmd_start "$@" ;;
        up) cmd_up "$@" ;;
        stop) cmd_stop ;;
        status) cmd_status ;;
        url) cmd_url ;;
        selftest) cmd_selftest "$@" ;;
        -h | --help | help) usage ;;
        *) usage; exit 2 ;;
    esac
}

main "$@"
