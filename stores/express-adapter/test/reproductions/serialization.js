'use strict';
// Serialization on MariaDB (connect-session-knex): SER-3 (deep data round-trips) and SER-7
// (sids are compared byte for byte).

const assert = require('node:assert/strict');
const { call, failure, session } = require('./helpers');

const HOUR = 3600000;

/** `leaf` inside `depth` objects, each holding the next under `key` (the scenarios' $nest). */
function nest(depth, key, leaf) {
  let value = leaf;
  for (let i = 0; i < depth; i += 1) {
    value = { [key]: value };
  }
  return value;
}

/** SER-3: MariaDB's check on the json column rejects the deep document; set fails. */
async function deepRejected({ store, now }, data) {
  const err = await failure(store, 'set', 'a', session(now, HOUR, data));
  assert.match(err.message, /CONSTRAINT `sessions`?\.`?sess` failed/);
}

/**
 * SER-7: the sids differ only where MariaDB's default collation does not look (case, accents,
 * trailing spaces): they are one row, and get of the first returns the last written.
 */
async function oneRow({ store, now }, sids) {
  for (const [n, sid] of sids.entries()) {
    await call(store, 'set', sid, session(now, HOUR, { n }));
  }
  const found = await call(store, 'get', sids[0]);
  assert.equal(found.n, sids.length - 1, `get(${JSON.stringify(sids[0])}) returns the session of ${JSON.stringify(sids.at(-1))}`);
}

module.exports = {
  'serialization.deep-nesting': (ctx) => deepRejected(ctx, { deep: nest(100, 'child', { end: true }) }),
  'serialization.deep-nesting-arrays': (ctx) => deepRejected(ctx, { list: [nest(99, 'k', [1, [2, [3]]])] }),
  'serialization.sid-case-sensitive': (ctx) => oneRow(ctx, ['session', 'Session', 'SESSION', 'sEsSiOn']),
  'serialization.sid-accent-sensitive': (ctx) => oneRow(ctx, ['cafe', 'café', 'cafè', 'CAFÉ']),
  'serialization.sid-trailing-space': (ctx) => oneRow(ctx, ['abc', 'abc ', 'abc  ']),
};
