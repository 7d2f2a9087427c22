//! Reaching a server, and saying why not. A failure is one sentence naming the server, where it
//! was looked for and what happened ("cannot connect to Redis at 127.0.0.1:1: connection
//! refused"), it comes within [`CONNECT_TIMEOUT`], and it never carries a password or the
//! driver's internals (its topology dumps, retry labels and doubled source chains).

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use sessionspec_contract::{ErrorKind, Result, StoreError, duration};

/// How long a store waits for a server to answer when it first connects.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Where a server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A host name or address, and a port.
    Tcp {
        /// The host as written in the URL.
        host: String,
        /// The port.
        port: u16,
    },
    /// A Unix domain socket.
    Socket(PathBuf),
    /// Another kind of address, as its driver writes it.
    Other(String),
}

impl Endpoint {
    /// A host and a port.
    pub fn tcp(host: impl Into<String>, port: u16) -> Endpoint {
        Endpoint::Tcp { host: host.into(), port }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Tcp { host, port } if host.contains(':') => write!(f, "[{host}]:{port}"),
            Endpoint::Tcp { host, port } => write!(f, "{host}:{port}"),
            Endpoint::Socket(path) => write!(f, "{}", path.display()),
            Endpoint::Other(address) => f.write_str(address),
        }
    }
}

/// Why connecting to one server failed: each constructor is one cause, worded for people.
#[derive(Debug, Clone)]
pub struct ConnectFailure {
    server: &'static str,
    endpoint: Endpoint,
}

impl ConnectFailure {
    /// Failures of connecting to `server` (`PostgreSQL`, `MySQL`, `Redis`, `MongoDB`) at
    /// `endpoint`.
    pub fn new(server: &'static str, endpoint: Endpoint) -> ConnectFailure {
        ConnectFailure { server, endpoint }
    }

    /// Where the server was looked for.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Looks the host up, without connecting to it: a name that does not resolve is reported as
    /// that, before a driver turns it into something vaguer.
    pub async fn resolve(&self) -> Result<()> {
        let Endpoint::Tcp { host, port } = &self.endpoint else { return Ok(()) };
        let lookup = tokio::net::lookup_host((host.as_str(), *port));
        match tokio::time::timeout(CONNECT_TIMEOUT, lookup).await.map(|found| found.map(|mut a| a.next())) {
            Ok(Ok(Some(_))) => Ok(()),
            Ok(Ok(None)) => Err(self.because(ErrorKind::Backend, &format!("host `{host}` has no address"))),
            Ok(Err(e)) => {
                Err(self.because(ErrorKind::Backend, &format!("cannot resolve host `{host}` ({})", plain(&e))))
            }
            Err(_) => Err(self.because(
                ErrorKind::Timeout,
                &format!("looking up host `{host}` took longer than {}", duration::format(CONNECT_TIMEOUT)),
            )),
        }
    }

    /// The connection attempt failed with `error`.
    pub fn io(&self, error: &io::Error) -> StoreError {
        use io::ErrorKind::*;
        let cause = match error.kind() {
            ConnectionRefused => "connection refused".to_owned(),
            ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof => {
                "the server closed the connection".to_owned()
            }
            TimedOut => "timed out".to_owned(),
            HostUnreachable => "host unreachable".to_owned(),
            NetworkUnreachable => "network unreachable".to_owned(),
            NotFound if matches!(self.endpoint, Endpoint::Socket(_)) => "no such socket".to_owned(),
            PermissionDenied => "permission denied".to_owned(),
            _ => plain(error),
        };
        self.because(ErrorKind::Backend, &cause)
    }

    /// Nothing answered within `bound`.
    pub fn no_answer(&self, bound: Duration) -> StoreError {
        self.because(ErrorKind::Timeout, &format!("no answer within {}", duration::format(bound)))
    }

    /// The server answered and turned the connection down; `answer` is what it said (a wrong
    /// password, an unknown database). Servers never repeat a password in such answers.
    pub fn answered(&self, answer: &str) -> StoreError {
        self.because(ErrorKind::Backend, answer)
    }

    /// Anything else, worded by the caller: `cause` must not hold a password.
    pub fn because(&self, kind: ErrorKind, cause: &str) -> StoreError {
        StoreError::new(kind, format!("cannot connect to {} at {}: {cause}", self.server, self.endpoint))
    }
}

/// An I/O error's message without the operating system's error number, lower-cased as a clause.
fn plain(error: &io::Error) -> String {
    let text = error.to_string();
    let text = match text.find(" (os error ") {
        Some(at) => &text[..at],
        None => &text,
    };
    let text = text.strip_prefix("failed to lookup address information: ").unwrap_or(text);
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => "unknown I/O error".to_owned(),
    }
}

/// `url` with the password of its user info replaced by `****`, for messages.
pub fn redact_url(url: &str) -> String {
    let Some((scheme_end, at)) = user_info_span(url) else { return url.to_owned() };
    let user_info = &url[scheme_end..at];
    match user_info.split_once(':') {
        Some((user, _)) => format!("{}{user}:****{}", &url[..scheme_end], &url[at..]),
        None => url.to_owned(),
    }
}

/// `text` (a driver's message about `url`) with the URL's password masked wherever it appears:
/// as the URL writes it and percent-decoded, as a driver uses it.
pub fn redact_password(text: &str, url: &str) -> String {
    let mut out = text.replace(url, &redact_url(url));
    if let Some((scheme_end, at)) = user_info_span(url)
        && let Some((_, password)) = url[scheme_end..at].split_once(':')
        && !password.is_empty()
    {
        out = out.replace(password, "****");
        let decoded = percent_decode(password);
        if !decoded.is_empty() && decoded != password {
            out = out.replace(&decoded, "****");
        }
    }
    out
}

/// `text` (anything a process given `urls` wrote) with the password of every URL in it masked
/// ([`redact_urls`]), and the passwords of `urls` masked wherever they appear on their own
/// ([`redact_password`]).
pub fn redact_text<S: AsRef<str>>(text: &str, urls: &[S]) -> String {
    urls.iter().fold(redact_urls(text), |out, url| redact_password(&out, url.as_ref()))
}

/// `%XX` escapes decoded (as UTF-8, lossily); anything else kept.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `text` (anything an adapter or a driver wrote) with the password of every URL in it masked by
/// the rule of [`redact_url`]: the user info runs from `scheme://` to the last `@` before the
/// first `/`, `?` or whitespace, so a password holding `@` or `:` is masked whole.
pub fn redact_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(found) = rest.find("://") {
        // The scheme is the letters, digits, `+`, `-` and `.` just before `://`.
        let scheme_start = rest[..found]
            .char_indices()
            .rev()
            .take_while(|(_, c)| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
            .last()
            .map_or(found, |(i, _)| i);
        let tail = &rest[scheme_start..];
        let end = tail[found - scheme_start + 3..]
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`'))
            .map_or(tail.len(), |i| i + found - scheme_start + 3);
        out.push_str(&rest[..scheme_start]);
        out.push_str(&redact_url(&tail[..end]));
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// Where the user info of `url` starts (after `scheme://`) and where its `@` is.
fn user_info_span(url: &str) -> Option<(usize, usize)> {
    let scheme_end = url.find("://")? + 3;
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let at = rest[..authority_end].rfind('@')?;
    Some((scheme_end, scheme_end + at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_masked() {
        assert_eq!(redact_url("mongodb://u:p%40ss@h:1/db?x=1"), "mongodb://u:****@h:1/db?x=1");
        assert_eq!(redact_url("mongodb+srv://u:p@cluster.example.net"), "mongodb+srv://u:****@cluster.example.net");
        assert_eq!(redact_url("redis://:secret@127.0.0.1:6379/0"), "redis://:****@127.0.0.1:6379/0");
        assert_eq!(redact_url("mongodb://h:27017/?directConnection=true"), "mongodb://h:27017/?directConnection=true");
        assert_eq!(redact_url("postgres://user@h/db"), "postgres://user@h/db");
        let url = "postgres://app:hunter2@db:5432/app";
        assert_eq!(
            redact_password(&format!("bad url {url}, password hunter2"), url),
            "bad url postgres://app:****@db:5432/app, password ****"
        );
    }

    #[test]
    fn passwords_are_masked_in_any_text() {
        let text =
            "connecting to postgres://app:p@ss:w%40rd@db:5432/app?x=1 and redis://:s3cret@r:6379/0\nnext mongodb://h/";
        assert_eq!(
            redact_urls(text),
            "connecting to postgres://app:****@db:5432/app?x=1 and redis://:****@r:6379/0\nnext mongodb://h/"
        );
        assert_eq!(redact_urls("url=\"mysql://root:a@b@h/db\""), "url=\"mysql://root:****@h/db\"");
        assert_eq!(redact_urls("no urls here: a://"), "no urls here: a://");
    }

    #[test]
    fn known_passwords_are_masked_as_written_and_decoded() {
        let url = "postgres://app:p@ss:w%40rd@db:5432/app";
        assert_eq!(
            redact_text(&format!("url {url}; password p@ss:w%40rd; decoded p@ss:w@rd"), &[url, "redis://r:6379"]),
            "url postgres://app:****@db:5432/app; password ****; decoded ****"
        );
        assert_eq!(percent_decode("a%40b%3a%zz%4"), "a@b:%zz%4");
    }

    #[test]
    fn failures_name_the_server_the_place_and_the_cause() {
        let failure = ConnectFailure::new("Redis", Endpoint::tcp("127.0.0.1", 1));
        let refused = failure.io(&io::Error::from(io::ErrorKind::ConnectionRefused));
        assert_eq!(refused.kind(), ErrorKind::Backend);
        assert_eq!(refused.message(), "cannot connect to Redis at 127.0.0.1:1: connection refused");
        let v6 = ConnectFailure::new("MySQL", Endpoint::tcp("::1", 3306)).no_answer(CONNECT_TIMEOUT);
        assert_eq!(
            (v6.kind(), v6.message()),
            (ErrorKind::Timeout, "cannot connect to MySQL at [::1]:3306: no answer within 2s")
        );
        let socket = ConnectFailure::new("PostgreSQL", Endpoint::Socket("/run/pg/.s.PGSQL.5432".into()));
        assert_eq!(
            socket.io(&io::Error::from(io::ErrorKind::NotFound)).message(),
            "cannot connect to PostgreSQL at /run/pg/.s.PGSQL.5432: no such socket"
        );
    }

    #[tokio::test]
    async fn a_host_that_does_not_resolve_is_named() {
        let failure = ConnectFailure::new("PostgreSQL", Endpoint::tcp("no-such-host.invalid", 5432));
        let error = failure.resolve().await.unwrap_err();
        assert!(
            error.message().starts_with(
                "cannot connect to PostgreSQL at no-such-host.invalid:5432: cannot resolve host `no-such-host.invalid`"
            ),
            "{}",
            error.message()
        );
        assert!(ConnectFailure::new("Redis", Endpoint::tcp("127.0.0.1", 6379)).resolve().await.is_ok());
    }
}
