'use strict';
// connect-redis 9 with ioredis 5 (lib/connect-redis.js).
module.exports = require('../connect-redis').preset('connect-redis', 'ioredis');
