# sessionspec tasks. `just run` is the main job; `just test-all` is what CI runs (.ci/run).
# Every recipe sets up what it needs itself; nothing has to be started by hand first.

set shell := ["bash", "-euo", "pipefail", "-c"]

# List the recipes.
default:
    @just --list

# The main job: the suite against the embedded stores (memory, sql-sqlite); reports in target/sessionspec/.
run *ARGS:
    cargo run --quiet -p sessionspec -- run {{ARGS}}

# Fast tests: everything that needs no server (unit, scenario corpus, broken stores, CLI snapshots).
test:
    cargo nextest run --workspace --no-fail-fast -E 'not binary(/^server_/)'

# Formatting, clippy with warnings as errors, and the scenario linter (coverage per requirement).
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets --quiet -- -D warnings
    cargo run --quiet -p sessionspec -- lint --quiet

# Start (or find) PostgreSQL, MariaDB, Redis and the MongoDB-compatible server; prints their URLs.
services:
    harness/backends/services.sh
    harness/backends/mongo/secantus.sh up

# Everything: lint, every test including those against real servers, and the suite on every store.
test-all: lint
    #!/usr/bin/env bash
    set -euo pipefail
    eval "$(harness/backends/services.sh)"
    eval "$(harness/backends/mongo/secantus.sh up)"
    cargo nextest run --workspace --no-fail-fast
    cargo test --workspace --doc --quiet

# Regenerate spec/scenario.schema.json from the scenario types (a test fails when it is stale).
schema:
    cargo run --quiet -p sessionspec -- schema > spec/scenario.schema.json

# Accept pending insta snapshots after reviewing them (`cargo insta review` if cargo-insta is installed).
snapshots:
    INSTA_UPDATE=always cargo nextest run --workspace -E 'not binary(/^server_/)' || true
    git status --short -- '*.snap'
