//! Test and demo support: loopback registries, file servers and clients of the local cloud used by
//! the tests, benchmarks and the quick start. It lives apart so that no shipped library or binary
//! (the provider, the local cloud, the image builder, the launcher, the meter) carries test code.

pub mod base_image;
pub mod digest;
pub mod error;
pub mod file_server;
pub mod http;
pub mod kube_client;
pub mod registry;
pub mod tripwire;
