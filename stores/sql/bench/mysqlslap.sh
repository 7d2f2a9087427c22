#!/usr/bin/env bash
# mysqlslap doing the SQL store's pair on connect-session-knex's MySQL table (as the store creates
# it): an upsert of a session with its expiry, then a read of the live row, at 1 and at 32
# clients, three runs each: the machine's raw limit beside `sessionspec bench --store sql-mysql`.
# Works in a database of its own and drops it. Each client keeps its id in a session variable.
#   stores/sql/bench/mysqlslap.sh [HOST [PORT [USER]]]   (default: 127.0.0.1 3306 root)
set -euo pipefail
host=${1:-127.0.0.1} port=${2:-3306} user=${3:-root}
slap=$(command -v mariadb-slap || command -v mysqlslap)
client=$(command -v mariadb || command -v mysql)
database="slap_sessionspec_$$"
payload=$(cat "$(dirname "$0")/../../../harness/bench/payload.json")   # sessionspec bench's session
"$client" -h "$host" -P "$port" -u "$user" -e "CREATE DATABASE \`$database\` CHARACTER SET utf8mb4;
CREATE TABLE \`$database\`.\`sessions\` (\`sid\` VARBINARY(1020) NOT NULL, \`sess\` LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  \`expired\` DATETIME(3) NOT NULL, PRIMARY KEY (\`sid\`), INDEX (\`expired\`)) DEFAULT CHARSET=utf8mb4"
trap '"$client" -h "$host" -P "$port" -u "$user" -e "DROP DATABASE \`$database\`"' EXIT
pair="INSERT INTO sessions (sid, sess, expired) VALUES (@id := CONCAT('s', FLOOR(RAND() * 1000000000)), '$payload', '2031-01-01 00:00:00') ON DUPLICATE KEY UPDATE sess = VALUES(sess), expired = VALUES(expired);SELECT sess FROM sessions WHERE sid = @id AND expired > UTC_TIMESTAMP(3)"
for clients in 1 32; do
    for run in 1 2 3; do
        seconds=$("$slap" -h "$host" -P "$port" -u "$user" --create-schema="$database" --no-drop \
            --concurrency="$clients" --iterations=1 --number-of-queries=20000 --delimiter=";" --query="$pair" |
            sed -n 's/.*Average number of seconds to run all queries: \([0-9.]*\).*/\1/p')
        printf 'mysqlslap %2d client(s), run %d: %s pairs/s\n' "$clients" "$run" "$(echo "10000 / $seconds" | bc)"
    done
done
