'use strict';
// connect-redis, in the version a preset names, with the Redis client it names (node-redis or
// ioredis). Keys live under `{namespace}:{name}:` (name defaults to `sess`), the layout the
// reference Redis store uses, so both can read one namespace. Expiry is Redis's key TTL, decided
// on the server: no virtual clock. Raw inspection goes through an admin node-redis client,
// whatever client the store is given, straight to the server (never through a fault proxy).

const { createClient } = require('redis');
const { onlyOptions, baseName, checkNamespace, backendUrl, adminUrl, durationSeconds, flipMiddle, GARBAGE, packageVersion } = require('./options');

let admin = null;

async function adminClient() {
  if (!admin) {
    admin = createClient({ url: adminUrl('SESSIONSPEC_REDIS_URL', 'redis') });
    admin.on('error', () => {});
    await admin.connect();
  }
  return admin;
}

function prefixOf(namespace, options) {
  return `${checkNamespace(namespace)}:${baseName(options, 'sess')}:`;
}

async function keysUnder(client, prefix) {
  const keys = [];
  for await (const batch of client.scanIterator({ MATCH: `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`, COUNT: 200 })) {
    keys.push(...(Array.isArray(batch) ? batch : [batch]));
  }
  return keys;
}

// The store class of each connect-redis major: 7 exports it as `default`, 8 and 9 by name.
function storeClass(pkg) {
  const m = require(pkg);
  return m.RedisStore || m.default;
}

// A connected store client of the package named: `redis` (node-redis 5), `redis-4` (node-redis 4,
// the client connect-redis 7 and 8 were built and tested with) or `ioredis`. With `readme`, a
// node-redis client made as connect-redis's readme shows: `createClient()` with no `error`
// listener, and `connect()` started, its rejection logged, not awaited.
async function storeClient(kind, readme, log) {
  const url = backendUrl('SESSIONSPEC_REDIS_URL', 'redis');
  if (readme) {
    const client = require(kind).createClient({ url });
    client.connect().catch((err) => log(`connect-redis readme setup: connect: ${err && err.message}`));
    // A client still reconnecting would wait for the server to quit: it is destroyed instead.
    return { client, close: () => (client.isReady ? client.quit() : client.isOpen ? client.destroy() : undefined) };
  }
  if (kind === 'ioredis') {
    const { Redis } = require('ioredis');
    // ioredis's defaults, as connect-redis 8's readme sets it up (`new Redis()`); lazyConnect only
    // lets the open await the connection as the node-redis setup awaits `connect()`.
    const client = new Redis(url, { lazyConnect: true });
    client.on('error', () => {});
    await client.connect();
    return { client, close: () => (client.status === 'end' ? undefined : client.quit()) };
  }
  const client = require(kind).createClient({ url });
  client.on('error', () => {}); // errors reach the operations that meet them
  await client.connect();
  return { client, close: () => (client.isOpen ? client.quit() : undefined) };
}

// `pkg` is the npm name (an alias for older majors), `client_` the Redis client package (an alias
// for node-redis 4); `setup` is `careful` (an `error` listener, the open awaits the connection)
// or `readme` (the client as connect-redis's readme makes it).
function preset(pkg, client_, setup = 'careful') {
  const clientName = client_ === 'ioredis' ? 'ioredis' : 'node-redis';
  const RedisStore = storeClass(pkg);
  return {
    name: 'connect-redis',
    backendKind: 'redis',
    version: `${packageVersion(pkg)} (${clientName} ${packageVersion(client_)}${setup === 'readme' ? ', readme setup' : ''})`,
    homepage: 'https://github.com/tj/connect-redis',
    capabilities: ['touch', 'all', 'length', 'clear', 'ids', 'ttl', 'disable-touch', 'naming', 'raw-inspection', 'shared-namespace'],
    async backend() {
      const client = await adminClient();
      const info = await client.info('server');
      const match = /redis_version:([^\r\n]+)/.exec(info);
      return { name: 'redis', ...(match ? { version: match[1] } : {}) };
    },
    async open({ namespace, options, log }) {
      onlyOptions(options, ['ttl', 'disable-touch', 'name'], 'connect-redis');
      const { client, close } = await storeClient(client_, setup === 'readme', log);
      const store = new RedisStore({
        client,
        prefix: prefixOf(namespace, options),
        ...(options.ttl !== undefined ? { ttl: durationSeconds(options.ttl, 'ttl', 'connect-redis') } : {}),
        ...(options['disable-touch'] ? { disableTouch: true } : {}),
      });
      return {
        store,
        allIdMember: 'id', // connect-redis injects the sid as `id` into each session of all()
        async close() {
          await close();
        },
      };
    },
    async drop(namespace) {
      const client = await adminClient();
      const keys = await keysUnder(client, `${checkNamespace(namespace)}:`);
      if (keys.length > 0) {
        await client.del(keys);
      }
    },
    async shutdown() {
      // The admin client is shared by every preset of this file: the next one connects anew.
      const client = admin;
      admin = null;
      if (client && client.isOpen) {
        await client.quit();
      }
    },
    raw: {
      async record(namespace, options, sid) {
        const client = await adminClient();
        const key = prefixOf(namespace, options) + sid;
        const payload = await client.get(key);
        if (payload === null) {
          return null;
        }
        const pttl = await client.pTTL(key);
        return {
          key,
          payload,
          expires: pttl > 0 ? new Date(Date.now() + pttl).toISOString() : null,
          fields: { ttl_ms: pttl },
        };
      },
      async count(namespace, options) {
        return (await keysUnder(await adminClient(), prefixOf(namespace, options))).length;
      },
      async tamper(namespace, options, sid, how) {
        const client = await adminClient();
        const key = prefixOf(namespace, options) + sid;
        const payload = await client.get(key);
        if (payload === null) {
          throw Object.assign(new Error(`no record for \`${sid}\` to tamper with`), { sessionspecKind: 'not-found' });
        }
        await client.set(key, how === 'garbage' ? GARBAGE : flipMiddle(payload), { KEEPTTL: true });
      },
    },
  };
}

module.exports = { preset };
