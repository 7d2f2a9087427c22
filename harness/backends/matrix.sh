#!/usr/bin/env bash
# Runs the suite on every backend version of harness/backends/matrix.toml, the environment entries
# (another time zone or clock) included, through containers, from nothing: a Docker engine
# (docker-engine.sh installs and starts one), the images (images/build.sh builds the missing ones
# and reuses the rest), then one `sessionspec run --matrix` in which each store runs once per
# version of its backend kind, side by side in one Markdown matrix.
# It never starts or removes a container itself: sessionspec labels and removes its own.
#
# Usage: harness/backends/matrix.sh [sessionspec run arguments...]
#        e.g. matrix.sh -k 'core.*'    or    matrix.sh --store node:knex-mysql --expectations FILE
# Env:   SESSIONSPEC_MATRIX_STORES  stores when no --store is given (default: every server-backed
#                                   reference store of `sessionspec list stores --json`)
#        SESSIONSPEC_MATRIX_OUT     results directory (default: target/sessionspec/matrix)
# Exit:  sessionspec's own code (0 all pass, 1 failures, 2 a store or backend cannot run,
#        3 incomplete), or 1 when the engine or an image cannot be had. Prints each step's time.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
out="${SESSIONSPEC_MATRIX_OUT:-target/sessionspec/matrix}"

say() { printf 'matrix: %s\n' "$*" >&2; }
now() { date +%s.%N; }
took() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }

start=$(now)
t=$(now)
DOCKER_HOST="$(harness/backends/docker-engine.sh)"
export DOCKER_HOST
engine_time=$(took "$t")

t=$(now)
harness/backends/images/build.sh
images_time=$(took "$t")

t=$(now)
cargo build --quiet -p sessionspec
build_time=$(took "$t")

sessionspec="${CARGO_TARGET_DIR:-target}/debug/sessionspec"
args=(run --matrix --no-progress --out "$out")
if ! printf '%s\n' "$@" | grep -qE '^(--store|-s)(=|$)'; then
    stores="${SESSIONSPEC_MATRIX_STORES:-$("$sessionspec" list stores --json \
        | jq -r 'select(.family == "reference" and .backend != null) | .name')}"
    for s in $stores; do args+=(--store "$s"); done
fi
t=$(now)
set +e
"$sessionspec" "${args[@]}" "$@"
code=$?
set -e
suite_time=$(took "$t")

say "engine $engine_time, images $images_time, sessionspec build $build_time, suite $suite_time; all $(took "$start")"
say "$out/matrix.md written (exit code $code)"
exit "$code"
