'use strict';
// connect-session-sequelize (https://github.com/mweibel/connect-session-sequelize) with
// Sequelize on PostgreSQL (pg): one table per namespace (`{namespace}`), created with sync().
// get does not look at `expires`; expired rows go only when the cleanup interval runs, which is
// turned off here (checkExpirationInterval 0), so nothing about expiry depends on timers.

const session = require('express-session');
const { Sequelize, QueryTypes } = require('sequelize');
const SequelizeStore = require('connect-session-sequelize')(session.Store);
const { noOptions, checked, versionOf, url, adminUrl } = require('./common');

let sequelize = null; // the stores'
let admin = null; // this file's own (version, drop)

function db() {
  sequelize ||= new Sequelize(url('SESSIONSPEC_POSTGRES_URL'), { logging: false, pool: { max: 4 } });
  return sequelize;
}

function adminDb() {
  admin ||= new Sequelize(adminUrl('SESSIONSPEC_POSTGRES_URL'), { logging: false, pool: { max: 2 } });
  return admin;
}

module.exports = {
  name: 'connect-session-sequelize',
  version: versionOf('connect-session-sequelize'),
  homepage: 'https://github.com/mweibel/connect-session-sequelize',
  backendKind: 'postgres',
  capabilities: ['touch', 'length', 'virtual-clock', 'shared-namespace'],
  async backend() {
    const rows = await adminDb().query('SHOW server_version', { type: QueryTypes.SELECT });
    return { name: 'postgres', version: rows[0].server_version.split(' ')[0] };
  },
  async open({ namespace, options }) {
    noOptions(options, 'connect-session-sequelize');
    const store = new SequelizeStore({ db: db(), tableName: checked(namespace), checkExpirationInterval: 0 });
    await store.sync();
    return { store };
  },
  async drop(namespace) {
    await adminDb().query(`DROP TABLE IF EXISTS "${checked(namespace)}"`);
  },
  async shutdown() {
    for (const s of [sequelize, admin]) {
      if (s) await s.close();
    }
    sequelize = null;
    admin = null;
  },
};
