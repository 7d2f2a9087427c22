#!/usr/bin/env bash
# Gives this machine a working Docker engine: installs Debian's docker.io when dockerd is missing,
# starts dockerd when no engine answers, waits (bounded) for `docker info`, prints the socket URL.
# Idempotent; it never stops, restarts or reconfigures an engine that already answers.
#
# Usage: harness/backends/docker-engine.sh            # prints e.g. unix:///var/run/docker.sock
#        export DOCKER_HOST="$(harness/backends/docker-engine.sh)"
# Progress goes to stderr; stdout carries only the socket URL, so callers can capture it.
# Env: SESSIONSPEC_DOCKER_TIMEOUT (seconds to wait for the engine, default 60),
#      SESSIONSPEC_DOCKERD_LOG (default /var/log/sessionspec-dockerd.log).
set -euo pipefail

timeout_s="${SESSIONSPEC_DOCKER_TIMEOUT:-60}"
log_file="${SESSIONSPEC_DOCKERD_LOG:-/var/log/sessionspec-dockerd.log}"
default_sock="unix:///var/run/docker.sock"

say() { printf 'docker-engine: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# Root is needed to install packages and run dockerd; re-use sudo when it is there.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        die "need root to run: $*"
    fi
}

engine_answers() { docker -H "$1" info --format '{{.ServerVersion}}' >/dev/null 2>&1; }

report() {
    local host="$1" server api
    server="$(docker -H "$host" version --format '{{.Server.Version}}' 2>/dev/null || echo '?')"
    api="$(docker -H "$host" version --format '{{.Server.APIVersion}}' 2>/dev/null || echo '?')"
    say "engine ready at $host (server $server, API $api)"
    if [ "$host" != "$default_sock" ]; then say "set DOCKER_HOST=$host for clients"; fi
    printf '%s\n' "$host"
}

# 1. An engine already answers: use it as it is.
if command -v docker >/dev/null 2>&1; then
    if [ -n "${DOCKER_HOST:-}" ] && engine_answers "$DOCKER_HOST"; then report "$DOCKER_HOST"; exit 0; fi
    if engine_answers "$default_sock"; then report "$default_sock"; exit 0; fi
fi

# Steps 2-4 run under a lock so that concurrent callers neither install twice nor start two
# daemons; whoever waits re-checks, and finds the engine the first caller started.
lock_file=/var/lock/sessionspec-docker-engine.lock
exec 9>"$lock_file" || die "cannot open $lock_file (run as root)"
flock -w "$timeout_s" 9 || die "another docker-engine.sh held $lock_file for ${timeout_s}s"
if command -v docker >/dev/null 2>&1 && engine_answers "$default_sock"; then
    report "$default_sock"; exit 0
fi

# 2. Install the engine (and the CLI, iptables, containerd, runc it depends on) when missing.
if ! command -v dockerd >/dev/null 2>&1; then
    say "dockerd not found; installing Debian's docker.io with apt"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-cache show docker.io >/dev/null 2>&1; then
        as_root apt-get update -qq || die "apt-get update failed"
    fi
    as_root apt-get install -y -qq --no-install-recommends docker.io iptables >&2 \
        || die "apt-get install docker.io iptables failed (see the apt output above)"
    command -v dockerd >/dev/null 2>&1 || die "docker.io installed but dockerd is still not on PATH"
fi

# 3. Start dockerd unless one is already running (it may still be starting up).
pidfile=/var/run/docker.pid
if [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    say "dockerd already running (pid $(cat "$pidfile")); waiting for it to answer"
else
    say "starting dockerd in the background (log: $log_file)"
    as_root mkdir -p "$(dirname "$log_file")"
    # setsid + nohup: the daemon must outlive this script and the shell that ran it.
    as_root setsid nohup dockerd --host "$default_sock" --pidfile "$pidfile" \
        >>"$log_file" 2>&1 </dev/null 9>&- &
fi

# 4. Wait for the real condition, bounded.
deadline=$((SECONDS + timeout_s))
until engine_answers "$default_sock"; do
    if [ "$SECONDS" -ge "$deadline" ]; then
        say "last lines of $log_file:"
        tail -n 20 "$log_file" >&2 2>/dev/null || true
        die "engine did not answer on $default_sock within ${timeout_s}s"
    fi
    sleep 0.2
done
report "$default_sock"
