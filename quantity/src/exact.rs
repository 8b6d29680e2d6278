//! Exact arithmetic on the digits of a quantity. Kubernetes keeps a quantity to the nano (10^-9)
//! and rounds anything finer away from zero ("0.1n" is 1n: ask for some, get some); doing the
//! same on the decimal digits, never through a float, gives the API server's value exactly.

/// Nanos in one base unit.
pub(crate) const NANOS_PER_UNIT: i128 = 1_000_000_000;

/// `digits × 10^exp10 × 2^exp2` in nanos, rounded up; `None` beyond `i128`.
/// `digits` are ASCII decimal digits, most significant first (any length).
pub(crate) fn nanos(digits: &str, exp10: i64, exp2: u32) -> Option<i128> {
    let digits = digits.trim_start_matches('0').as_bytes();
    if digits.is_empty() {
        return Some(0);
    }
    let digits = times_power_of_two(digits, exp2);
    // The decimal point moves right by 9 to count nanos; the digits left of it are the integer.
    let int_len = i64::try_from(digits.len()).ok()?.checked_add(exp10)?.checked_add(9)?;
    if int_len <= 0 {
        // Only a fraction of a nano, and not zero (no leading zeros are left): one nano.
        return Some(1);
    }
    // i128::MAX has 39 digits; longer is out of range, and this bounds the loop below.
    if int_len > 39 {
        return None;
    }
    let int_len = usize::try_from(int_len).ok()?;
    let mut n: i128 = 0;
    for i in 0..int_len {
        let d = digits.get(i).copied().unwrap_or(0);
        n = n.checked_mul(10)?.checked_add(i128::from(d))?;
    }
    let rest = digits.get(int_len..).unwrap_or(&[]);
    if rest.iter().any(|&d| d != 0) {
        n = n.checked_add(1)?;
    }
    Some(n)
}

/// `digits × 2^exp2` as digit values (0..=9), most significant first. Schoolbook
/// multiplication: a binary suffix can follow any number of digits, so no fixed width fits.
fn times_power_of_two(digits: &[u8], exp2: u32) -> Vec<u8> {
    let values = digits.iter().map(|d| d.saturating_sub(b'0'));
    if exp2 == 0 {
        return values.collect();
    }
    // exp2 is at most 60 (Ei): 9 × 2^60 plus a carry stays far inside u128.
    let factor = 1u128 << exp2;
    let mut out: Vec<u8> = Vec::with_capacity(digits.len() + 19);
    let mut carry = 0u128;
    for d in values.rev() {
        let v = u128::from(d) * factor + carry;
        out.push((v % 10) as u8);
        carry = v / 10;
    }
    while carry > 0 {
        out.push((carry % 10) as u8);
        carry /= 10;
    }
    out.reverse();
    out
}

/// `nanos` in units of `10^-places` base units, rounded away from zero as Kubernetes'
/// `ScaledValue` does (`Value` is 0 places, `MilliValue` 3); `places` is at most 9.
pub(crate) fn scaled(nanos: i128, places: u32) -> i128 {
    let divisor = 10i128.pow(9 - places.min(9));
    let q = nanos / divisor;
    if nanos % divisor == 0 {
        q
    } else {
        q + nanos.signum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_become_nanos_rounded_up() {
        let table: &[(&str, i64, u32, Option<i128>)] = &[
            ("", 0, 0, Some(0)),
            ("000", 5, 10, Some(0)),
            ("1", 0, 0, Some(1_000_000_000)),
            ("15", -1, 0, Some(1_500_000_000)),
            ("1", -9, 0, Some(1)),
            ("1", -10, 0, Some(1)),
            ("1", -1_000_000, 0, Some(1)),
            ("15", -10, 0, Some(2)),
            ("1000000001", -18, 0, Some(2)),
            ("5", -1, 10, Some(512_000_000_000)),
            ("1", -10, 10, Some(103)),
            ("1", 0, 60, Some(1_152_921_504_606_846_976_000_000_000)),
            ("170141183460469231731687303715", 0, 0, Some(170_141_183_460_469_231_731_687_303_715_000_000_000)),
            ("170141183460469231731687303716", 0, 0, None),
            ("1", 30, 0, None),
            ("1", i64::MAX, 0, None),
            ("1", 29, 0, Some(10i128.pow(38))),
        ];
        for &(digits, exp10, exp2, want) in table {
            assert_eq!(nanos(digits, exp10, exp2), want, "{digits} e{exp10} 2^{exp2}");
        }
    }

    #[test]
    fn scaling_rounds_away_from_zero() {
        assert_eq!(scaled(1_500_000_000, 0), 2);
        assert_eq!(scaled(-1_500_000_000, 0), -2);
        assert_eq!(scaled(2_000_000_000, 0), 2);
        assert_eq!(scaled(1, 3), 1, "1n is 1m");
        assert_eq!(scaled(-1, 3), -1);
        assert_eq!(scaled(0, 3), 0);
        assert_eq!(scaled(250_000_000, 3), 250);
        assert_eq!(scaled(7, 9), 7, "nanos stay nanos");
    }
}
