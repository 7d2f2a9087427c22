'use strict';
// connect-session-knex 5 on sqlite (lib/knex.js).
module.exports = require('../knex').preset('sqlite');
