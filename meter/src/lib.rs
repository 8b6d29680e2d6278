//! `sparkoss-meter`: per-job monitoring and per-user metering of sparkoss Spark jobs.
//!
//! ```text
//! sparkoss-meter run [--kubeconfig F] [--database URL] [--interval 15s] [--listen ADDR] [--log-archive oss://bucket/prefix]
//!                    [--namespace NS]...
//! sparkoss-meter report --by user|job|namespace [--since 7d] [--until T] [--format table|csv|json|html]
//! sparkoss-meter logs --job J [--namespace N]
//! ```
//! `run` watches the pods labelled `app.kubernetes.io/managed-by=sparkoss` ([`collect`]), records
//! them and their usage samples in the database ([`db`]), each against its own `sparkoss.io/user`
//! or else its namespace's ([`owners`]), archives driver logs to OSS
//! ([`archive`]) and serves `/healthz`, `/v1/usage` and `/metrics` ([`http`]). `report` reads the
//! database ([`report`], [`html`]). The database URL may come from `SPARKOSS_METER_DATABASE`
//! instead of the flag, so a password never has to be in the process arguments.

pub mod archive;
pub mod collect;
pub mod db;
pub mod error;
pub mod html;
pub mod http;
pub mod metrics_api;
pub mod owners;
pub mod pod;
pub mod report;

pub use error::MeterError;

/// Picks rustls's crypto back-end for the process (ring). kube-rs and the OSS client reach their
/// servers through rustls, which panics at the first connection when both of its back-ends are
/// compiled in and none was chosen, as happens when the meter is built together with crates that
/// enable the other one (a workspace build, the release). Safe to call more than once.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
