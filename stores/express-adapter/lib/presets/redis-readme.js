'use strict';
// connect-redis 9 with node-redis 5, its client made as connect-redis's readme shows (no `error`
// listener, connect() not awaited): what applications copy (lib/connect-redis.js). `redis` is
// the careful setup of the same packages.
module.exports = require('../connect-redis').preset('connect-redis', 'redis', 'readme');
