//! What the quick start (`scripts/demo`) and the end-to-end tests make on this machine, with
//! nothing pulled: the local Spark base image and the example job ([`spark_base`]), and the quick
//! start's sparkoss image built by `image-builder` ([`image`]). The binaries `spark-base-image`
//! and `quickstart-image` run them.
//!
//! Its own crate because the demo needs it and the demo is not a test: the acceptance tests
//! depend on it, not the other way round. [`workspace`] finds the repository and builds its
//! binaries; the acceptance-test harness uses the same helpers.

pub mod image;
pub mod spark_base;
pub mod workspace;

pub use workspace::{cargo_bin, repo_root};

/// What can go wrong while making things on this machine: a command that cannot run or fails,
/// output that is not what was expected, a missing input. The acceptance-test harness fails the
/// same ways and uses this type as its own (`Error`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A command could not be run.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A command ran but failed.
    #[error("{what} failed: {detail}")]
    Command {
        /// The command.
        what: String,
        /// Its output.
        detail: String,
    },
    /// Output was not the JSON expected.
    #[error("{what}: unexpected output: {detail}")]
    Output {
        /// The command.
        what: String,
        /// Why.
        detail: String,
    },
    /// An input is not what a recipe expects (a missing tool, a jar not found).
    #[error("{0}")]
    Input(String),
}

/// Maps an I/O error to [`Error::Io`], saying what was being done.
pub fn io_error(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |source| Error::Io { what, source }
}
