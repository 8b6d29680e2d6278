//! Splits a quantity's text into sign, digits and suffix the way apimachinery's
//! `parseQuantityString` does, including what it lets through: `1.` and `.5`, a bare sign or a
//! bare `.` (both zero), leading zeros. Anything else it refuses (white space, a second `.`,
//! letters after the exponent) is refused here too, at the same character.

use crate::QuantityError;

/// The pieces of a well-formed quantity, borrowed from its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Parts<'a> {
    /// A leading `-`.
    pub negative: bool,
    /// Digits before the `.`, leading zeros removed (may be empty: zero).
    pub int: &'a str,
    /// Digits after the `.` (may be empty).
    pub frac: &'a str,
    /// Everything after the number: `""`, `m`, `Gi`, `e-3`, ... (checked by `suffix`).
    pub suffix: &'a str,
}

/// The letters Kubernetes lets a suffix start with; which combinations mean something is
/// decided afterwards, so `1K` is an unknown suffix rather than malformed, as there.
const SUFFIX_LETTERS: &[u8] = b"eEinumkKMGTP";

/// Splits `s`; `s` is not empty.
pub(crate) fn split(s: &str) -> Result<Parts<'_>, QuantityError> {
    let b = s.as_bytes();
    let mut pos = 0;
    let negative = b.first() == Some(&b'-');
    if matches!(b.first(), Some(b'-' | b'+')) {
        pos += 1;
    }
    while b.get(pos) == Some(&b'0') {
        pos += 1;
    }
    let int_start = pos;
    pos += digits(&b[pos..]);
    let int = &s[int_start..pos];
    let mut frac = "";
    if b.get(pos) == Some(&b'.') {
        pos += 1;
        let start = pos;
        pos += digits(&b[pos..]);
        frac = &s[start..pos];
    }
    let suffix_start = pos;
    while b.get(pos).is_some_and(|c| SUFFIX_LETTERS.contains(c)) {
        pos += 1;
    }
    if matches!(b.get(pos), Some(b'-' | b'+')) {
        pos += 1;
    }
    pos += digits(&b[pos..]);
    match s[pos..].chars().next() {
        None => Ok(Parts { negative, int, frac, suffix: &s[suffix_start..] }),
        Some(found) => Err(QuantityError::Malformed { input: s.to_owned(), at: pos, found }),
    }
}

/// How many ASCII digits `b` starts with.
fn digits(b: &[u8]) -> usize {
    b.iter().take_while(|c| c.is_ascii_digit()).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(s: &str) -> (bool, &str, &str, &str) {
        let p = split(s).unwrap_or_else(|e| panic!("{s:?}: {e}"));
        (p.negative, p.int, p.frac, p.suffix)
    }

    #[test]
    fn splits_sign_digits_and_suffix() {
        assert_eq!(parts("250m"), (false, "250", "", "m"));
        assert_eq!(parts("-007.50Gi"), (true, "7", "50", "Gi"));
        assert_eq!(parts("+.5"), (false, "", "5", ""));
        assert_eq!(parts("1."), (false, "1", "", ""));
        assert_eq!(parts("1e-3"), (false, "1", "", "e-3"));
        assert_eq!(parts("1E+3"), (false, "1", "", "E+3"));
        assert_eq!(parts("-"), (true, "", "", ""));
        assert_eq!(parts("."), (false, "", "", ""));
        // Shapes the scanner lets through for the suffix table to refuse.
        assert_eq!(parts("1K"), (false, "1", "", "K"));
        assert_eq!(parts("1m5"), (false, "1", "", "m5"));
        assert_eq!(parts("+-1"), (false, "", "", "-1"));
        assert_eq!(parts("--1"), (true, "", "", "-1"));
    }

    #[test]
    fn refuses_at_the_first_foreign_character() {
        for (s, at, found) in [
            ("1.1.M", 3, '.'),
            (" 1", 0, ' '),
            ("1 ", 1, ' '),
            ("abc", 0, 'a'),
            ("1m5x", 3, 'x'),
            ("1e3.5", 3, '.'),
            ("1e-3m", 4, 'm'),
            ("1,5", 1, ','),
            ("½", 0, '½'),
        ] {
            assert_eq!(split(s), Err(QuantityError::Malformed { input: s.into(), at, found }), "{s:?}");
        }
    }
}
