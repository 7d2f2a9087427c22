#!/usr/bin/env bash
# pgbench doing the SQL store's pair (pair-postgres.sql) on connect-session-knex's PostgreSQL
# table (table-postgres.sql), beside `sessionspec bench --store sql-postgres`;
# harness/bench/pgbench.sh does the runs.
#   stores/sql/bench/pgbench.sh [URL]   (default: $SESSIONSPEC_POSTGRES_URL)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
exec "$here/../../../harness/bench/pgbench.sh" "$here/table-postgres.sql" "$here/pair-postgres.sql" "$@"
