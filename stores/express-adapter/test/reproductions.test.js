'use strict';
// Every failure the published table shows for an npm store must be the store's, not the
// adapter's. Each entry of reports/expectations/node-*.toml is reproduced here by calling the
// store directly, with plain JSON objects and plain callbacks: none of the adapter's
// conversions (no live Session, no createSession, no mutation afterwards). An entry that no
// direct call reproduces is the adapter's bug: fix the adapter and drop the entry.
//
// An entry without a reproduction yet is listed as a `todo` test (reported, never passing);
// presets whose backend is not configured (SESSIONSPEC_*_URL) are skipped, and say so.

const test = require('node:test');
const fs = require('node:fs');
const path = require('node:path');
const clock = require('../lib/clock');
const { expectationEntries, reproductionClock, closeInstance, instances } = require('./reproductions/helpers');

const EXPECTATIONS = path.join(__dirname, '..', '..', '..', 'reports', 'expectations');
const BACKENDS = {
  redis: 'SESSIONSPEC_REDIS_URL',
  pg: 'SESSIONSPEC_POSTGRES_URL',
  'knex-postgres': 'SESSIONSPEC_POSTGRES_URL',
  'knex-mysql': 'SESSIONSPEC_MYSQL_URL',
  mongo: 'SESSIONSPEC_MONGO_URL',
};

/**
 * Reproductions by scenario id, one module per area (test/reproductions/*.js). Each is a function
 * of the context below, or `{ run, variants, options, fresh }`: `variants` maps a variant's preset
 * file (`redis-readme`) to the run that replaces `run` for it, where the variant fails for a cause
 * of its own; `options` are the store options of the instance opened before `run` (the scenario's `options`), and `fresh: true` opens none. Each
 * must show the failure the entry lists with a direct call (an assertion of what the store does
 * where the spec says otherwise); `todo: {preset: why}` names the presets where a direct call
 * cannot, and why (the adapter's bug, or one not found).
 */
const REPRODUCTIONS = Object.assign(
  {},
  ...['core', 'touch', 'expiry', 'lifecycle', 'concurrency', 'mongo', 'serialization', 'resilience'].map((area) =>
    require(`./reproductions/${area}`)),
);

// The presets' shared clients (pools, connections) end with their `shutdown`, as the adapter's do.
const opened = new Set();
test.after(async () => {
  for (const factory of opened) {
    if (factory.shutdown) {
      await factory.shutdown();
    }
  }
});

for (const file of fs.readdirSync(EXPECTATIONS).filter((f) => f.startsWith('node-') && f.endsWith('.toml')).sort()) {
  const filePreset = file.slice('node-'.length, -'.toml'.length);
  // A variant of a preset (an earlier major, `-7`, another client, `-ioredis`, or the readme's
  // setup, `-readme`; the catalog's variant_of) is reproduced by the preset's reproductions: the
  // same assertions about the store's behaviour, on the variant's factory.
  const preset = filePreset.replace(/-(\d+|ioredis|readme)$/, '');
  const known = expectationEntries(path.join(EXPECTATIONS, file));
  const variable = BACKENDS[preset];
  for (const entry of known) {
    const spec = REPRODUCTIONS[entry.scenario];
    const reproduction = typeof spec === 'function' ? { run: spec } : spec;
    const name = `node:${filePreset} ${entry.scenario} (${entry.outcome}) is the store's`;
    // `todo` names why a direct call cannot reproduce the entry, for some presets (by name).
    const todo = reproduction && reproduction.todo && reproduction.todo[preset];
    if (!reproduction || !reproduction.run || todo) {
      test(name, { todo: todo || 'no direct-call reproduction yet' }, () => {});
      continue;
    }
    const skip = variable && !process.env[variable] ? `${variable} is not set` : false;
    test(name, { skip }, async () => {
      const factory = require(`../lib/presets/${filePreset}`);
      opened.add(factory);
      // As the harness does: real time on a store whose server keeps it, within 5 s a step.
      const { now, advance } = reproductionClock(factory, `node:${filePreset}`, 5000);
      const base = `repro_${filePreset.replace(/-/g, '_')}_${process.pid}_${Math.floor(Math.random() * 1e6)}`;
      const instance = instances(factory, base);
      // Opens an instance as the adapter does (the preset's factory), on `namespace` (the test's
      // own by default; another is dropped at the end too).
      const open = (options = {}, namespace = base) => instance.open(options, namespace);
      const close = closeInstance;
      try {
        const handle = reproduction.fresh ? null : await open(reproduction.options || {});
        const run = (reproduction.variants && reproduction.variants[filePreset]) || reproduction.run;
        await run({
          preset,
          factory,
          namespace: base,
          store: handle && handle.store,
          handle,
          now,
          advance,
          open,
          close,
          fresh: (suffix) => `${base}_${suffix}`,
          tamper: (sid, how, options = {}) => factory.raw.tamper(base, options, sid, how),
          record: (sid, options = {}) => factory.raw.record(base, options, sid),
          after: instance.after,
        });
      } finally {
        clock.set(null);
        await instance.teardown();
      }
    });
  }
}
