//! Both apps as their users run them (the axum binary, `node express/server.js`) over HTTP on
//! localhost, sharing sessions on the real Redis and PostgreSQL servers at
//! SESSIONSPEC_REDIS_URL and SESSIONSPEC_POSTGRES_URL. Each run has a key prefix or schema of its
//! own, removed afterwards, so it never sees or disturbs other sessions.

use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, resume_unwind};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use axum_express_example::{COOKIE_NAME, percent_decode, percent_encode, sign};
use futures::FutureExt;
use redis::AsyncCommands;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::time::timeout;

const SECRET: &str = "the secret both apps sign connect.sid with";
/// Starting includes connecting to the store (and creating the table); node takes about a second.
const START_TIMEOUT: Duration = Duration::from_secs(30);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn redis_sessions_are_shared() {
    let url = env_url("SESSIONSPEC_REDIS_URL");
    let namespace = Namespace::Redis { url: url.clone(), prefix: format!("{}:", unique_name()) };
    exercise(&namespace, &[("SESSION_STORE", "redis"), ("SESSION_STORE_URL", &url)]).await;
}

#[tokio::test]
async fn postgres_sessions_are_shared() {
    let url = env_url("SESSIONSPEC_POSTGRES_URL");
    let schema = unique_name();
    let pool = sqlx::PgPool::connect(&url).await.expect("connect to PostgreSQL");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA \"{schema}\""))).execute(&pool).await.unwrap();
    let namespace = Namespace::Postgres { pool, schema };
    exercise(&namespace, &[("SESSION_STORE", "postgres"), ("SESSION_STORE_URL", &url)]).await;
}

/// Runs [`scenario`] against both apps on `namespace`, then removes the namespace, pass or fail.
async fn exercise(namespace: &Namespace, env: &[(&str, &str)]) {
    let outcome = AssertUnwindSafe(async {
        let mut env: Vec<(&str, &str)> = env.to_vec();
        env.extend(namespace.env());
        env.push(("SESSION_SECRET", SECRET));
        let node = node_server();
        let axum = App::start("axum", Command::new(env!("CARGO_BIN_EXE_axum-express-example")), &env).await;
        let express = App::start("express", node, &env).await;
        scenario(namespace, &axum, &express).await;
    })
    .catch_unwind()
    .await;
    namespace.remove().await;
    if let Err(panic) = outcome {
        resume_unwind(panic);
    }
}

async fn scenario(namespace: &Namespace, axum: &App, express: &App) {
    // Logged in on axum, seen and logged out on Express: axum no longer sees it.
    let cookie = axum.login("ada").await;
    assert_eq!(namespace.sids().await, [sid_of(&cookie)], "axum's session is stored under its sid");
    assert_eq!(express.me(&cookie).await.as_deref(), Some("ada"), "Express reads axum's session");
    express.logout(&cookie).await;
    assert_eq!(namespace.sids().await, Vec::<String>::new(), "Express's logout deleted it");
    assert_eq!(axum.me(&cookie).await, None);

    // And the other way round.
    let cookie = express.login("grace").await;
    assert_eq!(namespace.sids().await, [sid_of(&cookie)], "Express's session is stored under its sid");
    assert_eq!(axum.me(&cookie).await.as_deref(), Some("grace"), "axum reads Express's session (its genid)");
    axum.logout(&cookie).await;
    assert_eq!(namespace.sids().await, Vec::<String>::new(), "axum's logout deleted it");
    assert_eq!(express.me(&cookie).await, None);

    // Cookies that fail the signature, each refused by both apps while the genuine ones work.
    let mine = express.login("mallory").await;
    let theirs = axum.login("alan").await;
    let (mine_sid, theirs_sid) = (sid_of(&mine), sid_of(&theirs));
    let mine_tag = percent_decode(&mine).unwrap().rsplit_once('.').unwrap().1.to_owned();
    let forged = [
        ("another session's sid under my signature", percent_encode(&format!("s:{theirs_sid}.{mine_tag}"))),
        ("signed with another secret", percent_encode(&sign(&theirs_sid, b"not the secret"))),
        ("unsigned", theirs_sid.clone()),
    ];
    for app in [axum, express] {
        assert_eq!(app.me(&mine).await.as_deref(), Some("mallory"), "{}", app.name);
        assert_eq!(app.me(&theirs).await.as_deref(), Some("alan"), "{}", app.name);
        for (what, cookie) in &forged {
            assert_eq!(app.me(cookie).await, None, "{}: a cookie {what} was accepted", app.name);
        }
    }
    axum.logout(&mine).await;
    express.logout(&theirs).await;
    assert_eq!(
        namespace.sids().await,
        Vec::<String>::new(),
        "logouts on the other app deleted {mine_sid} and {theirs_sid}"
    );
}

/// The sid of a `connect.sid` value as sent (percent-encoded `s:<sid>.<tag>`).
fn sid_of(cookie: &str) -> String {
    let value = percent_decode(cookie).unwrap();
    value.strip_prefix("s:").and_then(|v| v.rsplit_once('.')).expect("a signed cookie").0.to_owned()
}

fn env_url(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: this test needs the server (eval \"$(harness/backends/services.sh)\" starts or finds it and exports it)")
    })
}

/// A name no other run uses, valid as a key prefix and as a PostgreSQL schema.
fn unique_name() -> String {
    let micros = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_micros();
    format!("axum_express_{}_{micros}", std::process::id())
}

/// Where a run's sessions are stored.
enum Namespace {
    Redis { url: String, prefix: String },
    Postgres { pool: sqlx::PgPool, schema: String },
}

impl Namespace {
    /// The environment telling both apps to use this namespace.
    fn env(&self) -> Vec<(&'static str, &str)> {
        match self {
            Namespace::Redis { prefix, .. } => vec![("SESSION_PREFIX", prefix)],
            Namespace::Postgres { schema, .. } => vec![("SESSION_SCHEMA", schema)],
        }
    }

    /// The sids stored: the keys under the prefix, or the rows of the `session` table.
    async fn sids(&self) -> Vec<String> {
        let mut sids: Vec<String> = match self {
            Namespace::Redis { url, prefix } => {
                let mut redis = redis_connection(url).await;
                let keys: Vec<String> = redis.keys(format!("{prefix}*")).await.unwrap();
                keys.iter().map(|k| k.strip_prefix(prefix.as_str()).unwrap().to_owned()).collect()
            }
            Namespace::Postgres { pool, schema } => {
                let select = format!("SELECT sid FROM \"{schema}\".session");
                sqlx::query_scalar(sqlx::AssertSqlSafe(select)).fetch_all(pool).await.unwrap()
            }
        };
        sids.sort();
        sids
    }

    async fn remove(&self) {
        match self {
            Namespace::Redis { url, prefix } => {
                let mut redis = redis_connection(url).await;
                let keys: Vec<String> = redis.keys(format!("{prefix}*")).await.unwrap();
                if !keys.is_empty() {
                    let _: () = redis.del(keys).await.unwrap();
                }
            }
            Namespace::Postgres { pool, schema } => {
                let drop = format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE");
                sqlx::query(sqlx::AssertSqlSafe(drop)).execute(pool).await.unwrap();
            }
        }
    }
}

async fn redis_connection(url: &str) -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(url).unwrap();
    client.get_multiplexed_async_connection().await.expect("connect to Redis")
}

/// `node express/server.js`, after checking that `just npm` installed its packages.
fn node_server() -> Command {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("express");
    assert!(
        dir.join("node_modules/express-session").is_dir(),
        "{} has no node_modules: run `just npm` (it installs the Express app's packages)",
        dir.display()
    );
    let mut node = Command::new("node");
    node.arg("server.js").current_dir(dir);
    node
}

/// One of the two apps, running as a child process until dropped.
struct App {
    name: &'static str,
    addr: SocketAddr,
    _child: Child,
}

impl App {
    /// Starts `command` on a free port and waits (bounded) until it says it is listening.
    async fn start(name: &'static str, mut command: Command, env: &[(&str, &str)]) -> App {
        command.envs(env.iter().copied()).env("PORT", "0");
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::inherit()).kill_on_drop(true);
        let program = PathBuf::from(command.as_std().get_program());
        let mut child = command.spawn().unwrap_or_else(|e| panic!("{name}: cannot start {}: {e}", program.display()));
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let announced = timeout(START_TIMEOUT, async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(addr) = line.strip_prefix("listening on http://") {
                    return Some(addr.parse::<SocketAddr>().expect("an address"));
                }
                eprintln!("{name}: {line}");
            }
            None
        })
        .await;
        let addr = match announced {
            Ok(Some(addr)) => addr,
            Ok(None) => panic!("{name} exited before listening: {:?}", child.wait().await),
            Err(_) => panic!("{name} did not say it was listening within {START_TIMEOUT:?}"),
        };
        // Whatever it prints later is passed on (and never blocks it on a full pipe).
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                eprintln!("{name}: {line}");
            }
        });
        App { name, addr, _child: child }
    }

    /// Logs `user` in; the `connect.sid` value it set.
    async fn login(&self, user: &str) -> String {
        let reply = self.request("POST", "/login", None, Some(&format!(r#"{{"user":"{user}"}}"#))).await;
        assert_eq!(reply.status, 200, "{} POST /login: {}", self.name, reply.body);
        reply.cookie.unwrap_or_else(|| panic!("{} POST /login set no {COOKIE_NAME} cookie", self.name))
    }

    /// The logged-in user of `cookie`, or `None` when the app answers 401.
    async fn me(&self, cookie: &str) -> Option<String> {
        let reply = self.request("GET", "/me", Some(cookie), None).await;
        match reply.status {
            200 => {
                let body: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
                Some(body["user"].as_str().expect("a user").to_owned())
            }
            401 => None,
            status => panic!("{} GET /me: {status} {}", self.name, reply.body),
        }
    }

    async fn logout(&self, cookie: &str) {
        let reply = self.request("POST", "/logout", Some(cookie), None).await;
        assert!(reply.status == 204, "{} POST /logout: {} {}", self.name, reply.status, reply.body);
    }

    /// One HTTP/1.1 exchange on a connection of its own.
    async fn request(&self, method: &str, path: &str, cookie: Option<&str>, body: Option<&str>) -> Reply {
        let exchange = async {
            let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n", self.addr);
            if let Some(cookie) = cookie {
                request += &format!("Cookie: {COOKIE_NAME}={cookie}\r\n");
            }
            let body = body.unwrap_or("");
            if !body.is_empty() {
                request += "Content-Type: application/json\r\n";
            }
            request += &format!("Content-Length: {}\r\n\r\n{body}", body.len());
            let mut stream = TcpStream::connect(self.addr).await?;
            stream.write_all(request.as_bytes()).await?;
            let mut response = String::new();
            stream.read_to_string(&mut response).await?;
            std::io::Result::Ok(response)
        };
        let response = match timeout(REQUEST_TIMEOUT, exchange).await {
            Ok(Ok(response)) => response,
            Ok(Err(e)) => panic!("{} {method} {path}: {e}", self.name),
            Err(_) => panic!("{} {method} {path}: no answer within {REQUEST_TIMEOUT:?}", self.name),
        };
        Reply::parse(&response).unwrap_or_else(|| panic!("{} {method} {path}: not HTTP: {response:?}", self.name))
    }
}

struct Reply {
    status: u16,
    /// The value of a `connect.sid` cookie it sets, as sent (percent-encoded).
    cookie: Option<String>,
    body: String,
}

impl Reply {
    /// A response both apps send: a status line, headers and a body of `Content-Length` bytes
    /// (or none), never chunked.
    fn parse(response: &str) -> Option<Reply> {
        let (head, body) = response.split_once("\r\n\r\n")?;
        let mut lines = head.split("\r\n");
        let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
        let mut cookie = None;
        for (name, value) in lines.filter_map(|l| l.split_once(':')) {
            let value = value.trim();
            if name.eq_ignore_ascii_case("transfer-encoding") {
                panic!("a chunked body, which this client does not read: {value}");
            }
            if name.eq_ignore_ascii_case("set-cookie") {
                let pair = value.split(';').next()?;
                if let Some(v) = pair.strip_prefix(&format!("{COOKIE_NAME}=")).filter(|v| !v.is_empty()) {
                    cookie = Some(v.to_owned());
                }
            }
        }
        Some(Reply { status, cookie, body: body.to_owned() })
    }
}
