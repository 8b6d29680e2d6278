//! Request signing for Alibaba Cloud APIs, as pure functions.
//!
//! Callers pass the request description, credentials, the time and (for ACS3) the nonce; the
//! signers return the headers or query parameters to send plus the intermediate strings
//! (canonical request, string to sign) for debugging and tests.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::{Error, Result};

pub mod acs3;
pub mod oss_v1;
pub mod oss_v4;

/// An access key pair, optionally with an STS security token.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The AccessKey ID (for STS credentials, the temporary `STS.…` id).
    pub access_key_id: String,
    /// The AccessKey secret.
    pub access_key_secret: String,
    /// The STS security token, when the keys are temporary.
    pub security_token: Option<String>,
}

impl Credentials {
    /// Long-lived AccessKey credentials.
    pub fn new(access_key_id: impl Into<String>, access_key_secret: impl Into<String>) -> Self {
        Credentials { access_key_id: access_key_id.into(), access_key_secret: access_key_secret.into(), security_token: None }
    }

    /// Temporary STS credentials.
    pub fn with_security_token(
        access_key_id: impl Into<String>,
        access_key_secret: impl Into<String>,
        security_token: impl Into<String>,
    ) -> Self {
        Credentials {
            access_key_id: access_key_id.into(),
            access_key_secret: access_key_secret.into(),
            security_token: Some(security_token.into()),
        }
    }

    /// The security token, treating an empty string like none (as the SDKs do).
    pub(crate) fn token(&self) -> Option<&str> {
        self.security_token.as_deref().filter(|t| !t.is_empty())
    }

    pub(crate) fn check(&self, scheme: &'static str) -> Result<()> {
        if self.access_key_id.is_empty() {
            return Err(Error::MissingField { scheme, field: "access key id" });
        }
        if self.access_key_secret.is_empty() {
            return Err(Error::MissingField { scheme, field: "access key secret" });
        }
        Ok(())
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("access_key_secret", &"<redacted>")
            .field("security_token", &self.security_token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

pub(crate) fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

pub(crate) fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail here.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC-SHA256 takes keys of any length"),
    };
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Checks a header name (an HTTP token) and value (no CR, LF or NUL).
pub(crate) fn check_header(name: &str, value: &str) -> Result<()> {
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.is_empty() || !name.bytes().all(token) {
        return Err(Error::InvalidHeader { name: name.to_owned(), reason: "the name must be a non-empty HTTP token" });
    }
    if value.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
        return Err(Error::InvalidHeader { name: name.to_owned(), reason: "the value contains CR, LF or NUL" });
    }
    Ok(())
}

/// The UTC broken-down time, for the fixed formats the signatures use.
pub(crate) fn utc(t: OffsetDateTime) -> OffsetDateTime {
    t.to_offset(time::UtcOffset::UTC)
}

/// `YYYY-MM-DDTHH:MM:SSZ` (ACS3 `x-acs-date`).
pub(crate) fn iso8601_extended(t: OffsetDateTime) -> String {
    let t = utc(t);
    format!("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", t.year(), u8::from(t.month()), t.day(), t.hour(), t.minute(), t.second())
}

/// `YYYYMMDDTHHMMSSZ` (OSS V4 `x-oss-date`).
pub(crate) fn iso8601_basic(t: OffsetDateTime) -> String {
    let t = utc(t);
    format!("{:04}{:02}{:02}T{:02}{:02}{:02}Z", t.year(), u8::from(t.month()), t.day(), t.hour(), t.minute(), t.second())
}

/// RFC 1123 / HTTP date: `Mon, 23 Nov 2026 10:20:30 GMT`.
pub(crate) fn http_date(t: OffsetDateTime) -> String {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let t = utc(t);
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        DAYS[usize::from(t.weekday().number_days_from_monday())],
        t.day(),
        MONTHS[usize::from(u8::from(t.month()) - 1)],
        t.year(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn date_formats() {
        let t = datetime!(2026-11-23 18:20:30 +8);
        assert_eq!(iso8601_extended(t), "2026-11-23T10:20:30Z");
        assert_eq!(iso8601_basic(t), "20261123T102030Z");
        assert_eq!(http_date(t), "Mon, 23 Nov 2026 10:20:30 GMT");
        assert_eq!(http_date(datetime!(2024-02-29 00:00:05 UTC)), "Thu, 29 Feb 2024 00:00:05 GMT");
    }

    #[test]
    fn header_checks() {
        assert!(check_header("x-oss-meta-a", "v").is_ok());
        assert!(matches!(check_header("bad name", "v"), Err(Error::InvalidHeader { .. })));
        assert!(matches!(check_header("x", "a\r\nb: c"), Err(Error::InvalidHeader { .. })));
    }

    #[test]
    fn debug_redacts_secrets() {
        let c = Credentials::with_security_token("AK", "very-secret", "tok");
        let s = format!("{c:?}");
        assert!(s.contains("AK") && !s.contains("very-secret") && !s.contains("tok\""));
    }
}
