//! The bare `mongodb` crate loop the Mongo store is compared with: the same collection layout and
//! TTL index, the same upsert (`$set` of the session's JSON text and its expiry, `upsert: true`)
//! and the same read (by `_id` alone, expiry checked on the client, which every server answers
//! from its primary index), with nothing around them: the JSON is written once and the read is
//! not decoded.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use async_trait::async_trait;
use chrono::Utc;
use mongodb::bson::{DateTime as BsonDateTime, Document, doc};
use mongodb::options::IndexOptions;
use mongodb::{Client, Collection, IndexModel};

use crate::{Goal, Pairs, Role, RunContext, Workload};

/// A bare loop on one MongoDB-compatible server, one client shared by every task (as the store's
/// factory shares one).
pub struct MongoBare {
    client: Client,
    goals: Vec<Goal>,
    version: Option<String>,
}

impl MongoBare {
    /// A loop on the server at `url`, setting the Mongo store `goals`.
    pub async fn new(url: &str, goals: Vec<Goal>, version: Option<String>) -> anyhow::Result<Self> {
        let client = Client::with_uri_str(url).await.context("not a usable MongoDB URL")?;
        Ok(MongoBare { client, goals, version })
    }
}

#[async_trait]
impl Workload for MongoBare {
    fn name(&self) -> &str {
        "mongo-bare"
    }

    fn family(&self) -> &str {
        "mongo"
    }

    fn role(&self) -> Role {
        Role::Baseline { goals: self.goals.clone() }
    }

    fn detail(&self) -> String {
        let server = self.version.as_deref().map(|v| format!("mongodb {v}")).unwrap_or_else(|| "mongodb".into());
        format!(
            "mongodb crate, updateOne upsert + findOne by _id with the expiry checked on the client, one shared Client, on {server}"
        )
    }

    async fn start(&self, run: &RunContext) -> anyhow::Result<Arc<dyn Pairs>> {
        let db = run.namespace.clone();
        let sessions: Collection<Document> = self.client.database(&db).collection("sessions");
        #[allow(deprecated)] // `background`, as the store and connect-mongo send it.
        let ttl = IndexModel::builder()
            .keys(doc! {"expires": 1})
            .options(IndexOptions::builder().expire_after(Duration::ZERO).background(true).build())
            .build();
        sessions.create_index(ttl).await.context("creating the TTL index")?;
        let expires = BsonDateTime::from_millis((Utc::now() + run.payload.ttl).timestamp_millis());
        let json = String::from_utf8(run.payload.json.clone()).context("the payload is JSON text")?;
        Ok(Arc::new(BarePairs { client: self.client.clone(), db, sessions, json, expires }))
    }
}

struct BarePairs {
    client: Client,
    db: String,
    sessions: Collection<Document>,
    json: String,
    expires: BsonDateTime,
}

#[async_trait]
impl Pairs for BarePairs {
    async fn pair(&self, _client: usize, id: &str) -> anyhow::Result<()> {
        self.sessions
            .update_one(doc! {"_id": id}, doc! {"$set": {"session": &self.json, "expires": self.expires}})
            .upsert(true)
            .await?;
        let read = self
            .sessions
            .find_one(doc! {"_id": id})
            .projection(doc! {"session": 1, "expires": 1})
            .await?
            .filter(|doc| doc.get_datetime("expires").is_ok_and(|at| *at > BsonDateTime::now()));
        if read.is_none() {
            bail!("findOne `{id}` found nothing unexpired right after the upsert");
        }
        Ok(())
    }

    async fn finish(&self) -> anyhow::Result<()> {
        self.client.database(&self.db).drop().await.with_context(|| format!("dropping database `{}`", self.db))
    }
}
