'use strict';
// session-file-store (https://github.com/valery-barysok/session-file-store): one JSON file per
// session in a directory, here one directory per namespace under SESSIONSPEC_WORK_DIR. Expiry
// is read from the file with Date.now(): the virtual clock applies. The reap interval runs on
// Node timers and is turned off (reapInterval -1). No retries: a missing file is a miss at once.

const fs = require('node:fs');
const path = require('node:path');
const session = require('express-session');
const FileStore = require('session-file-store')(session);
const { noOptions, checked, versionOf } = require('./common');

function dirOf(namespace) {
  return path.join(process.env.SESSIONSPEC_WORK_DIR || require('node:os').tmpdir(), 'file-store', checked(namespace));
}

module.exports = {
  name: 'session-file-store',
  version: versionOf('session-file-store'),
  homepage: 'https://github.com/valery-barysok/session-file-store',
  capabilities: ['touch', 'length', 'clear', 'virtual-clock', 'shared-namespace'],
  async backend() {
    return { name: 'files' };
  },
  async open({ namespace, options }) {
    noOptions(options, 'session-file-store');
    const store = new FileStore({ path: dirOf(namespace), reapInterval: -1, retries: 0, logFn: () => {} });
    return { store };
  },
  async drop(namespace) {
    fs.rmSync(dirOf(namespace), { recursive: true, force: true });
  },
};
