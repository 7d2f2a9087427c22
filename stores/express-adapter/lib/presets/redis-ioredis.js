'use strict';
// connect-redis 8 with ioredis 5 (lib/connect-redis.js): 8 is the newest major that supports
// ioredis (9 takes node-redis 5 only, its peer dependency and readme).
module.exports = require('../connect-redis').preset('connect-redis-8', 'ioredis');
