//! sparkoss image builder: catalog, verified jar downloads, reproducible build contexts, and the
//! Docker Engine calls (bollard) that build, push and inspect the OSS-enabled Spark image.

pub mod auth;
pub mod catalog;
pub mod cli;
pub mod context;
pub mod engine;
pub mod error;
pub mod lock;
pub mod maven;
pub mod repo;
pub mod testkit;

pub use error::{Error, Result};
