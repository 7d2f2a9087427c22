//! One adapter process: spawned, greeted, spoken to one request line at a time, watched. A
//! request that outlives its bound is followed by a ping: a live adapter means the store never
//! answered (a `timeout` error), a silent one is stopped. A dead process fails every request
//! with its exit status and the tail of its stderr. It never restarts itself: the factory does.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sessionspec_contract::{ErrorKind, EventSink, StoreError, StoreEvent};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::{Notify, oneshot};

use crate::AdapterConfig;
use crate::protocol::{self, Handshake, Incoming, PROTOCOL_VERSION, Request};

/// How many stderr lines an error carries.
const STDERR_LINES: usize = 30;
/// How many characters of one stderr line are kept (the rest of a longer line is read and dropped).
const STDERR_LINE_CHARS: usize = 400;
/// The longest line read from stdout: a response carrying the largest session a scenario can
/// generate (16 MiB, escaped) fits; a longer line is a protocol breach, not a reason to buffer on.
pub const MAX_STDOUT_LINE: usize = 128 * 1024 * 1024;
/// The longest stderr line held while reading it (it is cut to [`STDERR_LINE_CHARS`] anyway).
const MAX_STDERR_LINE: usize = 64 * 1024;
/// How long a request waits before the adapter is pinged to check it is alive, so that a hung
/// adapter is found (and reported with its stderr) well before the step's timeout.
const HANG_CHECK: Duration = Duration::from_secs(1);
/// How long a ping may take before the adapter counts as hung.
const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// What [`read_line`] read into its buffer: one line, with a bound on its length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Line {
    /// A whole line, without its `\n`.
    Whole,
    /// A line longer than the bound: its first `max` bytes (the rest was read and dropped).
    Cut,
}

/// Reads one line of at most `max` bytes into `line` (cleared first); `None` at the end of the
/// stream. Never holds more than `max` bytes however long the line is, and a last line without
/// `\n` counts as a line. The caller keeps `line` from one line to the next: a buffer made anew
/// for each line would be allocated on one thread and freed on another whenever the read waits
/// (tokio moves the task), and with mimalloc a flood of such lines held hundreds of MiB.
pub(crate) async fn read_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    line: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Option<Line>> {
    line.clear();
    let mut cut = false;
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            return Ok(match (line.is_empty() && !cut, cut) {
                (true, _) => None,
                (false, true) => Some(Line::Cut),
                (false, false) => Some(Line::Whole),
            });
        }
        let (chunk, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..i], Some(i + 1)),
            None => (buf, None),
        };
        let room = max.saturating_sub(line.len());
        if chunk.len() > room {
            cut = true;
        }
        line.extend_from_slice(&chunk[..chunk.len().min(room)]);
        let consumed = done.unwrap_or(buf.len());
        reader.consume(consumed);
        if done.is_some() {
            return Ok(Some(if cut { Line::Cut } else { Line::Whole }));
        }
    }
}

/// A read buffer back to a small one after a long line, so a 100 MiB session read once is not
/// held for the life of the process.
fn shrink(line: &mut Vec<u8>) {
    if line.capacity() > 1024 * 1024 {
        *line = Vec::new();
    }
}

type Reply = Result<Value, StoreError>;

/// The last lines an adapter wrote on stderr, attached to the errors of a crashed or hung one.
#[derive(Debug, Clone, thiserror::Error)]
pub struct StderrTail(pub String);

impl fmt::Display for StderrTail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("the adapter wrote nothing on stderr")
        } else {
            write!(f, "the adapter's stderr ended with:\n{}", self.0)
        }
    }
}

#[derive(Default)]
struct Shared {
    pending: Mutex<HashMap<u64, oneshot::Sender<Reply>>>,
    /// Requests whose caller stopped waiting: a late answer to one is dropped quietly.
    abandoned: Mutex<std::collections::HashSet<u64>>,
    /// The highest `seq` sent so far.
    issued: AtomicU64,
    sinks: Mutex<HashMap<String, EventSink>>,
    stderr: Mutex<VecDeque<String>>,
    /// Why the process is gone, once it is.
    dead: Mutex<Option<String>>,
    /// Protocol breaches that could not be pinned on one request (the first [`MAX_BREACHES`]).
    breaches: Mutex<Vec<String>>,
    /// Breaches past [`MAX_BREACHES`], counted only: an adapter flooding them costs no memory.
    more_breaches: AtomicU64,
    stderr_done: Notify,
    /// Told when the reader of stdout has dispatched its last line (end of stdout, or a breach).
    stdout_done: Notify,
    /// The server URLs the adapter was given: their passwords never pass into a message.
    urls: Vec<String>,
    /// Stops the process (see `wait`).
    kill: Mutex<Option<oneshot::Sender<()>>>,
}

/// The most breaches kept word for word.
const MAX_BREACHES: usize = 100;

impl Shared {
    fn breach(&self, text: String) {
        let mut breaches = self.breaches.lock().expect("lock");
        if breaches.len() < MAX_BREACHES {
            breaches.push(text);
        } else {
            self.more_breaches.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A breach that leaves the stream untrustworthy: kept, and the process buried for it.
    fn broke(&self, breach: String) {
        let reason = format!("the adapter broke the protocol: {breach}");
        self.breach(breach);
        self.bury(reason);
    }

    /// Text the adapter wrote, for messages: URL passwords and the given URLs' passwords masked.
    fn redact(&self, text: &str) -> String {
        sessionspec_server_store::redact_text(text, &self.urls)
    }

    fn stderr_tail(&self) -> StderrTail {
        let lines = self.stderr.lock().expect("lock");
        StderrTail(lines.iter().map(|l| format!("  {l}")).collect::<Vec<_>>().join("\n"))
    }

    fn dead_error(&self, reason: &str) -> StoreError {
        StoreError::new(ErrorKind::Backend, reason.to_owned()).with_source(self.stderr_tail())
    }

    /// Stops the process (its group with it); the waiter reaps it.
    fn stop(&self) {
        if let Some(tx) = self.kill.lock().expect("lock").take() {
            let _ = tx.send(());
        }
    }

    /// Marks the process dead, stops it (a process that broke the protocol is never used again,
    /// and must not run on unnoticed) and fails every waiting request.
    fn bury(&self, reason: String) {
        let mut dead = self.dead.lock().expect("lock");
        if dead.is_none() {
            *dead = Some(reason.clone());
        }
        drop(dead);
        self.stop();
        let waiting: Vec<_> = self.pending.lock().expect("lock").drain().collect();
        for (_, tx) in waiting {
            let _ = tx.send(Err(self.dead_error(&reason)));
        }
    }
}

/// A running adapter process.
pub struct Process {
    pid: Option<u32>,
    label: String,
    stdin: tokio::sync::Mutex<Option<ChildStdin>>,
    shared: Arc<Shared>,
    next_seq: AtomicU64,
    exited: Arc<Notify>,
    /// The time last sent with `clock`.
    pub(crate) clock_sent: tokio::sync::Mutex<Option<DateTime<Utc>>>,
    request_timeout: Duration,
}

impl fmt::Debug for Process {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Process").field("pid", &self.pid).field("label", &self.label).finish()
    }
}

impl Process {
    /// Starts the adapter and exchanges `hello`.
    pub async fn start(config: &AdapterConfig) -> Result<(Arc<Process>, Handshake), StoreError> {
        let mut command = Command::new(&config.program);
        command
            .args(&config.args)
            .envs(config.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        // Its own process group: the children it starts are stopped with it (see `wait`), and a
        // Ctrl-C at the terminal reaches the harness, which shuts adapters down in order.
        #[cfg(unix)]
        command.process_group(0);
        if let Some(dir) = &config.current_dir {
            command.current_dir(dir);
        }
        let label = config.command_line();
        let mut child = command.spawn().map_err(|e| {
            StoreError::new(ErrorKind::Backend, format!("cannot start the adapter `{label}`")).with_source(e)
        })?;
        // The URLs it was given: their passwords are masked in its stderr, however it prints them.
        let urls: Vec<String> = config.env.iter().filter(|(_, v)| v.contains("://")).map(|(_, v)| v.clone()).collect();
        let process = Process::watch(&mut child, label, config.request_timeout, urls);
        let (kill_tx, kill_rx) = oneshot::channel();
        *process.shared.kill.lock().expect("lock") = Some(kill_tx);
        tokio::spawn(wait(child, kill_rx, process.shared.clone(), process.exited.clone()));

        let hello = Request::Hello { protocols: vec![PROTOCOL_VERSION] };
        let value = match process.request_raw(hello.op(), hello.fields(), config.start_timeout).await {
            Ok(v) => v,
            Err(e) if e.kind() == ErrorKind::Timeout => {
                process.stop();
                return Err(StoreError::new(
                    ErrorKind::Backend,
                    format!(
                        "the adapter `{}` did not answer hello within {:?}: is it reading requests from stdin and writing one JSON line per response to stdout?",
                        process.label, config.start_timeout
                    ),
                )
                .with_source(process.shared.stderr_tail()));
            }
            Err(e) => {
                process.stop();
                return Err(StoreError::new(ErrorKind::Backend, format!("hello failed: {}", e.chain())));
            }
        };
        let handshake = Handshake::decode(&value).map_err(|m| {
            process.stop();
            StoreError::new(
                ErrorKind::Backend,
                format!("the adapter broke the protocol: {}", process.shared.redact(&m.to_string())),
            )
        })?;
        if handshake.protocol != PROTOCOL_VERSION {
            process.stop();
            return Err(StoreError::new(
                ErrorKind::Unsupported,
                format!("the adapter speaks protocol {}, this harness speaks {PROTOCOL_VERSION}", handshake.protocol),
            ));
        }
        Ok((process, handshake))
    }

    fn watch(child: &mut Child, label: String, request_timeout: Duration, urls: Vec<String>) -> Arc<Process> {
        let shared = Arc::new(Shared { urls, ..Shared::default() });
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let process = Arc::new(Process {
            pid: child.id(),
            label,
            stdin: tokio::sync::Mutex::new(child.stdin.take()),
            shared: shared.clone(),
            next_seq: AtomicU64::new(1),
            exited: Arc::new(Notify::new()),
            clock_sent: tokio::sync::Mutex::new(None),
            request_timeout,
        });
        let reader_shared = shared.clone();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stdout);
            let mut line = Vec::new();
            loop {
                let read = read_line(&mut reader, &mut line, MAX_STDOUT_LINE).await;
                let breach = match read {
                    Ok(None) => break,
                    Ok(Some(Line::Whole)) => match std::str::from_utf8(&line) {
                        Ok(text) if text.trim().is_empty() => continue,
                        Ok(text) => {
                            dispatch(&reader_shared, text);
                            shrink(&mut line);
                            continue;
                        }
                        Err(e) => format!(
                            "the adapter wrote a line on stdout that is not UTF-8 (byte 0x{:02X} at offset {})",
                            line[e.valid_up_to()],
                            e.valid_up_to()
                        ),
                    },
                    Ok(Some(Line::Cut)) => {
                        format!("the adapter wrote a line on stdout longer than {MAX_STDOUT_LINE} bytes")
                    }
                    Err(e) => format!("cannot read the adapter's stdout: {e}"),
                };
                reader_shared.broke(breach);
                break;
            }
            reader_shared.stdout_done.notify_waiters();
            reader_shared.stdout_done.notify_one();
        });
        tokio::spawn(async move {
            // Lossy: stderr is for people; a stray byte must not end the reading (the adapter
            // would die on its next write) or lose the lines around it.
            let mut reader = BufReader::new(stderr);
            let mut bytes = Vec::new();
            while let Ok(Some(line)) = read_line(&mut reader, &mut bytes, MAX_STDERR_LINE).await {
                let cut = line == Line::Cut;
                let text = shared.redact(&String::from_utf8_lossy(&bytes));
                let text = text.trim_end_matches('\r');
                let mut kept: String = text.chars().take(STDERR_LINE_CHARS).collect();
                if cut || text.chars().count() > STDERR_LINE_CHARS {
                    kept.push_str(" [cut]");
                }
                let mut tail = shared.stderr.lock().expect("lock");
                if tail.len() == STDERR_LINES {
                    tail.pop_front();
                }
                tail.push_back(kept);
            }
            shared.stderr_done.notify_waiters();
            shared.stderr_done.notify_one();
        });
        process
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// Whether the process has exited or was stopped.
    pub fn is_dead(&self) -> bool {
        self.shared.dead.lock().expect("lock").is_some()
    }

    /// Routes the events of `instance` to `sink`.
    pub fn register(&self, instance: &str, sink: EventSink) {
        self.shared.sinks.lock().expect("lock").insert(instance.to_owned(), sink);
    }

    /// Protocol breaches seen so far that no request could carry.
    pub fn breaches(&self) -> Vec<String> {
        let mut breaches = self.shared.breaches.lock().expect("lock").clone();
        let more = self.shared.more_breaches.load(Ordering::SeqCst);
        if more > 0 {
            breaches.push(format!("and {more} more"));
        }
        breaches
    }

    /// Kills the process (the waiter reaps it).
    pub fn stop(&self) {
        self.shared.stop();
    }

    /// Asks the adapter to shut down and waits for it to exit, killing it after `bound` in all
    /// (the answer and the exit together).
    pub async fn shutdown(&self, bound: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + bound;
        let exited = self.exited.notified();
        let _ = self.request_raw(Request::Shutdown.op(), Request::Shutdown.fields(), bound).await;
        let clean = tokio::time::timeout_at(deadline, exited).await.is_ok() || self.is_dead();
        if !clean {
            self.stop();
        }
        clean
    }

    /// Sends `request` and waits for its response within the request timeout; see the module docs
    /// for what a timeout means.
    pub async fn send(&self, request: &Request) -> Reply {
        self.request(request.op(), request.fields()).await
    }

    /// Sends one request given by its `op` and members (also ones the protocol does not know, as
    /// `sessionspec smoke` does) and waits for its response within the request timeout.
    pub async fn request(&self, op: &str, fields: Map<String, Value>) -> Reply {
        let call = self.request_raw(op, fields, self.request_timeout);
        tokio::pin!(call);
        // A hung adapter is found by a ping soon after the request, not at its timeout: its
        // errors then carry the stderr tail before the step's own timeout fires.
        let first = tokio::select! {
            reply = &mut call => Some(reply),
            _ = tokio::time::sleep(HANG_CHECK.min(self.request_timeout)) => None,
        };
        let reply = match first {
            Some(reply) => reply,
            None => {
                if !self.is_dead()
                    && self.request_raw(Request::Ping.op(), Request::Ping.fields(), PING_TIMEOUT).await.is_err()
                    && !self.is_dead()
                {
                    let reason = format!(
                        "the adapter `{}` answered neither `{op}` nor a ping within {PING_TIMEOUT:?}: it was stopped, and a fresh one serves the next scenario",
                        self.label
                    );
                    self.stop();
                    self.shared.bury(reason);
                }
                call.await
            }
        };
        match reply {
            Err(e) if e.kind() == ErrorKind::Timeout && !self.is_dead() => {
                let bound = self.request_timeout;
                if self.request_raw(Request::Ping.op(), Request::Ping.fields(), PING_TIMEOUT).await.is_ok() {
                    Err(StoreError::new(
                        ErrorKind::Timeout,
                        format!(
                            "`{op}` got no answer within {bound:?}; the adapter still answers pings, so the store never completed the call"
                        ),
                    ))
                } else {
                    let reason = format!(
                        "the adapter `{}` answered neither `{op}` within {bound:?} nor a ping within {PING_TIMEOUT:?}: it was stopped, and a fresh one serves the next scenario",
                        self.label
                    );
                    self.stop();
                    self.shared.bury(reason.clone());
                    Err(self.shared.dead_error(&reason))
                }
            }
            other => other,
        }
    }

    /// One request with its own bound and no ping.
    pub async fn request_raw(&self, op: &str, fields: Map<String, Value>, bound: Duration) -> Reply {
        if let Some(reason) = self.shared.dead.lock().expect("lock").clone() {
            return Err(self.shared.dead_error(&reason));
        }
        let seq = self.next_seq.fetch_add(1, Ordering::SeqCst);
        let (tx, rx) = oneshot::channel();
        self.shared.pending.lock().expect("lock").insert(seq, tx);
        self.shared.issued.fetch_max(seq, Ordering::SeqCst);
        let _guard = Forget { shared: &self.shared, seq };
        let line = protocol::request(seq, op, fields);
        {
            let mut stdin = self.stdin.lock().await;
            let written = match stdin.as_mut() {
                Some(pipe) => pipe.write_all(line.as_bytes()).await.and(pipe.flush().await),
                None => Err(std::io::Error::other("stdin is closed")),
            };
            if let Err(e) = written {
                *stdin = None;
                drop(stdin);
                // The process is going away; its waiter reports why. Give it a moment.
                if tokio::time::timeout(Duration::from_secs(2), self.exited.notified()).await.is_err() {
                    self.stop();
                }
                let reason = self.shared.dead.lock().expect("lock").clone();
                return Err(self
                    .shared
                    .dead_error(&reason.unwrap_or_else(|| format!("cannot write `{op}` to the adapter: {e}"))));
            }
        }
        match tokio::time::timeout(bound, rx).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(_)) => {
                let reason = self.shared.dead.lock().expect("lock").clone();
                Err(self.shared.dead_error(&reason.unwrap_or_else(|| "the adapter went away".into())))
            }
            Err(_) => Err(StoreError::new(ErrorKind::Timeout, format!("`{op}` got no answer within {bound:?}"))),
        }
    }
}

/// Removes a request from the waiting list when its caller stops waiting.
struct Forget<'a> {
    shared: &'a Shared,
    seq: u64,
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        if self.shared.pending.lock().expect("lock").remove(&self.seq).is_some() {
            self.shared.abandoned.lock().expect("lock").insert(self.seq);
        }
    }
}

fn dispatch(shared: &Shared, line: &str) {
    match Incoming::decode(line) {
        Ok(Incoming::Response { seq, result }) => {
            let waiting = shared.pending.lock().expect("lock").remove(&seq);
            if let Some(tx) = waiting {
                let _ = tx.send(result.map_err(|(kind, message)| StoreError::new(kind, shared.redact(&message))));
                return;
            }
            // A late answer to a request whose caller gave up is dropped; an answer to a request
            // never sent, or a second answer, means the stream cannot be trusted any more.
            if shared.abandoned.lock().expect("lock").remove(&seq) {
                return;
            }
            let breach = if seq == 0 || seq > shared.issued.load(Ordering::SeqCst) {
                format!("a response names seq {seq}, which the harness never sent")
            } else {
                format!("a second response to seq {seq}: each request is answered exactly once")
            };
            shared.broke(breach);
        }
        Ok(Incoming::Event { instance, kind, sid }) => {
            let sink = shared.sinks.lock().expect("lock").get(&instance).cloned();
            match sink {
                Some(sink) => sink.emit(StoreEvent { kind, sid }),
                None => shared.breach(format!("event `{kind}` names instance `{instance}`, which is not open")),
            }
        }
        Ok(Incoming::Complaint { message }) => {
            let message = shared.redact(&message);
            shared.breach(format!("the adapter could not read a request: {message}"));
        }
        Err(bad) => {
            // A malformed message quotes what the adapter wrote.
            let text = shared.redact(&bad.malformed.to_string());
            match bad.seq.and_then(|seq| shared.pending.lock().expect("lock").remove(&seq)) {
                Some(tx) => {
                    let _ = tx.send(Err(StoreError::new(
                        ErrorKind::Backend,
                        format!("the adapter broke the protocol: {text}"),
                    )));
                }
                None => {
                    // Nothing to pin it on: the stream cannot be trusted any more.
                    shared.broke(text);
                }
            }
        }
    }
}

async fn wait(mut child: Child, kill: oneshot::Receiver<()>, shared: Arc<Shared>, exited: Arc<Notify>) {
    let group = child.id();
    // Dropped with this task (a runtime shutting down): the whole group goes, not just the child
    // `kill_on_drop` kills.
    let _group_guard = KillGroupOnDrop(group);
    let status = tokio::select! {
        status = child.wait() => status,
        _ = kill => {
            kill_group(group);
            let _ = child.start_kill();
            child.wait().await
        }
    };
    // Whatever the adapter started and left running (children that ignore the end of stdin)
    // goes with it.
    kill_group(group);
    // Let the last answers on stdout be dispatched (an adapter may answer and exit at once: its
    // answer is still its answer) and the last stderr lines arrive before the errors that carry
    // them are built.
    let settled = async {
        shared.stdout_done.notified().await;
        shared.stderr_done.notified().await;
    };
    let _ = tokio::time::timeout(Duration::from_millis(500), settled).await;
    let reason = match status {
        Ok(s) => match (s.code(), signal_of(&s)) {
            (Some(code), _) => format!("the adapter process exited with status {code}"),
            (None, Some(signal)) => format!("the adapter process was killed by signal {signal}"),
            (None, None) => "the adapter process ended".to_owned(),
        },
        Err(e) => format!("the adapter process could not be waited for: {e}"),
    };
    shared.bury(reason);
    exited.notify_waiters();
    exited.notify_one();
}

struct KillGroupOnDrop(Option<u32>);

impl Drop for KillGroupOnDrop {
    fn drop(&mut self) {
        kill_group(self.0);
    }
}

/// Kills the process group led by `pid` (the adapter and everything it started).
fn kill_group(pid: Option<u32>) {
    #[cfg(unix)]
    if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok())
        && pid > 0
    {
        // SAFETY: a plain signal to a process group this harness created; a group already gone
        // is an ignored ESRCH.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
    #[cfg(not(unix))]
    let _ = pid;
}

#[cfg(unix)]
fn signal_of(status: &std::process::ExitStatus) -> Option<i32> {
    std::os::unix::process::ExitStatusExt::signal(status)
}

#[cfg(not(unix))]
fn signal_of(_: &std::process::ExitStatus) -> Option<i32> {
    None
}

/// A JSON object's members.
pub(crate) fn json_map(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}
