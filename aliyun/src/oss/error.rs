//! Errors of the OSS client.

use std::path::PathBuf;

/// Everything that can go wrong talking to OSS. Messages name the object (`oss://bucket/key`)
/// and never contain credentials.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OssError {
    /// OSS answered with an error status (the XML error document, or for HEAD only the status).
    #[error("{target}: {code} (HTTP {status}, request id {request_id}): {message}")]
    Service {
        /// What was accessed, e.g. `oss://bucket/key` or `GET oss://bucket`.
        target: String,
        /// HTTP status.
        status: u16,
        /// OSS error code such as `NoSuchKey`, `AccessDenied`, `SignatureDoesNotMatch`.
        code: String,
        /// OSS's message.
        message: String,
        /// The `x-oss-request-id` (or `RequestId` element); empty when none was sent.
        request_id: String,
    },
    /// The request could not be sent or the response could not be read.
    #[error("{target}: {what}: {source}")]
    Transport {
        /// What was accessed.
        target: String,
        /// Which step failed.
        what: &'static str,
        /// The cause.
        #[source]
        source: reqwest::Error,
    },
    /// A local file could not be read or written.
    #[error("{}: {what}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done.
        what: &'static str,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The request could not be signed.
    #[error("{target}: {source}")]
    Signing {
        /// What was accessed.
        target: String,
        /// The cause.
        #[source]
        source: crate::Error,
    },
    /// The endpoint given cannot be used.
    #[error("OSS endpoint {endpoint:?}: {reason}")]
    InvalidEndpoint {
        /// The endpoint as given.
        endpoint: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// The downloaded bytes do not have the CRC-64 OSS reported.
    #[error("{target}: checksum mismatch: OSS reports x-oss-hash-crc64ecma {expected}, the downloaded {size} bytes have {actual}")]
    ChecksumMismatch {
        /// The object.
        target: String,
        /// The CRC OSS reported.
        expected: u64,
        /// The CRC of what arrived.
        actual: u64,
        /// Bytes downloaded.
        size: u64,
    },
    /// A download kept being cut off and the resume budget ran out.
    #[error("{target}: download interrupted {attempts} times, giving up at byte {offset} of {size}: {last}")]
    Interrupted {
        /// The object.
        target: String,
        /// How many attempts were made.
        attempts: u32,
        /// Bytes safely written.
        offset: u64,
        /// The object's size.
        size: u64,
        /// The last failure.
        last: String,
    },
    /// OSS answered something this client does not understand.
    #[error("{target}: unexpected response: {detail}")]
    InvalidResponse {
        /// What was accessed.
        target: String,
        /// What was wrong.
        detail: String,
    },
}

impl OssError {
    /// The OSS error code for [`OssError::Service`], e.g. `NoSuchKey`.
    pub fn code(&self) -> Option<&str> {
        match self {
            OssError::Service { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The HTTP status for [`OssError::Service`].
    pub fn status(&self) -> Option<u16> {
        match self {
            OssError::Service { status, .. } => Some(*status),
            _ => None,
        }
    }
}
