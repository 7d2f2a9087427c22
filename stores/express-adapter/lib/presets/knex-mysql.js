'use strict';
// connect-session-knex 5 on mysql (lib/knex.js).
module.exports = require('../knex').preset('mysql');
