//! Time as the traffic module sees it: real time in production, a frozen, settable time in
//! black-box tests (so that bursts and quota periods can be tested without timing thresholds).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Hidden environment variable used only by the test suite: when set to a Unix time in
/// milliseconds, the clock is frozen at that time (token buckets never refill) and the admin
/// listener accepts `POST /test/clock?ms=N` to move it. Never set it in production.
pub const TEST_CLOCK_ENV: &str = "TOLLGATE_TEST_CLOCK_MS";

/// The node's clock. Cloning is cheap (an `Arc` at most).
#[derive(Debug, Clone)]
pub enum Clock {
    /// Monotonic time for buckets, wall-clock time for quota periods.
    Real {
        /// Origin of the monotonic nanoseconds handed to buckets.
        base: Instant,
    },
    /// Frozen at a Unix time in milliseconds, moved only by tests.
    Fixed(Arc<AtomicU64>),
}

impl Default for Clock {
    fn default() -> Self {
        Clock::Real {
            base: Instant::now(),
        }
    }
}

impl Clock {
    /// The real clock, or a frozen one when [`TEST_CLOCK_ENV`] holds a number.
    pub fn from_env() -> Clock {
        match std::env::var(TEST_CLOCK_ENV)
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
        {
            Some(ms) => Clock::fixed(ms),
            None => Clock::default(),
        }
    }

    /// A clock frozen at `unix_ms`.
    pub fn fixed(unix_ms: u64) -> Clock {
        Clock::Fixed(Arc::new(AtomicU64::new(unix_ms)))
    }

    /// Nanoseconds on a clock that never goes backwards (token buckets).
    #[inline]
    pub fn mono_ns(&self) -> u64 {
        match self {
            Clock::Real { base } => base.elapsed().as_nanos() as u64,
            Clock::Fixed(ms) => ms.load(Ordering::Relaxed).saturating_mul(1_000_000),
        }
    }

    /// Seconds since the Unix epoch (quota periods, daily usage).
    #[inline]
    pub fn unix_secs(&self) -> u64 {
        match self {
            Clock::Real { .. } => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            Clock::Fixed(ms) => ms.load(Ordering::Relaxed) / 1000,
        }
    }

    /// Days since the Unix epoch (UTC).
    #[inline]
    pub fn unix_day(&self) -> u32 {
        (self.unix_secs() / 86_400) as u32
    }

    /// Moves a test clock; false (and nothing changes) on the real clock.
    pub fn set_ms(&self, unix_ms: u64) -> bool {
        match self {
            Clock::Real { .. } => false,
            Clock::Fixed(ms) => {
                ms.store(unix_ms, Ordering::Relaxed);
                true
            }
        }
    }

    /// True for the test clock.
    pub fn is_fixed(&self) -> bool {
        matches!(self, Clock::Fixed(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_clock_moves_only_when_set() {
        let c = Clock::fixed(86_400_000 * 3 + 5_000);
        assert_eq!(c.unix_day(), 3);
        assert_eq!(c.unix_secs(), 86_400 * 3 + 5);
        let before = c.mono_ns();
        assert_eq!(c.mono_ns(), before);
        assert!(c.set_ms(86_400_000 * 4));
        assert_eq!(c.unix_day(), 4);
        assert!(!Clock::default().set_ms(1));
    }
}
