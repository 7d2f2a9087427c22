# sessionspec tasks. `just run` is the main job; `just test-all` is what CI runs (.ci/run).
# Every recipe sets up what it needs itself; nothing has to be started by hand first.

set shell := ["bash", "-euo", "pipefail", "-c"]

# List the recipes.
default:
    @just --list

# The main job: the suite against the embedded stores (memory, sql-sqlite); reports in target/sessionspec/.
run *ARGS:
    cargo run --quiet -p sessionspec -- run {{ARGS}}

# `slow_*` tests build other projects (examples/custom-store); `server_*` tests need servers.
# Fast tests: everything that needs no server (unit, scenario corpus, broken stores, CLI snapshots).
test:
    cargo nextest run --workspace --no-fail-fast -E 'not binary(/^(server|slow)_/)'

# Formatting, clippy with warnings as errors, the scenario linter (coverage per requirement), and
# actionlint on the workflows, the composite action they use and the store authors' example.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets --quiet -- -D warnings
    cargo run --quiet -p sessionspec -- lint --quiet
    actionlint .github/workflows/*.yml packages/sessionspec/examples/*.yml

# Start (or find) PostgreSQL, MariaDB, Redis and the MongoDB-compatible server; prints their URLs.
services:
    harness/backends/services.sh
    harness/backends/mongo/secantus.sh up

# Everything: lint, every test including those against real servers and the npm stores.
test-all: lint npm
    #!/usr/bin/env bash
    set -euo pipefail
    # Each phase says when it starts and how long it took (CI's budget is 45 minutes in all).
    phase() { local start=$SECONDS; echo "== test-all: $*" >&2; "$@"; echo "== test-all: $* passed in $((SECONDS - start)) s" >&2; }
    eval "$(harness/backends/services.sh)"
    eval "$(harness/backends/mongo/secantus.sh up)"
    # Container tests need an engine and the locally built images (reused when present).
    export DOCKER_HOST="$(harness/backends/docker-engine.sh)"
    phase harness/backends/images/build.sh
    # The release binary is what users copy: the relocation test copies it out of the checkout.
    phase cargo build --release --quiet -p sessionspec
    # Absolute: nextest runs each test binary from its own crate's directory.
    phase env SESSIONSPEC_BINARY="$(realpath "${CARGO_TARGET_DIR:-target}/release/sessionspec")" cargo nextest run --workspace --no-fail-fast
    phase cargo test --workspace --doc --quiet
    phase just package
    phase just test-site
    phase just test-npm
    phase just test-tower
    phase just test-resilience
    phase just test-environment
    phase just test-packages
    phase stores/community/run.sh --reproductions
    phase harness/backends/matrix.sh

# The list is the crates of sessionspec-conformance's dependency tree.
# Package, and build from the packages, every crate a store author depends on (publishing is one command away).
package:
    #!/usr/bin/env bash
    set -euo pipefail
    # Cargo treats the packages it verifies as registry crates, which never change: it extracts
    # them into CARGO_HOME once per version and reuses what it compiled from them. A crate changed
    # since an earlier `just package` would be checked against its siblings' old sources. So the
    # extractions (only this project's crates, in the local overlay registries, whose directory
    # names start with `-`) and the builds of this project's crates in the verification target
    # dir go first; the other dependencies' builds are kept.
    verify="${CARGO_TARGET_DIR:-$PWD/target}/package-verify"
    rm -rf "${CARGO_HOME:-$HOME/.cargo}"/registry/src/-*/sessionspec-*
    rm -rf "$verify"/debug/.fingerprint/sessionspec-* "$verify"/debug/deps/*sessionspec_*
    cargo package --locked --quiet --target-dir "$verify" \
        -p sessionspec-contract -p sessionspec-scenario -p sessionspec-report -p sessionspec-runner \
        -p sessionspec-suite -p sessionspec-conformance -p sessionspec-store-memory

# The names of the catalog's stores matching a jq filter, one `--store NAME` pair per line
# (`sessionspec list stores --json` is the one list of stores).
[private]
stores FILTER:
    @cargo run --quiet -p sessionspec -- list stores --json | jq -r 'select({{FILTER}}) | "--store", .name'

# Install the npm packages of the express adapter and of examples/axum-express's Express app from
# their lockfiles (each skipped when already installed).
npm:
    #!/usr/bin/env bash
    set -euo pipefail
    for dir in stores/express-adapter examples/axum-express/express; do
        stamp=$dir/node_modules/.sessionspec-lock.sha256
        want=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
        if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
            (cd "$dir" && npm ci --no-audit --no-fund)
            echo "$want" > "$stamp"
        fi
    done

# The npm stores through the express adapter, their variants among them, held to their
# expectation files in reports/.
test-npm: npm
    #!/usr/bin/env bash
    set -euo pipefail
    eval "$(harness/backends/services.sh)"
    eval "$(harness/backends/mongo/secantus.sh up)"
    mapfile -t args < <(just stores '.family == "npm"')
    for f in reports/expectations/node-*.toml; do args+=(--expectations "$f"); done
    # Races inside the npm stores (connect-mongo #413, knex table creation) lose only sometimes:
    # a failure is retried, and one that passes on a retry is reported as flaky.
    cargo run --quiet -p sessionspec -- run --no-progress --retries 2 --out target/npm "${args[@]}"
    # The adapter's own tests: fidelity to express-session, planted bugs, direct-call reproductions.
    (cd stores/express-adapter && node --test test/*.test.js)

# Only the npm stores' variants in the published table (earlier majors, connect-redis on
# ioredis or as its readme sets it up), each held to its expectation file; test-npm runs them too.
test-npm-variants: npm
    #!/usr/bin/env bash
    set -euo pipefail
    eval "$(harness/backends/services.sh)"
    mapfile -t args < <(just stores '.family == "npm" and .variant_of != null')
    for f in reports/expectations/node-*.toml; do args+=(--expectations "$f"); done
    cargo run --quiet -p sessionspec -- run --no-progress --retries 2 --out target/npm-variants "${args[@]}"

# The npm packages (packages/build.sh) outside the checkout with no Rust toolchain
# (packages/test/outside.sh).
test-packages:
    #!/usr/bin/env bash
    set -euo pipefail
    cargo build --release --quiet -p sessionspec
    mapfile -t tarballs < <(packages/build.sh)
    packages/test/outside.sh "${tarballs[@]}"

# The community stores through the packed packages, each held to its expectation file in
# reports/ (stores/community/run.sh). Not in test-all: several of these stores flip between
# runs (races, memcached's one-second clock) more often than their intermittent entries cover.
test-community:
    #!/usr/bin/env bash
    set -euo pipefail
    cargo build --release --quiet -p sessionspec
    mapfile -t tarballs < <(packages/build.sh)
    stores/community/run.sh --tarballs "${tarballs[@]}"
    # Their published failures reproduced by direct calls, against the same local servers.
    stores/community/run.sh --reproductions

# The resilience area (fault proxy between store and server) on every server-backed reference
# store, against the local services (the container matrix runs it on every backend version).
test-resilience:
    #!/usr/bin/env bash
    set -euo pipefail
    eval "$(harness/backends/services.sh)"
    eval "$(harness/backends/mongo/secantus.sh up)"
    mapfile -t args < <(just stores '.family == "reference" and .backend != null')
    cargo run --quiet -p sessionspec -- run --area resilience --no-progress --out target/resilience "${args[@]}"

# The environment entries of harness/backends/matrix.toml (a server time zone far from UTC, a
# server clock 2 h off, a connection time zone in the URL) beside the plain versions they vary:
# the expiry area (RES-8's scenarios, expiry.*whatever-server-time, are in it) and the two
# regressions RES-8 cites, on every PostgreSQL and MariaDB store but the tower and variant ones.
# The npm stores are held to reports/expectations/environment-*.toml. About 20 s with the images built.
# RES-8 (expiry whatever the server's time zone or clock): PostgreSQL and MariaDB stores on the environment entries.
test-environment: npm
    #!/usr/bin/env bash
    set -euo pipefail
    export DOCKER_HOST="$(harness/backends/docker-engine.sh)"
    harness/backends/images/build.sh postgres:15 mariadb:10.11
    just environment-run target/environment

# Regenerate reports/environment.md and its expectation files from a real run of test-environment's cases.
environment-report: npm
    #!/usr/bin/env bash
    set -euo pipefail
    export DOCKER_HOST="$(harness/backends/docker-engine.sh)"
    harness/backends/images/build.sh postgres:15 mariadb:10.11
    rm -rf target/environment-report
    # Failures are the point of this run; the exit code only says whether there were any.
    just environment-run target/environment-report --write-expectations target/environment-report/expectations || true
    # The npm stores' files only: a reference store has no known failure to list, so any fails the run.
    for f in target/environment-report/expectations/node-*.toml; do
        cp "$f" "reports/expectations/environment-$(basename "$f")"
    done
    expectations=()
    for f in reports/expectations/environment-*.toml; do expectations+=(--expectations "$f"); done
    cargo run --quiet -p sessionspec -- report target/environment-report/results.jsonl --format markdown \
        --out reports/environment.md "${expectations[@]}" || [ $? -eq 1 ]
    echo "reports/environment.md regenerated: review with git diff -- reports/"

# test-environment's run into OUT, with any further `sessionspec run` arguments.
[private]
environment-run OUT *ARGS:
    #!/usr/bin/env bash
    set -euo pipefail
    mapfile -t args < <(just stores '(.family == "reference" or .family == "npm") and .variant_of == null and (.backend == "postgres" or .backend == "mariadb")')
    for b in postgres:15 mariadb:10.11; do args+=(--backend "$b"); done
    # Every PostgreSQL and MariaDB environment entry of the matrix: their versions carry a suffix (15-tz-kiritimati).
    mapfile -t entries < <(cargo run --quiet -p sessionspec -- matrix | awk '/^[a-z]+:[^ ]+-/ && $1 ~ /^(postgres|mariadb):/ { print $1 }')
    for b in "${entries[@]}"; do args+=(--backend "$b"); done
    for f in reports/expectations/environment-*.toml; do [ -e "$f" ] && args+=(--expectations "$f"); done
    cargo run --quiet -p sessionspec -- run --no-progress --retries 2 --out {{quote(OUT)}} \
        -k 'expiry.*' \
        -k 'regressions.connect-pg-simple-25-*' -k 'regressions.connect-session-knex-51-*' \
        "${args[@]}" {{ARGS}}

# Regenerate reports/ (Markdown, HTML, JSON lines, expectation files) from a real run of every store.
reports: npm
    #!/usr/bin/env bash
    set -euo pipefail
    eval "$(harness/backends/services.sh)"
    eval "$(harness/backends/mongo/secantus.sh up)"
    mapfile -t args < <(just stores '.family != "tower"')
    expectations=()
    for f in reports/expectations/node-*.toml; do expectations+=(--expectations "$f"); done
    # Failures are the point of this run; the exit code only says whether there were any.
    cargo run --quiet -p sessionspec -- run --no-progress --retries 2 -j 6 --out target/compat \
        --write-expectations target/compat/expectations "${expectations[@]}" "${args[@]}" || true
    cp target/compat/expectations/node-*.toml reports/expectations/
    # The community stores through the npm packages, as their authors run them (js-*.toml).
    cargo build --release --quiet -p sessionspec
    stores/community/run.sh --out target/compat-community --write-expectations || true
    cargo run --quiet -p sessionspec -- report target/compat/results.jsonl target/compat-community/*/results.jsonl \
        --format jsonl --out reports/compatibility.jsonl || [ $? -eq 1 ]
    # `report` exits 1 when the results hold failures, as these do; 2 or 3 is a real problem.
    render() { cargo run --quiet -p sessionspec -- report reports/compatibility.jsonl "$@" || [ $? -eq 1 ]; }
    # Every expectation file's reasons, the community stores' (js-*.toml) among them.
    reasons=()
    for f in reports/expectations/*.toml; do reasons+=(--expectations "$f"); done
    render --format markdown --out reports/compatibility.md "${reasons[@]}"
    render --format html --out reports/compatibility.html "${reasons[@]}"
    # The resilience area alone on every server-backed store, its own table (reports/resilience.md).
    mapfile -t servers < <(just stores '.family != "tower" and .backend != null')
    cargo run --quiet -p sessionspec -- run --no-progress --retries 2 --area resilience \
        --out target/compat-resilience "${expectations[@]}" "${servers[@]}" || true
    cargo run --quiet -p sessionspec -- report target/compat-resilience/results.jsonl --format markdown \
        --out reports/resilience.md "${expectations[@]}" || [ $? -eq 1 ]
    # RES-8 on the matrix's environment entries, in containers (reports/environment.md).
    just environment-report
    just site
    echo "reports/ regenerated: review with git diff -- reports/"

# reports/site/ is what the Pages job publishes; `just test-site` builds into target/site.
# Rebuild the static site into DIR from the committed results and expectation files (no run).
site DIR="reports/site":
    #!/usr/bin/env bash
    set -euo pipefail
    dir={{quote(DIR)}}
    # The directory is replaced whole: only an earlier site, never some other directory.
    if [ -e "$dir" ] && [ ! -f "$dir/index.html" ]; then echo "$dir exists and is not a site: not replacing it" >&2; exit 2; fi
    expectations=()
    for f in reports/expectations/*.toml; do expectations+=(--expectations "$f"); done
    bench=()
    if [ -f reports/bench.json ]; then bench=(--bench reports/bench.json); fi
    rm -rf "$dir"
    cargo run --quiet -p sessionspec -- site reports/compatibility.jsonl --out "$dir" \
        --source-url https://github.com/sessionspec/sessionspec/blob/main/ "${expectations[@]}" "${bench[@]}"

# harness/report/browser/check-site.js: pages load without console errors, links and anchors
# resolve, the matrix filter narrows, the index's store table fits 1,400 and 390 px (screenshots
# in target/site-screenshots). Then self-test.js plants a fault for each check in a copy of the
# site and expects every one reported.
# The site (built into target/site; reports/ is left as it is) and the checkout's Markdown in headless chromium.
test-site: (site "target/site")
    #!/usr/bin/env bash
    set -euo pipefail
    # Debian's chromium and chromedriver; the emoji font draws the tables' ✅ and ❌ as readers see them.
    packages=(chromium chromium-driver fonts-noto-color-emoji)
    if ! dpkg -s "${packages[@]}" >/dev/null 2>&1; then
        root=(); if [ "$(id -u)" -ne 0 ]; then root=(sudo); fi
        "${root[@]}" apt-get update -qq && "${root[@]}" apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
    fi
    # The checkout's Markdown: the files git tracks or, without .git, all but build output and npm packages.
    if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        mapfile -t markdown < <(git ls-files '*.md')
    else
        mapfile -t markdown < <(find . -name '*.md' -not -path '*/target/*' -not -path '*/node_modules/*' -not -path './.sessionspec/*' | sort)
    fi
    if [ "${#markdown[@]}" -lt 10 ]; then echo "only ${#markdown[@]} Markdown files found: not the checkout?" >&2; exit 1; fi
    args=()
    for f in "${markdown[@]}"; do args+=(--markdown "$f"); done
    node harness/report/browser/check-site.js target/site "${args[@]}" --screenshots target/site-screenshots
    node harness/report/browser/self-test.js target/site

# Build ecosystem/tower's adapter: the tower-sessions stores, in a workspace of their own (own
# lockfile, own target dir: SESSIONSPEC_TOWER_TARGET or ecosystem/tower/target). Prints the binary.
tower-build:
    #!/usr/bin/env bash
    set -euo pipefail
    export CARGO_TARGET_DIR="${SESSIONSPEC_TOWER_TARGET:-$PWD/ecosystem/tower/target}"
    (cd ecosystem/tower && cargo build --locked --quiet -p sessionspec-tower)
    echo "$CARGO_TARGET_DIR/debug/sessionspec-tower"

# The tower-sessions stores held to their expectation files (reports/expectations/tower-*.toml),
# and the direct calls that reproduce those failures.
test-tower:
    #!/usr/bin/env bash
    set -euo pipefail
    eval "$(harness/backends/services.sh)"
    eval "$(harness/backends/mongo/secantus.sh up)"
    export SESSIONSPEC_TOWER_ADAPTER="$(just tower-build)"
    # The catalog's tower: names (but this repository's own, tower:reference-*) and the adapter's are one list.
    diff <(just stores '.family == "tower" and (.name | startswith("tower:reference-") | not)' | grep -v -- --store | sed 's/^tower://') \
        <("$SESSIONSPEC_TOWER_ADAPTER" --list | cut -f1)
    mapfile -t args < <(just stores '.family == "tower"')
    for f in reports/expectations/tower-*.toml; do args+=(--expectations "$f"); done
    cargo run --quiet -p sessionspec -- run --no-progress --retries 2 --out target/tower $(just tower-areas) "${args[@]}"
    # The direct calls behind the published failures (tests/reproductions.rs).
    (cd ecosystem/tower && CARGO_TARGET_DIR="${SESSIONSPEC_TOWER_TARGET:-$PWD/target}" cargo test --locked --quiet)

# The areas the tower-sessions table runs: all but resilience, whose faults would also meet the
# catalog's own work (migrations, drops) and whose failures no direct call reproduces yet.
[private]
tower-areas:
    @for a in scenarios/*/; do a=$(basename "$a"); [ "$a" = resilience ] || printf -- '--area %s ' "$a"; done

# Regenerate reports/tower-sessions.* and the tower expectation files from a real run.
tower-reports:
    #!/usr/bin/env bash
    set -euo pipefail
    eval "$(harness/backends/services.sh)"
    eval "$(harness/backends/mongo/secantus.sh up)"
    export SESSIONSPEC_TOWER_ADAPTER="$(just tower-build)"
    mapfile -t args < <(just stores '.family == "tower"')
    expectations=()
    for f in reports/expectations/tower-*.toml; do expectations+=(--expectations "$f"); done
    cargo run --quiet -p sessionspec -- run --no-progress --retries 2 --out target/tower $(just tower-areas) \
        --write-expectations target/tower/expectations "${expectations[@]}" "${args[@]}" || true
    cp target/tower/results.jsonl reports/tower-sessions.jsonl
    cp target/tower/expectations/tower-*.toml reports/expectations/
    render() { cargo run --quiet -p sessionspec -- report reports/tower-sessions.jsonl "$@" || [ $? -eq 1 ]; }
    render --format markdown --out reports/tower-sessions.md
    render --format html --out reports/tower-sessions.html "${expectations[@]}"
    echo "reports/tower-sessions.* regenerated: review with git diff -- reports/"

# Every backend version of harness/backends/matrix.toml through containers (engine and images first).
matrix *ARGS:
    harness/backends/matrix.sh {{ARGS}}

# With no arguments: every server-backed reference store of the catalog.
# Store benchmark (release build): each store against bare-driver loops on the same server; figures in harness/bench/README.md.
bench *ARGS:
    #!/usr/bin/env bash
    set -euo pipefail
    eval "$(harness/backends/services.sh)"
    eval "$(harness/backends/mongo/secantus.sh up)"
    args=({{ARGS}})
    if [ "${#args[@]}" -eq 0 ]; then mapfile -t args < <(just stores '.family == "reference" and .backend != null'); fi
    cargo build --release --quiet -p sessionspec
    ./target/release/sessionspec bench "${args[@]}"

# Regenerate spec/scenario.schema.json from the scenario types (a test fails when it is stale).
schema:
    cargo run --quiet -p sessionspec -- schema > spec/scenario.schema.json

# Accept pending insta snapshots after reviewing them (`cargo insta review` if cargo-insta is installed).
snapshots:
    INSTA_UPDATE=always cargo nextest run --workspace -E 'not binary(/^server_/)' || true
    git status --short -- '*.snap'
