//! Percent-encoding shared by the signers, and its inverse for the clients and emulators.

/// Whether `b` is an RFC 3986 unreserved character (`A-Z a-z 0-9 - _ . ~`).
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~')
}

/// Percent-encodes every byte of `s` except RFC 3986 unreserved characters (and `/` when
/// `keep_slash`), with upper-case hex digits.
///
/// This is what Alibaba Cloud's SDKs produce with Python's `quote(s, safe='~')` (ACS3 query
/// values), `quote(s, safe='')` followed by `+`→`%20`, `*`→`%2A`, `%7E`→`~` (ROA path
/// segments), and OSS V4's `v4_uri_encode`: the three rules coincide on UTF-8 input.
pub(crate) fn percent_encode(s: &str, keep_slash: bool) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if is_unreserved(b) || (keep_slash && b == b'/') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
    out
}

/// Decodes `%XX` escapes, and nothing else (OSS and ACK clients encode spaces as `%20`, so `+`
/// stays `+`); an escape that is not two hex digits is kept as it is.
pub fn percent_decode(s: &str) -> String {
    let hex = |c: u8| char::from(c).to_digit(16).and_then(|d| u8::try_from(d).ok());
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
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
    }
}
