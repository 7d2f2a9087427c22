#!/usr/bin/env bash
# The npm packages as a store author gets them. In a fresh directory outside the checkout, with
# no Rust toolchain on PATH: npm install of the two packed tarballs and express-session, then
#   1. `npx sessionspec run --store ./store.js` runs every scenario of the suite;
#   2. `node --test` on a file calling conformance() (CommonJS and ESM) prints one test per
#      scenario, green with the store's expectation file;
#   3. a broken store file makes `node --test` fail, naming each scenario the binary finds broken.
# usage: packages/test/outside.sh [TARBALL TARBALL]   (default: packages/build.sh's)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
if [ $# -eq 2 ]; then
    tarballs=("$1" "$2")
else
    mapfile -t tarballs < <("$root/packages/build.sh")
fi
for t in "${tarballs[@]}"; do [ -f "$t" ] || { echo "outside: no tarball $t" >&2; exit 2; }; done
# The versions the express adapter pins: express-session, and connect-redis with its client.
pinned() { node -p "require('$root/stores/express-adapter/package.json').dependencies['$1']"; }
express_session=$(pinned express-session)
redis_packages=("connect-redis@$(pinned connect-redis)" "redis@$(pinned redis)")

work=$(mktemp -d "${TMPDIR:-/tmp}/sessionspec-outside.XXXXXX")
trap 'rm -rf "$work"' EXIT
case $work/ in "$root"/*) echo "outside: $work is inside the checkout" >&2; exit 2 ;; esac
cp "$here/fixtures/"* "$work/"
cd "$work"

# Node and the system tools only: no cargo, no rustc, nothing of this checkout's environment.
node_dir=$(dirname "$(command -v node)")
export PATH="$node_dir:/usr/local/bin:/usr/bin:/bin"
unset CARGO_TARGET_DIR RUSTC_WRAPPER SESSIONSPEC_EXPRESS_ADAPTER SESSIONSPEC_BINARY SESSIONSPEC_SCENARIOS SESSIONSPEC_SPEC
export XDG_CACHE_HOME=$work/.cache
for tool in cargo rustc; do
    if command -v "$tool" >/dev/null; then echo "outside: $tool is still on PATH ($(command -v "$tool"))" >&2; exit 2; fi
done

fail() { echo "outside: FAIL: $*" >&2; exit 1; }
say() { echo "outside: $*" >&2; }

npm init -y >/dev/null
npm install --no-audit --no-fund --loglevel=error "${tarballs[@]}" "express-session@$express_session" "${redis_packages[@]}" >&2
scenarios=$(npx sessionspec list scenarios --json | wc -l)
[ "$scenarios" -gt 0 ] || fail "npx sessionspec list scenarios printed nothing"
say "the suite holds $scenarios scenarios"

# 1. The CLI from the store author's directory. Failures are the store's (exit 1); 2 or 3 is not.
code=0
npx sessionspec run --store ./store.js --no-progress --out results \
    --write-expectations expectations >run.log 2>&1 || code=$?
[ "$code" -le 1 ] || { cat run.log >&2; fail "npx sessionspec run exited $code"; }
cases=$(grep -c '"type":"result"' results/results.jsonl || true)
[ "$cases" -eq "$scenarios" ] || fail "npx sessionspec run wrote $cases results, the suite has $scenarios scenarios"
grep -q '"incomplete":false' results/results.jsonl || fail "the run is incomplete"
expectations=$(ls expectations/*.toml)
say "npx sessionspec run: $cases results (exit $code), expectation file $expectations"

# 2. node --test with conformance(), held to the expectation file the run wrote: green.
for file in conformance.test.js conformance.test.mjs; do
    code=0
    EXPECTATIONS=$expectations node --test --test-reporter=tap "$file" >tap.log 2>&1 || code=$?
    tests=$(sed -n 's/^# tests \([0-9]*\)$/\1/p' tap.log)
    [ "$code" -eq 0 ] || { cat tap.log >&2; fail "node --test $file exited $code with the expectation file"; }
    [ "$tests" = "$scenarios" ] || fail "node --test $file printed '# tests $tests', the suite has $scenarios scenarios"
    say "node --test $file: $tests tests, $(sed -n 's/^# \(pass\|skipped\|todo\|fail\) /\1 /p' tap.log | paste -sd' ')"
done

# 3. A broken store: node --test fails, and names every scenario the binary says it breaks.
npx sessionspec run --store ./broken-store.js --no-progress --format json --out broken >broken.jsonl 2>/dev/null || true
mapfile -t broken < <(node -e "
for (const line of require('fs').readFileSync('broken.jsonl', 'utf8').split('\n')) {
  if (!line.startsWith('{')) continue;
  const r = JSON.parse(line);
  if (r.type === 'result' && ['fail', 'error', 'timeout'].includes(r.outcome)) console.log(r.scenario);
}")
[ "${#broken[@]}" -gt 0 ] || fail "the broken store fails no scenario"
code=0
STORE=./broken-store.js node --test --test-reporter=tap conformance.test.mjs >tap.log 2>&1 || code=$?
[ "$code" -ne 0 ] || fail "node --test passed on the broken store"
for id in "${broken[@]}"; do
    grep -q "^ *not ok [0-9]* - $id " tap.log || fail "node --test does not name broken scenario $id as failing"
done
failed=$(grep -c '^ *not ok [0-9]* - [a-z0-9-]*\.[a-z0-9.-]* (' tap.log || true)
[ "$failed" -eq "${#broken[@]}" ] || fail "node --test failed $failed tests, the binary finds ${#broken[@]} scenarios broken"
say "broken store: node --test exited $code naming all ${#broken[@]} broken scenarios (${broken[*]:0:3} ...)"

# 4. A store file declaring backendKind 'redis' on `--backend redis:7`: the binary starts the
# container, runs the suite on it and removes it. Needs a Docker engine: `just test-all` exports
# DOCKER_HOST after harness/backends/docker-engine.sh and the local images.
if [ -n "${DOCKER_HOST:-}" ]; then
    label=org.sessionspec.run
    before=$(docker ps -aq --filter "label=$label" | wc -l)
    code=0
    npx sessionspec run --store ./redis-store.js --backend redis:7 --no-progress --out redis \
        >redis.log 2>&1 || code=$?
    [ "$code" -le 1 ] || { cat redis.log >&2; fail "npx sessionspec run --backend redis:7 exited $code"; }
    grep -q '"id":"js:connect-redis@7"' redis/results.jsonl || fail "no js:connect-redis@7 target in the results"
    grep -q 'started .*redis:7\|container' redis.log || { cat redis.log >&2; fail "the log names no container"; }
    cases=$(grep -c '"type":"result"' redis/results.jsonl || true)
    [ "$cases" -eq "$scenarios" ] || fail "--backend redis:7 wrote $cases results, the suite has $scenarios scenarios"
    after=$(docker ps -aq --filter "label=$label" | wc -l)
    [ "$after" -eq "$before" ] || fail "containers labelled $label: $before before the run, $after after"
    say "--backend redis:7: $cases results on a container it started ($(grep -m1 -o 'started [^(]*' redis.log || true)), removed afterwards"
else
    say "NOT RUN: --backend redis:7 (DOCKER_HOST is unset; just test-all sets it)"
fi
say "ok"
