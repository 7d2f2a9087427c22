//! Both sides of sessionspec's stdio adapter protocol (spec/adapter-protocol.md). The client: a
//! session store written in any language, behind a process that speaks the protocol, is just
//! another [`StoreFactory`]. Each scenario namespace leases a process of its own, so the
//! adapter's client clock belongs to one scenario at a time; a crashed or hung process fails only
//! the scenario using it, and a fresh one serves the next. The server ([`serve`]): any
//! [`StoreFactory`] served as such a process, for a Rust store behind `--store 'exec:...'`.
//!
//! It must never make an adapter look better than it is: errors keep the kind the adapter gave,
//! and every breach of the protocol is an error naming the message and the field.
#![warn(missing_docs)]

pub mod node;
mod process;
pub mod protocol;
mod server;
pub mod smoke;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Map, Value};
use sessionspec_contract::{
    Capability, ErrorKind, Listed, Namespace, OpenContext, RawAccess, RawRecord, Result, Session, SharedClock, Store,
    StoreDescription, StoreError, StoreFactory, Tamper,
};
use tokio::sync::OnceCell;

pub use process::{Process, StderrTail};
use protocol::{Handshake, Operation, Request, value};
pub use server::{serve, serve_stdio};

/// How to start an adapter and how long to wait for it.
#[derive(Debug, Clone)]
pub struct AdapterConfig {
    /// The program.
    pub program: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Extra environment variables (backend URLs, a work directory).
    pub env: Vec<(String, String)>,
    /// The working directory, if not the harness's.
    pub current_dir: Option<PathBuf>,
    /// The bound on one request; a store that has not answered by then is asked for a ping.
    pub request_timeout: Duration,
    /// The bound on starting the process and answering `hello`.
    pub start_timeout: Duration,
}

impl AdapterConfig {
    /// A configuration for `program args...` with the default bounds (8 s per request, 30 s to
    /// start).
    pub fn new(program: impl Into<String>, args: impl IntoIterator<Item = impl Into<String>>) -> AdapterConfig {
        AdapterConfig {
            program: program.into(),
            args: args.into_iter().map(Into::into).collect(),
            env: Vec::new(),
            current_dir: None,
            request_timeout: Duration::from_secs(8),
            start_timeout: Duration::from_secs(30),
        }
    }

    /// Parses a command line the way a shell would split it (whitespace, single and double
    /// quotes, backslash escapes), e.g. `node my-adapter.js --verbose`.
    pub fn from_command_line(line: &str) -> std::result::Result<AdapterConfig, String> {
        let words = split_command(line)?;
        let (program, args) = words.split_first().ok_or_else(|| "the adapter command is empty".to_owned())?;
        Ok(AdapterConfig::new(program.clone(), args.to_vec()))
    }

    /// Adds an environment variable.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> AdapterConfig {
        self.env.push((key.into(), value.into()));
        self
    }

    /// The command as one line, for messages: URL passwords in it masked.
    pub fn command_line(&self) -> String {
        let line = std::iter::once(self.program.as_str())
            .chain(self.args.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ");
        sessionspec_server_store::redact_urls(&line)
    }
}

/// Splits a command line into words: whitespace separates, quotes group, `\` escapes.
pub fn split_command(line: &str) -> std::result::Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') | (None, '\\') => match chars.next() {
                Some(next) => word.push(next),
                None => return Err("the adapter command ends with a lone `\\`".into()),
            },
            (Some(_), c) => word.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
        if quote.is_some() || !word.is_empty() {
            in_word = true;
        }
    }
    if let Some(q) = quote {
        return Err(format!("the adapter command has an unclosed {q}"));
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// Opens stores through an adapter. Each namespace leases one process from a pool until it is
/// dropped; processes that died are replaced, so one crash costs one scenario.
pub struct AdapterFactory {
    config: AdapterConfig,
    description: StoreDescription,
    handshake: Handshake,
    idle: std::sync::Mutex<Vec<Arc<Process>>>,
    leases: tokio::sync::Mutex<HashMap<Namespace, Arc<OnceCell<Arc<Process>>>>>,
    instances: AtomicU64,
}

impl std::fmt::Debug for AdapterFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdapterFactory").field("command", &self.config.command_line()).finish()
    }
}

impl AdapterFactory {
    /// Starts one adapter process, reads its handshake, and keeps the process for the first
    /// scenario.
    pub async fn start(config: AdapterConfig) -> Result<AdapterFactory> {
        let (process, handshake) = Process::start(&config).await?;
        let description = handshake.description();
        Ok(AdapterFactory {
            config,
            description,
            handshake,
            idle: std::sync::Mutex::new(vec![process]),
            leases: tokio::sync::Mutex::new(HashMap::new()),
            instances: AtomicU64::new(1),
        })
    }

    /// What the adapter said about itself.
    pub fn handshake(&self) -> &Handshake {
        &self.handshake
    }

    /// The process serving `namespace`, if one is leased to it (for tests that kill it).
    pub async fn process_of(&self, namespace: &Namespace) -> Option<Arc<Process>> {
        let cell = self.leases.lock().await.get(namespace).cloned()?;
        cell.get().cloned()
    }

    /// Asks every process, idle or leased, to shut down, all at once, and stops each that has
    /// not exited 5 s later (its process group with it).
    async fn shutdown_all(&self) {
        let mut all: Vec<Arc<Process>> = self.idle.lock().expect("lock").drain(..).collect();
        for cell in self.leases.lock().await.drain().map(|(_, cell)| cell) {
            if let Some(p) = cell.get()
                && !all.iter().any(|q| Arc::ptr_eq(p, q))
            {
                all.push(p.clone());
            }
        }
        let stopping: Vec<_> = all
            .into_iter()
            .filter(|p| !p.is_dead())
            .map(|p| tokio::spawn(async move { p.shutdown(Duration::from_secs(5)).await }))
            .collect();
        for stop in stopping {
            let _ = stop.await;
        }
    }

    async fn checkout(&self) -> Result<Arc<Process>> {
        loop {
            let candidate = self.idle.lock().expect("lock").pop();
            match candidate {
                Some(p) if !p.is_dead() => return Ok(p),
                Some(_) => continue,
                None => break,
            }
        }
        let (process, handshake) = Process::start(&self.config).await?;
        if handshake.capabilities != self.handshake.capabilities {
            process.stop();
            return Err(StoreError::new(
                ErrorKind::Backend,
                "a restarted adapter declared other capabilities than the first one".to_owned(),
            ));
        }
        Ok(process)
    }

    fn give_back(&self, process: Arc<Process>) {
        if !process.is_dead() {
            self.idle.lock().expect("lock").push(process);
        }
    }

    async fn lease(&self, namespace: &Namespace) -> Result<Arc<Process>> {
        let cell = self.leases.lock().await.entry(namespace.clone()).or_default().clone();
        let process = cell.get_or_try_init(|| self.checkout()).await?;
        *process.clock_sent.lock().await = None;
        Ok(process.clone())
    }
}

#[async_trait]
impl StoreFactory for AdapterFactory {
    fn describe(&self) -> &StoreDescription {
        &self.description
    }

    async fn shutdown(&self) {
        self.shutdown_all().await;
    }

    async fn open(&self, context: OpenContext) -> Result<Box<dyn Store>> {
        let cell = self.leases.lock().await.get(&context.namespace).cloned();
        let process = match cell.and_then(|c| c.get().cloned()) {
            Some(p) => p,
            None => self.lease(&context.namespace).await?,
        };
        let instance = format!("i{}", self.instances.fetch_add(1, Ordering::SeqCst));
        process.register(&instance, context.events.clone());
        let store = AdapterStore {
            process,
            instance,
            clock: context.clock.clone(),
            virtual_clock: self.description.capabilities.contains(Capability::VirtualClock),
            raw: self.description.capabilities.contains(Capability::RawInspection),
        };
        let open = Request::Open {
            instance: store.instance.clone(),
            namespace: context.namespace.clone(),
            options: context.options.clone(),
        };
        store.send(&open).await.and_then(|v| value::unit("open", &v).map_err(StoreError::from))?;
        Ok(Box::new(store))
    }

    async fn drop_namespace(&self, namespace: &Namespace) -> Result<()> {
        let cell = self.leases.lock().await.remove(namespace);
        let Some(process) = cell.and_then(|c| c.get().cloned()) else {
            return Ok(()); // nothing was opened in it
        };
        // A process that died mid-scenario cannot drop what it created: a fresh one can, since
        // everything an adapter creates is named after the namespace.
        let process = if process.is_dead() { self.checkout().await? } else { process };
        let dropped = process.send(&Request::Drop { namespace: namespace.clone() }).await;
        self.give_back(process);
        dropped.and_then(|v| value::unit("drop", &v).map_err(StoreError::from))
    }
}

/// One store instance inside an adapter process.
pub struct AdapterStore {
    process: Arc<Process>,
    instance: String,
    clock: SharedClock,
    virtual_clock: bool,
    raw: bool,
}

impl AdapterStore {
    /// Sends the harness's time first when the adapter fakes its client clock and the time moved.
    async fn sync_clock(&self) -> Result<()> {
        if !self.virtual_clock {
            return Ok(());
        }
        let now = self.clock.now();
        let mut sent = self.process.clock_sent.lock().await;
        if *sent != Some(now) {
            let v = self.process.send(&Request::Clock { time: Some(now) }).await?;
            value::unit("clock", &v)?;
            *sent = Some(now);
        }
        Ok(())
    }

    async fn send(&self, request: &Request) -> Result<Value> {
        self.sync_clock().await?;
        self.process.send(request).await
    }

    async fn call(&self, operation: Operation) -> Result<Value> {
        self.send(&Request::Call { instance: self.instance.clone(), operation }).await
    }

    async fn unit(&self, operation: Operation) -> Result<()> {
        let op = operation.name();
        let v = self.call(operation).await?;
        Ok(value::unit(op, &v)?)
    }
}

#[async_trait]
impl Store for AdapterStore {
    async fn get(&self, sid: &str) -> Result<Option<Session>> {
        let v = self.call(Operation::Get { sid: sid.to_owned() }).await?;
        Ok(value::session(&v)?)
    }

    async fn set(&self, sid: &str, session: &Session) -> Result<()> {
        self.unit(Operation::Set { sid: sid.to_owned(), session: session.clone() }).await
    }

    async fn destroy(&self, sid: &str) -> Result<()> {
        self.unit(Operation::Destroy { sid: sid.to_owned() }).await
    }

    async fn touch(&self, sid: &str, session: &Session) -> Result<()> {
        self.unit(Operation::Touch { sid: sid.to_owned(), session: session.clone() }).await
    }

    async fn all(&self) -> Result<Vec<Listed>> {
        let v = self.call(Operation::All).await?;
        Ok(value::entries(&v)?)
    }

    async fn length(&self) -> Result<u64> {
        let v = self.call(Operation::Length).await?;
        Ok(value::count("length", &v)?)
    }

    async fn clear(&self) -> Result<()> {
        self.unit(Operation::Clear).await
    }

    async fn ids(&self) -> Result<Vec<String>> {
        let v = self.call(Operation::Ids).await?;
        Ok(value::ids(&v)?)
    }

    async fn close(&self) -> Result<()> {
        self.unit(Operation::Close).await
    }

    async fn create(&self, sid: &str, session: &Session) -> Result<String> {
        let v = self.call(Operation::Create { sid: sid.to_owned(), session: session.clone() }).await?;
        Ok(value::created(&v)?)
    }

    async fn delete_expired(&self) -> Result<()> {
        self.unit(Operation::DeleteExpired).await
    }

    fn raw(&self) -> Option<&dyn RawAccess> {
        self.raw.then_some(self as &dyn RawAccess)
    }
}

#[async_trait]
impl RawAccess for AdapterStore {
    async fn record(&self, sid: &str) -> Result<Option<RawRecord>> {
        let v = self.call(Operation::Raw { sid: sid.to_owned() }).await?;
        Ok(value::record(&v)?)
    }

    async fn count(&self) -> Result<u64> {
        let v = self.call(Operation::RawCount).await?;
        Ok(value::count("raw-count", &v)?)
    }

    async fn indexes(&self) -> Result<Vec<Value>> {
        let v = self.call(Operation::Indexes).await?;
        Ok(value::indexes(&v)?)
    }

    async fn tamper(&self, sid: &str, tamper: Tamper) -> Result<()> {
        self.unit(Operation::Tamper { sid: sid.to_owned(), how: tamper }).await
    }
}

fn json_map(value: Value) -> Map<String, Value> {
    process::json_map(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_commands_like_a_shell() {
        assert_eq!(split_command("node a.js --x").unwrap(), ["node", "a.js", "--x"]);
        assert_eq!(split_command(r#"node "my store.js" 'a b' c\ d"#).unwrap(), ["node", "my store.js", "a b", "c d"]);
        assert_eq!(split_command(r#"x "" y"#).unwrap(), ["x", "", "y"]);
        assert!(split_command("node 'open").unwrap_err().contains("unclosed '"));
        assert!(AdapterConfig::from_command_line("   ").unwrap_err().contains("empty"));
    }
}
