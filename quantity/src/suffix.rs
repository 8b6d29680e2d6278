//! What a suffix multiplies by, from Kubernetes' grammar:
//! `<decimalSI> ::= n | u | m | "" | k | M | G | T | P | E`,
//! `<binarySI> ::= Ki | Mi | Gi | Ti | Pi | Ei`,
//! `<decimalExponent> ::= "e" <signedNumber> | "E" <signedNumber>`.

use crate::{Format, QuantityError};

/// The factor a suffix stands for: `10^exp10 × 2^exp2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Scale {
    /// Power of ten.
    pub exp10: i32,
    /// Power of two (binary suffixes only).
    pub exp2: u32,
    /// Which family the suffix is from.
    pub format: Format,
}

/// Decimal SI suffixes and their powers of ten. `E` is exa here, not an exponent: Kubernetes
/// looks a suffix up in this table before it tries reading it as `e<n>`.
const DECIMAL: &[(&str, i32)] = &[("n", -9), ("u", -6), ("m", -3), ("", 0), ("k", 3), ("M", 6), ("G", 9), ("T", 12), ("P", 15), ("E", 18)];

/// Binary SI suffixes and their powers of two.
const BINARY: &[(&str, u32)] = &[("Ki", 10), ("Mi", 20), ("Gi", 30), ("Ti", 40), ("Pi", 50), ("Ei", 60)];

/// Reads `suffix` (from `input`, for the error).
pub(crate) fn scale(suffix: &str, input: &str) -> Result<Scale, QuantityError> {
    if let Some(&(_, exp10)) = DECIMAL.iter().find(|(s, _)| *s == suffix) {
        return Ok(Scale { exp10, exp2: 0, format: Format::DecimalSi });
    }
    if let Some(&(_, exp2)) = BINARY.iter().find(|(s, _)| *s == suffix) {
        return Ok(Scale { exp10: 0, exp2, format: Format::BinarySi });
    }
    let unknown = || QuantityError::UnknownSuffix { input: input.to_owned(), suffix: suffix.to_owned() };
    let exponent = suffix.strip_prefix(['e', 'E']).filter(|e| !e.is_empty()).ok_or_else(unknown)?;
    // Kubernetes reads the exponent as an int64 (so `e+` or `e3x` is an unknown suffix) and then
    // truncates it to 32 bits, which would make `1e4294967296` mean 1: refuse that instead.
    let wide: i64 = exponent.parse().map_err(|_| unknown())?;
    let exp10 = i32::try_from(wide).map_err(|_| QuantityError::ExponentOutOfRange { input: input.to_owned() })?;
    Ok(Scale { exp10, exp2: 0, format: Format::DecimalExponent })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_suffix_has_its_factor() {
        let dec = |exp10| Ok(Scale { exp10, exp2: 0, format: Format::DecimalSi });
        let bin = |exp2| Ok(Scale { exp10: 0, exp2, format: Format::BinarySi });
        let exp = |exp10| Ok(Scale { exp10, exp2: 0, format: Format::DecimalExponent });
        let table = [
            ("n", dec(-9)),
            ("u", dec(-6)),
            ("m", dec(-3)),
            ("", dec(0)),
            ("k", dec(3)),
            ("M", dec(6)),
            ("G", dec(9)),
            ("T", dec(12)),
            ("P", dec(15)),
            ("E", dec(18)),
            ("Ki", bin(10)),
            ("Mi", bin(20)),
            ("Gi", bin(30)),
            ("Ti", bin(40)),
            ("Pi", bin(50)),
            ("Ei", bin(60)),
            ("e3", exp(3)),
            ("E3", exp(3)),
            ("e+3", exp(3)),
            ("e-3", exp(-3)),
            ("e0", exp(0)),
            ("e2147483647", exp(i32::MAX)),
        ];
        for (suffix, want) in table {
            assert_eq!(scale(suffix, suffix), want, "{suffix:?}");
        }
    }

    #[test]
    fn other_suffixes_are_unknown() {
        for s in ["K", "ki", "KI", "mi", "i", "e", "e+", "e-", "em", "ee3", "m5", "-1", "Ei3", "EE"] {
            assert!(matches!(scale(s, "x"), Err(QuantityError::UnknownSuffix { .. })), "{s:?}");
        }
        assert!(matches!(scale("e99999999999999999999", "x"), Err(QuantityError::UnknownSuffix { .. })), "beyond int64");
        assert_eq!(scale("e2147483648", "1e2147483648"), Err(QuantityError::ExponentOutOfRange { input: "1e2147483648".into() }));
    }
}
