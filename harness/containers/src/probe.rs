//! Protocol-level readiness: one real request per attempt (`SHOW server_version`, `PING` +
//! `INFO server`, `SELECT VERSION()`, `hello` + `buildInfo`) through the drivers the stores use,
//! and the server's own account of what it is. An open port is never taken as readiness. For an
//! environment entry it also checks, on the server, the time zone and clock the entry promises.

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
        let wanted = backend.server_version();
        let (product, version) = match wanted.split_once('-') {
            Some((name, v)) if name.starts_with(|c: char| c.is_ascii_alphabetic()) => (name.to_owned(), v),
            _ => (canonical_product(backend.kind).to_lowercase(), wanted),
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

/// Has the Redis server at `url` write its data to disk now (`SAVE`), bounded by `timeout`.
pub async fn snapshot(url: &str, timeout: Duration) -> Result<(), String> {
    let save = async {
        let client = redis::Client::open(url).map_err(|e| e.to_string())?;
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout));
        let mut conn = client.get_multiplexed_async_connection_with_config(&config).await.map_err(|e| e.to_string())?;
        redis::cmd("SAVE").query_async::<()>(&mut conn).await.map_err(|e| e.to_string())
    };
    match tokio::time::timeout(timeout, save).await {
        Ok(r) => r.map_err(|e| format!("SAVE on {url}: {e}")),
        Err(_) => Err(format!("SAVE on {url}: no answer within {} ms", timeout.as_millis())),
    }
}

/// Checks that the server at `url` runs in the environment its environment entry promises (its
/// default time zone, its clock's offset from this process's within 5 s), and says what it
/// found: `server time zone Pacific/Kiritimati`, `server clock +2h, measured +7200 s`. `None` for a plain entry, which
/// is not asked. An error names what was expected and what the server answered.
pub async fn check_environment(backend: &Backend, url: &str) -> Result<Option<String>, String> {
    if !backend.is_environment() {
        return Ok(None);
    }
    let bound = Duration::from_secs(10);
    let (zone, server_epoch, zone_query) = match tokio::time::timeout(bound, read_clock(backend.kind, url)).await {
        Ok(found) => found?,
        Err(_) => return Err(format!("no answer to the time zone and clock queries within {} s", bound.as_secs())),
    };
    let mut found = Vec::new();
    if let Some(tz) = &backend.time_zone {
        if &zone != tz {
            return Err(format!("expected server time zone {tz}, the server says {zone} ({zone_query})"));
        }
        found.push(format!("server time zone {zone}"));
    }
    if let Some(tz) = &backend.session_time_zone {
        // What a client that honours the URL's options (node-pg, libpq) is told at startup.
        let store_url = backend.store_url(url);
        let session = match tokio::time::timeout(bound, pg_startup_time_zone(&store_url)).await {
            Ok(found) => found?,
            Err(_) => return Err(format!("no answer to a startup within {} s", bound.as_secs())),
        };
        if &session != tz {
            return Err(format!(
                "expected connection time zone {tz} from the URL's options, the server reports {session}"
            ));
        }
        found.push(format!("connection time zone {session} (URL options)"));
    }
    let ours = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
    let measured = server_epoch - ours;
    let wanted = backend.clock_offset_seconds() as f64;
    let shown = measured.round() as i64;
    if (measured - wanted).abs() > 5.0 {
        return Err(match &backend.clock_offset {
            Some(o) => format!(
                "expected the server clock {o} ({wanted:+.0} s) from this machine's, measured {shown:+} s \
                 (is libfaketime in the image? harness/backends/images/build.sh adds it for clock_offset entries)"
            ),
            None => format!("the server clock is {shown:+} s from this machine's; this entry expects no offset"),
        });
    }
    if let Some(o) = &backend.clock_offset {
        found.push(format!("server clock {o}, measured {shown:+} s"));
    }
    Ok(Some(found.join("; ")))
}

/// The server's default time zone, its clock as seconds since the epoch, and the query that
/// gave the zone.
async fn read_clock(kind: BackendKind, url: &str) -> Result<(String, f64, &'static str), String> {
    match kind {
        BackendKind::Postgres => {
            // sqlx sends `TimeZone=UTC` at startup, which hides the server's default from its
            // sessions; a startup without it (what node-pg and libpq send) is told the default.
            let zone = pg_startup_time_zone(url).await?;
            let mut conn = sqlx::PgConnection::connect(url).await.map_err(|e| e.to_string())?;
            let epoch: f64 = sqlx::query_scalar("SELECT extract(epoch FROM clock_timestamp())::float8")
                .fetch_one(&mut conn)
                .await
                .map_err(|e| e.to_string())?;
            let _ = conn.close().await;
            Ok((zone, epoch, "TimeZone reported to a client that sets none"))
        }
        BackendKind::Mariadb => {
            let mut conn = sqlx::MySqlConnection::connect(url).await.map_err(|e| e.to_string())?;
            // sqlx sets its session's time_zone to +00:00; the server's default is the global one.
            let (zone, epoch): (String, f64) =
                sqlx::query_as("SELECT CAST(@@global.time_zone AS CHAR), CAST(UNIX_TIMESTAMP(SYSDATE(6)) AS DOUBLE)")
                    .fetch_one(&mut conn)
                    .await
                    .map_err(|e| e.to_string())?;
            let _ = conn.close().await;
            Ok((zone, epoch, "@@global.time_zone"))
        }
        BackendKind::Redis | BackendKind::Mongo => {
            Err(format!("the harness cannot read a {kind} server's time zone or clock"))
        }
    }
}

/// The `TimeZone` a PostgreSQL server reports to a client whose startup message sets none but the
/// URL's `options`: its default, or what those options set. Speaks just enough of the protocol
/// (startup, trust authentication, the parameter statuses up to ReadyForQuery); a server that
/// asks for a password is answered with an error.
async fn pg_startup_time_zone(url: &str) -> Result<String, String> {
    use std::str::FromStr;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let options = sqlx::postgres::PgConnectOptions::from_str(url).map_err(|e| e.to_string())?;
    let user = options.get_username().to_owned();
    let database = options.get_database().unwrap_or(&user).to_owned();
    let mut stream =
        tokio::net::TcpStream::connect((options.get_host(), options.get_port())).await.map_err(|e| e.to_string())?;
    let mut body = 196_608_i32.to_be_bytes().to_vec(); // protocol 3.0
    let mut params = vec![("user", user.as_str()), ("database", database.as_str())];
    if let Some(o) = options.get_options() {
        params.push(("options", o));
    }
    for (k, v) in params {
        body.extend_from_slice(k.as_bytes());
        body.push(0);
        body.extend_from_slice(v.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut startup = ((body.len() + 4) as i32).to_be_bytes().to_vec();
    startup.extend_from_slice(&body);
    stream.write_all(&startup).await.map_err(|e| e.to_string())?;
    let mut zone = None;
    loop {
        let tag = stream.read_u8().await.map_err(|e| format!("reading the startup answer: {e}"))?;
        let len = stream.read_i32().await.map_err(|e| e.to_string())?;
        let mut payload = vec![0; usize::try_from(len - 4).map_err(|_| "a message of negative length")?];
        stream.read_exact(&mut payload).await.map_err(|e| e.to_string())?;
        match tag {
            b'R' if payload.get(..4) == Some(&[0, 0, 0, 0]) => {}
            b'R' => return Err("the server asks for a password; its default time zone cannot be read".into()),
            b'S' => {
                let mut fields = payload.split(|b| *b == 0);
                if fields.next() == Some(b"TimeZone") {
                    zone = fields.next().map(|v| String::from_utf8_lossy(v).into_owned());
                }
            }
            b'E' => return Err(format!("the server refused the startup: {}", String::from_utf8_lossy(&payload))),
            b'Z' => break,
            _ => {}
        }
    }
    let _ = stream.write_all(&[b'X', 0, 0, 0, 4]).await;
    zone.ok_or_else(|| "the server reported no TimeZone at startup".into())
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
            label: None,
            time_zone: None,
            clock_offset: None,
            session_time_zone: None,
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
    #[case(BackendKind::Postgres, "15-tz-kiritimati", "PostgreSQL", "15.18", true)]
    #[case(BackendKind::Postgres, "15-tz-kiritimati", "PostgreSQL", "17.2", false)]
    fn a_server_is_the_version_its_matrix_entry_names(
        #[case] kind: BackendKind,
        #[case] version: &str,
        #[case] product: &str,
        #[case] reported: &str,
        #[case] expected: bool,
    ) {
        let server = Server { product: product.into(), version: reported.into(), detail: None };
        let mut entry = backend(kind, version);
        if version.contains("-tz-") {
            entry.time_zone = Some("Pacific/Kiritimati".into());
        }
        assert_eq!(server.is(&entry), expected, "{server} is {kind}:{version}");
    }
}
