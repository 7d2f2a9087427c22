'use strict';
// connect-redis 7 with node-redis 4, the client it was built and tested with (its devDependencies;
// lib/connect-redis.js).
module.exports = require('../connect-redis').preset('connect-redis-7', 'redis-4');
