#!/usr/bin/env node
'use strict';
// `npx sessionspec ...`: runs the platform package's binary with every argument, stdin, stdout
// and stderr as they are, and exits with its exit code. Signals reach the binary, so an
// interrupted run still removes the containers it started.

const { spawn } = require('node:child_process');
const { binaryPath, binaryEnv } = require('../lib/binary');

let binary;
try {
  binary = binaryPath();
} catch (e) {
  process.stderr.write(`error: ${e.message}\n`);
  process.exit(2);
}

const child = spawn(binary, process.argv.slice(2), { stdio: 'inherit', env: binaryEnv() });
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => child.kill(signal));
}
child.on('error', (e) => {
  process.stderr.write(`error: cannot run ${binary}: ${e.message}\n`);
  process.exit(2);
});
child.on('exit', (code, signal) => {
  if (signal) {
    process.removeAllListeners(signal);
    process.kill(process.pid, signal);
  } else {
    process.exit(code);
  }
});
