//! The crate's error type.

use std::fmt;

/// A `Result` whose error defaults to this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in this crate. Each variant carries the input it is about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An `oss://bucket/key` URI is malformed; the message is a short sentence for users.
    #[error("\"{uri}\": {problem}")]
    InvalidOssUri {
        /// The URI as given.
        uri: String,
        /// What is wrong with it.
        problem: OssUriProblem,
    },
    /// A header name or value cannot be sent or signed as given.
    #[error("header {name:?} cannot be signed: {reason}")]
    InvalidHeader {
        /// The header name as given.
        name: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A query parameter is reserved for the signature itself and may not be passed in.
    #[error("query parameter {name:?} is set by {scheme} signing and must not be passed in")]
    ReservedQueryParameter {
        /// The parameter name.
        name: String,
        /// The signature scheme, e.g. `OSS4-HMAC-SHA256`.
        scheme: &'static str,
    },
    /// A required signing input is empty.
    #[error("{field} must not be empty for {scheme} signing")]
    MissingField {
        /// The signature scheme, e.g. `ACS3-HMAC-SHA256`.
        scheme: &'static str,
        /// Which input is empty.
        field: &'static str,
    },
    /// A presigned URL lifetime is outside what the service accepts.
    #[error("presigned URL lifetime of {seconds} s is out of range (1 to {max} s for {scheme})")]
    InvalidExpiry {
        /// The requested lifetime in seconds.
        seconds: u64,
        /// The largest lifetime the scheme accepts.
        max: u64,
        /// The signature scheme.
        scheme: &'static str,
    },
    /// The signing time cannot be represented by the scheme (e.g. before 1970 for OSS V1 `Expires`).
    #[error("signing time {time} cannot be used for {scheme} signing")]
    InvalidTime {
        /// The time, as RFC 3339-like text.
        time: String,
        /// The signature scheme.
        scheme: &'static str,
    },
}

/// What is wrong with an `oss://` URI, as part of [`Error::InvalidOssUri`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OssUriProblem {
    /// The text does not start with `oss://`.
    MissingScheme,
    /// Nothing between `oss://` and the next `/`.
    EmptyBucket,
    /// The bucket breaks OSS naming rules.
    InvalidBucketName,
    /// No object key after the bucket.
    EmptyKey,
    /// The key starts with `/` or `\`, which OSS does not allow.
    KeyStartsWithSlash,
    /// The key is longer than 1023 bytes of UTF-8.
    KeyTooLong,
}

impl fmt::Display for OssUriProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OssUriProblem::MissingScheme => "an OSS location must start with oss://",
            OssUriProblem::EmptyBucket => "the bucket name is empty",
            OssUriProblem::InvalidBucketName => {
                "bucket name must be 3-63 characters of lowercase letters, digits and hyphens, \
                 not starting or ending with a hyphen"
            }
            OssUriProblem::EmptyKey => "the object key is empty",
            OssUriProblem::KeyStartsWithSlash => "the object key must not start with / or \\",
            OssUriProblem::KeyTooLong => "the object key is longer than 1023 bytes",
        })
    }
}
