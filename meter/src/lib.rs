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
