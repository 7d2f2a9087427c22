//! The store: one Redis string per session under `prefix + sid`, expiring by its key's TTL.
//! Every operation is bounded by the configured timeout and retried once when the connection
//! had dropped (the retry runs on a new connection); a closed store never sends.

use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::io::Write;
use std::sync::{Arc, LazyLock};

use async_trait::async_trait;
use chrono::{TimeDelta, Utc};
use redis::aio::MultiplexedConnection;
use redis::{Cmd, FromRedisValue, RedisResult, RedisWrite, Script, ToRedisArgs};
use serde_json::{Map, Value};
use sessionspec_contract::{
    ErrorKind, EventKind, Listed, RawAccess, RawRecord, Result, Session, Store, StoreError, StoreEvent, Tamper,
};

use crate::connection::Connection;
use crate::{RedisConfig, Ttl, prefix_pattern};

/// `set` when events are wanted: writes and says whether a live key was there, atomically.
/// ARGV[2] is the TTL in milliseconds, or empty for no TTL (`disable_ttl`).
static SET_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"local existed = redis.call('EXISTS', KEYS[1])
if ARGV[2] == '' then
  redis.call('SET', KEYS[1], ARGV[1])
else
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
return existed",
    )
});

/// `touch` that rewrites the cookie: replaces the value only if it is still the one the touch
/// read (ARGV[1]), so a concurrent `set` is never undone. 0: the key is gone (nothing is
/// created); -1: another write came first; 1: written.
static TOUCH_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"local current = redis.call('GET', KEYS[1])
if not current then return 0 end
if current ~= ARGV[1] then return -1 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1",
    )
});

/// How often a cookie-rewriting touch re-reads after losing to a concurrent write before it
/// settles for moving the TTL only.
const TOUCH_ATTEMPTS: usize = 3;
/// Keys per `MGET` and `DEL` in bulk operations.
const BATCH: usize = 500;

/// A session store on one Redis connection (multiplexed: every operation of every task shares
/// it and pipelines), reconnecting after the server restarts. Clones share the connection, so
/// closing one closes them all.
#[derive(Clone)]
pub struct RedisStore {
    connection: Arc<Connection>,
    config: RedisConfig,
    pattern: Vec<u8>,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore").field("config", &self.config).finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connects to `client`'s server with a connection of the store's own, whose connection
    /// attempts are bounded by `config.timeout`.
    pub async fn open(client: redis::Client, config: RedisConfig) -> Result<RedisStore> {
        let connection = Arc::new(Connection::open(client, config.timeout).await?);
        let pattern = prefix_pattern(&config.prefix);
        Ok(RedisStore { connection, config, pattern })
    }

    /// Connects to `url` (`redis://host:port/db`), as [`RedisStore::open`].
    pub async fn connect(url: &str, config: RedisConfig) -> Result<RedisStore> {
        RedisStore::open(crate::factory::client(url)?, config).await
    }

    /// The configuration.
    pub fn config(&self) -> &RedisConfig {
        &self.config
    }

    /// The key a sid is stored under.
    pub fn key(&self, sid: &str) -> Vec<u8> {
        let mut key = Vec::with_capacity(self.config.prefix.len() + sid.len());
        key.extend_from_slice(self.config.prefix.as_bytes());
        key.extend_from_slice(sid.as_bytes());
        key
    }

    fn check_open(&self, operation: &str) -> Result<()> {
        if self.connection.is_closed() { Err(StoreError::closed(operation)) } else { Ok(()) }
    }

    /// `name key`, with room for `args` arguments in all and `more` bytes after the key, so
    /// building the rest of the command allocates nothing.
    fn command(&self, name: &str, sid: &str, args: usize, more: usize) -> Cmd {
        let mut cmd = Cmd::with_capacity(args, name.len() + self.config.prefix.len() + sid.len() + more);
        cmd.arg(name).arg(Key(&self.config.prefix, sid));
        cmd
    }

    /// `SET prefix+sid payload [NX|XX] [PX ttl]`: `set`'s, `create`'s (`NX`) and `update`'s (`XX`)
    /// one command.
    fn set_command(&self, sid: &str, payload: &[u8], ttl: Option<i64>, condition: Option<&str>) -> Cmd {
        // The condition, `PX` and up to 20 digits after the payload.
        let mut cmd = self.command("SET", sid, 6, payload.len() + 25);
        cmd.arg(payload);
        if let Some(condition) = condition {
            cmd.arg(condition);
        }
        if let Some(ms) = ttl {
            cmd.arg("PX").arg(ms);
        }
        cmd
    }

    /// Sends `cmd` (once more on a new connection if the connection had dropped), within the
    /// timeout.
    fn query<T: FromRedisValue>(&self, operation: &'static str, cmd: &Cmd) -> impl Future<Output = Result<T>> {
        self.bounded(operation, self.connection.query(operation, cmd))
    }

    /// Runs `commands` on the connection (once more on a new connection if it had dropped),
    /// all within the timeout.
    fn run<T, F, Fut>(&self, operation: &'static str, commands: F) -> impl Future<Output = Result<T>>
    where
        F: Fn(MultiplexedConnection) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        self.bounded(operation, self.connection.run(operation, commands))
    }

    /// `work`, failing with `timeout` after the configured bound.
    fn bounded<T>(
        &self,
        operation: &'static str,
        work: impl Future<Output = Result<T>>,
    ) -> impl Future<Output = Result<T>> {
        sessionspec_server_store::bounded(operation, self.config.timeout, work)
    }

    fn emit(&self, kind: EventKind, sid: &str) {
        if let Some(events) = &self.config.events {
            events.emit(StoreEvent::new(kind, sid));
        }
    }

    /// The key's time to live in milliseconds for `session`, whose cookie is `cookie`; `None`
    /// without TTLs. Zero or less means the session is already over.
    fn ttl_ms(&self, session: &Session, cookie: &Map<String, Value>) -> Result<Option<i64>> {
        if self.config.disable_ttl {
            return Ok(None);
        }
        let ms = match &self.config.ttl {
            Ttl::Function(f) => millis(f(session)),
            Ttl::Fallback(fallback) => match Session::cookie_expires(cookie)? {
                // Rounded up to the millisecond, as connect-redis rounds up to the second.
                Some(at) => ceil_millis(at - Utc::now()),
                None => millis(*fallback),
            },
        };
        Ok(Some(ms))
    }

    /// Every key under the prefix, each once.
    async fn scan(&self, operation: &'static str) -> Result<Vec<Vec<u8>>> {
        self.check_open(operation)?;
        let count = self.config.scan_count.max(1);
        self.bounded(operation, async {
            let mut seen = HashSet::new();
            let mut keys = Vec::new();
            let mut cursor: u64 = 0;
            loop {
                let mut scan = redis::cmd("SCAN");
                scan.arg(cursor).arg("MATCH").arg(&self.pattern).arg("COUNT").arg(count);
                // A cursor is valid on any connection, so a SCAN retried on a new one resumes.
                let (next, batch): (u64, Vec<Vec<u8>>) = self.connection.query(operation, &scan).await?;
                for key in batch {
                    // SCAN may return a key more than once.
                    if seen.insert(key.clone()) {
                        keys.push(key);
                    }
                }
                if next == 0 {
                    return Ok(keys);
                }
                cursor = next;
            }
        })
        .await
    }

    fn sid_of(&self, key: &[u8]) -> String {
        String::from_utf8_lossy(&key[self.config.prefix.len().min(key.len())..]).into_owned()
    }

    async fn touch_rewriting(&self, sid: &str, session: &Session, ttl: i64) -> Result<bool> {
        let key = self.key(sid);
        let key = &key;
        self.bounded("touch", async {
            for _ in 0..TOUCH_ATTEMPTS {
                let current: Option<Vec<u8>> = self.connection.query("touch", &self.command("GET", sid, 2, 0)).await?;
                let Some(current) = current else { return Ok(false) };
                let mut stored = self.config.serializer.deserialize(current.clone())?;
                stored.replace_cookie(session);
                let rewritten = self.config.serializer.serialize(&stored)?;
                let (current, rewritten) = (&current, &rewritten);
                let outcome: i64 = self
                    .connection
                    .run("touch", move |mut c| async move {
                        TOUCH_SCRIPT.key(key).arg(current).arg(rewritten).arg(ttl).invoke_async(&mut c).await
                    })
                    .await?;
                match outcome {
                    1 => return Ok(true),
                    0 => return Ok(false),
                    _ => continue,
                }
            }
            // Writes keep winning the race: their data stays, only the TTL moves.
            let mut pexpire = self.command("PEXPIRE", sid, 3, 20);
            pexpire.arg(ttl);
            let moved: i64 = self.connection.query("touch", &pexpire).await?;
            Ok(moved == 1)
        })
        .await
    }
}

/// `prefix + sid`, written straight into a command's buffer.
struct Key<'a>(&'a str, &'a str);

impl ToRedisArgs for Key<'_> {
    fn write_redis_args<W: ?Sized + RedisWrite>(&self, out: &mut W) {
        let mut arg = out.writer_for_next_arg();
        arg.write_all(self.0.as_bytes()).and_then(|()| arg.write_all(self.1.as_bytes())).expect("writes to memory");
    }
}

fn millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn ceil_millis(d: TimeDelta) -> i64 {
    match d.num_microseconds() {
        Some(us) => us.div_euclid(1000) + i64::from(us.rem_euclid(1000) > 0),
        None if d > TimeDelta::zero() => i64::MAX,
        None => i64::MIN,
    }
}

#[async_trait]
impl Store for RedisStore {
    async fn get(&self, sid: &str) -> Result<Option<Session>> {
        let bytes: Option<Vec<u8>> = self.query("get", &self.command("GET", sid, 2, 0)).await?;
        bytes.map(|b| self.config.serializer.deserialize(b)).transpose()
    }

    async fn set(&self, sid: &str, session: &Session) -> Result<()> {
        self.check_open("set")?;
        let cookie = session.require_cookie()?;
        let ttl = self.ttl_ms(session, cookie)?;
        if ttl.is_some_and(|ms| ms <= 0) {
            // Already over: nothing to keep (connect-redis deletes too; SET-3).
            let removed: i64 = self.query("set", &self.command("DEL", sid, 2, 0)).await?;
            self.emit(if removed > 0 { EventKind::Update } else { EventKind::Create }, sid);
            self.emit(EventKind::Set, sid);
            return Ok(());
        }
        let payload = self.config.serializer.serialize(session)?;
        if self.config.events.is_none() {
            return self.query("set", &self.set_command(sid, &payload, ttl, None)).await;
        }
        let key = self.key(sid);
        let ttl_arg = ttl.map(|ms| ms.to_string()).unwrap_or_default();
        let (key, payload, ttl_arg) = (&key, &payload, &ttl_arg);
        let existed: i64 =
            self.run("set", move |mut c| async move {
                SET_SCRIPT.key(key).arg(payload).arg(ttl_arg).invoke_async(&mut c).await
            })
            .await?;
        self.emit(if existed > 0 { EventKind::Update } else { EventKind::Create }, sid);
        self.emit(EventKind::Set, sid);
        Ok(())
    }

    async fn destroy(&self, sid: &str) -> Result<()> {
        self.query::<()>("destroy", &self.command("DEL", sid, 2, 0)).await?;
        self.emit(EventKind::Destroy, sid);
        Ok(())
    }

    async fn touch(&self, sid: &str, session: &Session) -> Result<()> {
        self.check_open("touch")?;
        if self.config.disable_touch || self.config.disable_ttl {
            return Ok(());
        }
        let cookie = session.require_cookie()?;
        let Some(ttl) = self.ttl_ms(session, cookie)? else { return Ok(()) };
        let wrote = if self.config.touch_rewrites_cookie && ttl > 0 {
            self.touch_rewriting(sid, session, ttl).await?
        } else {
            // PEXPIRE on a missing key does nothing; a non-positive TTL deletes the key.
            let mut cmd = self.command("PEXPIRE", sid, 3, 20);
            cmd.arg(ttl);
            let moved: i64 = self.query("touch", &cmd).await?;
            moved == 1
        };
        if wrote {
            self.emit(EventKind::Touch, sid);
        }
        Ok(())
    }

    async fn all(&self) -> Result<Vec<Listed>> {
        let keys = self.scan("all").await?;
        let values = self
            .bounded("all", async {
                let mut values = Vec::with_capacity(keys.len());
                for chunk in keys.chunks(BATCH) {
                    let mut mget = redis::cmd("MGET");
                    mget.arg(chunk);
                    let batch: Vec<Option<Vec<u8>>> = self.connection.query("all", &mget).await?;
                    values.extend(batch);
                }
                Ok(values)
            })
            .await?;
        let mut listed = Vec::with_capacity(keys.len());
        for (key, value) in keys.iter().zip(values) {
            // Gone between the SCAN and the MGET: expired or destroyed meanwhile.
            let Some(bytes) = value else { continue };
            listed.push(Listed { sid: Some(self.sid_of(key)), session: self.config.serializer.deserialize(bytes)? });
        }
        listed.sort_by(|a, b| a.sid.cmp(&b.sid));
        Ok(listed)
    }

    async fn length(&self) -> Result<u64> {
        Ok(self.scan("length").await?.len() as u64)
    }

    async fn clear(&self) -> Result<()> {
        let keys = self.scan("clear").await?;
        self.bounded("clear", async {
            for chunk in keys.chunks(BATCH) {
                let mut del = redis::cmd("DEL");
                del.arg(chunk);
                self.connection.query::<()>("clear", &del).await?;
            }
            Ok(())
        })
        .await
    }

    async fn ids(&self) -> Result<Vec<String>> {
        let mut ids: Vec<String> = self.scan("ids").await?.iter().map(|k| self.sid_of(k)).collect();
        ids.sort();
        Ok(ids)
    }

    /// `SET key value NX PX ttl`: one command stores the session only when no key is there,
    /// and Redis drops a key when its TTL runs out, so an expired leftover never blocks it.
    async fn create(&self, sid: &str, session: &Session) -> Result<String> {
        self.check_open("create")?;
        let cookie = session.require_cookie()?;
        let ttl = self.ttl_ms(session, cookie)?;
        let conflict = || StoreError::new(ErrorKind::Conflict, format!("a session is already stored under `{sid}`"));
        if ttl.is_some_and(|ms| ms <= 0) {
            // Already over: nothing to keep, and nothing to replace either.
            let exists: i64 = self.query("create", &self.command("EXISTS", sid, 2, 0)).await?;
            return if exists > 0 { Err(conflict()) } else { Ok(sid.to_owned()) };
        }
        let payload = self.config.serializer.serialize(session)?;
        let stored: Option<String> = self.query("create", &self.set_command(sid, &payload, ttl, Some("NX"))).await?;
        if stored.is_none() {
            return Err(conflict());
        }
        self.emit(EventKind::Create, sid);
        self.emit(EventKind::Set, sid);
        Ok(sid.to_owned())
    }

    /// `SET key value XX PX ttl`: one command replaces the session only when its key is there,
    /// and an expired session's key is gone. A cookie already expired deletes the key, as `set`
    /// does.
    async fn update(&self, sid: &str, session: &Session) -> Result<bool> {
        self.check_open("update")?;
        let cookie = session.require_cookie()?;
        let ttl = self.ttl_ms(session, cookie)?;
        if ttl.is_some_and(|ms| ms <= 0) {
            let removed: i64 = self.query("update", &self.command("DEL", sid, 2, 0)).await?;
            if removed > 0 {
                self.emit(EventKind::Update, sid);
                self.emit(EventKind::Set, sid);
            }
            return Ok(removed > 0);
        }
        let payload = self.config.serializer.serialize(session)?;
        let stored: Option<String> = self.query("update", &self.set_command(sid, &payload, ttl, Some("XX"))).await?;
        if stored.is_some() {
            self.emit(EventKind::Update, sid);
            self.emit(EventKind::Set, sid);
        }
        Ok(stored.is_some())
    }

    /// Nothing to do: the server removes a key as soon as its TTL runs out, so no expired
    /// session is ever stored to delete. (With `disable_ttl` no session expires at all.)
    async fn delete_expired(&self) -> Result<()> {
        self.check_open("delete-expired")
    }

    async fn close(&self) -> Result<()> {
        // Operations already running hold their own handle and finish on it.
        self.connection.close();
        Ok(())
    }

    fn raw(&self) -> Option<&dyn RawAccess> {
        Some(self)
    }
}

#[async_trait]
impl RawAccess for RedisStore {
    /// The key, its value as text, and its TTL: `expires` is now plus `PTTL`, also in the
    /// `ttl_ms` field (`-1` for a key without TTL).
    async fn record(&self, sid: &str) -> Result<Option<RawRecord>> {
        let key = self.key(sid);
        let k = &key;
        let (value, pttl): (Option<Vec<u8>>, i64) = self
            .run("raw", move |mut c| {
                let key = k;
                async move { redis::pipe().atomic().cmd("GET").arg(key).cmd("PTTL").arg(key).query_async(&mut c).await }
            })
            .await?;
        let Some(value) = value else { return Ok(None) };
        let now = Utc::now();
        let expires = (pttl >= 0).then(|| now + TimeDelta::milliseconds(pttl));
        let mut fields = Map::new();
        fields.insert("ttl_ms".into(), Value::from(pttl));
        Ok(Some(RawRecord {
            key: String::from_utf8_lossy(&key).into_owned(),
            payload: Value::String(String::from_utf8_lossy(&value).into_owned()),
            expires,
            fields,
        }))
    }

    async fn count(&self) -> Result<u64> {
        Ok(self.scan("raw-count").await?.len() as u64)
    }

    async fn tamper(&self, sid: &str, tamper: Tamper) -> Result<()> {
        let length: i64 = self.query("tamper", &self.command("STRLEN", sid, 2, 0)).await?;
        if length == 0 {
            return Err(StoreError::new(ErrorKind::NotFound, format!("no key for `{sid}`")));
        }
        let cmd = match tamper {
            // One ASCII byte for another in the middle: the JSON breaks or changes. SETRANGE
            // keeps the key's TTL.
            Tamper::FlipByte => {
                let mut cmd = self.command("SETRANGE", sid, 4, 21);
                cmd.arg(length / 2).arg("\u{1}");
                cmd
            }
            _ => {
                let mut cmd = self.command("SET", sid, 4, 32);
                cmd.arg(Tamper::GARBAGE).arg("KEEPTTL");
                cmd
            }
        };
        self.query("tamper", &cmd).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_rounds_up_to_the_millisecond() {
        assert_eq!(ceil_millis(TimeDelta::microseconds(1)), 1);
        assert_eq!(ceil_millis(TimeDelta::microseconds(1000)), 1);
        assert_eq!(ceil_millis(TimeDelta::microseconds(1001)), 2);
        assert_eq!(ceil_millis(TimeDelta::zero()), 0);
        assert_eq!(ceil_millis(TimeDelta::microseconds(-1)), 0);
        assert_eq!(ceil_millis(TimeDelta::milliseconds(-5)), -5);
    }
}
