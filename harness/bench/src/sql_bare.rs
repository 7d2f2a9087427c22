//! Bare `sqlx` loops: the same pair the SQL stores run (an upsert of the session's JSON text with
//! its expiry, then a read of the live row by id), on the same table layout and with the same pool
//! settings as the store they are compared with, with nothing around it: the JSON is encoded once
//! and the read is not decoded. Each loop works in a schema or database of its own and drops it.

use std::sync::Arc;

use anyhow::{Context, bail};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::mysql::MySqlPool;
use sqlx::postgres::PgPool;
use sqlx::{AssertSqlSafe, Executor};

use crate::{Goal, Pairs, Role, RunContext, Workload};

/// Which store's statements and layout a loop mirrors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqlFlavor {
    /// `sessionspec-store-postgres`: connect-pg-simple's `session` table, `expire timestamp`.
    PgSimple,
    /// `sessionspec-store-sql` on PostgreSQL: knex's `sessions` table, `expired timestamptz`.
    KnexPostgres,
    /// `sessionspec-store-sql` on MySQL/MariaDB: knex's `sessions` table, `expired DATETIME(3)`.
    KnexMySql,
}

/// A bare loop on one server.
pub struct SqlBare {
    flavor: SqlFlavor,
    /// The store it is compared with (its family), and the loop's own name.
    store: String,
    label: String,
    url: String,
    server: String,
    /// One pool for every run, as the store's factory keeps one: at 1 client after 32, both
    /// then hand out connections from a pool that holds many (sqlx's idle queue is first in,
    /// first out, so a lone client goes round all of them).
    pool: tokio::sync::OnceCell<Db>,
}

impl SqlBare {
    /// A loop mirroring `flavor` on the server at `url`, described as `server` (`postgres 15.2`).
    pub fn new(flavor: SqlFlavor, store: &str, url: &str, server: String) -> SqlBare {
        SqlBare {
            flavor,
            store: store.to_owned(),
            label: format!("{store}-bare-sqlx"),
            url: url.to_owned(),
            server,
            pool: tokio::sync::OnceCell::new(),
        }
    }

    async fn connect(&self) -> anyhow::Result<Db> {
        Ok(match self.flavor {
            SqlFlavor::PgSimple | SqlFlavor::KnexPostgres => Db::Postgres(
                sessionspec_store_postgres::pool_options()
                    .connect_with(
                        sessionspec_store_postgres::connect_options(&self.url)
                            .map_err(|e| anyhow::anyhow!("{}", e.chain()))?,
                    )
                    .await
                    .context("cannot connect to PostgreSQL")?,
            ),
            SqlFlavor::KnexMySql => Db::MySql(
                sessionspec_store_sql::mysql_pool_options()
                    .connect(&self.url)
                    .await
                    .context("cannot connect to MySQL")?,
            ),
        })
    }
}

#[async_trait]
impl Workload for SqlBare {
    fn name(&self) -> &str {
        &self.label
    }

    fn family(&self) -> &str {
        &self.store
    }

    fn role(&self) -> Role {
        // The store should cost at most a tenth of its own driver's loop.
        Role::Baseline { goals: vec![Goal { ratio: 0.9, clients: None }] }
    }

    fn detail(&self) -> String {
        let what = match self.flavor {
            SqlFlavor::PgSimple => "INSERT ON CONFLICT + SELECT, connect-pg-simple layout",
            SqlFlavor::KnexPostgres => "INSERT ON CONFLICT + SELECT, connect-session-knex layout",
            SqlFlavor::KnexMySql => "INSERT ON DUPLICATE KEY UPDATE + SELECT, connect-session-knex layout",
        };
        format!("sqlx {what}, the store's pool settings, on {}", self.server)
    }

    async fn start(&self, run: &RunContext) -> anyhow::Result<Arc<dyn Pairs>> {
        let ns = &run.namespace;
        let json = String::from_utf8(run.payload.json.clone()).context("the payload is JSON text")?;
        let expires: DateTime<Utc> = run
            .payload
            .session
            .expires()
            .map_err(|e| anyhow::anyhow!("{}", e.chain()))?
            .context("the payload's cookie has an expiry")?;
        let pool = self.pool.get_or_try_init(|| self.connect()).await?.clone();
        match &pool {
            Db::Postgres(pool) => {
                let table = if self.flavor == SqlFlavor::PgSimple {
                    format!(
                        "CREATE TABLE \"{ns}\".\"session\" (\"sid\" varchar NOT NULL COLLATE \"default\" PRIMARY KEY, \
                         \"sess\" json NOT NULL, \"expire\" timestamp(6) NOT NULL); \
                         CREATE INDEX ON \"{ns}\".\"session\" (\"expire\")"
                    )
                } else {
                    format!(
                        "CREATE TABLE \"{ns}\".\"sessions\" (\"sid\" varchar(255) NOT NULL PRIMARY KEY, \
                         \"sess\" json NOT NULL, \"expired\" timestamptz NOT NULL); \
                         CREATE INDEX ON \"{ns}\".\"sessions\" (\"expired\")"
                    )
                };
                pool.execute(AssertSqlSafe(format!("CREATE SCHEMA \"{ns}\"; {table}"))).await?;
            }
            Db::MySql(pool) => {
                pool.execute(AssertSqlSafe(format!("CREATE DATABASE `{ns}` CHARACTER SET utf8mb4"))).await?;
                pool.execute(AssertSqlSafe(format!(
                    "CREATE TABLE `{ns}`.`sessions` (`sid` VARBINARY(1020) NOT NULL, `sess` LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL, \
                     `expired` DATETIME(3) NOT NULL, PRIMARY KEY (`sid`), INDEX (`expired`)) DEFAULT CHARSET=utf8mb4"
                )))
                .await?;
            }
        }
        let (upsert, read) = match self.flavor {
            SqlFlavor::PgSimple => (
                format!(
                    "INSERT INTO \"{ns}\".\"session\" (sid, sess, expire) VALUES ($1, $2::json, $3) \
                     ON CONFLICT (sid) DO UPDATE SET sess = EXCLUDED.sess, expire = EXCLUDED.expire"
                ),
                format!("SELECT sess::text FROM \"{ns}\".\"session\" WHERE sid = $1 AND expire > $2"),
            ),
            SqlFlavor::KnexPostgres => (
                format!(
                    "INSERT INTO \"{ns}\".\"sessions\" (sid, sess, expired) VALUES ($1, $2::json, $3) \
                     ON CONFLICT (sid) DO UPDATE SET sess = EXCLUDED.sess, expired = EXCLUDED.expired"
                ),
                format!("SELECT sess::text FROM \"{ns}\".\"sessions\" WHERE sid = $1 AND expired > $2"),
            ),
            SqlFlavor::KnexMySql => (
                format!(
                    "INSERT INTO `{ns}`.`sessions` (`sid`, `sess`, `expired`) VALUES (?, ?, ?) \
                     ON DUPLICATE KEY UPDATE `sess` = VALUES(`sess`), `expired` = VALUES(`expired`)"
                ),
                format!("SELECT CAST(`sess` AS CHAR) FROM `{ns}`.`sessions` WHERE `sid` = ? AND `expired` > ?"),
            ),
        };
        Ok(Arc::new(SqlPairs { flavor: self.flavor, db: pool, namespace: ns.clone(), upsert, read, json, expires }))
    }
}

#[derive(Clone)]
enum Db {
    Postgres(PgPool),
    MySql(MySqlPool),
}

struct SqlPairs {
    flavor: SqlFlavor,
    db: Db,
    namespace: String,
    upsert: String,
    read: String,
    json: String,
    expires: DateTime<Utc>,
}

#[async_trait]
impl Pairs for SqlPairs {
    async fn pair(&self, _client: usize, id: &str) -> anyhow::Result<()> {
        let now = Utc::now();
        let upsert = AssertSqlSafe(self.upsert.as_str());
        let read = AssertSqlSafe(self.read.as_str());
        let found: Option<String> = match (&self.db, self.flavor) {
            // connect-pg-simple's `expire` is `timestamp`: UTC wall-clock time, as the store binds it.
            (Db::Postgres(pool), SqlFlavor::PgSimple) => {
                sqlx::query(upsert).bind(id).bind(&self.json).bind(self.expires.naive_utc()).execute(pool).await?;
                sqlx::query_scalar(read).bind(id).bind(now.naive_utc()).fetch_optional(pool).await?
            }
            (Db::Postgres(pool), _) => {
                sqlx::query(upsert).bind(id).bind(&self.json).bind(self.expires).execute(pool).await?;
                sqlx::query_scalar(read).bind(id).bind(now).fetch_optional(pool).await?
            }
            (Db::MySql(pool), _) => {
                sqlx::query(upsert).bind(id).bind(&self.json).bind(self.expires.naive_utc()).execute(pool).await?;
                sqlx::query_scalar(read).bind(id).bind(now.naive_utc()).fetch_optional(pool).await?
            }
        };
        if found.is_none() {
            bail!("the read of `{id}` found nothing right after the upsert");
        }
        Ok(())
    }

    async fn finish(&self) -> anyhow::Result<()> {
        let ns = &self.namespace;
        match &self.db {
            Db::Postgres(pool) => {
                pool.execute(AssertSqlSafe(format!("DROP SCHEMA \"{ns}\" CASCADE"))).await?;
            }
            Db::MySql(pool) => {
                pool.execute(AssertSqlSafe(format!("DROP DATABASE `{ns}`"))).await?;
            }
        }
        Ok(())
    }
}
