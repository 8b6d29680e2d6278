//! Bounded retry with exponential backoff for OSS requests.

use std::time::Duration;

/// How often and how long to retry throttled (`503 SlowDown`, 429), failed (5xx) or
/// unreachable requests. Both the attempt count and the total time are bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, the first included (at least 1).
    pub max_attempts: u32,
    /// The first backoff; doubled after each attempt.
    pub base_delay: Duration,
    /// The largest single backoff.
    pub max_delay: Duration,
    /// No new attempt starts after this much time since the first.
    pub max_elapsed: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            max_elapsed: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> Self {
        RetryPolicy { max_attempts: 1, ..RetryPolicy::default() }
    }

    /// The backoff before attempt `attempt + 1` (attempt counted from 1), with jitter from
    /// `seed` so parallel clients do not retry in lockstep.
    pub fn delay(&self, attempt: u32, seed: u64) -> Duration {
        let exp = self.base_delay.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let capped = exp.min(self.max_delay);
        // Up to 25 % less, deterministic in `seed`.
        let jitter = capped.mul_f64((seed % 1000) as f64 / 4000.0);
        capped.saturating_sub(jitter)
    }

    /// Whether an answer with this status and code is worth another attempt.
    pub fn retryable_status(status: u16, code: &str) -> bool {
        status == 429 || status >= 500 || code == "SlowDown" || code == "RequestTimeout"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay(1, 0), Duration::from_millis(200));
        assert_eq!(p.delay(2, 0), Duration::from_millis(400));
        assert_eq!(p.delay(30, 0), Duration::from_secs(5));
        assert!(p.delay(3, 999) < p.delay(3, 0));
        assert!(RetryPolicy::retryable_status(503, "SlowDown"));
        assert!(!RetryPolicy::retryable_status(404, "NoSuchKey"));
        assert!(!RetryPolicy::retryable_status(403, "AccessDenied"));
    }
}
