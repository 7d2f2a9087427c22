//! The backend matrix (harness/backends/matrix.toml): every server version the suite runs
//! against, with its official and local image. Parsing checks what the rest relies on: every
//! tag explicit, one entry per `kind:version`, at most one default version per kind.

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
}

impl Backend {
    /// `kind:version`, as `--backend` takes it.
    pub fn key(&self) -> String {
        format!("{}:{}", self.kind, self.version)
    }
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
        for kind in BackendKind::ALL {
            let defaults: Vec<String> =
                file.backend.iter().filter(|b| b.kind == kind && b.default).map(Backend::key).collect();
            if defaults.len() > 1 {
                return Err(invalid(format!("more than one default version for {kind}: {}", defaults.join(", "))));
            }
        }
        Ok(Matrix { path: path.to_owned(), backends: file.backend })
    }

    /// The entries `--backend` selects: `kind:version` one, `kind` every version of that kind.
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
        let found: Vec<&Backend> =
            self.backends.iter().filter(|b| b.kind == kind && version.is_none_or(|v| b.version == v)).collect();
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
    fn the_project_matrix_has_eleven_versions_with_explicit_tags_and_one_default_per_kind() {
        let m = the_matrix();
        let keys: Vec<String> = m.backends.iter().map(Backend::key).collect();
        assert_eq!(
            keys,
            [
                "postgres:13",
                "postgres:15",
                "postgres:17",
                "redis:6",
                "redis:7",
                "redis:8",
                "redis:valkey-8",
                "mariadb:10.5",
                "mariadb:10.11",
                "mariadb:11.8",
                "mongo:secantus-0.7.0b3"
            ]
        );
        for kind in BackendKind::ALL {
            assert!(m.default_for(kind).is_some(), "{kind} has a default version");
        }
        assert_eq!(m.default_for(BackendKind::Postgres).unwrap().version, "15");
    }

    #[test]
    fn select_takes_kind_version_or_a_whole_kind_and_names_what_exists() {
        let m = the_matrix();
        assert_eq!(m.select("postgres:15").unwrap()[0].local, "sessionspec/postgres:15");
        assert_eq!(m.select("redis").unwrap().len(), 4);
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
