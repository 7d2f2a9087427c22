'use strict';
// Store options as the protocol sends them (the contract's StoreOptions: kebab-case keys,
// durations like `1500ms`, `10s`, `1m30s`, `14d`), and the checks presets share.

const { typed } = require('./express');

const UNITS = { d: 86400000, h: 3600000, m: 60000, s: 1000, ms: 1 };

/** Milliseconds in a duration string; an `invalid` error when it is malformed. */
function durationMs(text, field) {
  const re = /([0-9]+)(ms|s|m|h|d)/gy;
  let total = 0;
  let match;
  let end = 0;
  while ((match = re.exec(text)) !== null) {
    total += Number(match[1]) * UNITS[match[2]];
    end = re.lastIndex;
  }
  if (typeof text !== 'string' || text.length === 0 || end !== text.length) {
    throw typed('invalid', `option \`${field}\`: \`${text}\` is not a duration (like 500ms, 10s, 1m30s, 14d)`);
  }
  return total;
}

/** Whole seconds in a duration, for stores that take seconds; `invalid` when it is not whole. */
function durationSeconds(text, field, store) {
  const ms = durationMs(text, field);
  if (ms % 1000 !== 0) {
    throw typed('invalid', `option \`${field}\`: ${store} takes whole seconds, \`${text}\` is not`);
  }
  return ms / 1000;
}

/** Fails with `unsupported` when `options` sets anything but `allowed`. */
function onlyOptions(options, allowed, store) {
  const extra = Object.keys(options).filter((key) => !allowed.includes(key));
  if (extra.length > 0) {
    throw typed('unsupported', `${store} has no option for ${extra.map((k) => `\`${k}\``).join(', ')}`);
  }
}

/** The name of the key prefix, table or collection inside a namespace (`name` option). */
function baseName(options, fallback) {
  const name = options.name === undefined ? fallback : options.name;
  if (typeof name !== 'string' || name.length === 0 || name.length > 63 || /[\u0000-\u001f]/.test(name)) {
    throw typed('invalid', `option \`name\`: \`${name}\` must be 1-63 characters without control characters`);
  }
  return name;
}

/** Checks a namespace name as the contract defines it, before it is used in an identifier. */
function checkNamespace(namespace) {
  if (!/^[a-z][a-z0-9_]{0,47}$/.test(namespace)) {
    throw typed('invalid', `namespace \`${namespace}\` must be 1-48 of [a-z0-9_], starting with a letter`);
  }
  return namespace;
}

/** The URL of a backend from its SESSIONSPEC_*_URL variable, or a clear error. */
function backendUrl(variable, preset) {
  const url = process.env[variable];
  if (!url) {
    throw typed('backend', `preset ${preset} needs ${variable} (harness/backends/services.sh prints it)`);
  }
  return url;
}

/**
 * The server URL for the adapter's own work (creating and dropping namespaces, raw inspection):
 * `SESSIONSPEC_<KIND>_ADMIN_URL` when the harness put a fault proxy in front of the server (the
 * store's variable then names the proxy, and no fault must touch the harness's own work), else
 * the store's URL.
 */
function adminUrl(variable, preset) {
  return process.env[variable.replace(/_URL$/, '_ADMIN_URL')] || backendUrl(variable, preset);
}

/** Damages a text payload in the middle, keeping it text (the `flip-byte` tamper on plain text). */
function flipMiddle(text) {
  const i = Math.floor(text.length / 2);
  const c = text.charCodeAt(i);
  return text.slice(0, i) + String.fromCharCode(c === 0x41 ? 0x42 : 0x41) + text.slice(i + 1);
}

const GARBAGE = 'sessionspec-garbage{not json, not ciphertext';

/** The installed version of one of the adapter's own dependencies. */
function packageVersion(name) {
  const file = require('node:path').join(__dirname, '..', 'node_modules', name, 'package.json');
  return JSON.parse(require('node:fs').readFileSync(file, 'utf8')).version;
}

module.exports = { durationMs, durationSeconds, onlyOptions, baseName, checkNamespace, backendUrl, adminUrl, flipMiddle, GARBAGE, packageVersion };
