//! The axum half of the example: log in, who am I, log out, on any tower-sessions store, with
//! express-session's signed `connect.sid` cookie so an Express app on the same store and secret
//! sees the same logged-in sessions. It never writes a session's `cookie` member itself: the
//! store writes express-session's when it saves.
#![warn(missing_docs)]

use std::str::FromStr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::Sha256;
use time::{Duration, OffsetDateTime};
use tower_sessions_core::SessionStore;
use tower_sessions_core::session::{Id, Record};

/// express-session's default cookie name.
pub const COOKIE_NAME: &str = "connect.sid";
/// How long a login lasts: the Express app's `cookie.maxAge` is the same day.
pub const SESSION_LIFETIME: Duration = Duration::days(1);

/// The cookie value express-session sets for `sid`: `s:` + cookie-signature's `sign(sid, secret)`,
/// that is `sid.` + base64(HMAC-SHA256(secret, sid)) without `=` padding.
pub fn sign(sid: &str, secret: &[u8]) -> String {
    let tag = mac(sid, secret).finalize().into_bytes();
    format!("s:{sid}.{}", STANDARD_NO_PAD.encode(tag))
}

/// The sid in a cookie value made by [`sign`] with `secret` (by either app), or `None` when the
/// value is not signed or the signature is not `secret`'s. The tag is compared in constant time.
pub fn unsign<'a>(value: &'a str, secret: &[u8]) -> Option<&'a str> {
    let (sid, tag) = value.strip_prefix("s:")?.rsplit_once('.')?;
    let tag = STANDARD_NO_PAD.decode(tag).ok()?;
    mac(sid, secret).verify_slice(&tag).ok()?;
    Some(sid)
}

fn mac(sid: &str, secret: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(sid.as_bytes());
    mac
}

/// The app's routes on `store`: `POST /login` with `{"user": name}`, `GET /me`, `POST /logout`.
pub fn app<S: SessionStore>(store: S, secret: impl Into<Vec<u8>>) -> Router {
    let state = AppState { store: Arc::new(store), secret: Arc::from(secret.into()) };
    Router::new()
        .route("/login", post(login::<S>))
        .route("/me", get(me::<S>))
        .route("/logout", post(logout::<S>))
        .with_state(state)
}

struct AppState<S> {
    store: Arc<S>,
    secret: Arc<[u8]>,
}

// Derived `Clone` would require `S: Clone`; only the `Arc`s are cloned.
impl<S> Clone for AppState<S> {
    fn clone(&self) -> Self {
        AppState { store: self.store.clone(), secret: self.secret.clone() }
    }
}

impl<S: SessionStore> AppState<S> {
    /// The session id of the request's cookie, if it carries one signed with the secret that
    /// tower-sessions can read (see the README on `genid`).
    fn session_id(&self, headers: &HeaderMap) -> Option<Id> {
        let value = percent_decode(cookie(headers, COOKIE_NAME)?)?;
        let sid = unsign(&value, &self.secret)?;
        match Id::from_str(sid) {
            Ok(id) => Some(id),
            Err(_) => {
                eprintln!("session id {sid:?} is not a tower-sessions id: does the Express app set genid?");
                None
            }
        }
    }

    async fn user(&self, headers: &HeaderMap) -> Result<Option<String>, StoreFailure> {
        let Some(id) = self.session_id(headers) else { return Ok(None) };
        let record = self.store.load(&id).await?;
        Ok(record.and_then(|r| r.data.get("user").and_then(Value::as_str).map(str::to_owned)))
    }
}

#[derive(Deserialize)]
struct Login {
    user: String,
}

async fn login<S: SessionStore>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
    Json(login): Json<Login>,
) -> Result<Response, StoreFailure> {
    // A new id at each login (express-session's `regenerate`): an id known before is never
    // the one that becomes logged in.
    if let Some(old) = state.session_id(&headers) {
        state.store.delete(&old).await?;
    }
    let mut record = Record {
        id: Id::default(),
        data: [("user".to_owned(), json!(login.user))].into_iter().collect(),
        expiry_date: OffsetDateTime::now_utc() + SESSION_LIFETIME,
    };
    // `create` may change the id if it is taken; the cookie names the id it settled on.
    state.store.create(&mut record).await?;
    let cookie = format!(
        "{COOKIE_NAME}={}; Path=/; Max-Age={}; HttpOnly",
        percent_encode(&sign(&record.id.to_string(), &state.secret)),
        SESSION_LIFETIME.whole_seconds()
    );
    Ok(([(header::SET_COOKIE, cookie)], Json(json!({ "user": login.user }))).into_response())
}

async fn me<S: SessionStore>(State(state): State<AppState<S>>, headers: HeaderMap) -> Result<Response, StoreFailure> {
    Ok(match state.user(&headers).await? {
        Some(user) => Json(json!({ "user": user })).into_response(),
        None => (StatusCode::UNAUTHORIZED, Json(json!({ "error": "not logged in" }))).into_response(),
    })
}

async fn logout<S: SessionStore>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
) -> Result<Response, StoreFailure> {
    if let Some(id) = state.session_id(&headers) {
        state.store.delete(&id).await?;
    }
    let clear = format!("{COOKIE_NAME}=; Path=/; Max-Age=0; HttpOnly");
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, clear)]).into_response())
}

/// A store operation failed: the request answers 500 with the store's message.
struct StoreFailure(tower_sessions_core::session_store::Error);

impl From<tower_sessions_core::session_store::Error> for StoreFailure {
    fn from(e: tower_sessions_core::session_store::Error) -> Self {
        StoreFailure(e)
    }
}

impl IntoResponse for StoreFailure {
    fn into_response(self) -> Response {
        eprintln!("session store: {}", self.0);
        (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({ "error": self.0.to_string() }))).into_response()
    }
}

/// The value of the first cookie called `name` in the request's `Cookie` headers.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .flat_map(|h| h.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

/// The cookie value as express-session writes it (the `cookie` package's `encodeURIComponent`):
/// of a signed value's characters, `:`, `+` and `/` are escaped.
pub fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        if c.is_ascii_alphanumeric() || "-_.!~*'()".contains(c) {
            out.push(c);
        } else {
            let mut buf = [0; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    out
}

/// `%XX` escapes decoded, as the `cookie` package reads a value; `None` for a malformed escape or
/// text that is not UTF-8 (which no signature can match anyway).
pub fn percent_decode(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Made by express-session 1.19.0's cookie-signature 1.0.7:
    // (in express/) node -e 'console.log("s:" + require("express-session/node_modules/cookie-signature").sign("abc", "keyboard cat"))'
    const SIGNED_BY_NODE: &str = "s:abc.BpxCrWRpvZMh/wk/djl34N+m+VQEU7K/5WenLwJCgFU";

    #[test]
    fn signs_as_cookie_signature_does() {
        assert_eq!(sign("abc", b"keyboard cat"), SIGNED_BY_NODE);
        assert_eq!(unsign(SIGNED_BY_NODE, b"keyboard cat"), Some("abc"));
    }

    #[test]
    fn refuses_other_secrets_and_edited_values() {
        assert_eq!(unsign(SIGNED_BY_NODE, b"another secret"), None);
        assert_eq!(unsign(&SIGNED_BY_NODE.replace("abc", "abd"), b"keyboard cat"), None);
        assert_eq!(unsign(&SIGNED_BY_NODE[2..], b"keyboard cat"), None, "unsigned form");
        assert_eq!(unsign(&format!("{SIGNED_BY_NODE}="), b"keyboard cat"), None, "padded tag");
    }

    #[test]
    fn cookie_value_round_trips_through_percent_encoding() {
        let encoded = percent_encode(SIGNED_BY_NODE);
        assert_eq!(encoded, "s%3Aabc.BpxCrWRpvZMh%2Fwk%2Fdjl34N%2Bm%2BVQEU7K%2F5WenLwJCgFU");
        assert_eq!(percent_decode(&encoded).as_deref(), Some(SIGNED_BY_NODE));
        assert_eq!(percent_decode("s%3"), None);
    }
}
