//! Percent-encoding shared by the signers, and its inverse for the clients and emulators.

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Every byte but RFC 3986's unreserved characters (`A-Z a-z 0-9 - _ . ~`).
///
/// What Alibaba Cloud's SDKs escape with Python's `quote(s, safe='~')` (ACS3 query values),
/// `quote(s, safe='')` followed by `+`→`%20`, `*`→`%2A`, `%7E`→`~` (ROA path segments, STS
/// queries), and OSS V1 sub-resources and V4's `v4_uri_encode` of query names and values: the
/// rules coincide on UTF-8 input.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// [`UNRESERVED`] keeping `/`: OSS object keys in the request path (V1 and V4), where `/` is the
/// key's own separator and stays as it is.
const OSS_KEY: &AsciiSet = &UNRESERVED.remove(b'/');

/// Percent-encodes every byte of `s` except RFC 3986 unreserved characters (and `/` when
/// `keep_slash`), with upper-case hex digits.
pub fn percent_encode(s: &str, keep_slash: bool) -> String {
    utf8_percent_encode(s, if keep_slash { OSS_KEY } else { UNRESERVED }).to_string()
}

/// Decodes `%XX` escapes, and nothing else (OSS and ACK clients encode spaces as `%20`, so `+`
/// stays `+`); an escape that is not two hex digits is kept as it is.
pub fn percent_decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::{percent_decode, percent_encode};

    #[test]
    fn decodes_escapes_and_keeps_invalid_ones() {
        assert_eq!(percent_decode("a%20b%2Fc%zz%4"), "a b/c%zz%4");
        assert_eq!(percent_decode("a+b%2A~%+a"), "a+b*~%+a");
        assert_eq!(percent_decode(&percent_encode("a b*~+/é", false)), "a b*~+/é");
    }

    #[test]
    fn encodes_reserved_and_utf8() {
        assert_eq!(percent_encode("a b*~+/é", false), "a%20b%2A~%2B%2F%C3%A9");
        assert_eq!(percent_encode("a b/c", true), "a%20b/c");
        assert_eq!(percent_encode("AZaz09-_.~", false), "AZaz09-_.~");
        // Every other ASCII byte is escaped, `/` only where asked.
        for b in (0u8..0x80).filter(|b| !b.is_ascii_alphanumeric() && !b"-_.~".contains(b)) {
            let s = char::from(b).to_string();
            assert_eq!(percent_encode(&s, false), format!("%{b:02X}"), "{b:#x}");
            let kept = if b == b'/' { s.clone() } else { format!("%{b:02X}") };
            assert_eq!(percent_encode(&s, true), kept, "{b:#x}");
        }
    }
}
