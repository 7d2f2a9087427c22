#!/usr/bin/env bash
# Smoke test of the local server images: starts each built image of harness/backends/matrix.toml
# (or the named ones) on a random 127.0.0.1 port, waits for protocol-level readiness with a bound,
# and prints the server's self-reported version. Exits non-zero when any image fails.
# Always removes the containers it started, and only those (trap on EXIT, INT and TERM).
#
# Usage: check.sh [NAME...]   NAME as in build.sh, e.g. postgres:15 redis:7 (default: every built image)
# Env:   SESSIONSPEC_CHECK_TIMEOUT  seconds each server gets to become ready (default 30)
#        SESSIONSPEC_CHECK_CLIENTS  "image" to probe with the image's own clients even where the
#                                   host has psql, redis-cli, mariadb, pymongo (default "host")
#        SESSIONSPEC_MATRIX         another matrix file (default harness/backends/matrix.toml)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
matrix="${SESSIONSPEC_MATRIX:-$(dirname "$here")/matrix.toml}"
timeout_s="${SESSIONSPEC_CHECK_TIMEOUT:-30}"
clients="${SESSIONSPEC_CHECK_CLIENTS:-host}"
case "$clients" in host | image) ;; *) echo "check: SESSIONSPEC_CHECK_CLIENTS must be host or image" >&2; exit 2 ;; esac

say() { printf 'check: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

case "${1:-}" in -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 0 ;; esac

# One line per local image: "<name> <kind> <port>", name being `local` without "sessionspec/";
# an image several entries share (the environment entries run a plain entry's image) once.
[ -f "$matrix" ] || die "matrix file not found: $matrix"
mapfile -t entries < <(awk '
    function flush() {
        if (img != "") print substr(img, index(img, "/") + 1), kind, port
        img = ""; kind = ""; port = ""
    }
    /^\[\[backend\]\]/ { flush(); next }
    /^[ \t]*(#|$)/ { next }
    {
        line = $0; sub(/[ \t]*#.*$/, "", line)
        key = line; sub(/[ \t]*=.*$/, "", key); gsub(/[ \t]/, "", key)
        val = line; sub(/^[^=]*=[ \t]*/, "", val); gsub(/"/, "", val)
        if (key == "local") img = val; else if (key == "kind") kind = val; else if (key == "port") port = val
    }
    END { flush() }' "$matrix" | awk '!seen[$1]++')

export DOCKER_HOST
DOCKER_HOST="$("$(dirname "$here")/docker-engine.sh")"

image_exists() { docker image inspect "sessionspec/$1" >/dev/null 2>&1; }

selected=()
if [ "$#" -gt 0 ]; then
    for arg in "$@"; do
        name="${arg#sessionspec/}" found=""
        for e in "${entries[@]}"; do [ "${e%% *}" = "$name" ] && found="$e"; done
        [ -n "$found" ] || die "'$name' is not a local image in $matrix"
        selected+=("$found")
    done
else
    for e in "${entries[@]}"; do image_exists "${e%% *}" && selected+=("$e"); done
    [ "${#selected[@]}" -gt 0 ] || die "no local image is built; run harness/backends/images/build.sh"
fi

# Every container this run starts carries org.sessionspec.check=<run id>; cleanup removes exactly
# those, found by the label rather than by a list, so that a container whose `docker run` was
# still returning when a signal arrived is not missed.
run_id="$$-$(date +%s%N)"
cleanup() {
    local ids
    ids="$(docker ps -aq --filter "label=org.sessionspec.check=$run_id" 2>/dev/null)" || return 0
    if [ -n "$ids" ]; then
        # shellcheck disable=SC2086
        docker rm -f $ids >/dev/null 2>&1 || true
    fi
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT
trap 'say "terminated"; exit 143' TERM

now_ms() { date +%s%3N; }

# A client for the probe: the host's own when installed, else the same image's client run in a
# throw-away container on the host network (it still goes through the published port).
client() {
    local image="$1" tool="$2"
    shift 2
    if [ "$clients" = host ] && command -v "$tool" >/dev/null 2>&1; then
        "$tool" "$@"
    else
        docker run --rm --label org.sessionspec=1 --label "org.sessionspec.check=$run_id" \
            --network host "$image" "$tool" "$@"
    fi
}

# Prints the server's self-reported version once it answers at the protocol level; fails otherwise.
probe() {
    local kind="$1" image="$2" port="$3" out
    case "$kind" in
        postgres)
            PGCONNECT_TIMEOUT=2 client "$image" psql -h 127.0.0.1 -p "$port" -U postgres -d postgres \
                -XAtq -c 'SELECT version()' 2>/dev/null
            ;;
        redis)
            local cli=redis-cli
            if [[ "$image" == */valkey:* ]] && { [ "$clients" = image ] || ! command -v redis-cli >/dev/null; }; then
                cli=valkey-cli
            fi
            out="$(client "$image" "$cli" -h 127.0.0.1 -p "$port" PING 2>/dev/null)" || return 1
            [ "$out" = PONG ] || return 1
            client "$image" "$cli" -h 127.0.0.1 -p "$port" INFO server 2>/dev/null | tr -d '\r' | awk -F: '
                $1 == "redis_version" { r = $2 } $1 == "valkey_version" { v = $2 }
                END { if (v != "") print "Valkey " v " (redis_version " r ")"; else if (r != "") print "Redis " r; else exit 1 }'
            ;;
        mariadb)
            client "$image" mariadb -h 127.0.0.1 -P "$port" -u root --connect-timeout=2 -N -B \
                -e 'SELECT VERSION()' 2>/dev/null
            ;;
        mongo)
            # hello for readiness, then buildInfo for the version. pymongo: the host's if it has
            # one, else the copy inside the SecantusDB image.
            local script='
import sys, pymongo
c = pymongo.MongoClient(f"mongodb://127.0.0.1:{sys.argv[1]}/?directConnection=true",
                        serverSelectionTimeoutMS=2000, connectTimeoutMS=2000)
c.admin.command("hello")
b = c.admin.command("buildInfo")
print("MongoDB wire protocol, server version " + str(b.get("version")))'
            if [ "$clients" = host ] && python3 -c 'import pymongo' >/dev/null 2>&1; then
                python3 -c "$script" "$port" 2>/dev/null
            else
                docker run --rm --label org.sessionspec=1 --label "org.sessionspec.check=$run_id" \
                    --network host "$image" \
                    /opt/secantus/bin/python -c "$script" "$port" 2>/dev/null
            fi
            ;;
        *) say "no probe for kind '$kind'"; return 1 ;;
    esac
}

failed=() total_start=$(now_ms)
for e in "${selected[@]}"; do
    read -r name kind port <<<"$e"
    image="sessionspec/$name"
    if ! image_exists "$name"; then
        say "$name: FAIL: image $image is not built (run build.sh $name)"
        failed+=("$name")
        continue
    fi
    t0=$(now_ms)
    cid="$(docker run -d --label org.sessionspec=1 --label "org.sessionspec.check=$run_id" \
        -p "127.0.0.1::$port" "$image")" || { say "$name: FAIL: docker run"; failed+=("$name"); continue; }
    host_port="$(docker port "$cid" "$port/tcp" | awk -F: 'NR == 1 { print $NF }')"
    deadline=$((t0 + timeout_s * 1000)) version="" reason=""
    while :; do
        if version="$(probe "$kind" "$image" "$host_port")" && [ -n "$version" ]; then break; fi
        if [ "$(docker inspect --format '{{.State.Running}}' "$cid")" != true ]; then
            reason="container exited"; break
        fi
        if [ "$(now_ms)" -ge "$deadline" ]; then reason="not ready within ${timeout_s}s"; break; fi
        sleep 0.1
    done
    elapsed=$(($(now_ms) - t0))
    if [ -z "$reason" ]; then
        printf '%-18s ready in %d.%02d s  %s\n' "$name" $((elapsed / 1000)) $((elapsed % 1000 / 10)) "$version"
    else
        say "$name: FAIL: $reason; last log lines:"
        docker logs --tail 15 "$cid" 2>&1 | sed 's/^/    /' >&2
        failed+=("$name")
    fi
    docker rm -f "$cid" >/dev/null
done

total=$(($(now_ms) - total_start))
if [ "${#failed[@]}" -gt 0 ]; then
    die "${#failed[@]} of ${#selected[@]} failed: ${failed[*]}"
fi
say "all ${#selected[@]} images ready and answering ($((total / 1000)).$((total % 1000 / 100)) s in all)"
