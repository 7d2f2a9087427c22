'use strict';
// connect-pg-simple 10 (lib/connect-pg-simple.js).
module.exports = require('../connect-pg-simple').preset('connect-pg-simple');
