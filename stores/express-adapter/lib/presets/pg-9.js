'use strict';
// connect-pg-simple 9 (lib/connect-pg-simple.js).
module.exports = require('../connect-pg-simple').preset('connect-pg-simple-9');
