//! sparkoss image builder: catalog, verified jar downloads, reproducible build contexts, the
//! Docker Engine calls (bollard) that build, push and inspect the OSS-enabled Spark image, and the
//! daemonless path (reproducible layers in Rust, pushed over the registry API with oci-client).

pub mod auth;
pub mod catalog;
pub mod cli;
pub mod context;
pub mod daemonless;
pub mod engine;
pub mod error;
pub mod image;
pub mod layer;
pub mod lock;
pub mod maven;
pub mod registry;
pub mod repo;

pub use error::{Error, Result};
