#!/usr/bin/env node
'use strict';
// sessionspec-express-adapter: speaks the sessionspec adapter protocol on stdin/stdout for one
// express-session store, a preset or a store author's factory file.

const fs = require('node:fs');
const path = require('node:path');
const { serve } = require('../lib/adapter');

// A preset is a file of lib/presets/ exporting a store factory, loaded only when asked for so
// that one preset's drivers are never required by another. The names are the catalog's
// (`sessionspec list stores`: node:<preset>).
const PRESETS_DIR = path.join(__dirname, '..', 'lib', 'presets');
// The npm package `sessionspec` ships this adapter without the presets (packages/build.sh).
const PRESETS = fs.existsSync(PRESETS_DIR)
  ? fs.readdirSync(PRESETS_DIR).filter((f) => f.endsWith('.js')).map((f) => f.slice(0, -3)).sort()
  : [];

const USAGE = `usage: sessionspec-express-adapter (--preset NAME | --store FILE)

  --preset NAME   one of: ${PRESETS.join(', ')}
  --store FILE    a module exporting a store factory (see README.md, "Plugging in your store")

Speaks the sessionspec adapter protocol (spec/adapter-protocol.md) on stdin and stdout;
diagnostics go to stderr. Backends come from SESSIONSPEC_REDIS_URL, SESSIONSPEC_POSTGRES_URL,
SESSIONSPEC_MYSQL_URL and SESSIONSPEC_MONGO_URL (under a fault proxy, the adapter's own work
goes to SESSIONSPEC_<KIND>_ADMIN_URL instead); SQLite files go to SESSIONSPEC_WORK_DIR.`;

function main(argv) {
  let factory;
  if (argv[0] === '--preset' && argv.length === 2) {
    if (!PRESETS.includes(argv[1])) {
      process.stderr.write(`unknown preset \`${argv[1]}\`\n\n${USAGE}\n`);
      process.exit(2);
    }
    factory = require(path.join(PRESETS_DIR, `${argv[1]}.js`));
  } else if (argv[0] === '--store' && argv.length === 2) {
    const loaded = require(path.resolve(argv[1]));
    factory = loaded && loaded.default ? loaded.default : loaded;
  } else {
    process.stderr.write(`${USAGE}\n`);
    process.exit(2);
  }
  for (const field of ['name', 'version', 'open', 'drop']) {
    if (!factory || factory[field] === undefined) {
      process.stderr.write(`the store factory has no \`${field}\` (see README.md, "Plugging in your store")\n`);
      process.exit(2);
    }
  }
  serve(factory);
}

main(process.argv.slice(2));
