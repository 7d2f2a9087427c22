-- One pair, as the store runs it on connect-pg-simple's table: an upsert of a session with its
-- expiry, then a read of the live row. Ids are drawn from a range wide enough that nearly every
-- upsert inserts, as in `sessionspec bench` (a fresh namespace per run). The payload, the
-- benchmark's 343-byte express-session session (harness/bench/payload.json), comes from
-- harness/bench/pgbench.sh as `-D payload=...`.
\set id random(1, 1000000000)
INSERT INTO session (sid, sess, expire) VALUES ('s' || :id, :payload::json, '2031-01-01 00:00:00') ON CONFLICT (sid) DO UPDATE SET sess = EXCLUDED.sess, expire = EXCLUDED.expire;
SELECT sess FROM session WHERE sid = 's' || :id AND expire > (now() AT TIME ZONE 'UTC');
