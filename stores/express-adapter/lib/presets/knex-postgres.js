'use strict';
// connect-session-knex 5 on postgres (lib/knex.js).
module.exports = require('../knex').preset('postgres');
