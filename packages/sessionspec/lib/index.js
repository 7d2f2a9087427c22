'use strict';
// conformance(): the sessionspec suite inside a store author's own `npm test`. It registers one
// test per scenario (per backend version) with the test runner in use (node:test, or the
// describe/it of mocha and vitest), runs the binary once for all of them (`sessionspec run
// --format json`), and turns each result record into that test's outcome. The binary runs the
// scenarios and checks the expectation file; this file only maps its records onto tests.

const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { binaryPath, binaryEnv } = require('./binary');

/**
 * Registers the suite's scenarios as tests of `options.store`.
 *
 * @param {object} options
 * @param {string} options.store the store factory file (relative to the current directory)
 * @param {string} [options.expectations] an expectation file of known failures (strict rules:
 *   a listed failure that passes or fails differently fails its test)
 * @param {string|string[]} [options.backend] backend versions to run on (`redis:7`): the binary
 *   starts a container for each and hands the store its URL (needs the store's backend kind,
 *   `options.storeBackend` or the factory's own declaration)
 * @param {string} [options.storeBackend] the backend kind the store needs (`redis`)
 * @param {string[]} [options.args] more `sessionspec run` flags (`--retries`, `--redis-url`)
 * @param {string} [options.name] the name of the enclosing suite (default: `sessionspec`)
 * @param {number} [options.timeout] milliseconds the whole run may take (default 10 minutes)
 * @param {object} [options.test] `{ describe, it, after }` to register with (default: the
 *   globals mocha and vitest set, else node:test); vitest without globals: pass its own
 */
function conformance(options) {
  if (!options || typeof options.store !== 'string') {
    throw new TypeError("conformance({ store: './my-store.js' }): `store` names your store factory file");
  }
  const store = path.resolve(options.store);
  if (!fs.existsSync(store)) {
    throw new Error(`conformance(): the store file ${store} does not exist`);
  }
  const expectations = options.expectations && path.resolve(options.expectations);
  if (expectations && !fs.existsSync(expectations)) {
    throw new Error(`conformance(): the expectation file ${expectations} does not exist`);
  }
  const timeout = options.timeout ?? 10 * 60 * 1000;
  const { describe, it, after } = options.test || runnerApi();
  const binary = binaryPath();
  const scenarios = listScenarios(binary);
  const backends = [].concat(options.backend || []);

  let run;
  const results = () => {
    run ||= runSuite(binary, store, expectations, backends, options, timeout);
    return run;
  };
  describe(options.name || `sessionspec: ${path.basename(store)}`, () => {
    // One group per backend version, so that the same scenario on two versions is two tests.
    const groups = backends.length > 1 ? backends : [null];
    for (const backend of groups) {
      const register = () => {
        for (const scenario of scenarios) {
          it(testName(scenario), caseBody(results, scenario, backend, timeout), timeout);
        }
      };
      if (backend === null) {
        register();
      } else {
        describe(backend, register);
      }
    }
    if (expectations) {
      // Entries the run cannot attach to a test (an id the suite lacks) fail the suite in a
      // hook, so the number of tests stays the number of scenarios.
      const check = expectationBody(results, expectations, timeout);
      if (after) after(check);
      else it('expectation file', check, timeout);
    }
  });
}

function runnerApi() {
  const g = globalThis;
  if (typeof g.describe === 'function' && typeof g.it === 'function') {
    // mocha names the hook `after`, vitest (with globals) `afterAll`.
    return { describe: g.describe, it: g.it, after: g.afterAll || g.after };
  }
  const nodeTest = require('node:test');
  return { describe: nodeTest.describe, it: nodeTest.it, after: nodeTest.after };
}

function testName(scenario) {
  return `${scenario.id} (${scenario.checks.join(', ')})`;
}

function listScenarios(binary) {
  let text;
  try {
    text = execFileSync(binary, ['list', 'scenarios', '--json'], {
      env: binaryEnv(),
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      maxBuffer: 64 * 1024 * 1024,
    });
  } catch (e) {
    throw new Error(`sessionspec list scenarios failed: ${e.stderr || e.message}`);
  }
  return text
    .split('\n')
    .filter((line) => line.trim())
    .map((line) => JSON.parse(line));
}

/** Runs the binary once; resolves to { byCase, verdict, failure } where failure explains a run that went wrong. */
function runSuite(binary, store, expectations, backends, options, timeout) {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'sessionspec-'));
  const args = ['run', '--store', store, '--format', 'json', '--no-progress', '--color', 'never', '--out', out];
  for (const b of backends) args.push('--backend', b);
  if (options.storeBackend) args.push('--store-backend', options.storeBackend);
  if (expectations) args.push('--expectations', expectations);
  args.push(...(options.args || []));
  return new Promise((resolve) => {
    const child = spawn(binary, args, { env: binaryEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    const stdout = [];
    const stderr = [];
    child.stdout.on('data', (d) => stdout.push(d));
    child.stderr.on('data', (d) => stderr.push(d));
    const timer = setTimeout(() => child.kill('SIGINT'), timeout - 1000);
    child.on('error', (e) => resolve({ byCase: new Map(), failure: `cannot run ${binary}: ${e.message}` }));
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      fs.rmSync(out, { recursive: true, force: true });
      const byCase = new Map();
      let verdict = null;
      let header = null;
      let footer = null;
      for (const line of Buffer.concat(stdout).toString('utf8').split('\n')) {
        if (!line.startsWith('{')) continue;
        const record = JSON.parse(line);
        if (record.type === 'header') header = record;
        else if (record.type === 'result') byCase.set(`${record.target}\0${record.scenario}`, record);
        else if (record.type === 'footer') footer = record;
        else if (record.type === 'expectations') verdict = record;
      }
      const log = Buffer.concat(stderr).toString('utf8').trim();
      let failure = null;
      if (!header) {
        failure = `sessionspec run did not start (exit ${signal || code}):\n${log}`;
      } else if (!footer || footer.incomplete) {
        failure = `the run did not finish (exit ${signal || code}${footer && footer.reason ? `: ${footer.reason}` : ''}):\n${log}`;
      }
      resolve({ header, byCase, verdict, failure, log });
    });
  });
}

/** The target a result belongs to: the only one, or the one whose id ends in `@<version>`. */
function findResult(run, scenario, backend) {
  const targets = run.header ? run.header.targets : [];
  const target = backend === null ? targets[0] : targets.find((t) => t.id.endsWith(`@${backend.split(':')[1]}`));
  return target && run.byCase.get(`${target.id}\0${scenario.id}`);
}

function caseBody(results, scenario, backend, timeout) {
  // No declared parameter: mocha would take one as a `done` callback. node:test and vitest pass
  // their test context as the first argument; mocha binds it to `this`.
  return async function () {
    const context = arguments[0];
    if (this && typeof this.timeout === 'function') this.timeout(timeout);
    const run = await results();
    const result = findResult(run, scenario, backend);
    if (!result) {
      throw located(new Error(`${scenario.id}: no result${run.failure ? `: ${run.failure}` : ''}`), scenario.file);
    }
    const verdict = run.verdict;
    const stale = verdict && verdict.stale.find((s) => s.target === result.target && s.scenario === result.scenario);
    if (stale) {
      throw located(
        new Error(`${scenario.id} on ${result.target}: the expectation file is stale: ${stale.why}; update or remove its entry`),
        result.position,
      );
    }
    if (result.outcome === 'not-applicable') {
      const detail = result.detail || {};
      const reason = detail.missing && detail.missing.length
        ? `not applicable: the store lacks ${detail.missing.join(', ')}`
        : `not applicable: ${detail.message || 'the store cannot run it'}`;
      return skip(this, context, reason);
    }
    if (result.outcome === 'pass') {
      if (result.attempts > 1 && context && typeof context.diagnostic === 'function') {
        context.diagnostic(`flaky: passed on attempt ${result.attempts}`);
      }
      return;
    }
    const expected = verdict && verdict.expected.some((e) => e.target === result.target && e.scenario === result.scenario);
    const error = failureError(result);
    if (expected) {
      // A known failure, failing as listed: reported as such, never as a pass of the scenario.
      if (context && typeof context.todo === 'function') {
        context.todo(`known failure (expectation file): ${result.outcome}`);
        throw error;
      }
      return;
    }
    throw error;
  };
}

function expectationBody(results, file, timeout) {
  return async function () {
    if (this && typeof this.timeout === 'function') this.timeout(timeout);
    const run = await results();
    if (!run.verdict) {
      throw new Error(`${file}: no verdict from the run${run.failure ? `: ${run.failure}` : ''}`);
    }
    const byId = new Set([...run.byCase.values()].map((r) => `${r.target}\0${r.scenario}`));
    const loose = run.verdict.stale.filter((s) => !byId.has(`${s.target}\0${s.scenario}`));
    if (loose.length) {
      throw new Error(`${file} is stale:\n${loose.map((s) => `  ${s.scenario} on ${s.target}: ${s.why}`).join('\n')}`);
    }
  };
}

function skip(mochaContext, context, reason) {
  if (context && typeof context.skip === 'function') {
    // node:test and vitest take the reason.
    context.skip(reason);
    return;
  }
  if (mochaContext && typeof mochaContext.skip === 'function') {
    mochaContext.test.title += ` [${reason}]`;
    mochaContext.skip();
  }
}

/** An AssertionError-shaped error: test runners show the expected/actual diff and the scenario's location. */
function failureError(result) {
  const d = result.detail || {};
  const where = d.step || result.position;
  const lines = [
    `${result.scenario} ${result.outcome} on ${result.target} (${result.level} ${result.checks.join(', ')}) at ${where}`,
    d.operation ? `${d.operation}: ${d.message}` : d.message,
  ];
  if (d.expected !== undefined) lines.push(`expected: ${indent(d.expected)}`);
  if (d.actual !== undefined) lines.push(`actual:   ${indent(d.actual)}`);
  if (d.error_kind) lines.push(`error kind: ${d.error_kind}`);
  if (d.log) lines.push(`store log:\n${d.log}`);
  const error = new Error(lines.filter(Boolean).join('\n'));
  if (d.expected !== undefined || d.actual !== undefined) {
    error.name = 'AssertionError';
    error.code = 'ERR_ASSERTION';
    error.expected = d.expected;
    error.actual = d.actual;
    error.operator = 'strictEqual';
    error.showDiff = true;
    error.generatedMessage = false;
  }
  error.scenario = result.scenario;
  return located(error, where);
}

function indent(text) {
  return String(text).split('\n').join('\n          ');
}

/** Points the error's stack at the scenario file and line instead of this file. */
function located(error, position) {
  error.stack = `${error.name}: ${error.message}\n    at ${position}`;
  return error;
}

module.exports = { conformance };
