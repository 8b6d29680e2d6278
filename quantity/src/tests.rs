//! The whole parser against Kubernetes' behaviour, table by table. Expected values are
//! apimachinery's: what `ParseQuantity` keeps, and what `Value`/`MilliValue` give back.

use crate::{Format, Quantity, QuantityError};

/// Nanos per base unit, to write expectations readably.
const N: i128 = 1_000_000_000;

fn nanos(s: &str) -> i128 {
    Quantity::parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}")).nanos()
}

/// Checks each row: the text parses to that many nanos.
fn assert_nanos(table: &[(&str, i128)]) {
    for &(s, want) in table {
        assert_eq!(nanos(s), want, "{s}");
    }
}

#[test]
fn every_suffix() {
    let table: &[(&str, i128)] = &[
        ("7n", 7),
        ("7u", 7_000),
        ("7m", 7_000_000),
        ("7", 7 * N),
        ("7k", 7_000 * N),
        ("7M", 7_000_000 * N),
        ("7G", 7 * 10i128.pow(9) * N),
        ("7T", 7 * 10i128.pow(12) * N),
        ("7P", 7 * 10i128.pow(15) * N),
        ("7E", 7 * 10i128.pow(18) * N),
        ("7Ki", 7 * 1024 * N),
        ("7Mi", 7 * (1 << 20) * N),
        ("7Gi", 7 * (1 << 30) * N),
        ("7Ti", 7 * (1 << 40) * N),
        ("7Pi", 7 * (1 << 50) * N),
        ("7Ei", 7 * (1 << 60) * N),
        ("7e3", 7_000 * N),
        ("7E3", 7_000 * N),
    ];
    assert_nanos(table);
}

#[test]
fn fractions_are_exact() {
    let table: &[(&str, i128)] = &[
        ("1.5", 1_500_000_000),
        ("0.07", 70_000_000),
        ("2.007", 2_007_000_000),
        ("0.1", 100_000_000),
        (".5", 500_000_000),
        ("5.", 5 * N),
        ("0.25", 250_000_000),
        ("2.5m", 2_500_000),
        ("1.5Gi", 1_610_612_736 * N),
        ("0.5Ki", 512 * N),
        ("0.1Ki", 102_400_000_000),
        ("1.000000000000000000000000001Gi", (1 << 30) * N + 1),
        ("007.50", 7_500_000_000),
        ("123456789.123456789", 123_456_789_123_456_789),
    ];
    assert_nanos(table);
}

#[test]
fn finer_than_a_nano_rounds_away_from_zero() {
    let table: &[(&str, i128)] = &[
        ("0.1n", 1),
        ("0.9n", 1),
        ("1.5n", 2),
        ("1.0n", 1),
        ("1e-10", 1),
        ("1e-2147483648", 1),
        ("0.0000000001", 1),
        ("-0.1n", -1),
        ("-1.5n", -2),
        ("0.0000000000000000000000000001Ki", 1),
    ];
    assert_nanos(table);
}

#[test]
fn exponents() {
    let table: &[(&str, i128)] = &[
        ("1e3", 1_000 * N),
        ("1E3", 1_000 * N),
        ("1e+3", 1_000 * N),
        ("1e-3", 1_000_000),
        ("1.5e3", 1_500 * N),
        ("15e-1", 1_500_000_000),
        ("1e0", N),
        ("1e-9", 1),
        ("-2e2", -200 * N),
        ("1e20", 10i128.pow(20) * N),
    ];
    assert_nanos(table);
}

#[test]
fn signs_and_zeros() {
    let table: &[(&str, i128)] = &[
        ("+1", N),
        ("-1", -N),
        ("-500m", -500_000_000),
        ("+1.5Gi", 1_610_612_736 * N),
        ("-1Ki", -1024 * N),
        ("0", 0),
        ("-0", 0),
        ("000", 0),
        ("0m", 0),
        ("0Gi", 0),
        ("00.00Ki", 0),
        // Kubernetes' scanner reads a bare sign or point as zero; so does this one.
        ("-", 0),
        ("+", 0),
        (".", 0),
        ("-.e3", 0),
    ];
    assert_nanos(table);
}

#[test]
fn binary_is_capped_and_decimal_is_kept() {
    let cap = i64::MAX as i128 * N;
    let table: &[(&str, i128)] = &[
        ("7Ei", 7 * (1 << 60) * N),
        ("8Ei", cap),
        ("-8Ei", -cap),
        ("9999999999999999999999999999999999999999Ei", cap),
        ("9223372036854775808Ki", cap),
        ("8E", 8 * 10i128.pow(18) * N),
        ("10E", 10i128.pow(19) * N),
        ("100000000000000000000000000000", 10i128.pow(29) * N),
    ];
    assert_nanos(table);
    for s in ["1e30", "1000000000000000000000000000000", "1000000000000E", "1e2147483647", "-1e30"] {
        assert_eq!(Quantity::parse(s), Err(QuantityError::OutOfRange { input: s.into() }), "{s}");
    }
}

#[test]
fn formats_follow_the_suffix() {
    let table = [
        ("1", Format::DecimalSi),
        ("1m", Format::DecimalSi),
        ("1E", Format::DecimalSi),
        ("1Ki", Format::BinarySi),
        ("0Ki", Format::BinarySi),
        ("0.0001Ki", Format::DecimalSi),
        ("1e3", Format::DecimalExponent),
    ];
    for (s, want) in table {
        assert_eq!(Quantity::parse(s).map(|q| q.format()), Ok(want), "{s}");
    }
}

#[test]
fn garbage_is_refused_with_the_reason() {
    let malformed = |input: &str, at, found| Err(QuantityError::Malformed { input: input.into(), at, found });
    let unknown = |input: &str, suffix: &str| Err(QuantityError::UnknownSuffix { input: input.into(), suffix: suffix.into() });
    let table: &[(&str, Result<Quantity, QuantityError>)] = &[
        ("", Err(QuantityError::Empty)),
        (" 1", malformed(" 1", 0, ' ')),
        ("1 ", malformed("1 ", 1, ' ')),
        ("1 Gi", malformed("1 Gi", 1, ' ')),
        ("1.1.M", malformed("1.1.M", 3, '.')),
        ("x", malformed("x", 0, 'x')),
        ("two", malformed("two", 0, 't')),
        ("4gg", malformed("4gg", 1, 'g')),
        ("1,5", malformed("1,5", 1, ',')),
        ("0x10", malformed("0x10", 1, 'x')),
        ("1e3Gi", malformed("1e3Gi", 3, 'G')),
        ("1e3.5", malformed("1e3.5", 3, '.')),
        ("1.5e3m", malformed("1.5e3m", 5, 'm')),
        ("inf", malformed("inf", 2, 'f')),
        ("NaN", malformed("NaN", 0, 'N')),
        ("12Qi", malformed("12Qi", 2, 'Q')),
        ("1K", unknown("1K", "K")),
        ("1ki", unknown("1ki", "ki")),
        ("1mi", unknown("1mi", "mi")),
        ("1e", unknown("1e", "e")),
        ("1e+", unknown("1e+", "e+")),
        (".5i", unknown(".5i", "i")),
        ("1i", unknown("1i", "i")),
        ("-3.01i", unknown("-3.01i", "i")),
        ("--1", unknown("--1", "-1")),
        ("1m5", unknown("1m5", "m5")),
        ("1e99999999999999999999", unknown("1e99999999999999999999", "e99999999999999999999")),
        ("1e4294967296", Err(QuantityError::ExponentOutOfRange { input: "1e4294967296".into() })),
    ];
    for (s, want) in table {
        assert_eq!(&Quantity::parse(s), want, "{s:?}");
    }
}

#[test]
fn errors_say_what_is_wrong() {
    let msg = |s: &str| Quantity::parse(s).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(msg("").contains("cannot be empty"), "{}", msg(""));
    assert!(msg("1.1.M").contains("unexpected '.' at byte 3"), "{}", msg("1.1.M"));
    assert!(msg("12K").contains("unknown suffix \"K\""), "{}", msg("12K"));
    assert!(msg("1e30").contains("too large"), "{}", msg("1e30"));
}

#[test]
fn white_space_is_trimmed_only_when_asked() {
    assert_eq!(Quantity::parse_trimmed(" 2Gi\n").map(|q| q.nanos()), Ok((2 << 30) * N));
    assert!(Quantity::parse(" 2Gi").is_err());
    assert_eq!(Quantity::parse_trimmed("  "), Err(QuantityError::Empty));
}

#[test]
fn value_and_milli_value_round_away_from_zero() {
    let table: &[(&str, i64, i64)] = &[
        ("1", 1, 1_000),
        ("2", 2, 2_000),
        ("0.25", 1, 250),
        ("1.5", 2, 1_500),
        ("1G", 1_000_000_000, 1_000_000_000_000),
        ("100m", 1, 100),
        ("0.07", 1, 70),
        ("2.007", 3, 2_007),
        ("0.0001", 1, 1),
        ("5000000n", 1, 5),
        ("5500000n", 1, 6),
        ("1500000n", 1, 2),
        ("1n", 1, 1),
        ("0", 0, 0),
        ("-1.5", -2, -1_500),
        ("-100m", -1, -100),
        ("-1n", -1, -1),
        ("1M", 1_000_000, 1_000_000_000),
        ("1k", 1_000, 1_000_000),
        ("512Mi", 512 << 20, (512 << 20) * 1_000),
        ("1e3", 1_000, 1_000_000),
        ("1.5m", 1, 2),
        ("0.5Ki", 512, 512_000),
        ("0.1Ki", 103, 102_400),
        ("7Ei", 7 << 60, i64::MAX),
    ];
    for &(s, value, milli) in table {
        let q = Quantity::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(q.value(), Ok(value), "Value({s})");
        if milli == i64::MAX {
            assert!(matches!(q.milli_value(), Err(QuantityError::Overflow { unit: "milli-units", .. })), "MilliValue({s})");
        } else {
            assert_eq!(q.milli_value(), Ok(milli), "MilliValue({s})");
        }
    }
}

#[test]
fn nano_value_and_overflow() {
    let q = |s: &str| Quantity::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
    assert_eq!(q("250m").nano_value(), Ok(250_000_000));
    assert_eq!(q("5000000n").nano_value(), Ok(5_000_000));
    assert_eq!(q("2").nano_value(), Ok(2_000_000_000));
    assert_eq!(q("9223372036.854775807").nano_value(), Ok(i64::MAX));
    assert!(matches!(q("9223372036.854775808").nano_value(), Err(QuantityError::Overflow { unit: "nano-units", .. })));
    assert_eq!(q("-9223372036.854775808").nano_value(), Ok(i64::MIN));
    assert_eq!(q("8Ei").value(), Ok(i64::MAX), "capped at parse");
    assert_eq!(q("-8Ei").value(), Ok(-i64::MAX));
    let e = q("10E").value().expect_err("10^19 overflows");
    assert_eq!(e, QuantityError::Overflow { quantity: "10000000000000000000".into(), unit: "units" });
    assert_eq!(e.to_string(), "10000000000000000000 does not fit a 64-bit count of units");
}

#[test]
fn equality_and_order_compare_values() {
    let q = |s: &str| Quantity::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
    assert_eq!(q("1"), q("1000m"));
    assert_eq!(q("1Gi"), q("1024Mi"));
    assert_eq!(q("1k"), q("1e3"));
    assert_eq!(q("0.5"), q("500000u"));
    assert_ne!(q("4"), q("40"));
    assert_ne!(q("1G"), q("1Gi"));
    assert!(q("1Gi") > q("1G"));
    assert!(q("-1") < q("0"));
}

#[test]
fn display_is_exact_decimal_units_that_parse_back() {
    for (s, shown) in
        [("1.5", "1.5"), ("2Gi", "2147483648"), ("1n", "0.000000001"), ("-250m", "-0.25"), ("0", "0"), ("10E", "10000000000000000000")]
    {
        let q = Quantity::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(q.to_string(), shown);
        assert_eq!(Quantity::parse(shown), Ok(q), "{shown} parses back");
    }
}

#[test]
fn as_f64_is_the_nearest_float() {
    let f = |s: &str| Quantity::parse(s).map(|q| q.as_f64()).unwrap_or(f64::NAN);
    assert_eq!(f("500m"), 0.5);
    assert_eq!(f("2Gi"), 2147483648.0);
    assert_eq!(f("0.1"), 0.1);
    assert_eq!(f("1n"), 1e-9);
    assert_eq!(f("-1.5"), -1.5);
    assert_eq!(f("5E"), 5e18);
}

#[test]
fn from_str_and_from_nanos() {
    assert_eq!("250m".parse::<Quantity>(), Ok(Quantity::from_nanos(250_000_000)));
    assert!("250 m".parse::<Quantity>().is_err());
}
