'use strict';
// How the adapter calls an express-session Store the way the middleware does: sessions as real
// `Session` objects with a real `Cookie`, callbacks (never the returned promise) for results,
// and the language's shapes (null or undefined, three `all` shapes) mapped onto the contract.
// It must never make a store look better than it is: it classifies errors by what they are,
// not by what a scenario hopes for.

const { Store, Cookie } = require('express-session');

const ERROR_KINDS = new Set([
  'not-found', 'invalid', 'serialize', 'decrypt', 'backend', 'conflict', 'timeout', 'unsupported', 'closed',
]);

// The cookie members express-session's `Cookie#toJSON` writes. The constructor fills `path` and
// `httpOnly` with defaults; members the harness did not send are cleared again so the session
// the store sees serialises to the JSON the harness sent.
const COOKIE_MEMBERS = ['originalMaxAge', 'partitioned', 'priority', 'expires', 'secure', 'httpOnly', 'domain', 'path', 'sameSite'];

// Members a live `Session` defines itself (`id`, `req`: own, read-only) or inherits from
// `Session.prototype` and `Object.prototype`. Its constructor skips them when it copies data in,
// but an application's assignment (`req.session.toString = 'x'`) makes an own property that
// reaches the store; `id` and `req` cannot be assigned at all.
const UNASSIGNABLE = new Set(['id', 'req']);

/**
 * What a caller hands the store's `set` or `touch` for the JSON object `json`.
 *
 * `caller` is `express-session` (the default: what the middleware hands it in a real app) or
 * `json` (a plain JSON object, as fastify-session or a direct call hands it; spec/session-store.md,
 * "Two callers").
 *
 * For express-session it is a live `Session` whose `cookie` is a live `Cookie`, built by
 * express-session's own `Store#createSession`, so that `cookie.maxAge` is the
 * remaining-milliseconds getter stores such as connect-session-knex read. Data members the
 * `Session` constructor skips (names on its prototype chain) are then assigned, as an
 * application's assignment makes them own properties. A session holding `id` or `req`, which no
 * application can put on a live `Session`, is handed over as the plain object express-session's
 * own tests pass to `store.set` directly.
 */
function toExpressSession(sid, json, caller) {
  const data = structuredClone(json);
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    return data; // passed through as it is: the store decides what to do with it
  }
  if (caller === 'json' || Object.keys(data).some((key) => UNASSIGNABLE.has(key))) {
    return data;
  }
  const { Session } = require('express-session');
  const req = { sessionID: sid };
  let session;
  if (data.cookie === null || typeof data.cookie !== 'object' || Array.isArray(data.cookie)) {
    // A session without a cookie object: express-session never builds one, the store sees it raw.
    session = new Session(req, data);
  } else {
    const sent = json.cookie;
    session = Store.prototype.createSession.call(null, req, data);
    const cookie = session.cookie;
    if (!('expires' in sent)) {
      cookie.expires = undefined; // the setter also resets originalMaxAge, restored below
    }
    cookie.originalMaxAge = 'originalMaxAge' in sent ? sent.originalMaxAge : undefined;
    for (const member of COOKIE_MEMBERS) {
      if (!(member in sent) && member !== 'expires' && member !== 'originalMaxAge') {
        cookie[member] = undefined;
      }
    }
  }
  for (const key of Object.keys(data)) {
    if (Object.prototype.hasOwnProperty.call(session, key)) {
      continue;
    }
    if (key === '__proto__') {
      // Only a definition makes `__proto__` an own member (JSON.parse does the same).
      Object.defineProperty(session, key, { value: data[key], enumerable: true, writable: true, configurable: true });
    } else {
      session[key] = data[key];
    }
  }
  return session;
}

/**
 * What express-session does with what `get` returned (`Store#load`): a session object with a
 * cookie object goes through `Store#createSession`, which replaces its `cookie` with a live
 * `Cookie` in place. Anything else is left alone (express-session then fails the request).
 */
function loadAsExpressSession(store, sid, found) {
  if (found === null || typeof found !== 'object' || Array.isArray(found)) {
    return found;
  }
  if (found.cookie === null || typeof found.cookie !== 'object' || Array.isArray(found.cookie)) {
    return found;
  }
  const createSession = typeof store.createSession === 'function' ? store.createSession : Store.prototype.createSession;
  return createSession.call(store, { sessionID: sid }, found);
}

const MUTATED = 'sessionspec: changed by the caller after the operation';

/**
 * Changes every member of `value` at every depth in place, as an application changes
 * `req.session` after the store's `set` or `get` returned: a store that kept a reference to what
 * it was handed, or handed out one it keeps, shows the change in its next answer (SET-6, GET-6).
 */
function mutateDeeply(value, seen = new Set()) {
  if (value === null || typeof value !== 'object' || seen.has(value)) {
    return;
  }
  seen.add(value);
  if (value instanceof Date) {
    value.setTime(0);
    return;
  }
  for (const key of Object.keys(value)) {
    const member = value[key];
    if (member !== null && typeof member === 'object') {
      mutateDeeply(member, seen);
    } else {
      try {
        value[key] = MUTATED;
      } catch {
        // a read-only member stays as it is
      }
    }
  }
  if (!Array.isArray(value)) {
    try {
      value.sessionspecMutated = true;
    } catch {
      // a frozen object cannot be changed, so nothing can alias through it either
    }
  } else {
    value.push(MUTATED);
  }
}

/** The JSON form of what a store returned for a session (Dates become ISO strings). */
function toJson(value) {
  if (value === undefined || value === null) {
    return null;
  }
  return JSON.parse(JSON.stringify(value));
}

/**
 * Maps what `all` returned onto entries `{sid, session}`: an object keyed by sid (MemoryStore),
 * or an array of sessions without sids. Presets whose store injects the sid into each session
 * pass `idMember` to lift it out.
 */
function allEntries(result, idMember) {
  if (result === undefined || result === null) {
    return [];
  }
  if (Array.isArray(result)) {
    return result.map((session) => {
      const json = toJson(session);
      if (idMember && json && typeof json === 'object' && idMember in json) {
        const sid = json[idMember];
        delete json[idMember];
        return { sid: typeof sid === 'string' ? sid : null, session: json };
      }
      return { sid: null, session: json };
    });
  }
  if (typeof result === 'object') {
    return Object.keys(result).map((sid) => ({ sid, session: toJson(result[sid]) }));
  }
  throw typed('backend', `all returned ${typeof result}, expected an array or an object keyed by sid`);
}

function typed(kind, message) {
  return Object.assign(new Error(message), { sessionspecKind: kind });
}

/** Whether an error (or rejection value) comes from failing to decrypt a payload. */
function isDecryptError(err) {
  if (typeof err === 'string') {
    // kruptein (connect-mongo's legacy crypto) rejects with strings.
    return /ciphertext|tampered|decrypt|hmac/i.test(err);
  }
  if (!err || typeof err !== 'object') {
    return false;
  }
  if (err.name === 'OperationError') {
    return true; // WebCrypto: wrong key or tag
  }
  return /decrypt|ciphertext|authenticat/i.test(String(err.message || ''));
}

/**
 * The contract's error kind for an error a store reported. A store may say it itself with an
 * `err.sessionspecKind` that names a kind; otherwise JSON syntax errors are `serialize`,
 * decryption failures `decrypt`, and everything else `backend`.
 */
function errorKind(err) {
  if (err && typeof err === 'object' && ERROR_KINDS.has(err.sessionspecKind)) {
    return err.sessionspecKind;
  }
  if (isDecryptError(err)) {
    return 'decrypt';
  }
  if (err instanceof SyntaxError) {
    return 'serialize';
  }
  return 'backend';
}

function errorMessage(err) {
  if (err instanceof Error) {
    const name = err.name && err.name !== 'Error' ? `${err.name}: ` : '';
    return `${name}${err.message}`;
  }
  if (typeof err === 'string') {
    return err;
  }
  try {
    return `non-Error rejection: ${JSON.stringify(err)}`;
  } catch {
    return `non-Error rejection: ${String(err)}`;
  }
}

function shown(err, value) {
  if (err) {
    return `error ${errorMessage(err)}`;
  }
  let text;
  try {
    text = JSON.stringify(value);
  } catch {
    text = String(value);
  }
  if (text === undefined) {
    text = 'undefined';
  }
  return `result ${text.length > 120 ? `${text.slice(0, 117)}...` : text}`;
}

/**
 * Calls `store[method](...args, callback)` and settles with the callback's first call, as the
 * middleware does. What express-session would trip over but the first call does not show is
 * passed to `evidence` (and logged): a second call of the callback (ERROR-3), and a rejection of
 * the promise the method returned, which express-session ignores, so in an app it is an
 * unhandled rejection. The caller turns the evidence into an error of the case.
 */
function callStore(store, method, args, log, evidence = () => {}) {
  if (typeof store[method] !== 'function') {
    return Promise.reject(typed('unsupported', `the store has no ${method} method`));
  }
  const report = (text) => {
    log(text);
    evidence(text);
  };
  return new Promise((resolve, reject) => {
    let calls = 0;
    let first = null;
    const callback = (err, value) => {
      calls += 1;
      if (calls > 1) {
        report(`${method}: the store called its callback a second time (${calls} calls): first with ${first}, then with ${shown(err, value)}`);
        return;
      }
      first = shown(err, value);
      if (err) {
        reject(err);
      } else {
        resolve(value);
      }
    };
    let returned;
    try {
      returned = store[method](...args, callback);
    } catch (err) {
      if (calls > 0) {
        report(`${method}: the store threw after calling its callback with ${first}: ${errorMessage(err)}`);
        return;
      }
      calls += 1;
      first = shown(err);
      reject(err);
      return;
    }
    if (returned && typeof returned.then === 'function') {
      returned.then(undefined, (err) => {
        report(
          calls === 0
            ? `${method}: the store rejected its returned promise without calling its callback: ${errorMessage(err)}`
            : `${method}: the store rejected its returned promise, which express-session ignores (an unhandled rejection in an app), after calling its callback with ${first}: ${errorMessage(err)}`,
        );
      });
    }
  });
}

module.exports = { toExpressSession, loadAsExpressSession, mutateDeeply, MUTATED, toJson, allEntries, errorKind, errorMessage, callStore, typed, ERROR_KINDS };
