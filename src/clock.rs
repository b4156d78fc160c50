//! The node's one clock: real time in production, a frozen, settable time in black-box tests.
//!
//! Everything that decides by time what a request gets reads this clock: token buckets
//! (monotonic nanoseconds), quota periods and usage days (Unix time), and the stage cache's
//! TTLs (monotonic milliseconds). One clock, created once in `server::run` and shared by
//! cloning, means a test that moves it moves all of them together.
//!
//! # The test clock
//!
//! [`TEST_CLOCK_ENV`] (`TOLLGATE_TEST_CLOCK_MS=<Unix time in ms>`) freezes the clock at that
//! time; it moves only when a test asks the admin listener to (`POST /test/clock?ms=N` sets
//! it, `POST /test/clock/advance?ms=N` moves it forward, see [`crate::admin`]). Frozen rather
//! than offset from real time, so that:
//! - token buckets never refill during a test, and exactly `burst` requests pass whatever the
//!   machine's speed (no timing thresholds);
//! - quota periods and cache TTLs are crossed exactly, to the millisecond, without sleeping
//!   (an entry with a 60 s TTL is still served after 59 s and expired after 60 s).
//!
//! Both readings come from the one frozen value: monotonic time is the Unix time in
//! nanoseconds, so setting the clock backwards is allowed (buckets and quotas tolerate it;
//! cache entries then live longer) but only tests ever do it.
//!
//! # Cost in production
//!
//! Without the variable the clock is [`Clock::Real`]: a reading is one match on the enum's
//! tag plus `Instant::elapsed` or `SystemTime::now` (a vDSO call). There is no atomic
//! read-modify-write, no lock and no shared cache line written on the request path; only the
//! frozen variant reads an atomic (a relaxed load), and only the admin thread writes it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Hidden environment variable used only by the test suite: when set to a Unix time in
/// milliseconds, the clock is frozen at that time and the admin listener accepts the
/// `/test/clock` calls that move it. Never set it in production.
pub const TEST_CLOCK_ENV: &str = "TOLLGATE_TEST_CLOCK_MS";

/// [`TEST_CLOCK_ENV`] is set but does not hold a Unix time in milliseconds: refused rather
/// than ignored, because a test expecting a frozen clock would otherwise run on real time.
#[derive(Debug, thiserror::Error)]
#[error("{TEST_CLOCK_ENV}={value:?} is not a Unix time in milliseconds")]
pub struct TestClockEnvError {
    /// The value found (lossily decoded).
    pub value: String,
}

/// The node's clock. Cloning is cheap (an `Arc` at most) and clones share the time: moving a
/// test clock moves every clone.
#[derive(Debug, Clone)]
pub enum Clock {
    /// Monotonic time for buckets and the cache, wall-clock time for quota periods.
    Real {
        /// Origin of the monotonic readings.
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
    /// The real clock, or a frozen one when [`TEST_CLOCK_ENV`] is set.
    pub fn from_env() -> Result<Clock, TestClockEnvError> {
        Self::from_env_value(std::env::var_os(TEST_CLOCK_ENV).as_deref())
    }

    /// [`Clock::from_env`] on a given value of the variable (`None`: unset).
    fn from_env_value(value: Option<&std::ffi::OsStr>) -> Result<Clock, TestClockEnvError> {
        let Some(value) = value else {
            return Ok(Clock::default());
        };
        value
            .to_str()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Clock::fixed)
            .ok_or_else(|| TestClockEnvError {
                value: value.to_string_lossy().into_owned(),
            })
    }

    /// A clock frozen at `unix_ms`.
    pub fn fixed(unix_ms: u64) -> Clock {
        Clock::Fixed(Arc::new(AtomicU64::new(unix_ms)))
    }

    /// Nanoseconds on a clock that never goes backwards in production (token buckets).
    #[inline]
    pub fn mono_ns(&self) -> u64 {
        match self {
            Clock::Real { base } => u64::try_from(base.elapsed().as_nanos()).unwrap_or(u64::MAX),
            Clock::Fixed(ms) => ms.load(Ordering::Relaxed).saturating_mul(1_000_000),
        }
    }

    /// Milliseconds on the same clock as [`Clock::mono_ns`] (cache expiry).
    #[inline]
    pub fn mono_ms(&self) -> u64 {
        match self {
            Clock::Real { base } => u64::try_from(base.elapsed().as_millis()).unwrap_or(u64::MAX),
            Clock::Fixed(ms) => ms.load(Ordering::Relaxed),
        }
    }

    /// Milliseconds since the Unix epoch (what the test clock is set in).
    #[inline]
    pub fn unix_ms(&self) -> u64 {
        match self {
            Clock::Real { .. } => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            Clock::Fixed(ms) => ms.load(Ordering::Relaxed),
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

    /// Sets a test clock to `unix_ms` and returns it; `None` (and nothing changes) on the
    /// real clock.
    pub fn set_ms(&self, unix_ms: u64) -> Option<u64> {
        match self {
            Clock::Real { .. } => None,
            Clock::Fixed(ms) => {
                ms.store(unix_ms, Ordering::Relaxed);
                Some(unix_ms)
            }
        }
    }

    /// Moves a test clock forward by `by_ms` (saturating) and returns the new time; `None`
    /// (and nothing changes) on the real clock.
    pub fn advance_ms(&self, by_ms: u64) -> Option<u64> {
        match self {
            Clock::Real { .. } => None,
            Clock::Fixed(ms) => {
                let before = ms
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| {
                        Some(t.saturating_add(by_ms))
                    })
                    .unwrap_or_else(|t| t);
                Some(before.saturating_add(by_ms))
            }
        }
    }

    /// True for the test clock.
    pub fn is_fixed(&self) -> bool {
        matches!(self, Clock::Fixed(_))
    }
}

/// Appends `dd/Mon/yyyy:HH:mm:ss +0000` (UTC) for `unix_secs`: the Common Log Format time that
/// AWS uses for `$context.requestTime` and the Lambda event's `requestContext.requestTime`
/// (AWS docs example: `"requestTime": "20/Feb/2018:22:48:57 +0000"` with
/// `"requestTimeEpoch": 1519166937665`). Written in place: it runs per request.
pub fn write_clf_time(out: &mut Vec<u8>, unix_secs: u64) {
    const MONTHS: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    let (days, day_secs) = (unix_secs / 86_400, unix_secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    let two = |out: &mut Vec<u8>, n: u64| {
        out.extend_from_slice(&[b'0' + (n / 10 % 10) as u8, b'0' + (n % 10) as u8]);
    };
    two(out, day);
    out.push(b'/');
    out.extend_from_slice(MONTHS[(month as usize).clamp(1, 12) - 1]);
    out.push(b'/');
    out.extend_from_slice(itoa::Buffer::new().format(year).as_bytes());
    for n in [day_secs / 3600, day_secs / 60 % 60, day_secs % 60] {
        out.push(b':');
        two(out, n);
    }
    out.extend_from_slice(b" +0000");
}

/// `2026-12-04T19:20:51Z`: ISO 8601 in UTC, to the second (CloudTrail's `eventTime`, the
/// version AWS exports an API without one under).
pub fn iso_time(unix_secs: u64) -> String {
    let (y, m, d) = civil_from_days(unix_secs / 86_400);
    let s = unix_secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// The proleptic Gregorian date `(year, month 1..=12, day 1..=31)` of a day counted from
/// 1970-01-01, for the timestamps the gateway formats itself (SigV4's `X-Amz-Date`, Lambda
/// events' `requestTime`). H. Hinnant, "chrono-Compatible Low-Level Date Algorithms",
/// `civil_from_days`, with March as the first month of the computing year.
pub fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let (era, doe) = (z / 146_097, z % 146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + u64::from(month <= 2), month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    fn clf(unix_ms: u64) -> String {
        let mut out = Vec::new();
        write_clf_time(&mut out, unix_ms / 1000);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn clf_time_is_the_aws_format() {
        assert_eq!(clf(0), "01/Jan/1970:00:00:00 +0000");
        assert_eq!(clf(1_519_166_937_665), "20/Feb/2018:22:48:57 +0000");
        assert_eq!(clf(1_709_164_800_000), "29/Feb/2024:00:00:00 +0000");
        // Every seventh day across four centuries against httpdate's calendar.
        for day in (0..146_097_u64).step_by(7) {
            let secs = day * 86_400 + day % 86_400;
            let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
            let http = httpdate::fmt_http_date(t); // "Sun, 06 Nov 1994 08:49:37 GMT"
            let want = format!(
                "{}/{}/{}:{} +0000",
                &http[5..7],
                &http[8..11],
                &http[12..16],
                &http[17..25]
            );
            assert_eq!(clf(secs * 1000 + 999), want);
        }
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_415), (2025, 11, 23));
    }

    #[test]
    fn fixed_clock_moves_only_when_set_or_advanced() {
        let c = Clock::fixed(86_400_000 * 3 + 5_000);
        assert_eq!(c.unix_day(), 3);
        assert_eq!(c.unix_secs(), 86_400 * 3 + 5);
        assert_eq!(c.unix_ms(), 86_400_000 * 3 + 5_000);
        let before = c.mono_ns();
        assert_eq!(c.mono_ns(), before);
        assert_eq!(c.mono_ms() * 1_000_000, before);
        assert_eq!(c.set_ms(86_400_000 * 4), Some(86_400_000 * 4));
        assert_eq!(c.unix_day(), 4);
        let shared = c.clone();
        assert_eq!(shared.advance_ms(1_500), Some(86_400_000 * 4 + 1_500));
        assert_eq!(c.mono_ms(), 86_400_000 * 4 + 1_500, "clones share the time");
        assert_eq!(c.advance_ms(u64::MAX), Some(u64::MAX), "saturates");
    }

    #[test]
    fn real_clock_cannot_be_moved() {
        let c = Clock::default();
        assert!(!c.is_fixed());
        assert_eq!(c.set_ms(1), None);
        assert_eq!(c.advance_ms(1), None);
        assert!(c.unix_day() > 20_000, "real wall-clock time");
    }

    #[test]
    fn environment_value_freezes_the_clock_or_is_refused() {
        assert!(!Clock::from_env_value(None).unwrap().is_fixed());
        let c = Clock::from_env_value(Some(OsStr::new(" 86400000 "))).unwrap();
        assert!(c.is_fixed());
        assert_eq!(c.unix_day(), 1);
        for bad in ["", "soon", "-5", "1.5"] {
            let err = Clock::from_env_value(Some(OsStr::new(bad))).expect_err(bad);
            assert!(err.to_string().contains(TEST_CLOCK_ENV), "{err}");
        }
    }
}
