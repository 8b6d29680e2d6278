//! `oss://bucket/key` locations.
//!
//! ```
//! use sparkoss_aliyun::oss_uri::OssUri;
//!
//! let uri = OssUri::parse("oss://acme-jobs/etl/etl-1.4.jar").unwrap();
//! assert_eq!(uri.bucket(), "acme-jobs");
//! assert_eq!(uri.key(), "etl/etl-1.4.jar");
//! assert_eq!(uri.to_string(), "oss://acme-jobs/etl/etl-1.4.jar");
//! ```

use std::fmt;
use std::str::FromStr;

use crate::{Error, OssUriProblem};

/// The URI scheme prefix.
pub const SCHEME: &str = "oss://";

/// The longest object key OSS accepts, in bytes of UTF-8.
pub const MAX_KEY_BYTES: usize = 1023;

/// An object location `oss://bucket/key`, with the bucket name and key validated by OSS rules.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OssUri {
    bucket: String,
    key: String,
}

impl OssUri {
    /// Parses `oss://bucket/key`. The key is taken verbatim (no percent-decoding).
    ///
    /// Errors name the problem: missing `oss://`, empty or invalid bucket name (3-63
    /// characters of lowercase letters, digits and hyphens, not starting or ending with a
    /// hyphen), empty key, key starting with `/` or `\`, or key longer than 1023 bytes.
    pub fn parse(s: &str) -> Result<OssUri, Error> {
        let fail = |problem| Error::InvalidOssUri { uri: s.to_owned(), problem };
        let rest = s.strip_prefix(SCHEME).ok_or_else(|| fail(OssUriProblem::MissingScheme))?;
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(fail(OssUriProblem::EmptyBucket));
        }
        if !is_valid_bucket_name(bucket) {
            return Err(fail(OssUriProblem::InvalidBucketName));
        }
        if key.is_empty() {
            return Err(fail(OssUriProblem::EmptyKey));
        }
        if key.starts_with('/') || key.starts_with('\\') {
            return Err(fail(OssUriProblem::KeyStartsWithSlash));
        }
        if key.len() > MAX_KEY_BYTES {
            return Err(fail(OssUriProblem::KeyTooLong));
        }
        Ok(OssUri { bucket: bucket.to_owned(), key: key.to_owned() })
    }

    /// The bucket name.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The object key, without a leading `/`.
    pub fn key(&self) -> &str {
        &self.key
    }
}

/// Whether `name` follows OSS bucket naming rules: 3-63 characters of lowercase letters,
/// digits and hyphens, not starting or ending with a hyphen.
pub fn is_valid_bucket_name(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

impl fmt::Display for OssUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{SCHEME}{}/{}", self.bucket, self.key)
    }
}

impl FromStr for OssUri {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OssUri::parse(s)
    }
}
