//! Test and demo support: loopback registries, file servers and clients of the local cloud used by
//! the tests, benchmarks and the quick start. It lives apart so that no shipped library or binary
//! (the provider, the local cloud, the image builder, the launcher, the meter) carries test code.

pub mod kube_client;
