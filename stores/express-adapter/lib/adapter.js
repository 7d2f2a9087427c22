'use strict';
// The protocol loop: reads requests from stdin (one JSON object per line), runs them against the
// store factory, writes responses and events to stdout. stdout carries protocol messages only:
// console output is sent to stderr, so a store that logs cannot corrupt the stream.
// It never answers a request twice, and never for a store that did not answer.

const readline = require('node:readline');
const clock = require('./clock');
const {
  toExpressSession, loadAsExpressSession, mutateDeeply, toJson, allEntries, errorKind, errorMessage, callStore, typed,
} = require('./express');

const CALLERS = new Set(['express-session', 'json']);

const PROTOCOL = 1;
const BACKEND_QUERY_MS = 2000;
const EVENTS = ['create', 'update', 'set', 'touch', 'destroy', 'get', 'all'];
const TAMPERS = new Set(['flip-byte', 'garbage']);

const writeOut = process.stdout.write.bind(process.stdout);
for (const name of ['log', 'info', 'debug', 'trace', 'dir', 'table']) {
  console[name] = console.error.bind(console);
}

function send(message) {
  writeOut(`${JSON.stringify(message)}\n`);
}

function log(text) {
  process.stderr.write(`sessionspec-express-adapter: ${text}\n`);
}

/**
 * Runs the protocol for `factory` (see README.md, "Plugging in your store") until stdin closes or
 * a `shutdown` request arrives.
 */
function serve(factory) {
  const instances = new Map(); // instance id -> { handle, namespace, options }
  const problems = []; // unhandled rejections and uncaught exceptions since the last `drop`, reported by it
  const evidence = new Map(); // namespace -> what its stores did that no response shows, reported by `drop`
  let stopping = false;

  // A store's background work (a sweep timer, a reconnect, an index build) failing where no one
  // awaits it: Node.js would crash the application; here it fails the scenario running, with
  // its stack (RES-6).
  function unhandled(what, reason) {
    const stack = reason instanceof Error && reason.stack ? `\n${reason.stack}` : '';
    const text = `${what}: ${errorMessage(reason)}${stack}`;
    log(text);
    problems.push(text);
  }
  process.on('unhandledRejection', (reason) => unhandled('unhandled rejection', reason));
  process.on('uncaughtException', (err) => unhandled('uncaught exception', err));

  const capabilities = new Set(factory.capabilities || []);
  if (capabilities.has('virtual-clock')) {
    clock.install();
  }

  function need(req, field, type) {
    const value = req[field];
    const ok = type === 'object' ? value !== null && typeof value === 'object' && !Array.isArray(value) : typeof value === type;
    if (!ok) {
      throw typed('invalid', `request \`${req.op}\` (seq ${req.seq}): field \`${field}\` must be ${type === 'object' ? 'an object' : `a ${type}`}`);
    }
    return value;
  }

  function instanceOf(req) {
    const id = need(req, 'instance', 'string');
    const entry = instances.get(id);
    if (!entry) {
      throw typed('invalid', `request \`${req.op}\` (seq ${req.seq}): no instance \`${id}\` is open`);
    }
    return entry;
  }

  /** Calls a method of an instance's store; what the call's outcome cannot show goes to `drop`. */
  function call(entry, method, args) {
    return callStore(entry.handle.store, method, args, log, (text) => {
      if (instances.has(entry.id)) {
        const seen = evidence.get(entry.namespace) || [];
        seen.push(text);
        evidence.set(entry.namespace, seen);
      } else {
        problems.push(text); // the namespace is gone: the next drop reports it
      }
    });
  }

  function raw(req) {
    const entry = instanceOf(req);
    if (!capabilities.has('raw-inspection') || !factory.raw) {
      throw typed('unsupported', `${factory.name} does not declare raw-inspection`);
    }
    return { entry, raw: factory.raw };
  }

  // What hello says of the backend. It never waits on the server: the harness starts an adapter
  // at a case's first open, which may come during an outage, and that open must meet the store's
  // handling of the outage, not the adapter's version query (whose client may wait without
  // bound). Without an answer within BACKEND_QUERY_MS, or on an error, the backend is named by the
  // factory's `backendKind`, without a version.
  async function describeBackend(f) {
    const named = { name: f.backendKind || 'unknown' };
    if (!f.backend) {
      return named;
    }
    let timer;
    const late = new Promise((resolve) => {
      timer = setTimeout(() => resolve(null), BACKEND_QUERY_MS);
    });
    const found = await Promise.race([Promise.resolve(f.backend()).catch(() => null), late]);
    clearTimeout(timer);
    return found || named;
  }

  const handlers = {
    async hello(req) {
      const versions = Array.isArray(req.protocols) ? req.protocols : [req.protocol];
      if (!versions.includes(PROTOCOL)) {
        throw typed('unsupported', `this adapter speaks protocol ${PROTOCOL}; the harness offered ${JSON.stringify(versions)}`);
      }
      const backend = await describeBackend(factory);
      return {
        protocol: PROTOCOL,
        implementation: {
          name: factory.name,
          version: factory.version,
          language: factory.language || 'javascript',
          ...(factory.homepage ? { homepage: factory.homepage } : {}),
        },
        backend,
        capabilities: [...capabilities],
      };
    },
    async ping() {
      return null;
    },
    async clock(req) {
      if (!capabilities.has('virtual-clock')) {
        throw typed('unsupported', `${factory.name} does not declare virtual-clock`);
      }
      clock.set(req.time === null ? null : need(req, 'time', 'string'));
      return null;
    },
    async open(req) {
      const id = need(req, 'instance', 'string');
      const namespace = need(req, 'namespace', 'string');
      const given = req.options === undefined ? {} : need(req, 'options', 'object');
      // `caller` is the adapter's (how it hands sessions over), not the store's.
      const { caller = 'express-session', ...options } = given;
      if (!CALLERS.has(caller)) {
        throw typed('invalid', `request \`open\` (seq ${req.seq}): option \`caller\` must be express-session or json`);
      }
      if (instances.has(id)) {
        throw typed('invalid', `request \`open\` (seq ${req.seq}): instance \`${id}\` is already open`);
      }
      const emit = (kind, sid) => {
        send({ event: kind, instance: id, ...(typeof sid === 'string' ? { sid } : {}) });
      };
      const handle = await factory.open({ namespace, options, emit, log });
      if (!handle || typeof handle.store !== 'object') {
        throw typed('backend', `${factory.name}: open must resolve to { store, close? }`);
      }
      if (capabilities.has('events') && typeof handle.store.on === 'function' && !handle.eventsWired) {
        for (const kind of EVENTS) {
          handle.store.on(kind, (sid) => emit(kind, sid));
        }
      }
      instances.set(id, { id, handle, namespace, options, caller });
      return null;
    },
    async get(req) {
      const entry = instanceOf(req);
      const sid = need(req, 'sid', 'string');
      const returned = await call(entry, 'get', [sid]);
      const found = toJson(returned);
      if (entry.caller === 'express-session') {
        // What express-session then does with it: rebuild its cookie in place, and let the
        // application change the session. A store that hands out an object it keeps shows it.
        mutateDeeply(loadAsExpressSession(entry.handle.store, sid, returned));
      } else {
        mutateDeeply(returned);
      }
      if (found !== null && (typeof found !== 'object' || Array.isArray(found))) {
        // Not a protocol value: say what the store did, as express-session would meet it.
        const shown = JSON.stringify(found);
        throw typed('backend', `the store's get returned ${Array.isArray(found) ? 'an array' : `a ${typeof found}`} where express-session needs a session object: ${shown.length > 120 ? `${shown.slice(0, 117)}...` : shown}`);
      }
      return found;
    },
    async set(req) {
      const entry = instanceOf(req);
      const sid = need(req, 'sid', 'string');
      const session = toExpressSession(sid, req.session, entry.caller);
      await call(entry, 'set', [sid, session]);
      // The application goes on changing its session: a store that kept a reference shows it.
      mutateDeeply(session);
      return null;
    },
    async touch(req) {
      const entry = instanceOf(req);
      const sid = need(req, 'sid', 'string');
      const session = toExpressSession(sid, req.session, entry.caller);
      await call(entry, 'touch', [sid, session]);
      mutateDeeply(session);
      return null;
    },
    async destroy(req) {
      const entry = instanceOf(req);
      await call(entry, 'destroy', [need(req, 'sid', 'string')]);
      return null;
    },
    async all(req) {
      const entry = instanceOf(req);
      return allEntries(await call(entry, 'all', []), entry.handle.allIdMember);
    },
    async length(req) {
      const entry = instanceOf(req);
      const n = await call(entry, 'length', []);
      if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) {
        throw typed('backend', `length returned ${JSON.stringify(n)}, not a count`);
      }
      return n;
    },
    async clear(req) {
      const entry = instanceOf(req);
      await call(entry, 'clear', []);
      return null;
    },
    async ids(req) {
      const entry = instanceOf(req);
      const ids = await call(entry, 'ids', []);
      return Array.isArray(ids) ? ids : [];
    },
    async close(req) {
      const id = need(req, 'instance', 'string');
      const entry = instances.get(id);
      if (!entry) {
        return null; // never opened, or already dropped: nothing to close
      }
      const { handle } = entry;
      // Every close reaches the store's own close (connect-mongo, connect-pg-simple), so that a
      // second one shows what the store does with it (CLOSE-2); then, once, what the preset
      // opened for it (clients, pools). The instance stays known until `drop`, so operations
      // after close reach the closed store and show what it does.
      entry.closed = true;
      if (typeof handle.store.close === 'function') {
        await handle.store.close();
      }
      if (handle.close) {
        await handle.close();
        handle.close = null;
      }
      return null;
    },
    async raw(req) {
      const { entry, raw: r } = raw(req);
      return r.record(entry.namespace, entry.options, need(req, 'sid', 'string'));
    },
    async 'raw-count'(req) {
      const { entry, raw: r } = raw(req);
      return r.count(entry.namespace, entry.options);
    },
    async indexes(req) {
      const { entry, raw: r } = raw(req);
      if (!capabilities.has('indexes') || !r.indexes) {
        throw typed('unsupported', `${factory.name} does not declare indexes`);
      }
      return r.indexes(entry.namespace, entry.options);
    },
    async tamper(req) {
      const { entry, raw: r } = raw(req);
      const how = need(req, 'how', 'string');
      if (!TAMPERS.has(how)) {
        throw typed('invalid', `request \`tamper\` (seq ${req.seq}): field \`how\` must be flip-byte or garbage`);
      }
      await r.tamper(entry.namespace, entry.options, need(req, 'sid', 'string'), how);
      return null;
    },
    async drop(req) {
      const namespace = need(req, 'namespace', 'string');
      for (const [id, entry] of instances) {
        if (entry.namespace === namespace) {
          instances.delete(id);
          try {
            if (!entry.closed && typeof entry.handle.store.close === 'function') {
              await entry.handle.store.close();
            }
            if (entry.handle.close) {
              await entry.handle.close();
            }
          } catch (err) {
            log(`drop ${namespace}: closing instance ${id} failed: ${errorMessage(err)}`);
          }
        }
      }
      clock.set(null);
      await factory.drop(namespace);
      const seen = problems.splice(0);
      const shown = evidence.get(namespace) || [];
      evidence.delete(namespace);
      if (seen.length > 0 || shown.length > 0) {
        const parts = [];
        if (shown.length > 0) {
          parts.push(`the store did what no response showed: ${shown.join('; ')}`);
        }
        if (seen.length > 0) {
          parts.push(`unhandled failure${seen.length > 1 ? 's' : ''} (rejections, uncaught exceptions, late callbacks) while the namespace was in use: ${seen.join('; ')}`);
        }
        throw typed('backend', parts.join('; '));
      }
      return null;
    },
    async shutdown() {
      stopping = true;
      return null;
    },
  };

  async function handle(line) {
    let req;
    try {
      req = JSON.parse(line);
    } catch (err) {
      send({ seq: null, error: { kind: 'invalid', message: `a request is not JSON: ${err.message}` } });
      return;
    }
    if (req === null || typeof req !== 'object' || !Number.isInteger(req.seq)) {
      send({ seq: null, error: { kind: 'invalid', message: 'a request has no integer `seq`' } });
      return;
    }
    const handler = Object.prototype.hasOwnProperty.call(handlers, req.op) ? handlers[req.op] : null;
    try {
      if (!handler) {
        throw typed('unsupported', `unknown request \`${req.op}\``);
      }
      const ok = await handler(req);
      send({ seq: req.seq, ok: ok === undefined ? null : ok });
    } catch (err) {
      send({ seq: req.seq, error: { kind: errorKind(err), message: errorMessage(err) } });
    }
    if (stopping) {
      shutdown();
    }
  }

  let shuttingDown = null;
  function shutdown() {
    shuttingDown = shuttingDown || stop();
    return shuttingDown;
  }

  async function stop() {
    // Requests still running get their responses first.
    await Promise.allSettled([...inFlight]);
    for (const [, entry] of instances) {
      try {
        if (!entry.closed && typeof entry.handle.store.close === 'function') {
          await entry.handle.store.close();
        }
        if (entry.handle.close) {
          await entry.handle.close();
        }
      } catch (err) {
        log(`shutdown: ${errorMessage(err)}`);
      }
    }
    if (factory.shutdown) {
      await factory.shutdown();
    }
    process.exit(0);
  }

  const inFlight = new Set();
  const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  lines.on('line', (line) => {
    if (line.trim() !== '') {
      const running = handle(line);
      inFlight.add(running);
      running.finally(() => inFlight.delete(running));
    }
  });
  lines.on('close', () => {
    shutdown();
  });
}

module.exports = { serve, PROTOCOL };
