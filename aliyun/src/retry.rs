//! Jittered exponential backoff, bounded in attempts and in time.
//!
//! Every retry and poll loop in this crate (ACK calls, OSS requests, download resumes) goes
//! through the one [`RetryPolicy`], so no loop can run unbounded: it stops after
//! `max_attempts` tries or once `max_elapsed` has passed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How often and how long to retry a failed call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total tries, the first included (1 means no retry).
    pub max_attempts: u32,
    /// Backoff before the first retry (before jitter).
    pub initial_delay: Duration,
    /// Largest backoff between two tries.
    pub max_delay: Duration,
    /// No retry starts after this much time since the first try.
    pub max_elapsed: Duration,
}

impl Default for RetryPolicy {
    /// 6 tries, 200 ms doubling to at most 5 s, within 30 s: rides out a throttling burst or
    /// a short 5xx storm without hiding a real outage for long.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            initial_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            max_elapsed: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> Self {
        RetryPolicy { max_attempts: 1, ..Self::default() }
    }

    /// The backoff after try number `attempt` (1-based) with jitter `unit` in `[0, 1)`:
    /// "equal jitter", half of the exponential step fixed and half random, so retries of many
    /// clients spread out but none retries immediately.
    pub fn delay(&self, attempt: u32, unit: f64) -> Duration {
        let exp = attempt.saturating_sub(1).min(30);
        let base = self.initial_delay.saturating_mul(1u32 << exp).min(self.max_delay);
        let half = base / 2;
        half + half.mul_f64(unit.clamp(0.0, 1.0))
    }

    /// The backoff to sleep before the next try, or `None` when the budget is spent: `attempt`
    /// tries made so far, `started` when the first began.
    pub fn next_delay(&self, attempt: u32, started: Instant) -> Option<Duration> {
        if attempt >= self.max_attempts {
            return None;
        }
        let d = self.delay(attempt, jitter_unit());
        if started.elapsed() + d > self.max_elapsed {
            return None;
        }
        Some(d)
    }
}

/// A random number in `[0, 1)` for jitter (see [`random_u64`]).
pub fn jitter_unit() -> f64 {
    (random_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// A random 64-bit number from the OS generator (getrandom). Jitter and signature nonces need
/// uniqueness, not secrecy: should the OS generator fail, a SplitMix64 step over the clock and a
/// process-wide counter stands in rather than failing the request.
pub(crate) fn random_u64() -> u64 {
    getrandom::u64().unwrap_or_else(|_| splitmix_u64())
}

fn splitmix_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0);
    let mut z = now ^ COUNTER.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed) ^ u64::from(std::process::id()).rotate_left(32);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// 32 hex digits, unique per call: the `x-acs-signature-nonce` format the SDK uses.
pub(crate) fn nonce() -> String {
    format!("{:016x}{:016x}", random_u64(), random_u64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_are_capped_and_jittered_within_bounds() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay(1, 0.0), Duration::from_millis(100));
        assert_eq!(p.delay(1, 1.0), Duration::from_millis(200));
        assert_eq!(p.delay(3, 0.0), Duration::from_millis(400));
        assert_eq!(p.delay(30, 1.0), Duration::from_secs(5));
        for _ in 0..100 {
            let d = p.delay(2, jitter_unit());
            assert!(d >= Duration::from_millis(200) && d <= Duration::from_millis(400), "{d:?}");
        }
    }

    #[test]
    fn budget_is_bounded_in_count_and_time() {
        let p = RetryPolicy { max_attempts: 3, ..RetryPolicy::default() };
        let now = Instant::now();
        assert!(p.next_delay(1, now).is_some());
        assert!(p.next_delay(3, now).is_none());
        let tight = RetryPolicy { max_elapsed: Duration::from_millis(10), ..RetryPolicy::default() };
        assert!(tight.next_delay(1, now).is_none(), "a 100 ms+ backoff cannot fit a 10 ms budget");
    }

    #[test]
    fn nonces_differ() {
        let a = nonce();
        assert_eq!(a.len(), 32);
        assert_ne!(a, nonce());
    }
}
