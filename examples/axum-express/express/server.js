// The Express half of the example: the same routes as the axum app (POST /login, GET /me,
// POST /logout) on connect-redis or connect-pg-simple, with the same secret, so a session logged
// in on either app is seen by both. Configured by the environment, like the axum app:
//   SESSION_STORE      redis | postgres
//   SESSION_STORE_URL  redis://127.0.0.1:6379/ or postgres://postgres@127.0.0.1:5432/postgres
//   SESSION_SECRET     the cookie-signing secret, the same in both apps
//   PORT               default 3000; 0 picks a free port
//   SESSION_PREFIX     Redis key prefix (default connect-redis's `sess:`)
//   SESSION_SCHEMA     PostgreSQL schema of the `session` table (default: the search_path)
// Prints `listening on http://127.0.0.1:<port>` once it accepts connections.
'use strict';

const crypto = require('node:crypto');
const express = require('express');
const session = require('express-session');

function required(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`${name} is not set (see the comment at the top of server.js)`);
    process.exit(2);
  }
  return value;
}

async function openStore(kind, url) {
  if (kind === 'redis') {
    const { createClient } = require('redis');
    const { RedisStore } = require('connect-redis');
    const client = createClient({ url });
    client.on('error', (err) => console.error('redis:', err.message));
    await client.connect();
    return new RedisStore({ client, prefix: process.env.SESSION_PREFIX || 'sess:' });
  }
  if (kind === 'postgres') {
    const pg = require('pg');
    const PgStore = require('connect-pg-simple')(session);
    // connect-pg-simple writes `expire` as to_timestamp(...), which PostgreSQL stores in the
    // connection's time zone; the Rust store reads it as UTC (stores/postgres/README.md).
    const pool = new pg.Pool({ connectionString: url, options: '-c TimeZone=UTC' });
    return new PgStore({
      pool,
      schemaName: process.env.SESSION_SCHEMA || undefined,
      createTableIfMissing: true,
    });
  }
  console.error(`SESSION_STORE must be redis or postgres, not ${JSON.stringify(kind)}`);
  process.exit(2);
}

async function main() {
  const store = await openStore(required('SESSION_STORE'), required('SESSION_STORE_URL'));
  const app = express();
  app.use(express.json());
  app.use(
    session({
      store,
      secret: required('SESSION_SECRET'),
      resave: false,
      saveUninitialized: false,
      cookie: { maxAge: 24 * 60 * 60 * 1000, httpOnly: true },
      // tower-sessions reads a session id only as 16 bytes in unpadded base64url (22 characters);
      // express-session's default (uid-safe, 24 bytes: 32 characters) would be invisible to the
      // axum app. Any id of this shape works for both.
      genid: () => crypto.randomBytes(16).toString('base64url'),
    }),
  );

  app.post('/login', (req, res, next) => {
    const user = req.body && req.body.user;
    if (typeof user !== 'string') return res.status(400).json({ error: 'expected {"user": name}' });
    // A new id at each login, so an id known before is never the one that becomes logged in.
    req.session.regenerate((err) => {
      if (err) return next(err);
      req.session.user = user;
      req.session.save((err) => (err ? next(err) : res.json({ user })));
    });
  });

  app.get('/me', (req, res) => {
    if (req.session.user) return res.json({ user: req.session.user });
    res.status(401).json({ error: 'not logged in' });
  });

  app.post('/logout', (req, res, next) => {
    req.session.destroy((err) => {
      if (err) return next(err);
      res.clearCookie('connect.sid', { path: '/' });
      res.status(204).end();
    });
  });

  const port = Number(process.env.PORT || 3000);
  const server = app.listen(port, '127.0.0.1', (err) => {
    if (err) throw err;
    console.log(`listening on http://127.0.0.1:${server.address().port}`);
  });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
