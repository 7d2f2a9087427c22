//! Protocol-level readiness: one real request per attempt (`SHOW server_version`, `PING` +
//! `INFO server`, `SELECT VERSION()`, `hello` + `buildInfo`) through the drivers the stores use,
//! and the server's own account of what it is. An open port is never taken as readiness.

use std::fmt;
use std::time::Duration;

use sqlx::Connection;

use crate::matrix::{Backend, BackendKind};

/// What a server says it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    /// The product (`PostgreSQL`, `Redis`, `Valkey`, `MariaDB`, `MySQL`, `MongoDB`, `SecantusDB`).
    pub product: String,
    /// Its self-reported version (`15.18 (Debian 15.18-0+deb12u1)`, `10.11.18-MariaDB-0+deb12u1`).
    pub version: String,
    /// More about it, when the product speaks another's protocol (`MongoDB wire protocol, reports
    /// server version 8.2.11`).
    pub detail: Option<String>,
}

impl Server {
    /// The product's name as a backend name in reports (`postgresql`, `valkey`, `secantusdb`).
    pub fn backend_name(&self) -> String {
        self.product.to_lowercase()
    }

    /// The version with its detail, as the report's backend-version cell shows it.
    pub fn version_text(&self) -> String {
        match &self.detail {
            Some(d) => format!("{} ({d})", self.version),
            None => self.version.clone(),
        }
    }

    /// Whether this server is the version a matrix entry stands for: `15` is PostgreSQL 15.x,
    /// `valkey-8` is Valkey 8.x, `secantus-0.7.0b3` is SecantusDB 0.7.0b3.
    pub fn is(&self, backend: &Backend) -> bool {
        let (product, version) = match backend.version.split_once('-') {
            Some((name, v)) if name.starts_with(|c: char| c.is_ascii_alphabetic()) => (name.to_owned(), v),
            _ => (canonical_product(backend.kind).to_lowercase(), backend.version.as_str()),
        };
        self.product.to_lowercase().starts_with(&product)
            && (self.version == version
                || self.version.strip_prefix(version).is_some_and(|rest| rest.starts_with(['.', '-', ' '])))
    }
}

impl fmt::Display for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.product, self.version_text())
    }
}

fn canonical_product(kind: BackendKind) -> &'static str {
    match kind {
        BackendKind::Postgres => "PostgreSQL",
        BackendKind::Redis => "Redis",
        BackendKind::Mariadb => "MariaDB",
        BackendKind::Mongo => "MongoDB",
    }
}

/// Asks the server at `url` once, bounded by `timeout`: answers with what it is, or why not.
/// For `mariadb`, `url` may name no database.
pub async fn ask(kind: BackendKind, url: &str, timeout: Duration) -> Result<Server, String> {
    match tokio::time::timeout(timeout, ask_unbounded(kind, url, timeout)).await {
        Ok(answer) => answer,
        Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
    }
}

async fn ask_unbounded(kind: BackendKind, url: &str, timeout: Duration) -> Result<Server, String> {
    match kind {
        BackendKind::Postgres => {
            let mut conn = sqlx::PgConnection::connect(url).await.map_err(|e| e.to_string())?;
            let version: String = sqlx::query_scalar("SELECT current_setting('server_version')")
                .fetch_one(&mut conn)
                .await
                .map_err(|e| e.to_string())?;
            let _ = conn.close().await;
            Ok(Server { product: "PostgreSQL".into(), version, detail: None })
        }
        BackendKind::Mariadb => {
            let mut conn = sqlx::MySqlConnection::connect(url).await.map_err(|e| e.to_string())?;
            let version: String =
                sqlx::query_scalar("SELECT VERSION()").fetch_one(&mut conn).await.map_err(|e| e.to_string())?;
            let _ = conn.close().await;
            let product = if version.contains("MariaDB") { "MariaDB" } else { "MySQL" };
            Ok(Server { product: product.into(), version, detail: None })
        }
        BackendKind::Redis => {
            let client = redis::Client::open(url).map_err(|e| e.to_string())?;
            let config = redis::AsyncConnectionConfig::new()
                .set_connection_timeout(Some(timeout))
                .set_response_timeout(Some(timeout));
            let mut conn =
                client.get_multiplexed_async_connection_with_config(&config).await.map_err(|e| e.to_string())?;
            let pong: String = redis::cmd("PING").query_async(&mut conn).await.map_err(|e| e.to_string())?;
            if pong != "PONG" {
                return Err(format!("PING answered `{pong}`"));
            }
            let info: String =
                redis::cmd("INFO").arg("server").query_async(&mut conn).await.map_err(|e| e.to_string())?;
            let field = |name: &str| {
                info.lines().find_map(|l| l.trim_end().strip_prefix(name)?.strip_prefix(':').map(str::to_owned))
            };
            match (field("valkey_version"), field("redis_version")) {
                (Some(v), redis) => Ok(Server {
                    product: "Valkey".into(),
                    version: v,
                    detail: redis.map(|r| format!("Redis protocol, reports redis_version {r}")),
                }),
                (None, Some(v)) => Ok(Server { product: "Redis".into(), version: v, detail: None }),
                (None, None) => Err("INFO server has no redis_version".into()),
            }
        }
        BackendKind::Mongo => {
            use mongodb::bson::doc;
            let mut options = mongodb::options::ClientOptions::parse(url).await.map_err(|e| e.to_string())?;
            options.server_selection_timeout = Some(timeout);
            options.connect_timeout = Some(timeout);
            let client = mongodb::Client::with_options(options).map_err(|e| e.to_string())?;
            let admin = client.database("admin");
            let answer = async {
                admin.run_command(doc! { "hello": 1 }).await?;
                admin.run_command(doc! { "buildInfo": 1 }).await
            }
            .await;
            client.shutdown().await;
            let info = answer.map_err(|e| e.to_string())?;
            let version = info.get_str("version").map_err(|_| "buildInfo has no version".to_owned())?.to_owned();
            // SecantusDB answers buildInfo with its own version beside the MongoDB one it emulates.
            Ok(match info.get_str("secantusVersion") {
                Ok(own) => Server {
                    product: "SecantusDB".into(),
                    version: own.to_owned(),
                    detail: Some(format!("MongoDB wire protocol, reports server version {version}")),
                },
                Err(_) => Server { product: "MongoDB".into(), version, detail: None },
            })
        }
    }
}

/// Prepares a ready server for the stores: the MariaDB database `test` (the local image has
/// none; the official one creates it from `MARIADB_DATABASE`). Nothing for the other kinds.
pub async fn prepare(kind: BackendKind, admin_url: &str) -> Result<(), String> {
    if kind == BackendKind::Mariadb {
        let mut conn = sqlx::MySqlConnection::connect(admin_url).await.map_err(|e| e.to_string())?;
        sqlx::raw_sql(sqlx::AssertSqlSafe("CREATE DATABASE IF NOT EXISTS test"))
            .execute(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        let _ = conn.close().await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn backend(kind: BackendKind, version: &str) -> Backend {
        Backend {
            kind,
            version: version.into(),
            official: "x:1".into(),
            local: "y:1".into(),
            port: 1,
            suite: None,
            default: false,
        }
    }

    #[rstest]
    #[case(BackendKind::Postgres, "15", "PostgreSQL", "15.18 (Debian 15.18-0+deb12u1)", true)]
    #[case(BackendKind::Postgres, "15", "PostgreSQL", "13.16 (Debian 13.16-0+deb11u1)", false)]
    #[case(BackendKind::Postgres, "1", "PostgreSQL", "15.18", false)]
    #[case(BackendKind::Redis, "7", "Redis", "7.0.15", true)]
    #[case(BackendKind::Redis, "7", "Valkey", "8.1.1", false)]
    #[case(BackendKind::Redis, "valkey-8", "Valkey", "8.1.1", true)]
    #[case(BackendKind::Redis, "valkey-8", "Redis", "8.0.2", false)]
    #[case(BackendKind::Mariadb, "10.11", "MariaDB", "10.11.18-MariaDB-0+deb12u1", true)]
    #[case(BackendKind::Mariadb, "10.1", "MariaDB", "10.11.18-MariaDB-0+deb12u1", false)]
    #[case(BackendKind::Mongo, "secantus-0.7.0b3", "SecantusDB", "0.7.0b3", true)]
    #[case(BackendKind::Mongo, "8.0", "SecantusDB", "0.7.0b3", false)]
    fn a_server_is_the_version_its_matrix_entry_names(
        #[case] kind: BackendKind,
        #[case] version: &str,
        #[case] product: &str,
        #[case] reported: &str,
        #[case] expected: bool,
    ) {
        let server = Server { product: product.into(), version: reported.into(), detail: None };
        assert_eq!(server.is(&backend(kind, version)), expected, "{server} is {kind}:{version}");
    }
}
