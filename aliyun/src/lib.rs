//! Alibaba Cloud access shared by the sparkoss provider and the in-image launcher.
//!
//! Both products need the same request signing and OSS code; keeping it in one crate
//! avoids a dependency between the provider and the image builder.
//!
//! Everything here is pure (kube-core style): a request description goes in, the headers or
//! URL to send come out. No IO happens in this crate; clocks and nonces are parameters so the
//! results are reproducible and are checked byte for byte against vectors produced by the
//! official Alibaba Cloud SDKs (`testdata/make_vectors.py`).
//!
//! - [`signing::acs3`]: OpenAPI signature `ACS3-HMAC-SHA256` for ROA APIs such as ACK (CS 2015-12-15).
//! - [`signing::oss_v4`]: OSS signature V4 (`OSS4-HMAC-SHA256`), header and presigned URL.
//! - [`signing::oss_v1`]: OSS signature V1 (`OSS AK:signature`), header and presigned URL.
//! - [`checksum::crc64`]: CRC-64/XZ as OSS's `x-oss-hash-crc64ecma`.
//! - [`oss_uri`]: `oss://bucket/key` parsing and validation.

mod encode;
mod error;

pub mod checksum;
pub mod oss_uri;
pub mod signing;

pub use error::{Error, OssUriProblem, Result};
