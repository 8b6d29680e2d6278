//! What can be wrong with a quantity: the text itself (parsing) or its size in a unit (conversion).

/// A quantity that could not be parsed, or does not fit the unit it was asked in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QuantityError {
    /// The text is empty.
    #[error("a quantity cannot be empty: use a number with an optional suffix, like \"500m\", \"1.5\" or \"2Gi\"")]
    Empty,
    /// The text is not a number followed by a suffix (Kubernetes' `ErrFormatWrong`).
    #[error("{input:?} is not a quantity: unexpected {found:?} at byte {at}; use a number with an optional suffix, like \"500m\", \"1.5\" or \"2Gi\"")]
    Malformed {
        /// The text as given.
        input: String,
        /// Byte offset of the first character that cannot belong to a quantity.
        at: usize,
        /// That character.
        found: char,
    },
    /// The suffix is none of Kubernetes' (its `ErrSuffix`).
    #[error("{input:?} has an unknown suffix {suffix:?}: use n, u, m, k, M, G, T, P, E, Ki, Mi, Gi, Ti, Pi, Ei or an exponent such as e3")]
    UnknownSuffix {
        /// The text as given.
        input: String,
        /// The suffix that is not one of Kubernetes'.
        suffix: String,
    },
    /// The decimal exponent does not fit 32 bits (Kubernetes would silently truncate it).
    #[error("{input:?} has an exponent out of range: use one between -2147483648 and 2147483647")]
    ExponentOutOfRange {
        /// The text as given.
        input: String,
    },
    /// A decimal value too large to hold exactly (beyond about 1.7 × 10^29 base units).
    #[error("{input:?} is too large: a quantity is at most about 1.7e29")]
    OutOfRange {
        /// The text as given.
        input: String,
    },
    /// The value does not fit a signed 64-bit count of the unit asked for.
    #[error("{quantity} does not fit a 64-bit count of {unit}")]
    Overflow {
        /// The value in base units.
        quantity: String,
        /// The unit it was asked in (`units`, `milli-units`, `nano-units`).
        unit: &'static str,
    },
}
