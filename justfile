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
    eval "$(harness/backends/services.sh)"
    eval "$(harness/backends/mongo/secantus.sh up)"
    # Container tests need an engine and the locally built images (reused when present).
    export DOCKER_HOST="$(harness/backends/docker-engine.sh)"
    harness/backends/images/build.sh
    # The release binary is what users copy: the relocation test copies it out of the checkout.
    cargo build --release --quiet -p sessionspec
    SESSIONSPEC_BINARY="${CARGO_TARGET_DIR:-target}/release/sessionspec" cargo nextest run --workspace --no-fail-fast
    cargo test --workspace --doc --quiet
    just package
    just test-npm
    just test-packages
    harness/backends/matrix.sh

# The list is the crates of sessionspec-conformance's dependency tree.
# Package, and build from the packages, every crate a store author depends on (publishing is one command away).
package:
    cargo package --locked --quiet -p sessionspec-contract -p sessionspec-scenario -p sessionspec-report \
        -p sessionspec-runner -p sessionspec-suite -p sessionspec-conformance -p sessionspec-store-memory

# The names of the catalog's stores matching a jq filter, one `--store NAME` pair per line
# (`sessionspec list stores --json` is the one list of stores).
[private]
stores FILTER:
    @cargo run --quiet -p sessionspec -- list stores --json | jq -r 'select({{FILTER}}) | "--store", .name'

# Install the express adapter's npm packages from its lockfile (skipped when already installed).
npm:
    #!/usr/bin/env bash
    set -euo pipefail
    cd stores/express-adapter
    stamp=node_modules/.sessionspec-lock.sha256
    want=$(sha256sum package-lock.json | cut -d' ' -f1)
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        npm ci --no-audit --no-fund
        echo "$want" > "$stamp"
    fi

# The npm stores through the express adapter, held to their expectation files in reports/.
test-npm: npm
    #!/usr/bin/env bash
    set -euo pipefail
    eval "$(harness/backends/services.sh)"
    eval "$(harness/backends/mongo/secantus.sh up)"
    mapfile -t args < <(just stores '.family == "npm"')
    for f in reports/expectations/*.toml; do args+=(--expectations "$f"); done
    # Races inside the npm stores (connect-mongo #413, knex table creation) lose only sometimes:
    # a failure is retried, and one that passes on a retry is reported as flaky.
    cargo run --quiet -p sessionspec -- run --no-progress --retries 2 --out target/npm "${args[@]}"

# The npm packages (packages/build.sh) outside the checkout with no Rust toolchain
# (packages/test/outside.sh), then the community stores through them, each held to its
# expectation file in reports/ (stores/community/run.sh).
test-packages:
    #!/usr/bin/env bash
    set -euo pipefail
    cargo build --release --quiet -p sessionspec
    mapfile -t tarballs < <(packages/build.sh)
    packages/test/outside.sh "${tarballs[@]}"
    stores/community/run.sh --tarballs "${tarballs[@]}"

# Regenerate reports/ (Markdown, HTML, JSON lines, expectation files) from a real run of every store.
reports: npm
    #!/usr/bin/env bash
    set -euo pipefail
    eval "$(harness/backends/services.sh)"
    eval "$(harness/backends/mongo/secantus.sh up)"
    mapfile -t args < <(just stores 'true')
    expectations=()
    for f in reports/expectations/*.toml; do expectations+=(--expectations "$f"); done
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
    render --format markdown --out reports/compatibility.md
    render --format html --out reports/compatibility.html "${expectations[@]}"
    echo "reports/ regenerated: review with git diff -- reports/"

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
