//! The axum app on the reference Redis or PostgreSQL store, configured by the environment like
//! express/server.js (same variable names; see the README). Prints
//! `listening on http://127.0.0.1:<port>` once it accepts connections.

use anyhow::{Context, bail};
use sessionspec_contract::SystemClock;
use sessionspec_store_postgres::{PgStore, PgStoreConfig};
use sessionspec_store_redis::{RedisConfig, RedisStore};
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let kind = required("SESSION_STORE")?;
    let url = required("SESSION_STORE_URL")?;
    let secret = required("SESSION_SECRET")?;
    let port: u16 = std::env::var("PORT").unwrap_or_else(|_| "3001".into()).parse().context("PORT")?;

    // The one line per store: each is a `tower_sessions_core::SessionStore`.
    let app = match kind.as_str() {
        "redis" => {
            let config = RedisConfig {
                prefix: std::env::var("SESSION_PREFIX").unwrap_or_else(|_| "sess:".into()),
                ..RedisConfig::default()
            };
            axum_express_example::app(RedisStore::connect(&url, config).await?, secret)
        }
        "postgres" => {
            let config = PgStoreConfig {
                schema_name: std::env::var("SESSION_SCHEMA").ok(),
                create_table_if_missing: true,
                ..PgStoreConfig::default()
            };
            axum_express_example::app(PgStore::connect(&url, config, SystemClock::shared()).await?, secret)
        }
        other => bail!("SESSION_STORE must be redis or postgres, not {other:?}"),
    };

    let listener = TcpListener::bind(("127.0.0.1", port)).await.with_context(|| format!("port {port}"))?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

fn required(name: &str) -> anyhow::Result<String> {
    std::env::var(name).with_context(|| format!("{name} is not set (see examples/axum-express/README.md)"))
}
