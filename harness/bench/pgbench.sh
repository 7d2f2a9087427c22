#!/usr/bin/env bash
# pgbench doing one store's pair (an upsert of a session with its expiry, then a read of the live
# row) at 1 and at 32 clients, three runs each: the machine's raw limit beside `sessionspec bench`.
# TABLE_SQL creates the store's table and PAIR_SQL is the pair as the store runs it; both name the
# table unqualified. Works in a schema of its own and drops it; touches nothing else.
#   harness/bench/pgbench.sh TABLE_SQL PAIR_SQL [URL]   (default: $SESSIONSPEC_POSTGRES_URL)
# The stores' own bench/pgbench.sh scripts call this with their files.
set -euo pipefail
table=${1:?pass the SQL file that creates the table}
pair=${2:?pass the SQL file of the pair}
url=${3:-${SESSIONSPEC_POSTGRES_URL:?pass a PostgreSQL URL or set SESSIONSPEC_POSTGRES_URL}}
here=$(cd "$(dirname "$0")" && pwd)
schema="pgbench_sessionspec_$$"
# The session every pair writes: sessionspec bench's payload.
payload=$(cat "$here/payload.json")
psql "$url" -qv ON_ERROR_STOP=1 -c "CREATE SCHEMA \"$schema\""
trap 'psql "$url" -qc "DROP SCHEMA \"$schema\" CASCADE"' EXIT
PGOPTIONS="-c search_path=$schema" psql "$url" -qv ON_ERROR_STOP=1 -f "$table"
for clients in 1 32; do
    for run in 1 2 3; do
        tps=$(PGOPTIONS="-c search_path=$schema" pgbench "$url" -n -M prepared -f "$pair" -D "payload=$payload" \
            -c "$clients" -j "$(( clients < 2 ? 1 : 2 ))" -t "$(( 10000 / clients ))" 2>/dev/null |
            sed -n 's/^tps = \([0-9.]*\).*/\1/p')
        printf 'pgbench %2d client(s), run %d: %s pairs/s\n' "$clients" "$run" "$tps"
    done
done
