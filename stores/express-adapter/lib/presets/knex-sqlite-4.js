'use strict';
// connect-session-knex 4 on sqlite (lib/knex.js).
module.exports = require('../knex').preset('sqlite', 'connect-session-knex-4');
