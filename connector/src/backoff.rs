//! Capped exponential backoff with full jitter for reconnect loops.
//!
//! Pure arithmetic over a caller-supplied random fraction, so it is tested without clocks or
//! randomness.

use std::time::Duration;

/// Reconnect delays: `base * 2^attempt`, capped at `max`, then scaled by a jitter fraction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Delay before the first retry, before jitter.
    pub base: Duration,
    /// Upper bound of any delay, before jitter.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: Duration::from_millis(100),
            max: Duration::from_secs(30),
        }
    }
}

impl Backoff {
    /// The delay before retry number `attempt` (0-based). `jitter` in `[0, 1]` picks a point in
    /// the upper half of the window, so replicas that lost the server together spread out
    /// without ever retrying immediately.
    pub fn delay(&self, attempt: u32, jitter: f64) -> Duration {
        let factor = 2u32.saturating_pow(attempt.min(31));
        let window = self.base.saturating_mul(factor).min(self.max);
        // NaN would poison the multiplication below; treat it as no jitter.
        let jitter = if jitter.is_nan() {
            0.0
        } else {
            jitter.clamp(0.0, 1.0)
        };
        window.mul_f64(0.5 + jitter / 2.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_then_caps() {
        let backoff = Backoff {
            base: Duration::from_millis(100),
            max: Duration::from_secs(2),
        };
        let cases = [
            (0, 1.0, 100),
            (1, 1.0, 200),
            (3, 1.0, 800),
            (5, 1.0, 2000),
            (40, 1.0, 2000),
            (0, 0.0, 50),
            (40, 0.0, 1000),
        ];
        for (attempt, jitter, expected_ms) in cases {
            assert_eq!(
                backoff.delay(attempt, jitter),
                Duration::from_millis(expected_ms),
                "attempt {attempt} jitter {jitter}"
            );
        }
    }

    #[test]
    fn out_of_range_jitter_is_clamped() {
        let backoff = Backoff::default();
        assert_eq!(backoff.delay(0, 7.0), backoff.delay(0, 1.0));
        assert_eq!(backoff.delay(0, -1.0), backoff.delay(0, 0.0));
        assert_eq!(backoff.delay(0, f64::NAN), backoff.delay(0, 0.0));
    }
}
