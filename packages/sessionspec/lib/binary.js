'use strict';
// Finds the sessionspec binary of the platform package npm installed beside this one
// (@sessionspec/<platform>-<arch>), and the environment it runs with: the express adapter's
// JavaScript shipped in this package, so a store file runs through the same adapter as the binary
// expects. Nothing here runs scenarios; the binary does.

const fs = require('node:fs');
const path = require('node:path');

const PLATFORMS = ['linux-x64', 'linux-arm64', 'darwin-x64', 'darwin-arm64', 'win32-x64'];

/** The express adapter package directory inside this package (bin/adapter.js, lib/). */
const ADAPTER_DIR = path.join(__dirname, '..', 'adapter');

/** The path of the sessionspec binary: SESSIONSPEC_BINARY, else the platform package's. */
function binaryPath() {
  if (process.env.SESSIONSPEC_BINARY) {
    return process.env.SESSIONSPEC_BINARY;
  }
  const platform = `${process.platform}-${process.arch}`;
  const name = `@sessionspec/${platform}`;
  if (!PLATFORMS.includes(platform)) {
    throw new Error(
      `sessionspec has no prebuilt binary for ${platform} (there are: ${PLATFORMS.join(', ')}); ` +
        'build it from the repository (cargo build --release -p sessionspec) and set SESSIONSPEC_BINARY to it',
    );
  }
  let dir;
  try {
    dir = path.dirname(require.resolve(`${name}/package.json`));
  } catch {
    throw new Error(
      `the platform package ${name} is not installed: npm installs it with sessionspec as an optional ` +
        `dependency, unless optional dependencies were omitted (--omit=optional, --no-optional). ` +
        `Install it with \`npm install -D ${name}\`, or set SESSIONSPEC_BINARY to a sessionspec binary`,
    );
  }
  const file = path.join(dir, 'bin', process.platform === 'win32' ? 'sessionspec.exe' : 'sessionspec');
  if (!fs.existsSync(file)) {
    throw new Error(`${name} is installed at ${dir}, but its binary ${file} is missing: reinstall it`);
  }
  return file;
}

/** The environment for the binary: this package's express adapter unless one is named already. */
function binaryEnv(env = process.env) {
  return { SESSIONSPEC_EXPRESS_ADAPTER: ADAPTER_DIR, ...env };
}

module.exports = { binaryPath, binaryEnv, ADAPTER_DIR, PLATFORMS };
