//! OSS over HTTP: the one part of this crate that does IO.
//!
//! [`Client`] sends signed requests (V4 by default, V1 for old endpoints) to a regional,
//! internal or custom endpoint, virtual-hosted or path-style, and maps OSS's XML errors to
//! [`OssError::Service`] with the code, message, request id and HTTP status. On top of the
//! single requests it offers what the launcher and the tests need:
//! [`Client::download_to_file`] (streamed, resumed after a dropped connection, parallel ranged
//! parts for large objects, CRC-64 checked against `x-oss-hash-crc64ecma`),
//! [`Client::upload_file`] (PutObject or multipart) and [`Client::list_objects_v2`].
//!
//! Request building is pure ([`Client::signed_request`]) so signing and addressing are unit
//! tested without a server.

mod client;
mod download;
mod endpoint;
mod error;
pub mod xml;

/// The crate's one retry policy, here too for OSS clients' convenience.
pub use crate::retry::RetryPolicy;
pub use client::{Client, ClientConfig, HeadObject, ListPage, ObjectSummary, PutResult, SignatureVersion, SignedRequest};
pub use download::{DownloadOptions, DownloadReport, Split, DEFAULT_SPLIT_BELOW};
pub use endpoint::{Addressing, Endpoint};
pub use error::OssError;
