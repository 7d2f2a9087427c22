'use strict';
// connect-redis 7 with node-redis 5 (lib/connect-redis.js).
module.exports = require('../connect-redis').preset('connect-redis-7', 'redis');
