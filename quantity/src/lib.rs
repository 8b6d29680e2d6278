//! Kubernetes resource quantities (`250m`, `1.5`, `2Gi`, `100M`, `5000000n`, `1e3`), parsed
//! as apimachinery's `resource.ParseQuantity` accepts them, into an exact integer count of
//! nano-units: no float ever stands between the text and the number, so `2.007` cores is 2007
//! millicores, not 2008 (`2.007 × 1000.0` is 2007.0000000000002 in floating point).
//!
//! ```
//! use sparkoss_quantity::Quantity;
//!
//! let cpu = Quantity::parse("250m")?;
//! assert_eq!(cpu.milli_value()?, 250);
//! assert_eq!(Quantity::parse("2Gi")?.value()?, 2 << 30);
//! assert_eq!(Quantity::parse("1Gi")?, Quantity::parse("1024Mi")?);
//! # Ok::<(), sparkoss_quantity::QuantityError>(())
//! ```
//!
//! Where this differs from Kubernetes, it refuses rather than guesses: a decimal value beyond
//! about 1.7 × 10^29 base units is `OutOfRange` (Kubernetes keeps it, but none of its int64
//! accessors can give it back), and an exponent beyond 32 bits is `ExponentOutOfRange`
//! (Kubernetes truncates it). Conversions that do not fit an `i64` are `Overflow` errors, where
//! Kubernetes' accessors silently overflow.

mod error;
mod exact;
mod quantity;
mod scan;
mod suffix;

pub use error::QuantityError;
pub use quantity::{Format, Quantity};

#[cfg(test)]
mod tests;
