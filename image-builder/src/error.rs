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
    #[error("{coordinate}: {algorithm} mismatch for {url}: expected {expected} ({expected_from}), got {actual}")]
    DigestMismatch {
        /// `group:artifact:version`.
        coordinate: String,
        /// Where the bytes came from.
        url: String,
        /// The digest compared.
        algorithm: crate::maven::ChecksumAlgorithm,
        /// Who says what the digest should be: the catalog's pin, a checksum file's URL, the lock file.
        expected_from: String,
        /// The expected hex digest.
        expected: String,
        /// The digest of the bytes received.
        actual: String,
    },
    /// No repository serves the jar.
    #[error("{coordinate} is in none of the Maven repositories: {tried}")]
    NotFound {
        /// `group:artifact:version`.
        coordinate: String,
        /// The URLs tried, in order (without credentials).
        tried: String,
    },
    /// The repository has no checksum file for an unpinned jar, so nothing vouches for its bytes.
    #[error(
        "{coordinate}: {url} has no .sha512, .sha256 or .sha1 beside it and the catalog pins no sha256 for it; \
         refusing an unverifiable jar (pin its sha256 with --catalog FILE)"
    )]
    NoChecksum {
        /// `group:artifact:version`.
        coordinate: String,
        /// The jar's URL (without credentials).
        url: String,
    },
    /// A repository asked for credentials we do not have, or refused the ones we sent.
    #[error("{url}: {message}")]
    MavenCredentials {
        /// The URL asked for (without credentials).
        url: String,
        /// What is wrong (never the secret itself).
        message: String,
    },
    /// The lock file could not be parsed or is malformed.
    #[error("lock file {path}: {message}")]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// `build --locked` needs a lock file that covers everything, and this one does not.
    #[error("--locked: {message}; run `image-builder lock` (without --locked) and commit {path}")]
    Locked {
        /// The lock file.
        path: PathBuf,
        /// What is missing or different.
        message: String,
    },
    /// The catalog pins a different sha256 than the lock records for the same coordinate.
    #[error(
        "{coordinate}: the catalog pins sha256 {pinned} but {path} records {locked}; one of them is wrong: \
         check the jar and remove its entry from the lock file if the pin is right"
    )]
    PinContradictsLock {
        /// `group:artifact:version`.
        coordinate: String,
        /// The lock file.
        path: PathBuf,
        /// The catalog's pin.
        pinned: String,
        /// The lock's digest.
        locked: String,
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
    /// The daemonless path: a registry refused or could not serve what an image needs (base not
    /// found, credentials refused, a blob that does not match its digest, ...).
    #[error("{image}: {message}")]
    Registry {
        /// The image reference concerned (base or target).
        image: String,
        /// What happened, with the registry's own answer where it gave one.
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
