#!/usr/bin/env bash
# pgbench doing the store's pair (pair.sql) on connect-pg-simple's table (table.sql), beside
# `sessionspec bench --store postgres`; harness/bench/pgbench.sh does the runs.
#   stores/postgres/bench/pgbench.sh [URL]   (default: $SESSIONSPEC_POSTGRES_URL)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
exec "$here/../../../harness/bench/pgbench.sh" "$here/table.sql" "$here/pair.sql" "$@"
