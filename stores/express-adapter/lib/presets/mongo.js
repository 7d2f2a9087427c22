'use strict';
// connect-mongo 6 with the mongodb driver 7. A database per namespace (`{namespace}`), collection
// `sessions` or the `name` option. The store gets the URL and owns its client, so its close()
// closes it. Expiry is decided with Node's Date (the TTL index only removes records later): it
// takes the virtual clock. The `interval` sweep runs on Node's timers, which the adapter does not
// fake, so `auto-remove-interval` is not declared.

const crypto = require('node:crypto');
const { MongoClient } = require('mongodb');
const { MongoStore, createWebCryptoAdapter } = require('connect-mongo');
const { onlyOptions, baseName, checkNamespace, backendUrl, adminUrl, durationSeconds, flipMiddle, GARBAGE, packageVersion } = require('../options');
const { typed } = require('../express');
const { once, forget } = require('../sql');

const MARKER = 'sessionspec_namespace';
let admin = null;

async function adminClient() {
  if (!admin) {
    admin = new MongoClient(adminUrl('SESSIONSPEC_MONGO_URL', 'mongo'));
    await admin.connect();
  }
  return admin;
}

function sha256(sid) {
  return crypto.createHash('sha256').update(sid).digest('hex');
}

async function collectionOf(namespace, options) {
  const client = await adminClient();
  return client.db(checkNamespace(namespace)).collection(baseName(options, 'sessions'));
}

function keyOf(options, sid) {
  return options['transform-id'] === 'sha256' ? sha256(sid) : sid;
}

function iso(value) {
  return value instanceof Date ? value.toISOString() : value;
}

module.exports = {
  name: 'connect-mongo',
  backendKind: 'mongo',
  version: packageVersion('connect-mongo'),
  homepage: 'https://github.com/jdesboeufs/connect-mongo',
  capabilities: [
    'touch', 'all', 'length', 'clear', 'close', 'virtual-clock', 'ttl', 'touch-after', 'auto-remove-native',
    'auto-remove-disabled', 'timestamps', 'serializer', 'transform-id', 'events', 'encryption', 'naming',
    'raw-inspection', 'indexes', 'shared-namespace',
  ],
  async backend() {
    const client = await adminClient();
    const info = await client.db('admin').command({ buildInfo: 1 });
    return { name: 'mongo', version: info.version };
  },
  async open({ namespace, options }) {
    onlyOptions(
      options,
      ['ttl', 'touch-after', 'auto-remove', 'timestamps', 'serializer', 'transform-id', 'encryption', 'name'],
      'connect-mongo',
    );
    if (options['auto-remove'] === 'interval') {
      throw typed('unsupported', 'the interval sweep runs on Node timers, which the adapter does not fake');
    }
    // The namespace's marker (how drop knows the database is the harness's), written before the
    // store is made, as the SQL presets create their schema; the admin client goes straight to
    // the server, so a fault proxy in front of the store never delays it.
    await once(`mongo:${checkNamespace(namespace)}`, async () => {
      const client = await adminClient();
      await client.db(namespace).collection(MARKER).updateOne({ _id: MARKER }, { $set: { at: new Date() } }, { upsert: true });
    });
    const store = MongoStore.create({
      mongoUrl: backendUrl('SESSIONSPEC_MONGO_URL', 'mongo'),
      dbName: namespace,
      collectionName: baseName(options, 'sessions'),
      ...(options.ttl !== undefined ? { ttl: durationSeconds(options.ttl, 'ttl', 'connect-mongo') } : {}),
      ...(options['touch-after'] !== undefined ? { touchAfter: durationSeconds(options['touch-after'], 'touch-after', 'connect-mongo') } : {}),
      ...(options['auto-remove'] ? { autoRemove: options['auto-remove'] } : {}),
      ...(options.timestamps ? { timestamps: true } : {}),
      ...(options.serializer ? { stringify: options.serializer === 'json' } : {}),
      ...(options['transform-id'] === 'sha256' ? { transformId: sha256 } : {}),
      ...(options.encryption ? { cryptoAdapter: createWebCryptoAdapter({ secret: options.encryption.secret }) } : {}),
    });
    return { store };
  },
  async drop(namespace) {
    checkNamespace(namespace);
    const client = await adminClient();
    const db = client.db(namespace);
    forget(`mongo:${namespace}`);
    const marked = await db.listCollections({ name: MARKER }, { nameOnly: true }).toArray();
    if (marked.length > 0) {
      await db.dropDatabase();
    }
  },
  async shutdown() {
    if (admin) {
      await admin.close();
    }
  },
  raw: {
    async record(namespace, options, sid) {
      const doc = await (await collectionOf(namespace, options)).findOne({ _id: keyOf(options, sid) });
      if (!doc) {
        return null;
      }
      const fields = {};
      for (const name of ['lastModified', 'createdAt', 'updatedAt']) {
        if (doc[name] !== undefined) {
          fields[name] = iso(doc[name]);
        }
      }
      const payload = typeof doc.session === 'string' ? doc.session : JSON.parse(JSON.stringify(doc.session));
      return { key: String(doc._id), payload, expires: doc.expires ? iso(doc.expires) : null, fields };
    },
    async count(namespace, options) {
      return (await collectionOf(namespace, options)).countDocuments({});
    },
    async indexes(namespace, options) {
      const list = await (await collectionOf(namespace, options)).listIndexes().toArray().catch(() => []);
      return list.map((i) => ({
        name: i.name,
        key: i.key,
        ...(i.expireAfterSeconds !== undefined ? { expireAfterSeconds: i.expireAfterSeconds } : {}),
      }));
    },
    async tamper(namespace, options, sid, how) {
      const collection = await collectionOf(namespace, options);
      const _id = keyOf(options, sid);
      const doc = await collection.findOne({ _id });
      if (!doc) {
        throw typed('not-found', `no record for \`${sid}\` to tamper with`);
      }
      let damaged;
      if (how === 'garbage') {
        damaged = GARBAGE;
      } else if (typeof doc.session === 'string' && options.encryption) {
        // Ciphertext: change one byte of what the base64 encodes, keep the encoding valid.
        const bytes = Buffer.from(doc.session, 'base64');
        bytes[Math.floor(bytes.length / 2)] ^= 0x01;
        damaged = bytes.toString('base64');
      } else if (typeof doc.session === 'string') {
        damaged = flipMiddle(doc.session);
      } else {
        damaged = flipMiddle(JSON.stringify(doc.session));
      }
      await collection.updateOne({ _id }, { $set: { session: damaged } });
    },
  },
};
