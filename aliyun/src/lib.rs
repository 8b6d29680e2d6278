//! Alibaba Cloud access shared by the sparkoss provider and the in-image launcher.
//!
//! Both products need the same request signing and OSS code; keeping it in one crate
//! avoids a dependency between the provider and the image builder.
//!
//! The signers are pure (kube-core style): a request description goes in, the headers or
//! URL to send come out; clocks and nonces are parameters so the results are reproducible and
//! are checked byte for byte against vectors produced by the official Alibaba Cloud SDKs
//! (`testdata/make_vectors.py`). The clients ([`ack`], [`credentials`]) do the IO on top.
//!
//! - [`signing::acs3`]: OpenAPI signature `ACS3-HMAC-SHA256` for ROA APIs such as ACK (CS 2015-12-15).
//! - [`signing::oss_v4`]: OSS signature V4 (`OSS4-HMAC-SHA256`), header and presigned URL.
//! - [`signing::oss_v1`]: OSS signature V1 (`OSS AK:signature`), header and presigned URL.
//! - [`checksum::crc64`]: CRC-64/XZ as OSS's `x-oss-hash-crc64ecma`.
//! - [`oss_uri`]: `oss://bucket/key` parsing and validation.
//! - [`oss`]: the OSS HTTP client (HeadObject, streamed and resumed GetObject, PutObject,
//!   multipart, ListObjectsV2) on top of the OSS signers.

mod encode;
mod error;

pub mod ack;
pub mod checksum;
pub mod credentials;
pub mod oss;
pub mod oss_uri;
pub mod retry;
pub mod signing;

pub use encode::{percent_decode, percent_encode};
pub use error::{Error, OssUriProblem, Result};
