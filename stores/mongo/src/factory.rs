//! Opens Mongo stores for the harness: one database per scenario namespace, named after it,
//! holding the collections the scenario's stores use. It must drop only the collections it
//! opened stores on, and never a database or collection it did not create.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use mongodb::Client;
use mongodb::bson::doc;
use mongodb::event::EventHandler;
use mongodb::event::sdam::SdamEvent;
use mongodb::options::ServerAddress;
use sessionspec_contract::{
    Capability, ErrorKind, IdTransform, Namespace, OpenContext, Result, Store, StoreDescription, StoreError,
    StoreFactory, StoreOptions,
};
use sessionspec_crypto::AesGcmCipher;
use sessionspec_server_store::{CONNECT_TIMEOUT, ConnectFailure, Endpoint, OPERATIONS};

use crate::config::{DEFAULT_COLLECTION, MongoStoreConfig, Startup, TransformId};
use crate::{MongoStore, error};

/// How long the harness's client looks for a server before an operation fails, unless the URL
/// sets `serverSelectionTimeoutMS`: shorter than the driver's 30 s, so a missing server fails a
/// step instead of timing it out.
const SERVER_SELECTION_TIMEOUT: Duration = Duration::from_secs(4);

/// Opens Mongo stores on one server.
pub struct MongoFactory {
    client: Client,
    description: StoreDescription,
    created: Mutex<HashMap<Namespace, BTreeSet<String>>>,
}

/// What the Mongo store can do besides [`OPERATIONS`]: the record-store operations, every option
/// profile of connect-mongo, events and index inspection. Listed, not taken from the registry, so that a capability added
/// to the registry is claimed only once the store implements it.
const CAPABILITIES: [Capability; 16] = {
    use Capability::*;
    [
        Create,
        DeleteExpired,
        VirtualClock,
        Ttl,
        DisableTouch,
        TouchAfter,
        AutoRemoveNative,
        AutoRemoveInterval,
        AutoRemoveDisabled,
        Timestamps,
        Serializer,
        TransformId,
        Events,
        Encryption,
        Naming,
        Indexes,
    ]
};

/// What the Mongo store is and can do, on a server reporting `backend_version`. Needs no server.
pub fn description(backend_version: Option<String>) -> StoreDescription {
    let capabilities = OPERATIONS.into_iter().chain(CAPABILITIES).collect();
    sessionspec_server_store::description("mongo", env!("CARGO_PKG_VERSION"), "mongodb", backend_version, capabilities)
}

/// Where a server of the seed list listens.
fn endpoint(address: &ServerAddress) -> Endpoint {
    match address {
        ServerAddress::Tcp { host, port } => Endpoint::tcp(host, port.unwrap_or(27017)),
        other => Endpoint::Other(other.to_string()),
    }
}

impl MongoFactory {
    /// Connects to the server at `url` and asks its version. A server that cannot be reached or
    /// refuses the login fails within two seconds, with a message naming where and why.
    pub async fn connect(url: &str) -> Result<MongoFactory> {
        let mut options = crate::client_options(url).await?;
        options.server_selection_timeout.get_or_insert(SERVER_SELECTION_TIMEOUT);
        options.app_name.get_or_insert_with(|| "sessionspec".to_owned());
        let seeds = options.hosts.clone();
        // The driver keeps trying an unreachable server until server selection gives up, then
        // reports its whole topology; its monitor's failed heartbeats say at once what happened.
        let (heartbeat_failed, mut failures) = tokio::sync::mpsc::unbounded_channel();
        options.sdam_event_handler = Some(EventHandler::callback(move |event| {
            if let SdamEvent::ServerHeartbeatFailed(failed) = event {
                let _ = heartbeat_failed.send((failed.server_address, failed.failure));
            }
        }));
        let client = crate::client(url, options)?;
        let first = ConnectFailure::new("MongoDB", seeds.first().map_or(Endpoint::tcp("localhost", 27017), endpoint));
        if seeds.len() == 1 {
            first.resolve().await?;
        }
        // Every seed failed: the first one's failure says what happened.
        let unreachable = async {
            let mut failed = HashMap::new();
            while let Some((address, error)) = failures.recv().await {
                if seeds.contains(&address) {
                    failed.entry(address).or_insert(error);
                }
                if let Some(seed) = seeds.first()
                    && failed.len() == seeds.len()
                {
                    let failure = ConnectFailure::new("MongoDB", endpoint(seed));
                    return error::connect_failed(&failure, &failed[seed], CONNECT_TIMEOUT);
                }
            }
            std::future::pending().await
        };
        let admin = client.database("admin");
        let build_info = admin.run_command(doc! {"buildInfo": 1});
        let info = tokio::select! {
            answer = tokio::time::timeout(CONNECT_TIMEOUT, build_info) => match answer {
                Ok(Ok(info)) => info,
                Ok(Err(e)) => return Err(error::connect_failed(&first, &e, CONNECT_TIMEOUT)),
                Err(_) => return Err(first.no_answer(CONNECT_TIMEOUT)),
            },
            failure = unreachable => return Err(failure),
        };
        let version = info.get_str("version").ok().map(|v| {
            // Real MongoDB builds carry their git commit; wire-compatible servers report zeros.
            let unbuilt = info.get_str("gitVersion").map(|g| g.chars().all(|c| c == '0')).unwrap_or(true);
            if unbuilt { format!("{v} (wire-compatible server: no MongoDB gitVersion)") } else { v.to_owned() }
        });
        Ok(MongoFactory { client, description: description(version), created: Mutex::default() })
    }

    /// The store configuration a scenario's options ask for, minus encryption (which needs a
    /// derived key, see [`MongoFactory::open`]).
    fn config(context: &OpenContext) -> Result<MongoStoreConfig> {
        let StoreOptions {
            ttl,
            disable_touch,
            touch_after,
            auto_remove,
            auto_remove_interval,
            timestamps,
            serializer,
            transform_id,
            encryption: _,
            name,
            caller: _,
        } = &context.options;
        let mut config = MongoStoreConfig::new()
            .db_name(context.namespace.as_str())
            .collection_name(name.as_deref().unwrap_or(DEFAULT_COLLECTION))
            .clock(context.clock.clone())
            .events(context.events.clone())
            .disable_touch(*disable_touch)
            .timestamps(*timestamps)
            // Opening returns at once, as connect-mongo's constructor does, so every scenario that
            // closes right after opening exercises the cancellation of index creation (CLOSE-3).
            .startup(Startup::Background);
        if let Some(ttl) = ttl {
            config = config.ttl(*ttl);
        }
        if let Some(window) = touch_after {
            config = config.touch_after(*window);
        }
        if let Some(mode) = auto_remove {
            config = config.auto_remove(*mode);
        }
        if let Some(every) = auto_remove_interval {
            config = config.auto_remove_interval(*every);
        }
        if let Some(serializer) = serializer {
            config = config.serializer(*serializer);
        }
        if let Some(IdTransform::Sha256) = transform_id {
            config = config.transform_id(TransformId::Sha256);
        }
        Ok(config)
    }
}

impl MongoFactory {
    /// What [`StoreFactory::open`] opens, as its own type: for using the store directly
    /// (its `tower-sessions` implementation among others).
    pub async fn open_store(&self, context: OpenContext) -> Result<MongoStore> {
        let mut config = MongoFactory::config(&context)?;
        if let Some(encryption) = &context.options.encryption {
            let secret = zeroize::Zeroizing::new(encryption.secret.clone());
            // 310,000 PBKDF2 rounds: keep them off the async workers.
            let cipher =
                tokio::task::spawn_blocking(move || AesGcmCipher::new(secret.as_bytes())).await.map_err(|e| {
                    StoreError::new(ErrorKind::Backend, "deriving the encryption key failed").with_source(e)
                })??;
            config = config.cipher(Arc::new(cipher));
        }
        self.created
            .lock()
            .expect("lock")
            .entry(context.namespace.clone())
            .or_default()
            .insert(config.collection_name.clone());
        MongoStore::with_client(self.client.clone(), config).await
    }
}

#[async_trait]
impl StoreFactory for MongoFactory {
    fn describe(&self) -> &StoreDescription {
        &self.description
    }

    async fn open(&self, context: OpenContext) -> Result<Box<dyn Store>> {
        Ok(Box::new(self.open_store(context).await?))
    }

    async fn drop_namespace(&self, namespace: &Namespace) -> Result<()> {
        let Some(collections) = self.created.lock().expect("lock").remove(namespace) else { return Ok(()) };
        let db = self.client.database(namespace.as_str());
        for name in collections {
            match db.collection::<mongodb::bson::Document>(&name).drop().await {
                Ok(()) => {}
                Err(e) if error::code(&e) == Some(error::codes::NAMESPACE_NOT_FOUND) => {}
                Err(e) => return Err(error::backend(&format!("dropping collection `{namespace}.{name}`"), e)),
            }
        }
        // MongoDB forgets a database with its last collection; some compatible servers keep it
        // listed, empty. An empty database holds nothing of anyone's, so it goes too.
        let left = db
            .list_collection_names()
            .await
            .map_err(|e| error::backend(&format!("listing what is left in `{namespace}`"), e))?;
        if left.is_empty() {
            db.drop().await.map_err(|e| error::backend(&format!("dropping the empty database `{namespace}`"), e))?;
        }
        Ok(())
    }
}
