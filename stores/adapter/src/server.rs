//! The adapter side of the stdio protocol (spec/adapter-protocol.md): serves any [`StoreFactory`]
//! over JSON lines, so that a Rust store of any repository runs under `--store 'exec:...'` and the
//! harness's client has a reference adapter to be checked against. It never changes what a store
//! answers: values go out as the store returned them, errors with the store's kind, events as
//! the store emitted them, each before the response of the operation that caused it.

use std::collections::HashMap;
use std::future::Future;
use std::io::{self, Read};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;
use sessionspec_contract::{
    Capability, CapabilitySet, Clock, ErrorKind, EventSink, Namespace, OpenContext, RawAccess, Result, SharedClock,
    Store, StoreError, StoreFactory, StoreOptions, SystemClock,
};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::protocol::{Handshake, Incoming, Operation, PROTOCOL_VERSION, Request, value};

/// Serves `factory`: reads requests from `input`, writes responses and events to `output`, until
/// a `shutdown` request or the end of `input`. Then it lets the requests in flight finish, closes
/// every instance still open, answers `shutdown` and returns.
///
/// Each request runs as a task of its own, so requests are answered as their store calls finish,
/// in any order, and a slow call holds up no other. A request that cannot be read is answered
/// with an error (`seq: null` when not even its `seq` could be read) and serving goes on. The
/// error returned is one of reading `input` or writing `output`.
pub async fn serve<R, W>(factory: Arc<dyn StoreFactory>, input: R, output: W) -> io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (out, lines) = mpsc::unbounded_channel();
    let mut writer = tokio::spawn(write_lines(output, lines));
    let server = Arc::new(Server::new(factory, out.clone()));
    let mut input = BufReader::new(input);
    let mut line = Vec::new();
    let mut in_flight = JoinSet::new();
    let shutdown = loop {
        line.clear();
        let read = tokio::select! {
            read = input.read_until(b'\n', &mut line) => read?,
            // Nobody reads what this adapter writes any more.
            written = &mut writer => return written.unwrap_or_else(|e| Err(io::Error::other(e))),
        };
        if read == 0 {
            break None;
        }
        while in_flight.try_join_next().is_some() {}
        let text = match std::str::from_utf8(&line) {
            Ok(text) => text.trim(),
            Err(e) => {
                server.send(&Incoming::Complaint { message: format!("a request is not UTF-8 text: {e}") });
                continue;
            }
        };
        if text.is_empty() {
            continue;
        }
        match Request::decode(text) {
            Err(bad) => server.send(&bad.response()),
            Ok((seq, Request::Shutdown)) => break Some(seq),
            Ok((seq, request)) => {
                in_flight.spawn(server.clone().answer(seq, request));
            }
        }
    };
    while in_flight.join_next().await.is_some() {}
    server.close_all().await;
    if let Some(seq) = shutdown {
        server.send(&Incoming::Response { seq, result: Ok(Value::Null) });
    }
    let _ = out.send(Out::Finish);
    writer.await.unwrap_or_else(|e| Err(io::Error::other(e)))
}

/// [`serve`] on this process's stdin and stdout: the whole `main` of an adapter.
///
/// ```no_run
/// # async fn adapter() -> std::io::Result<()> {
/// let factory = std::sync::Arc::new(sessionspec_store_memory::MemoryFactory::new());
/// sessionspec_store_adapter::serve_stdio(factory).await
/// # }
/// ```
pub async fn serve_stdio(factory: Arc<dyn StoreFactory>) -> io::Result<()> {
    // stdin is read on a thread of its own: `tokio::io::stdin` reads on the runtime's blocking
    // pool, where a read cannot be cancelled, so the runtime could not shut down after
    // `shutdown` until the harness closed the pipe.
    let (mut pipe, input) = tokio::io::duplex(64 * 1024);
    let runtime = tokio::runtime::Handle::current();
    std::thread::Builder::new().name("sessionspec-adapter-stdin".into()).spawn(move || {
        let mut stdin = io::stdin().lock();
        let mut buffer = vec![0; 64 * 1024];
        loop {
            match stdin.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => {
                    if runtime.block_on(pipe.write_all(&buffer[..n])).is_err() {
                        break; // serving is over
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    eprintln!("sessionspec adapter: reading stdin failed, taken as its end: {e}");
                    break;
                }
            }
        }
    })?;
    serve(factory, input, tokio::io::stdout()).await
}

/// What the writer task is asked to do.
enum Out {
    /// Write one line.
    Line(String),
    /// Flush and stop: serving is over. Events a store emits later are dropped.
    Finish,
}

/// Writes lines in the order they were sent: an operation's events are sent while the store
/// works, its response after, so the events always come first.
async fn write_lines<W: AsyncWrite + Unpin>(mut output: W, mut lines: mpsc::UnboundedReceiver<Out>) -> io::Result<()> {
    while let Some(Out::Line(line)) = lines.recv().await {
        output.write_all(line.as_bytes()).await?;
        // Whole lines go out at once; under load, one flush covers every line already waiting.
        if lines.is_empty() {
            output.flush().await?;
        }
    }
    output.flush().await?;
    output.shutdown().await
}

/// One open store instance.
struct Instance {
    namespace: Namespace,
    store: Arc<dyn Store>,
}

/// The state of one adapter process: its store factory, its open instances, its clock.
struct Server {
    factory: Arc<dyn StoreFactory>,
    capabilities: CapabilitySet,
    out: mpsc::UnboundedSender<Out>,
    instances: Mutex<HashMap<String, Instance>>,
    /// The client clock, for a store that declares `virtual-clock`.
    clock: Option<ClientClock>,
}

impl Server {
    fn new(factory: Arc<dyn StoreFactory>, out: mpsc::UnboundedSender<Out>) -> Server {
        let capabilities = factory.describe().capabilities.clone();
        let clock = capabilities.contains(Capability::VirtualClock).then(ClientClock::real);
        Server { factory, capabilities, out, instances: Mutex::default(), clock }
    }

    fn send(&self, message: &Incoming) {
        // Fails only once serving is over: nobody is left to tell.
        let _ = self.out.send(Out::Line(message.encode()));
    }

    /// Runs one request and writes its response. The store call runs in a task of its own, so
    /// that a store that panics fails its request (`backend`) instead of leaving it unanswered.
    async fn answer(self: Arc<Self>, seq: u64, request: Request) {
        let op = request.op();
        let server = self.clone();
        let result = match tokio::spawn(async move { server.handle(request).await }).await {
            Ok(result) => result,
            Err(e) => {
                Err(StoreError::new(ErrorKind::Backend, format!("the store panicked during `{op}`: {}", panic_text(e))))
            }
        };
        self.send(&Incoming::Response { seq, result: result.map_err(|e| (e.kind(), e.chain())) });
    }

    async fn handle(&self, request: Request) -> Result<Value> {
        match request {
            Request::Hello { protocols } => {
                if protocols.contains(&PROTOCOL_VERSION) {
                    Ok(Handshake::of(self.factory.describe()).encode())
                } else {
                    Err(StoreError::new(
                        ErrorKind::Unsupported,
                        format!("this adapter speaks protocol {PROTOCOL_VERSION}; the harness offered {protocols:?}"),
                    ))
                }
            }
            Request::Open { instance, namespace, options } => {
                self.open(instance, namespace, options).await.map(|()| Value::Null)
            }
            Request::Call { instance, operation } => {
                let store = self.instance(&instance)?;
                self.call(store.as_ref(), operation).await
            }
            Request::Clock { time } => {
                let clock = self.clock.as_ref().ok_or_else(|| self.undeclared(Capability::VirtualClock, "clock"))?;
                clock.set(time);
                Ok(Value::Null)
            }
            Request::Drop { namespace } => self.drop_namespace(&namespace).await.map(|()| Value::Null),
            // `shutdown` is answered by the read loop, once the requests in flight are done.
            Request::Ping | Request::Shutdown => Ok(Value::Null),
        }
    }

    async fn open(&self, instance: String, namespace: Namespace, options: StoreOptions) -> Result<()> {
        let already_open = || StoreError::new(ErrorKind::Invalid, format!("instance `{instance}` is already open"));
        if self.instances.lock().expect("lock").contains_key(&instance) {
            return Err(already_open());
        }
        let events = {
            let out = self.out.clone();
            let instance = instance.clone();
            EventSink::new(move |e| {
                let event = Incoming::Event { instance: instance.clone(), kind: e.kind, sid: e.sid };
                let _ = out.send(Out::Line(event.encode()));
            })
        };
        let clock: SharedClock = match &self.clock {
            Some(clock) => Arc::new(clock.clone()),
            None => SystemClock::shared(),
        };
        let context = OpenContext { namespace: namespace.clone(), options, clock, events };
        let store: Arc<dyn Store> = Arc::from(self.factory.open(context).await?);
        let raced = {
            let mut instances = self.instances.lock().expect("lock");
            let raced = instances.contains_key(&instance);
            if !raced {
                instances.insert(instance.clone(), Instance { namespace, store: store.clone() });
            }
            raced
        };
        if raced {
            let _ = store.close().await;
            return Err(already_open());
        }
        Ok(())
    }

    fn instance(&self, id: &str) -> Result<Arc<dyn Store>> {
        let instances = self.instances.lock().expect("lock");
        let instance = instances
            .get(id)
            .ok_or_else(|| StoreError::new(ErrorKind::Invalid, format!("no instance `{id}` is open")))?;
        Ok(instance.store.clone())
    }

    async fn call(&self, store: &dyn Store, operation: Operation) -> Result<Value> {
        Ok(match operation {
            Operation::Get { sid } => value::from_session(store.get(&sid).await?.as_ref()),
            Operation::Set { sid, session } => store.set(&sid, &session).await.map(|()| Value::Null)?,
            Operation::Destroy { sid } => store.destroy(&sid).await.map(|()| Value::Null)?,
            Operation::Touch { sid, session } => store.touch(&sid, &session).await.map(|()| Value::Null)?,
            Operation::All => value::from_entries(&store.all().await?),
            Operation::Length => Value::from(store.length().await?),
            Operation::Clear => store.clear().await.map(|()| Value::Null)?,
            Operation::Ids => Value::from(store.ids().await?),
            // The instance stays known until `drop`: operations after `close` reach the closed
            // store and show what it does then.
            Operation::Close => store.close().await.map(|()| Value::Null)?,
            Operation::Create { sid, session } => Value::String(store.create(&sid, &session).await?),
            Operation::DeleteExpired => store.delete_expired().await.map(|()| Value::Null)?,
            Operation::Raw { sid } => value::from_record(self.raw(store, "raw")?.record(&sid).await?.as_ref()),
            Operation::RawCount => Value::from(self.raw(store, "raw-count")?.count().await?),
            Operation::Indexes => {
                if !self.capabilities.contains(Capability::Indexes) {
                    return Err(self.undeclared(Capability::Indexes, "indexes"));
                }
                Value::Array(self.raw(store, "indexes")?.indexes().await?)
            }
            Operation::Tamper { sid, how } => {
                self.raw(store, "tamper")?.tamper(&sid, how).await.map(|()| Value::Null)?
            }
        })
    }

    /// The store's raw access, for stores that declare `raw-inspection`.
    fn raw<'s>(&self, store: &'s dyn Store, op: &str) -> Result<&'s dyn RawAccess> {
        if !self.capabilities.contains(Capability::RawInspection) {
            return Err(self.undeclared(Capability::RawInspection, op));
        }
        store.raw().ok_or_else(|| {
            StoreError::new(
                ErrorKind::Unsupported,
                format!(
                    "{} declares raw-inspection, yet its instance offers no raw access",
                    self.factory.describe().name
                ),
            )
        })
    }

    fn undeclared(&self, capability: Capability, op: &str) -> StoreError {
        StoreError::new(
            ErrorKind::Unsupported,
            format!("`{op}` needs `{capability}`, which {} does not declare", self.factory.describe().name),
        )
    }

    async fn drop_namespace(&self, namespace: &Namespace) -> Result<()> {
        let closing: Vec<(String, Instance)> =
            self.instances.lock().expect("lock").extract_if(|_, i| &i.namespace == namespace).collect();
        let mut problems = Vec::new();
        // Closing twice succeeds (CLOSE-2), so instances the harness closed already are no trouble.
        for (id, instance) in closing {
            if let Err(e) = instance.store.close().await {
                problems.push(format!("closing instance `{id}` failed: {}", e.chain()));
            }
        }
        self.factory.drop_namespace(namespace).await?;
        if problems.is_empty() {
            Ok(())
        } else {
            Err(StoreError::new(
                ErrorKind::Backend,
                format!("namespace `{namespace}` dropped, but {}", problems.join("; ")),
            ))
        }
    }

    /// At `shutdown` or the end of input: every instance still open is closed.
    async fn close_all(&self) {
        let open: Vec<(String, Instance)> = self.instances.lock().expect("lock").drain().collect();
        for (id, instance) in open {
            if let Err(e) = instance.store.close().await {
                eprintln!("sessionspec adapter: closing instance `{id}` at shutdown failed: {}", e.chain());
            }
        }
    }
}

fn panic_text(error: tokio::task::JoinError) -> String {
    if !error.is_panic() {
        return "its task was cancelled".to_owned();
    }
    let payload = error.into_panic();
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(a panic without a message)".to_owned())
}

/// The adapter's client clock (spec/adapter-protocol.md, "clock"): the real time until a `clock`
/// request pins it to an instant, and again after `time: null`. Every instance of the process
/// reads it. A sleeper wakes once its time has come on whatever the clock shows, so a store's
/// sweep follows the harness's virtual time as it does in-process.
#[derive(Debug, Clone)]
struct ClientClock {
    pinned: Arc<watch::Sender<Option<DateTime<Utc>>>>,
}

impl ClientClock {
    fn real() -> ClientClock {
        ClientClock { pinned: Arc::new(watch::Sender::new(None)) }
    }

    fn set(&self, time: Option<DateTime<Utc>>) {
        self.pinned.send_replace(time);
    }
}

impl Clock for ClientClock {
    fn now(&self) -> DateTime<Utc> {
        (*self.pinned.borrow()).unwrap_or_else(Utc::now)
    }

    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        let mut pinned = self.pinned.subscribe();
        let deadline = self.now().checked_add_signed(TimeDelta::from_std(duration).unwrap_or(TimeDelta::MAX));
        Box::pin(async move {
            let Some(deadline) = deadline else {
                return std::future::pending().await;
            };
            loop {
                let shown = *pinned.borrow_and_update();
                let now = shown.unwrap_or_else(Utc::now);
                if now >= deadline {
                    return;
                }
                let left = (deadline - now).to_std().unwrap_or_default();
                match shown {
                    Some(_) => {
                        if pinned.changed().await.is_err() {
                            // The clock is gone and stays where it was: nothing can wake this.
                            return std::future::pending().await;
                        }
                    }
                    None => tokio::select! {
                        () = tokio::time::sleep(left) => {}
                        changed = pinned.changed() => {
                            if changed.is_err() {
                                tokio::time::sleep(left).await;
                            }
                        }
                    },
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use async_trait::async_trait;
    use chrono::TimeDelta;
    use serde_json::json;
    use sessionspec_contract::{AutoRemove, EventKind, Session, StoreDescription};
    use sessionspec_store_memory::MemoryFactory;
    use tokio::io::{AsyncBufReadExt, DuplexStream, Lines, ReadHalf, WriteHalf};
    use tokio::sync::Notify;
    use tokio::task::JoinHandle;

    use super::*;
    use crate::protocol::Handshake;

    /// A bound on every wait, so that a server that never answers fails the test instead of
    /// hanging it.
    const BOUND: Duration = Duration::from_secs(10);

    /// The harness's end of a server running on in-memory pipes.
    struct Pipes {
        requests: WriteHalf<DuplexStream>,
        messages: Lines<BufReader<ReadHalf<DuplexStream>>>,
        served: JoinHandle<io::Result<()>>,
    }

    fn start(factory: Arc<dyn StoreFactory>) -> Pipes {
        let (harness, adapter) = tokio::io::duplex(1 << 16);
        let (input, output) = tokio::io::split(adapter);
        let served = tokio::spawn(serve(factory, input, output));
        let (messages, requests) = tokio::io::split(harness);
        Pipes { requests, messages: BufReader::new(messages).lines(), served }
    }

    impl Pipes {
        async fn write(&mut self, bytes: &[u8]) {
            self.requests.write_all(bytes).await.expect("the server reads");
        }

        async fn send(&mut self, seq: u64, request: Request) {
            self.write(request.encode(seq).as_bytes()).await;
        }

        /// The next message, read as the harness reads it.
        async fn next(&mut self) -> Incoming {
            let line = tokio::time::timeout(BOUND, self.messages.next_line())
                .await
                .expect("a message within the bound")
                .expect("readable")
                .expect("a line, not the end of output");
            Incoming::decode(&line).unwrap_or_else(|bad| panic!("a well-formed message: {bad:?}: {line}"))
        }

        /// The events up to the response to `seq`, and that response.
        async fn until(
            &mut self,
            seq: u64,
        ) -> (Vec<(String, EventKind, Option<String>)>, std::result::Result<Value, (ErrorKind, String)>) {
            let mut events = Vec::new();
            loop {
                match self.next().await {
                    Incoming::Event { instance, kind, sid } => events.push((instance, kind, sid)),
                    Incoming::Response { seq: s, result } if s == seq => return (events, result),
                    other => panic!("expected the response to seq {seq}, got {other:?}"),
                }
            }
        }

        async fn ok(&mut self, seq: u64, request: Request) -> Value {
            self.send(seq, request).await;
            match self.until(seq).await {
                (_, Ok(value)) => value,
                (_, Err(e)) => panic!("seq {seq} failed: {e:?}"),
            }
        }

        async fn error(&mut self, seq: u64, request: Request) -> (ErrorKind, String) {
            self.send(seq, request).await;
            self.until(seq).await.1.expect_err("an error")
        }

        /// The output ends and `serve` returns `Ok`.
        async fn ended(mut self) {
            let end = tokio::time::timeout(BOUND, self.messages.next_line()).await.expect("the end within the bound");
            assert!(matches!(end, Ok(None)), "the output ends, found {end:?}");
            let served = tokio::time::timeout(BOUND, self.served).await.expect("serve returns").expect("no panic");
            served.expect("serve returns Ok");
        }
    }

    fn namespace(name: &str) -> Namespace {
        Namespace::new(name).expect("a namespace")
    }

    fn open(instance: &str, ns: &str) -> Request {
        Request::Open { instance: instance.into(), namespace: namespace(ns), options: StoreOptions::default() }
    }

    fn call(instance: &str, operation: Operation) -> Request {
        Request::Call { instance: instance.into(), operation }
    }

    fn session(expires: DateTime<Utc>, n: i64) -> Session {
        Session::from_value(json!({"cookie": {"expires": sessionspec_contract::format_timestamp(expires)}, "n": n}))
            .expect("an object")
    }

    /// A store whose `get("held")` waits until `destroy("release")` or the test opens the gate,
    /// whose `get("panic")` panics, and which counts its closes. It declares nothing.
    struct Gate {
        gate: Arc<Notify>,
        closes: Arc<AtomicUsize>,
        description: StoreDescription,
    }

    impl Gate {
        fn new() -> Gate {
            let mut description = sessionspec_store_memory::description();
            description.name = "gate".into();
            description.capabilities = CapabilitySet::new();
            Gate { gate: Arc::default(), closes: Arc::default(), description }
        }
    }

    struct GateStore {
        gate: Arc<Notify>,
        closes: Arc<AtomicUsize>,
    }

    #[async_trait]
    impl StoreFactory for Gate {
        fn describe(&self) -> &StoreDescription {
            &self.description
        }

        async fn open(&self, _: OpenContext) -> Result<Box<dyn Store>> {
            Ok(Box::new(GateStore { gate: self.gate.clone(), closes: self.closes.clone() }))
        }

        async fn drop_namespace(&self, _: &Namespace) -> Result<()> {
            Ok(())
        }
    }

    #[async_trait]
    impl Store for GateStore {
        async fn get(&self, sid: &str) -> Result<Option<Session>> {
            match sid {
                "held" => self.gate.notified().await,
                "panic" => panic!("the gate store panics as asked"),
                _ => {}
            }
            Ok(None)
        }

        async fn set(&self, _: &str, _: &Session) -> Result<()> {
            Ok(())
        }

        async fn destroy(&self, sid: &str) -> Result<()> {
            if sid == "release" {
                self.gate.notify_one();
            }
            Ok(())
        }

        async fn close(&self) -> Result<()> {
            self.closes.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    #[tokio::test]
    async fn hello_describes_the_factory_and_refuses_other_protocols() {
        let mut pipes = start(Arc::new(MemoryFactory::new()));
        let handshake = pipes.ok(1, Request::Hello { protocols: vec![PROTOCOL_VERSION] }).await;
        let read = Handshake::decode(&handshake).expect("the harness reads the handshake");
        assert_eq!(read, Handshake::of(&sessionspec_store_memory::description()));
        assert_eq!(read.description(), sessionspec_store_memory::description());
        let (kind, message) = pipes.error(2, Request::Hello { protocols: vec![99] }).await;
        assert_eq!(kind, ErrorKind::Unsupported);
        assert!(message.contains("speaks protocol 1"), "{message}");
    }

    #[tokio::test]
    async fn events_come_before_the_response_that_caused_them() {
        let mut pipes = start(Arc::new(MemoryFactory::new()));
        pipes.ok(1, open("i1", "events")).await;
        let expires = Utc::now() + TimeDelta::hours(1);
        let set = call("i1", Operation::Set { sid: "a".into(), session: session(expires, 1) });
        pipes.send(2, set.clone()).await;
        let (events, result) = pipes.until(2).await;
        assert_eq!(result, Ok(Value::Null));
        let a = Some("a".to_owned());
        assert_eq!(events, [("i1".into(), EventKind::Create, a.clone()), ("i1".into(), EventKind::Set, a.clone())]);
        pipes.send(3, set).await;
        let (events, _) = pipes.until(3).await;
        assert_eq!(events, [("i1".into(), EventKind::Update, a.clone()), ("i1".into(), EventKind::Set, a.clone())]);
        pipes.send(4, call("i1", Operation::Get { sid: "a".into() })).await;
        let (_, got) = pipes.until(4).await;
        assert_eq!(got.expect("get succeeds")["n"], json!(1));
        pipes.send(5, call("i1", Operation::Destroy { sid: "a".into() })).await;
        let (events, _) = pipes.until(5).await;
        assert_eq!(events, [("i1".into(), EventKind::Destroy, a)]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_requests_are_answered_as_they_finish_and_each_once() {
        let mut pipes = start(Arc::new(Gate::new()));
        pipes.ok(1, open("i1", "gate")).await;
        // A server answering in order would wait on `held` forever: `release` comes after it.
        pipes.send(2, call("i1", Operation::Get { sid: "held".into() })).await;
        for seq in 3..100 {
            pipes.send(seq, Request::Ping).await;
        }
        pipes.send(100, call("i1", Operation::Destroy { sid: "release".into() })).await;
        let mut answered = Vec::new();
        while answered.len() < 99 {
            match pipes.next().await {
                Incoming::Response { seq, result } => {
                    assert_eq!(result, Ok(Value::Null), "seq {seq}");
                    answered.push(seq);
                }
                other => panic!("only responses expected, got {other:?}"),
            }
        }
        let position = |seq| answered.iter().position(|s| *s == seq);
        assert!(position(2) > position(100), "`held` is answered after `release`, sent after it: {answered:?}");
        answered.sort_unstable();
        assert_eq!(answered, (2..=100).collect::<Vec<_>>(), "every request answered exactly once");
    }

    #[tokio::test]
    async fn unknown_and_unimplemented_operations_answer_unsupported() {
        let mut pipes = start(Arc::new(Gate::new()));
        pipes.ok(1, open("i1", "gate")).await;
        pipes.write(b"{\"seq\": 2, \"op\": \"teleport\", \"instance\": \"i1\"}\n").await;
        let (_, result) = pipes.until(2).await;
        let (kind, message) = result.expect_err("an error");
        assert_eq!(kind, ErrorKind::Unsupported);
        assert!(message.starts_with("unknown request `teleport`; this adapter answers hello, open, get"), "{message}");
        let undeclared = [
            (3, call("i1", Operation::Touch { sid: "a".into(), session: session(Utc::now(), 1) }), "touch"),
            (4, call("i1", Operation::All), "all"),
            (5, call("i1", Operation::Raw { sid: "a".into() }), "raw-inspection"),
            (6, call("i1", Operation::Indexes), "indexes"),
            (
                7,
                call("i1", Operation::Tamper { sid: "a".into(), how: sessionspec_contract::Tamper::Garbage }),
                "raw-inspection",
            ),
            (8, Request::Clock { time: None }, "virtual-clock"),
        ];
        for (seq, request, named) in undeclared {
            let (kind, message) = pipes.error(seq, request).await;
            assert_eq!(kind, ErrorKind::Unsupported, "seq {seq}: {message}");
            assert!(message.contains(named), "seq {seq}: {message}");
        }
    }

    #[tokio::test]
    async fn unreadable_requests_are_answered_and_serving_goes_on() {
        let mut pipes = start(Arc::new(Gate::new()));
        for line in [
            &b"this is not json\n"[..],
            b"[1, 2]\n",
            b"{\"op\": \"ping\"}\n",
            b"{\"seq\": \"7\", \"op\": \"ping\"}\n",
            b"\xff\xfe\n",
        ] {
            pipes.write(line).await;
            match pipes.next().await {
                Incoming::Complaint { message } => assert!(!message.is_empty()),
                other => panic!("{:?}: expected a `seq: null` error, got {other:?}", String::from_utf8_lossy(line)),
            }
        }
        pipes.write(b"\n   \n").await; // blank lines are no requests
        pipes.write(b"{\"seq\": 3, \"op\": \"get\", \"instance\": \"i1\"}\n").await;
        let (kind, message) = pipes.until(3).await.1.expect_err("an error");
        assert_eq!(kind, ErrorKind::Invalid);
        assert_eq!(
            message,
            "malformed request `get` (seq 3): field `sid` must be a string, found nothing (the field is missing)"
        );
        let (kind, message) = pipes.error(4, call("i9", Operation::Get { sid: "a".into() })).await;
        assert_eq!((kind, message.as_str()), (ErrorKind::Invalid, "no instance `i9` is open"));
        pipes.write(b"{\"seq\": 5, \"op\": \"open\", \"instance\": \"i1\", \"namespace\": \"n\", \"options\": {\"ttl\": \"soon\"}}\n").await;
        let (kind, message) = pipes.until(5).await.1.expect_err("an error");
        assert_eq!(kind, ErrorKind::Invalid);
        assert!(message.contains("field `options`: malformed duration `soon`"), "{message}");
        assert_eq!(pipes.ok(6, Request::Ping).await, Value::Null);
    }

    #[tokio::test]
    async fn a_panicking_store_fails_its_request_only() {
        let mut pipes = start(Arc::new(Gate::new()));
        pipes.ok(1, open("i1", "gate")).await;
        let (kind, message) = pipes.error(2, call("i1", Operation::Get { sid: "panic".into() })).await;
        assert_eq!(kind, ErrorKind::Backend);
        assert_eq!(message, "the store panicked during `get`: the gate store panics as asked");
        assert_eq!(pipes.ok(3, call("i1", Operation::Get { sid: "a".into() })).await, Value::Null);
    }

    #[tokio::test]
    async fn drop_closes_the_namespace_instances_only() {
        let gate = Gate::new();
        let closes = gate.closes.clone();
        let mut pipes = start(Arc::new(gate));
        pipes.ok(1, open("i1", "first")).await;
        pipes.ok(2, open("i2", "second")).await;
        let (kind, _) = pipes.error(3, open("i1", "first")).await;
        assert_eq!(kind, ErrorKind::Invalid, "an instance id is opened once");
        pipes.ok(4, Request::Drop { namespace: namespace("first") }).await;
        assert_eq!(closes.load(Ordering::SeqCst), 1);
        let (kind, _) = pipes.error(5, call("i1", Operation::Get { sid: "a".into() })).await;
        assert_eq!(kind, ErrorKind::Invalid, "a dropped instance is gone");
        assert_eq!(pipes.ok(6, call("i2", Operation::Get { sid: "a".into() })).await, Value::Null);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn shutdown_waits_for_requests_in_flight_closes_instances_and_exits() {
        let gate = Gate::new();
        let (release, closes) = (gate.gate.clone(), gate.closes.clone());
        let mut pipes = start(Arc::new(gate));
        pipes.ok(1, open("i1", "gate")).await;
        pipes.send(2, call("i1", Operation::Get { sid: "held".into() })).await;
        pipes.send(3, Request::Shutdown).await;
        pipes.send(4, Request::Ping).await; // after shutdown: never read
        release.notify_one();
        let mut answered = Vec::new();
        for _ in 0..2 {
            match pipes.next().await {
                Incoming::Response { seq, result: Ok(Value::Null) } => answered.push(seq),
                other => panic!("expected a response, got {other:?}"),
            }
        }
        assert_eq!(answered, [2, 3], "the request in flight is answered before shutdown");
        assert_eq!(closes.load(Ordering::SeqCst), 1, "the open instance was closed");
        pipes.ended().await;
    }

    #[tokio::test]
    async fn the_end_of_input_closes_instances_and_ends_serving() {
        let gate = Gate::new();
        let closes = gate.closes.clone();
        let mut pipes = start(Arc::new(gate));
        pipes.ok(1, open("i1", "gate")).await;
        pipes.requests.shutdown().await.expect("the pipe closes");
        pipes.ended().await;
        assert_eq!(closes.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn clock_requests_move_the_time_a_virtual_clock_store_reads() {
        let mut pipes = start(Arc::new(MemoryFactory::new()));
        let start = DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).expect("a time");
        pipes.ok(1, Request::Clock { time: Some(start) }).await;
        let options = StoreOptions { auto_remove: Some(AutoRemove::Disabled), ..StoreOptions::default() };
        pipes.ok(2, Request::Open { instance: "i1".into(), namespace: namespace("kept"), options }).await;
        pipes.ok(3, open("i2", "swept")).await; // the memory store's sweep: every 10 minutes
        for (seq, instance) in [(4, "i1"), (5, "i2")] {
            let one_hour = session(start + TimeDelta::hours(1), 1);
            pipes.ok(seq, call(instance, Operation::Set { sid: "a".into(), session: one_hour })).await;
        }
        pipes.ok(6, Request::Clock { time: Some(start + TimeDelta::minutes(59)) }).await;
        assert_eq!(pipes.ok(7, call("i1", Operation::Get { sid: "a".into() })).await["n"], json!(1));
        pipes.ok(8, Request::Clock { time: Some(start + TimeDelta::hours(2)) }).await;
        assert_eq!(pipes.ok(9, call("i1", Operation::Get { sid: "a".into() })).await, Value::Null);
        let raw = pipes.ok(10, call("i1", Operation::Raw { sid: "a".into() })).await;
        let record = value::record(&raw).expect("a record the harness reads").expect("not swept: auto-remove is off");
        assert_eq!(record.expires, Some(start + TimeDelta::hours(1)));
        // The sweep of i2 slept on the client clock: moved past its deadline, it ran.
        let waited = std::time::Instant::now();
        for seq in 11.. {
            if pipes.ok(seq, call("i2", Operation::RawCount)).await == json!(0) {
                break;
            }
            assert!(waited.elapsed() < BOUND, "the sweep did not run on the moved clock");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn client_clock_sleepers_wake_when_the_shown_time_passes_their_deadline() {
        let clock = ClientClock::real();
        let start = Utc::now();
        clock.set(Some(start));
        assert_eq!(clock.now(), start);
        let sleeper = tokio::spawn(clock.sleep(Duration::from_secs(600)));
        clock.set(Some(start + TimeDelta::seconds(599)));
        tokio::task::yield_now().await;
        assert!(!sleeper.is_finished(), "woke before its deadline");
        clock.set(Some(start + TimeDelta::seconds(600)));
        tokio::time::timeout(BOUND, sleeper).await.expect("woke at its deadline").expect("no panic");
        // A sleeper on the real time wakes as soon as the clock is pinned past its deadline.
        clock.set(Some(start + TimeDelta::hours(1)));
        let sleeper = tokio::spawn(clock.sleep(Duration::from_secs(60)));
        clock.set(None);
        assert!(clock.now() < start + TimeDelta::hours(1));
        clock.set(Some(start + TimeDelta::hours(2)));
        tokio::time::timeout(BOUND, sleeper).await.expect("woke").expect("no panic");
    }
}
