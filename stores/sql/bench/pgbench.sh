#!/usr/bin/env bash
# pgbench doing the SQL store's pair (bench/pair-postgres.sql) on connect-session-knex's
# PostgreSQL table, at 1 and at 32 clients, three runs each: the machine's raw limit beside
# `sessionspec bench --store sql-postgres`. Works in a schema of its own and drops it.
#   stores/sql/bench/pgbench.sh [URL]   (default: $SESSIONSPEC_POSTGRES_URL)
set -euo pipefail
url=${1:-${SESSIONSPEC_POSTGRES_URL:?pass a PostgreSQL URL or set SESSIONSPEC_POSTGRES_URL}}
here=$(cd "$(dirname "$0")" && pwd)
schema="pgbench_sessionspec_sql_$$"
# The session every pair writes: sessionspec bench's payload.
payload='{"cart":[{"qty":2,"sku":"A-1"},{"qty":1,"sku":"B-7"}],"cookie":{"expires":"2031-01-01T00:00:00.000Z","httpOnly":true,"originalMaxAge":86400000,"path":"/","sameSite":"lax","secure":false},"csrfSecret":"tT2mGq0v9Xy3J6bKpLw8RzQe","flash":{},"user":{"email":"ada@example.org","id":4242,"name":"Ada Lovelace","roles":["admin","editor"]},"views":17}'
psql "$url" -qv ON_ERROR_STOP=1 <<SQL
CREATE SCHEMA "$schema";
CREATE TABLE "$schema"."sessions" ("sid" varchar(255) NOT NULL, "sess" json NOT NULL, "expired" timestamptz NOT NULL, PRIMARY KEY ("sid"));
CREATE INDEX ON "$schema"."sessions" ("expired");
SQL
trap 'psql "$url" -qc "DROP SCHEMA \"$schema\" CASCADE"' EXIT
for clients in 1 32; do
    for run in 1 2 3; do
        tps=$(PGOPTIONS="-c search_path=$schema" pgbench "$url" -n -M prepared -f "$here/pair-postgres.sql" -D "payload=$payload" \
            -c "$clients" -j "$(( clients < 2 ? 1 : 2 ))" -t "$(( 10000 / clients ))" 2>/dev/null |
            sed -n 's/^tps = \([0-9.]*\).*/\1/p')
        printf 'pgbench %2d client(s), run %d: %s pairs/s\n' "$clients" "$run" "$tps"
    done
done
