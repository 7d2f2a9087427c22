-- One pair, as the SQL store runs it on connect-session-knex's PostgreSQL table: an upsert of a
-- session with its expiry, then a read of the live row. Ids are drawn from a range wide enough
-- that nearly every upsert inserts, as in `sessionspec bench` (a fresh namespace per run). The
-- payload, the benchmark's 343-byte express-session session (harness/bench/payload.json), comes from pgbench.sh.
\set id random(1, 1000000000)
INSERT INTO sessions (sid, sess, expired) VALUES ('s' || :id, :payload::json, '2031-01-01T00:00:00Z') ON CONFLICT (sid) DO UPDATE SET sess = EXCLUDED.sess, expired = EXCLUDED.expired;
SELECT sess FROM sessions WHERE sid = 's' || :id AND expired > now();
