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

/**
 * The session the middleware would hand the store for `json` (a JSON object): a `Session` whose
 * `cookie` is a `Cookie`, built by express-session's own `Store#createSession`, so that
 * `cookie.maxAge` is the remaining-milliseconds getter stores such as connect-session-knex read.
 */
function toExpressSession(sid, json) {
  const data = structuredClone(json);
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    return data; // passed through as it is: the store decides what to do with it
  }
  if (data.cookie === null || typeof data.cookie !== 'object' || Array.isArray(data.cookie)) {
    // A session without a cookie object: express-session never builds one, the store sees it raw.
    const { Session } = require('express-session');
    return new Session({ sessionID: sid }, data);
  }
  const sent = json.cookie;
  const session = Store.prototype.createSession.call(null, { sessionID: sid }, data);
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
  return session;
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

/**
 * Calls `store[method](...args, callback)` and settles with the callback's first call, as the
 * middleware does. A second call of the callback is reported on stderr (ERROR-3); the method's
 * returned promise is observed only so that its rejection does not crash the process.
 */
function callStore(store, method, args, log) {
  if (typeof store[method] !== 'function') {
    return Promise.reject(typed('unsupported', `the store has no ${method} method`));
  }
  return new Promise((resolve, reject) => {
    let calls = 0;
    const callback = (err, value) => {
      calls += 1;
      if (calls > 1) {
        log(`${method}: the store called its callback ${calls} times`);
        return;
      }
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
      calls += 1;
      reject(err);
      return;
    }
    if (returned && typeof returned.then === 'function') {
      returned.then(undefined, (err) => {
        if (calls === 0) {
          log(`${method}: the store rejected its returned promise without calling its callback: ${errorMessage(err)}`);
        }
      });
    }
  });
}

module.exports = { toExpressSession, toJson, allEntries, errorKind, errorMessage, callStore, typed, ERROR_KINDS };
