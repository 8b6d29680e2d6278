//! The one error type of the image builder, with the context a user needs to act on it.

use std::path::PathBuf;

/// Everything that can stop `image-builder`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `--spark` (or `--hadoop`) names a version the catalog does not cover.
    #[error("unsupported {what} version {requested:?}; supported: {supported}")]
    UnsupportedVersion {
        /// `Spark` or `Hadoop`.
        what: &'static str,
        /// What the user asked for.
        requested: String,
        /// The supported versions, comma separated.
        supported: String,
    },
    /// The catalog file could not be read or parsed, or is inconsistent.
    #[error("catalog {path}: {message}")]
    Catalog {
        /// The catalog file (or `built-in`).
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A catalog jar has no pinned sha256, so it cannot be verified.
    #[error(
        "{coordinate} has no pinned sha256 in the catalog (the built-in catalog pins only digests that were \
         verified); pass --catalog FILE with a pinned sha256 for it"
    )]
    Unpinned {
        /// `group:artifact:version`.
        coordinate: String,
    },
    /// An HTTP request to the Maven repository failed.
    #[error("downloading {url}: {message}")]
    Download {
        /// The URL (never carries credentials).
        url: String,
        /// What went wrong (status or transport error).
        message: String,
    },
    /// A downloaded (or cached) jar does not match its digest.
    #[error("{coordinate}: {algorithm} mismatch for {url}: expected {expected}, got {actual}")]
    DigestMismatch {
        /// `group:artifact:version`.
        coordinate: String,
        /// Where the bytes came from.
        url: String,
        /// `sha256` (the catalog's pin) or `sha1` (the repository's `.sha1`).
        algorithm: &'static str,
        /// The expected hex digest.
        expected: String,
        /// The digest of the bytes received.
        actual: String,
    },
    /// A local file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The launcher binary to put in the image is missing.
    #[error(
        "launcher binary {path} not found: build it first (`cargo build -p sparkoss-launcher`, which puts \
         `sparkoss-launcher` beside `image-builder`) or pass --launcher PATH"
    )]
    LauncherMissing {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// A command-line value is malformed.
    #[error("{flag}: {message}")]
    InvalidArgument {
        /// The flag concerned.
        flag: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// The Docker Engine could not be reached or answered with an error.
    #[error("docker engine: {context}: {message}")]
    Engine {
        /// What we were doing (`build`, `push 127.0.0.1:5000/x:y`, ...).
        context: String,
        /// The engine's message.
        message: String,
    },
    /// The Docker configuration (`~/.docker/config.json`) or a credential helper failed.
    #[error("registry credentials for {registry}: {message}")]
    Credentials {
        /// The registry host.
        registry: String,
        /// What went wrong (never the secret itself).
        message: String,
    },
}

/// Results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }

    /// Wraps an engine error with what we were doing.
    pub fn engine(context: impl Into<String>, message: impl std::fmt::Display) -> Self {
        Error::Engine { context: context.into(), message: message.to_string() }
    }
}
