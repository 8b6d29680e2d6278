//! The `Quantity` type: a parsed quantity as an exact count of nanos, and the integer views
//! Kubernetes' accessors give of it.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use crate::exact::{self, NANOS_PER_UNIT};
use crate::{scan, suffix, QuantityError};

/// Which suffix family a quantity was written in (Kubernetes keeps it to print the value back).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// `n`, `u`, `m`, none, `k`, `M`, `G`, `T`, `P`, `E`.
    DecimalSi,
    /// `Ki`, `Mi`, `Gi`, `Ti`, `Pi`, `Ei`.
    BinarySi,
    /// `e<n>` or `E<n>`.
    DecimalExponent,
}

/// Kubernetes caps a binary-suffixed quantity, silently, at 2^63-1 base units ("8Ei" is
/// 9223372036854775807); decimal ones it keeps as written.
const BINARY_CAP_NANOS: i128 = i64::MAX as i128 * NANOS_PER_UNIT;

/// A Kubernetes resource quantity, held exactly as a count of nano-units (10^-9 of a core,
/// a byte, a pod). Equality and order compare values, as Kubernetes' `Cmp` does: `1Gi` equals
/// `1073741824`.
#[derive(Debug, Clone, Copy)]
pub struct Quantity {
    nanos: i128,
    format: Format,
}

impl Quantity {
    /// Parses `s` exactly as apimachinery's `ParseQuantity` accepts it: an optional sign, a
    /// number (`1`, `1.5`, `.5`, `1.`), and a suffix (`m`, `Gi`, `e3`, ...); no white space.
    /// Values finer than a nano round away from zero, binary ones above 2^63-1 are capped at it.
    pub fn parse(s: &str) -> Result<Quantity, QuantityError> {
        if s.is_empty() {
            return Err(QuantityError::Empty);
        }
        let parts = scan::split(s)?;
        let scale = suffix::scale(parts.suffix, s)?;
        let out_of_range = || QuantityError::OutOfRange { input: s.to_owned() };
        let digits = format!("{}{}", parts.int, parts.frac);
        // The fraction's digits shift the point left; the suffix's exponent shifts it back.
        let frac_len = i64::try_from(parts.frac.len()).map_err(|_| out_of_range())?;
        let exp10 = i64::from(scale.exp10) - frac_len;
        let binary = scale.format == Format::BinarySi;
        let magnitude = match exact::nanos(&digits, exp10, scale.exp2) {
            Some(n) if binary => n.min(BINARY_CAP_NANOS),
            Some(n) => n,
            None if binary => BINARY_CAP_NANOS,
            None => return Err(out_of_range()),
        };
        // Like Kubernetes: a binary amount below one unit ("0.0001Ki") becomes decimal, the only
        // family that can write it without rounding.
        let format = if binary && magnitude < NANOS_PER_UNIT && magnitude > 0 { Format::DecimalSi } else { scale.format };
        Ok(Quantity { nanos: if parts.negative { -magnitude } else { magnitude }, format })
    }

    /// Parses a quantity read from an API object's field: white space around it is dropped
    /// first, as Kubernetes' JSON and CBOR decoders do before `ParseQuantity`.
    pub fn parse_trimmed(s: &str) -> Result<Quantity, QuantityError> {
        Quantity::parse(s.trim())
    }

    /// A quantity of `nanos` nano-units, in decimal.
    pub fn from_nanos(nanos: i128) -> Quantity {
        Quantity { nanos, format: Format::DecimalSi }
    }

    /// The exact value in nano-units (no rounding: parsing already kept it to the nano).
    pub fn nanos(&self) -> i128 {
        self.nanos
    }

    /// The suffix family it was written in.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Whether it is below zero (Kubernetes parses `-1`; its validation refuses negative
    /// requests, limits and quotas, which is the caller's business).
    pub fn is_negative(&self) -> bool {
        self.nanos < 0
    }

    /// Base units (cores, bytes, pods) rounded away from zero, as Kubernetes' `Value()`:
    /// `1.5` is 2, `100m` is 1.
    pub fn value(&self) -> Result<i64, QuantityError> {
        self.scaled(0, "units")
    }

    /// Thousandths of a unit (millicores) rounded away from zero, as `MilliValue()`:
    /// `0.0001` is 1, `5000000n` is 5.
    pub fn milli_value(&self) -> Result<i64, QuantityError> {
        self.scaled(3, "milli-units")
    }

    /// Nano-units (nanocores), exact.
    pub fn nano_value(&self) -> Result<i64, QuantityError> {
        self.scaled(9, "nano-units")
    }

    /// The value in base units as the nearest `f64`, for callers that do float arithmetic;
    /// the conversion is the only rounding.
    pub fn as_f64(&self) -> f64 {
        // Split so that each part converts exactly for any realistic size.
        let units = self.nanos / NANOS_PER_UNIT;
        let rest = self.nanos % NANOS_PER_UNIT;
        units as f64 + rest as f64 / NANOS_PER_UNIT as f64
    }

    fn scaled(&self, places: u32, unit: &'static str) -> Result<i64, QuantityError> {
        i64::try_from(exact::scaled(self.nanos, places)).map_err(|_| QuantityError::Overflow { quantity: self.to_string(), unit })
    }
}

impl FromStr for Quantity {
    type Err = QuantityError;

    fn from_str(s: &str) -> Result<Quantity, QuantityError> {
        Quantity::parse(s)
    }
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Quantity) -> bool {
        self.nanos == other.nanos
    }
}

impl Eq for Quantity {}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Quantity) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Quantity {
    fn cmp(&self, other: &Quantity) -> Ordering {
        self.nanos.cmp(&other.nanos)
    }
}

/// Plain decimal base units, exact and parseable again: `1.5`, `-0.000000001`, `2147483648`.
impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.nanos < 0 { "-" } else { "" };
        let abs = self.nanos.unsigned_abs();
        let (units, rest) = (abs / NANOS_PER_UNIT.unsigned_abs(), abs % NANOS_PER_UNIT.unsigned_abs());
        if rest == 0 {
            write!(f, "{sign}{units}")
        } else {
            let frac = format!("{rest:09}");
            write!(f, "{sign}{units}.{}", frac.trim_end_matches('0'))
        }
    }
}
