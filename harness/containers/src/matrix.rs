//! The backend matrix (harness/backends/matrix.toml): every server version the suite runs
//! against, with its official and local image, and the environment entries that run one of them
//! with another time zone or clock. Parsing checks what the rest relies on: every tag explicit,
//! one entry per `kind:version`, at most one default version per kind, and every environment
//! entry the variant of a plain one whose images it shares.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The protocol a store speaks to its server; one kind has several versions in the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BackendKind {
    /// PostgreSQL.
    Postgres,
    /// Redis, and servers speaking its protocol (Valkey).
    Redis,
    /// MariaDB (the `sql-mysql` store's server).
    Mariadb,
    /// MongoDB, and servers speaking its wire protocol (SecantusDB).
    Mongo,
}

impl BackendKind {
    /// Every kind, in listing order.
    pub const ALL: [BackendKind; 4] =
        [BackendKind::Postgres, BackendKind::Redis, BackendKind::Mariadb, BackendKind::Mongo];

    /// The name used in the matrix file, in `--backend kind:version` and in target ids.
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Postgres => "postgres",
            BackendKind::Redis => "redis",
            BackendKind::Mariadb => "mariadb",
            BackendKind::Mongo => "mongo",
        }
    }

    /// The servers of the kind, in words (`a PostgreSQL server`).
    pub fn product(self) -> &'static str {
        match self {
            BackendKind::Postgres => "PostgreSQL",
            BackendKind::Redis => "Redis (or Valkey)",
            BackendKind::Mariadb => "MySQL or MariaDB",
            BackendKind::Mongo => "MongoDB-compatible",
        }
    }

    /// Looks a kind up by name.
    pub fn from_name(name: &str) -> Option<BackendKind> {
        BackendKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One server version: one `[[backend]]` of the matrix file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Backend {
    /// The protocol.
    pub kind: BackendKind,
    /// The column's version (`15`, `valkey-8`, `secantus-0.7.0b3`).
    pub version: String,
    /// The registry image, used unchanged where a registry is reachable (`postgres:15`).
    pub official: String,
    /// The image `harness/backends/images/build.sh` builds (`sessionspec/postgres:15`).
    pub local: String,
    /// The server's port inside the container.
    pub port: u16,
    /// The Debian suite the local image comes from.
    #[serde(default)]
    pub suite: Option<String>,
    /// Whether a store gets this version when none is asked for.
    #[serde(default)]
    pub default: bool,
    /// What reports show for the version, when the version alone does not say it
    /// (`15 (server time zone Pacific/Kiritimati, UTC+14)`).
    #[serde(default)]
    pub label: Option<String>,
    /// The server's default time zone (an environment entry).
    #[serde(default)]
    pub time_zone: Option<String>,
    /// The server's clock against the real one, in libfaketime's `FAKETIME` form (`+2h`).
    #[serde(default)]
    pub clock_offset: Option<String>,
    /// The time zone of the stores' connections, set in the URL they get (PostgreSQL
    /// `options=-c TimeZone=VALUE`); the server's default stays as it is.
    #[serde(default)]
    pub session_time_zone: Option<String>,
}

/// The library an entry's `clock_offset` preloads into the server. `$LIB` is expanded by the
/// dynamic loader (`lib/x86_64-linux-gnu` on Debian amd64), so one path serves every architecture.
pub const LIBFAKETIME: &str = "/usr/$LIB/faketime/libfaketime.so.1";

impl Backend {
    /// `kind:version`, as `--backend` takes it.
    pub fn key(&self) -> String {
        format!("{}:{}", self.kind, self.version)
    }

    /// What reports show for the version: the label, else the version.
    pub fn label(&self) -> &str {
        self.label.as_deref().unwrap_or(&self.version)
    }

    /// Whether the entry runs its server in another environment (time zone, clock).
    pub fn is_environment(&self) -> bool {
        self.time_zone.is_some() || self.clock_offset.is_some() || self.session_time_zone.is_some()
    }

    /// The URL the stores get: `url`, with an entry's `session_time_zone` added as PostgreSQL
    /// connection options (`options=-c%20TimeZone%3DVALUE`).
    pub fn store_url(&self, url: &str) -> String {
        match (&self.session_time_zone, self.kind) {
            (Some(tz), BackendKind::Postgres) => {
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}options=-c%20TimeZone%3D{}", tz.replace('/', "%2F").replace('+', "%2B"))
            }
            _ => url.to_owned(),
        }
    }

    /// The server version the entry stands for: the version, less an environment entry's
    /// `-name` (`15-tz-kiritimati` is PostgreSQL 15).
    pub fn server_version(&self) -> &str {
        if self.is_environment() {
            self.version.split_once('-').map_or(&self.version, |(v, _)| v)
        } else {
            &self.version
        }
    }

    /// The environment in words (`server time zone Pacific/Kiritimati; server clock +2h`), if any.
    pub fn environment(&self) -> Option<String> {
        let mut parts = Vec::new();
        if let Some(tz) = &self.time_zone {
            parts.push(format!("server time zone {tz}"));
        }
        if let Some(offset) = &self.clock_offset {
            parts.push(format!("server clock {offset} (libfaketime)"));
        }
        if let Some(tz) = &self.session_time_zone {
            parts.push(format!("connection time zone {tz} (URL options)"));
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }

    /// Arguments appended to the image's command for the entry's environment.
    pub fn server_args(&self) -> Vec<String> {
        match (&self.time_zone, self.kind) {
            (Some(tz), BackendKind::Postgres) => vec!["-c".into(), format!("timezone={tz}")],
            (Some(tz), BackendKind::Mariadb) => vec![format!("--default-time-zone={tz}")],
            _ => Vec::new(),
        }
    }

    /// Environment variables the server's container gets for the entry's environment. The
    /// monotonic clock is left alone: only wall time is offset, and a negative offset must
    /// not take the monotonic clock below zero on a machine booted recently.
    pub fn server_env(&self) -> Vec<(String, String)> {
        match &self.clock_offset {
            Some(offset) => vec![
                ("LD_PRELOAD".into(), LIBFAKETIME.into()),
                ("FAKETIME".into(), offset.clone()),
                ("FAKETIME_DONT_FAKE_MONOTONIC".into(), "1".into()),
            ],
            None => Vec::new(),
        }
    }

    /// The entry's clock offset in seconds (0 without one).
    pub fn clock_offset_seconds(&self) -> i64 {
        self.clock_offset.as_deref().and_then(|o| parse_offset(o).ok()).unwrap_or(0)
    }
}

/// Seconds of a `FAKETIME` relative offset: a sign, a whole number and an optional unit
/// (`s`, `m`, `h`, `d`): `+2h`, `-90m`, `+30`.
pub fn parse_offset(text: &str) -> Result<i64, String> {
    let expected = "expected a sign, a whole number and an optional unit s, m, h or d (`+2h`, `-90m`)";
    let (sign, rest) = match text.as_bytes().first() {
        Some(b'+') => (1, &text[1..]),
        Some(b'-') => (-1, &text[1..]),
        _ => return Err(format!("`{text}`: {expected}")),
    };
    let (digits, unit) = match rest.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let scale = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("`{text}`: {expected}")),
    };
    let n: i64 = digits.parse().map_err(|_| format!("`{text}`: {expected}"))?;
    if n == 0 {
        return Err(format!("`{text}`: an offset of zero is the plain entry"));
    }
    Ok(sign * n * scale)
}

/// Whether `tz` is a MariaDB time zone offset (`+13:00`, `-12:00`), the only form its server
/// accepts without time zone tables.
fn is_mariadb_offset(tz: &str) -> bool {
    let b = tz.as_bytes();
    b.len() == 6
        && matches!(b[0], b'+' | b'-')
        && b[1].is_ascii_digit()
        && b[2].is_ascii_digit()
        && b[3] == b':'
        && b[4].is_ascii_digit()
        && b[5].is_ascii_digit()
}

/// The parsed matrix file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matrix {
    /// Where it was read from.
    pub path: PathBuf,
    /// Its entries, in file order.
    pub backends: Vec<Backend>,
}

/// A problem with the matrix file or with a `--backend` selection.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MatrixError {
    /// The file could not be read.
    #[error("{path}: cannot read the backend matrix: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a valid matrix.
    #[error("{path}: {message}")]
    Invalid {
        /// The file (with `:line:column` when the problem has a place).
        path: String,
        /// What was expected and what was found.
        message: String,
    },
    /// A `--backend` names nothing in the matrix.
    #[error("--backend {given}: {message}; the matrix ({path}) has: {known}")]
    Unknown {
        /// What was given.
        given: String,
        /// Why it matches nothing.
        message: String,
        /// The matrix file.
        path: String,
        /// Every `kind:version` it has.
        known: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    backend: Vec<Backend>,
}

/// Where the built-in matrix comes from, as messages name it.
pub const BUILT_IN_PATH: &str = "harness/backends/matrix.toml";

impl Matrix {
    /// The matrix built into this crate (harness/backends/matrix.toml of its release), so that
    /// a binary copied anywhere knows its backend versions. A test checks that it parses.
    pub fn built_in() -> Matrix {
        Matrix::parse(Path::new(BUILT_IN_PATH), include_str!("../matrix.toml"))
            .expect("the built-in matrix is checked by the crate's tests")
    }

    /// Reads and checks a matrix file.
    pub fn load(path: &Path) -> Result<Matrix, MatrixError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| MatrixError::Read { path: path.to_owned(), source })?;
        Matrix::parse(path, &text)
    }

    /// Parses and checks matrix text; `path` names it in errors.
    pub fn parse(path: &Path, text: &str) -> Result<Matrix, MatrixError> {
        let file: File = toml::from_str(text).map_err(|e| {
            let place =
                e.span().map(|s| line_column(text, s.start)).map(|(l, c)| format!(":{l}:{c}")).unwrap_or_default();
            MatrixError::Invalid { path: format!("{}{place}", path.display()), message: e.message().to_owned() }
        })?;
        let invalid = |message: String| MatrixError::Invalid { path: path.display().to_string(), message };
        let mut seen: Vec<String> = Vec::new();
        for b in &file.backend {
            let key = b.key();
            if b.version.is_empty()
                || !b.version.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'-')
            {
                return Err(invalid(format!(
                    "{key}: version `{}` must be lower-case letters, digits, `.` and `-` (it becomes part of target ids)",
                    b.version
                )));
            }
            for (field, image) in [("official", &b.official), ("local", &b.local)] {
                if let Err(why) = split_image(image) {
                    return Err(invalid(format!("{key}: {field} image `{image}`: {why}")));
                }
            }
            if seen.contains(&key) {
                return Err(invalid(format!("{key} is listed twice")));
            }
            seen.push(key);
        }
        for b in file.backend.iter().filter(|b| b.is_environment()) {
            check_environment(b, &file.backend).map_err(|why| invalid(format!("{}: {why}", b.key())))?;
        }
        for kind in BackendKind::ALL {
            let defaults: Vec<String> =
                file.backend.iter().filter(|b| b.kind == kind && b.default).map(Backend::key).collect();
            if defaults.len() > 1 {
                return Err(invalid(format!("more than one default version for {kind}: {}", defaults.join(", "))));
            }
        }
        Ok(Matrix { path: path.to_owned(), backends: file.backend })
    }

    /// The entries `--backend` selects: `kind:version` one, `kind` every plain version of that
    /// kind (an environment entry varies a version rather than adding one: it is named, or
    /// comes with `--matrix`).
    pub fn select(&self, given: &str) -> Result<Vec<&Backend>, MatrixError> {
        let unknown = |message: String| MatrixError::Unknown {
            given: given.to_owned(),
            message,
            path: self.path.display().to_string(),
            known: self.backends.iter().map(Backend::key).collect::<Vec<_>>().join(", "),
        };
        let (kind_name, version) = match given.split_once(':') {
            Some((k, v)) => (k, Some(v)),
            None => (given, None),
        };
        let Some(kind) = BackendKind::from_name(kind_name) else {
            return Err(unknown(format!(
                "unknown kind `{kind_name}` (kinds: {})",
                BackendKind::ALL.map(BackendKind::name).join(", ")
            )));
        };
        let found: Vec<&Backend> = self
            .backends
            .iter()
            .filter(|b| b.kind == kind && version.map_or(!b.is_environment(), |v| b.version == v))
            .collect();
        if found.is_empty() {
            return Err(unknown(match version {
                Some(v) => format!("no version `{v}` of {kind}"),
                None => format!("no version of {kind}"),
            }));
        }
        Ok(found)
    }

    /// The version a store of `kind` gets when none is asked for.
    pub fn default_for(&self, kind: BackendKind) -> Option<&Backend> {
        self.backends.iter().find(|b| b.kind == kind && b.default)
    }
}

/// What an environment entry must be: the variant of a plain entry (same kind, same images, its
/// version followed by `-name`), labelled, never a default, with values its server accepts.
fn check_environment(b: &Backend, all: &[Backend]) -> Result<(), String> {
    let Some((plain_version, _)) = b.version.split_once('-').filter(|(_, n)| !n.is_empty()) else {
        return Err(format!(
            "an entry with time_zone, clock_offset or session_time_zone needs a version `PLAIN-NAME` (`15-tz-kiritimati`), found `{}`",
            b.version
        ));
    };
    let Some(plain) = all.iter().find(|p| p.kind == b.kind && !p.is_environment() && p.version == plain_version) else {
        return Err(format!("no plain entry {}:{plain_version} for this environment entry to vary", b.kind));
    };
    if plain.local != b.local || plain.official != b.official || plain.port != b.port || plain.suite != b.suite {
        return Err(format!(
            "an environment entry runs its plain entry's images: local, official, port and suite must be those of {}",
            plain.key()
        ));
    }
    if b.default {
        return Err("an environment entry cannot be the default version".into());
    }
    if b.label.as_deref().is_none_or(str::is_empty) {
        return Err("an environment entry needs a `label` saying what it is (`15 (server time zone UTC+14)`)".into());
    }
    if !matches!(b.kind, BackendKind::Postgres | BackendKind::Mariadb) {
        return Err(format!(
            "time_zone, clock_offset and session_time_zone are supported for postgres and mariadb only, not {} (harness/backends/README.md says why)",
            b.kind
        ));
    }
    if let Some(tz) = &b.time_zone {
        match b.kind {
            BackendKind::Mariadb if !is_mariadb_offset(tz) => {
                return Err(format!(
                    "time_zone `{tz}`: MariaDB takes an offset `+HH:MM` or `-HH:MM` (the images load no time zone tables)"
                ));
            }
            _ if tz.is_empty() || tz.contains(char::is_whitespace) => {
                return Err(format!(
                    "time_zone `{tz}`: expected one time zone name without spaces (`Pacific/Kiritimati`)"
                ));
            }
            _ => {}
        }
    }
    if let Some(offset) = &b.clock_offset {
        parse_offset(offset).map_err(|why| format!("clock_offset {why}"))?;
    }
    if let Some(tz) = &b.session_time_zone {
        if b.kind != BackendKind::Postgres {
            return Err(format!(
                "session_time_zone is supported for postgres only (a URL parameter node-pg honours), not {}",
                b.kind
            ));
        }
        if tz.is_empty() || tz.contains(char::is_whitespace) {
            return Err(format!("session_time_zone `{tz}`: expected one time zone name without spaces"));
        }
    }
    Ok(())
}

/// `name:tag` of an image reference, refusing a missing or `latest` tag.
pub fn split_image(image: &str) -> Result<(&str, &str), &'static str> {
    let slash = image.rfind('/').map_or(0, |i| i + 1);
    match image[slash..].rfind(':') {
        Some(i) if !image[slash + i + 1..].is_empty() => {
            let (name, tag) = (&image[..slash + i], &image[slash + i + 1..]);
            if tag == "latest" { Err("`latest` is not an explicit tag") } else { Ok((name, tag)) }
        }
        _ => Err("needs an explicit tag (`name:tag`)"),
    }
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn the_matrix() -> Matrix {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../backends/matrix.toml");
        let on_disk = Matrix::load(&path).expect("the project's matrix parses");
        assert_eq!(Matrix::built_in().backends, on_disk.backends, "the built-in matrix is the file");
        on_disk
    }

    #[test]
    fn the_project_matrix_has_fifteen_versions_with_explicit_tags_and_one_default_per_kind() {
        let m = the_matrix();
        let keys: Vec<String> = m.backends.iter().map(Backend::key).collect();
        assert_eq!(
            keys,
            [
                "postgres:13",
                "postgres:15",
                "postgres:15-tz-kiritimati",
                "postgres:15-clock-plus2h",
                "postgres:15-session-tz-minus11",
                "postgres:17",
                "redis:6",
                "redis:7",
                "redis:8",
                "redis:valkey-8",
                "mariadb:10.5",
                "mariadb:10.11",
                "mariadb:10.11-tz-minus12",
                "mariadb:10.11-clock-minus2h",
                "mariadb:11.8",
                "mongo:secantus-0.7.0b3"
            ]
        );
        for kind in BackendKind::ALL {
            assert!(m.default_for(kind).is_some(), "{kind} has a default version");
        }
        assert_eq!(m.default_for(BackendKind::Postgres).unwrap().version, "15");
        assert_eq!(m.default_for(BackendKind::Mariadb).unwrap().version, "10.11");
        for b in m.backends.iter().filter(|b| !b.is_environment()) {
            assert_eq!(b.label(), b.version, "{}: a plain entry's label is its version", b.key());
        }
    }

    #[test]
    fn environment_entries_vary_a_plain_entry_and_say_how() {
        let m = the_matrix();
        let tz = &m.select("postgres:15-tz-kiritimati").unwrap()[0];
        assert_eq!(tz.server_version(), "15");
        assert_eq!(tz.local, m.select("postgres:15").unwrap()[0].local);
        assert_eq!(tz.server_args(), ["-c", "timezone=Pacific/Kiritimati"]);
        assert!(tz.server_env().is_empty());
        assert_eq!(tz.label(), "15 (server time zone Pacific/Kiritimati, UTC+14)");
        let my = &m.select("mariadb:10.11-tz-minus12").unwrap()[0];
        assert_eq!(my.server_args(), ["--default-time-zone=-12:00"]);
        let clock = &m.select("mariadb:10.11-clock-minus2h").unwrap()[0];
        assert_eq!(clock.server_version(), "10.11");
        assert_eq!(clock.clock_offset_seconds(), -7200);
        assert!(clock.server_args().is_empty());
        assert_eq!(
            clock.server_env(),
            [
                ("LD_PRELOAD".to_owned(), LIBFAKETIME.to_owned()),
                ("FAKETIME".to_owned(), "-2h".to_owned()),
                ("FAKETIME_DONT_FAKE_MONOTONIC".to_owned(), "1".to_owned())
            ]
        );
        let session = &m.select("postgres:15-session-tz-minus11").unwrap()[0];
        assert!(session.server_args().is_empty() && session.server_env().is_empty());
        assert_eq!(
            session.store_url("postgres://postgres@h:1/postgres"),
            "postgres://postgres@h:1/postgres?options=-c%20TimeZone%3DPacific%2FPago_Pago"
        );
        assert_eq!(m.select("postgres:15").unwrap()[0].store_url("x?a=1"), "x?a=1");
        assert_eq!(m.select("postgres:15").unwrap()[0].server_version(), "15");
        assert_eq!(m.select("redis:valkey-8").unwrap()[0].server_version(), "valkey-8");
    }

    #[test]
    fn a_bad_environment_entry_says_what_is_wrong() {
        let plain = "[[backend]]\nkind = \"mariadb\"\nversion = \"10.11\"\nofficial = \"mariadb:10.11\"\nlocal = \"x/m:10.11\"\nport = 3306\n";
        let env = |extra: &str| {
            format!(
                "{plain}\n[[backend]]\nkind = \"mariadb\"\nofficial = \"mariadb:10.11\"\nlocal = \"x/m:10.11\"\nport = 3306\n{extra}\n"
            )
        };
        let err = |extra: &str| Matrix::parse(Path::new("m.toml"), &env(extra)).unwrap_err().to_string();
        let ok = "version = \"10.11-tz\"\nlabel = \"10.11 (tz)\"\ntime_zone = \"+13:00\"";
        Matrix::parse(Path::new("m.toml"), &env(ok)).expect("a good environment entry parses");
        assert_eq!(
            err("version = \"10.11-tz\"\nlabel = \"x\"\ntime_zone = \"Pacific/Kiritimati\""),
            "m.toml: mariadb:10.11-tz: time_zone `Pacific/Kiritimati`: MariaDB takes an offset `+HH:MM` or `-HH:MM` (the images load no time zone tables)"
        );
        assert_eq!(
            err("version = \"10.6-tz\"\nlabel = \"x\"\ntime_zone = \"+13:00\""),
            "m.toml: mariadb:10.6-tz: no plain entry mariadb:10.6 for this environment entry to vary"
        );
        assert_eq!(
            err("version = \"tz\"\nlabel = \"x\"\ntime_zone = \"+13:00\""),
            "m.toml: mariadb:tz: an entry with time_zone, clock_offset or session_time_zone needs a version `PLAIN-NAME` (`15-tz-kiritimati`), found `tz`"
        );
        assert_eq!(
            err("version = \"10.11-tz\"\ntime_zone = \"+13:00\""),
            "m.toml: mariadb:10.11-tz: an environment entry needs a `label` saying what it is (`15 (server time zone UTC+14)`)"
        );
        assert_eq!(
            err("version = \"10.11-clock\"\nlabel = \"x\"\nclock_offset = \"2h\""),
            "m.toml: mariadb:10.11-clock: clock_offset `2h`: expected a sign, a whole number and an optional unit s, m, h or d (`+2h`, `-90m`)"
        );
        assert_eq!(
            err("version = \"10.11-clock\"\nlabel = \"x\"\nclock_offset = \"+2h\"\ndefault = true"),
            "m.toml: mariadb:10.11-clock: an environment entry cannot be the default version"
        );
        let other_image = env(ok).replacen(
            "local = \"x/m:10.11\"\nport = 3306\nversion",
            "local = \"x/m:10.12\"\nport = 3306\nversion",
            1,
        );
        let err = Matrix::parse(Path::new("m.toml"), &other_image).unwrap_err().to_string();
        assert_eq!(
            err,
            "m.toml: mariadb:10.11-tz: an environment entry runs its plain entry's images: local, official, port and suite must be those of mariadb:10.11"
        );
        let redis = "[[backend]]\nkind = \"redis\"\nversion = \"7\"\nofficial = \"redis:7.0\"\nlocal = \"x/r:7\"\nport = 6379\n\n[[backend]]\nkind = \"redis\"\nversion = \"7-clock\"\nlabel = \"x\"\nofficial = \"redis:7.0\"\nlocal = \"x/r:7\"\nport = 6379\nclock_offset = \"+2h\"\n";
        let err = Matrix::parse(Path::new("m.toml"), redis).unwrap_err().to_string();
        assert!(
            err.contains(
                "time_zone, clock_offset and session_time_zone are supported for postgres and mariadb only, not redis"
            ),
            "{err}"
        );
        assert_eq!(parse_offset("+2h"), Ok(7200));
        assert_eq!(parse_offset("-90m"), Ok(-5400));
        assert_eq!(parse_offset("+30"), Ok(30));
        assert!(parse_offset("+0h").is_err());
    }

    #[test]
    fn select_takes_kind_version_or_a_whole_kind_and_names_what_exists() {
        let m = the_matrix();
        assert_eq!(m.select("postgres:15").unwrap()[0].local, "sessionspec/postgres:15");
        assert_eq!(m.select("redis").unwrap().len(), 4);
        let postgres: Vec<String> = m.select("postgres").unwrap().iter().map(|b| b.key()).collect();
        assert_eq!(postgres, ["postgres:13", "postgres:15", "postgres:17"], "a kind selects its plain versions");
        assert_eq!(m.select("postgres:15-clock-plus2h").unwrap().len(), 1, "an environment entry by name");
        let err = m.select("postgres:16").unwrap_err().to_string();
        assert!(err.starts_with("--backend postgres:16: no version `16` of postgres;"), "{err}");
        assert!(err.contains("postgres:13, postgres:15"), "{err}");
        let err = m.select("mysql:8").unwrap_err().to_string();
        assert!(err.contains("unknown kind `mysql` (kinds: postgres, redis, mariadb, mongo)"), "{err}");
    }

    #[test]
    fn images_need_explicit_tags() {
        assert_eq!(split_image("postgres:15"), Ok(("postgres", "15")));
        assert_eq!(split_image("localhost:5000/valkey/valkey:8.1"), Ok(("localhost:5000/valkey/valkey", "8.1")));
        assert!(split_image("localhost:5000/postgres").is_err());
        assert!(split_image("redis:latest").is_err());
        assert!(split_image("redis").is_err());
    }

    #[test]
    fn problems_name_the_file_and_place() {
        let text = "[[backend]]\nkind = \"postgres\"\nversion = \"15\"\nofficial = \"postgres\"\nlocal = \"x/pg:15\"\nport = 5432\n";
        let err = Matrix::parse(Path::new("m.toml"), text).unwrap_err().to_string();
        assert_eq!(err, "m.toml: postgres:15: official image `postgres`: needs an explicit tag (`name:tag`)");
        let err = Matrix::parse(Path::new("m.toml"), "[[backend]]\nkind = \"oracle\"\n").unwrap_err().to_string();
        assert!(err.starts_with("m.toml:2:8: unknown variant `oracle`"), "{err}");
        let dup = format!("{text}\n{text}").replace("official = \"postgres\"", "official = \"postgres:15\"");
        let err = Matrix::parse(Path::new("m.toml"), &dup).unwrap_err().to_string();
        assert_eq!(err, "m.toml: postgres:15 is listed twice");
    }
}
