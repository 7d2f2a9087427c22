'use strict';
// The presets: the npm stores users know, each loaded only when asked for, so a preset's
// drivers are never required by another.

const PRESETS = {
  memory: () => require('./memory'),
  redis: () => require('./redis'),
  pg: () => require('./pg'),
  'knex-sqlite': () => require('./knex').preset('sqlite'),
  'knex-postgres': () => require('./knex').preset('postgres'),
  'knex-mysql': () => require('./knex').preset('mysql'),
  mongo: () => require('./mongo'),
};

module.exports = { PRESETS };
