//! `sparkoss-launcher`: the entrypoint of Spark driver pods built by `image-builder`.
//!
//! ```text
//! sparkoss-launcher fetch <oss://bucket/key|https://...|local:///...> <dest-file>
//! sparkoss-launcher run [--dry-run] -- <job description flags>
//! sparkoss-launcher entrypoint driver|executor [args...]
//! ```
//! `fetch` downloads one object (streamed, resumed after dropped connections, CRC-64 checked)
//! and exits. `run` fetches the main application, extra jars and files into the work dir, then
//! `exec`s Spark's `spark-submit` in client mode, in the work dir, so Spark's JVM replaces the
//! launcher (see [`job`] for the flags and the exact command line). `entrypoint` is the image's
//! ENTRYPOINT: a driver started by Spark's own cluster mode gets its `oss://` jars and files
//! fetched the same way before Spark's entrypoint runs ([`entrypoint`]). Credentials come only from
//! the environment, the RRSA token file or the ECS metadata service (the shared chain of
//! `sparkoss_aliyun::credentials`, restricted as [`fetch`] describes), never from arguments.

pub mod entrypoint;
pub mod fetch;
pub mod job;

use std::path::PathBuf;

/// Everything that can make the launcher fail; each renders as one line for the pod log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LauncherError {
    /// The command line or the environment is wrong.
    #[error("{0}")]
    Usage(String),
    /// No usable credentials were found, or a credential source failed.
    #[error("credentials: {0}")]
    Credentials(#[from] sparkoss_aliyun::credentials::CredentialsError),
    /// An OSS download failed (the message names the object, the OSS code and request id).
    #[error("cannot fetch {uri}: {source}")]
    Oss {
        /// The URI being fetched.
        uri: String,
        /// The cause (boxed: it is large and rare).
        #[source]
        source: Box<sparkoss_aliyun::oss::OssError>,
    },
    /// An HTTPS download failed.
    #[error("cannot fetch {uri}: {detail}")]
    Http {
        /// The URI being fetched (without its query string, which may carry a signature).
        uri: String,
        /// What went wrong.
        detail: String,
    },
    /// A local file could not be read, written or found.
    #[error("{}: {what}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done.
        what: &'static str,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// `spark-submit` could not be executed.
    #[error("cannot execute {}: {source}", program.display())]
    Exec {
        /// The program.
        program: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl LauncherError {
    /// The process exit code for this failure: 2 usage, 3 fetch, 4 credentials, 5 exec.
    pub fn exit_code(&self) -> u8 {
        match self {
            LauncherError::Usage(_) => 2,
            LauncherError::Oss { .. } | LauncherError::Http { .. } | LauncherError::Io { .. } => 3,
            LauncherError::Credentials(_) => 4,
            LauncherError::Exec { .. } => 5,
        }
    }
}
