'use strict';
// connect-redis 8 with node-redis 5 (lib/connect-redis.js).
module.exports = require('../connect-redis').preset('connect-redis-8', 'redis');
