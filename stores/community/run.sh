#!/usr/bin/env bash
# Runs the community npm stores (the factory files here) through the packed sessionspec package,
# as their authors would: `npx sessionspec run --store ./<store>.js` from this directory, each
# held to its expectation file in reports/expectations/ (js-<store>.toml).
# usage: stores/community/run.sh [--out DIR] [--write-expectations] [--tarballs A B] [STORE...]
#        stores/community/run.sh --reproductions
#   --out DIR               results per store in DIR/<store>/ (default: target/community)
#   --write-expectations    rewrite the expectation files from this run (keeps written reasons)
#   --reproductions         instead of the runs: the direct calls behind every published failure
#                           (test/reproductions.test.js, `node --test`), on the same servers
# Backends: services.sh (MariaDB, PostgreSQL), secantus.sh (MongoDB-compatible) and a private
# Debian memcached on a free port unless SESSIONSPEC_MEMCACHED names one. Exit 1 when a store
# does not fail exactly as its expectation file says.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${CARGO_TARGET_DIR:-$root/target}/community
write=false
reproductions=false
tarballs=()
stores=()
while [ $# -gt 0 ]; do
    case $1 in
        --out) out=$(realpath -m "$2"); shift 2 ;;
        --write-expectations) write=true; shift ;;
        --reproductions) reproductions=true; shift ;;
        --tarballs) tarballs=("$2" "$3"); shift 3 ;;
        -*) sed -n '2,15p' "$0" >&2; exit 2 ;;
        *) stores+=("$1"); shift ;;
    esac
done
if [ ${#stores[@]} -eq 0 ]; then
    mapfile -t stores < <(cd "$here" && ls ./*.js | sed 's#^\./##; s#\.js$##' | grep -vx common)
fi
if [ ${#tarballs[@]} -eq 0 ] && ! $reproductions; then
    mapfile -t tarballs < <("$root/packages/build.sh")
fi

cd "$here"
stamp=node_modules/.sessionspec-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    npm ci --no-audit --no-fund --loglevel=error >&2
    echo "$want" > "$stamp"
fi
# What `npm install -D sessionspec` gives an author, without recording the tarballs' paths.
$reproductions || npm install --no-save --no-audit --no-fund --loglevel=error "${tarballs[@]}" >&2

eval "$("$root/harness/backends/services.sh" mysql postgres)"
eval "$("$root/harness/backends/mongo/secantus.sh" up)"
if [ -z "${SESSIONSPEC_MEMCACHED:-}" ]; then
    memcached=$(command -v memcached || echo /usr/bin/memcached)
    [ -x "$memcached" ] || { echo "community: memcached is not installed (apt-get install memcached)" >&2; exit 2; }
    port=$(node -e "const s = require('net').createServer().listen(0, '127.0.0.1', () => { console.log(s.address().port); s.close(); })")
    pidfile=$(mktemp)
    "$memcached" -d -l 127.0.0.1 -p "$port" -U 0 -u "$(id -un)" -P "$pidfile"
    trap 'kill "$(cat "$pidfile")" 2>/dev/null; rm -f "$pidfile"' EXIT
    export SESSIONSPEC_MEMCACHED=127.0.0.1:$port
    # Bounded wait for the port to answer.
    node -e "
const net = require('net'); const deadline = Date.now() + 10000;
(function tryOnce() { const s = net.connect($port, '127.0.0.1', () => { s.end(); process.exit(0); });
  s.on('error', () => Date.now() > deadline ? process.exit(1) : setTimeout(tryOnce, 50)); })();" ||
        { echo "community: memcached did not answer on port $port" >&2; exit 1; }
fi

if $reproductions; then
    # Every backend is set, so no store's reproductions are skipped.
    node --test test/
    exit
fi

mkdir -p "$out"
status=0
for store in "${stores[@]}"; do
    expectations=$root/reports/expectations/js-$store.toml
    args=(run --store "./$store.js" --no-progress --retries 2 --out "$out/$store")
    [ -f "$expectations" ] && args+=(--expectations "$expectations")
    $write && args+=(--write-expectations "$out/expectations")
    echo "community: npx sessionspec ${args[*]}" >&2
    code=0
    npx --no-install sessionspec "${args[@]}" >"$out/$store.log" 2>&1 || code=$?
    tail -n 4 "$out/$store.log" >&2
    if [ "$code" -ne 0 ] && ! { $write && [ "$code" -eq 1 ]; }; then
        echo "community: $store exited $code (log: $out/$store.log)" >&2
        status=1
    fi
done
if $write; then
    cp "$out"/expectations/js-*.toml "$root/reports/expectations/"
    echo "community: wrote reports/expectations/js-*.toml: check every reason before committing" >&2
fi
exit $status
