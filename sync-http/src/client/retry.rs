//! When to try a request again, and how long to wait first.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// How transient failures are retried: connect errors, timeouts, a connection dropped
/// mid-request, 502/503/504, and 429 (and 503) honoring `Retry-After`.
///
/// The wait before retry `n` (from 0) is drawn between half and all of
/// `min(max_delay, base_delay * 2^n)` ("equal jitter", so clients that failed together
/// do not come back together); a server's `Retry-After` replaces it, capped at
/// `max_retry_after`.
///
/// ```
/// use std::time::Duration;
/// use sync_http::RetryPolicy;
/// let p = RetryPolicy::default();
/// assert_eq!((p.attempts, p.base_delay, p.max_delay), (4, Duration::from_millis(100), Duration::from_secs(5)));
/// assert_eq!(RetryPolicy::none().attempts, 1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (at least 1).
    pub attempts: u32,
    /// The wait before the first retry, doubled for each further one.
    pub base_delay: Duration,
    /// The longest computed wait.
    pub max_delay: Duration,
    /// The longest wait a server's `Retry-After` can ask for.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
            max_retry_after: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// One attempt, no retries.
    pub fn none() -> RetryPolicy {
        RetryPolicy {
            attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// The wait before retry number `retry` (0 for the first retry), jittered.
    pub(crate) fn backoff(&self, retry: u32) -> Duration {
        let full = self
            .base_delay
            .saturating_mul(2u32.saturating_pow(retry.min(31)))
            .min(self.max_delay);
        let half = full / 2;
        let spread = u64::try_from((full - half).as_millis()).unwrap_or(u64::MAX);
        half + Duration::from_millis(fastrand::u64(0..=spread))
    }

    /// The wait a `Retry-After` header asks for, capped; `None` when it is unreadable.
    pub(crate) fn retry_after(&self, header: &str, now: DateTime<Utc>) -> Option<Duration> {
        parse_retry_after(header, now).map(|d| d.min(self.max_retry_after))
    }
}

/// `Retry-After` as delay-seconds or as an HTTP date (a date in the past is no wait).
pub(crate) fn parse_retry_after(header: &str, now: DateTime<Utc>) -> Option<Duration> {
    let h = header.trim();
    if let Ok(secs) = h.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    // IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) is RFC 2822 with `GMT`.
    let at = DateTime::parse_from_rfc2822(h).ok()?.with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = "2026-11-21T12:00:00Z".parse().unwrap();
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_retry_after("Sat, 21 Nov 2026 12:00:07 GMT", now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            parse_retry_after("Sat, 21 Nov 2026 11:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(
            RetryPolicy::default().retry_after("3600", now),
            Some(Duration::from_secs(30))
        );
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter() {
        let p = RetryPolicy::default();
        for _ in 0..50 {
            let d0 = p.backoff(0);
            assert!(d0 >= Duration::from_millis(50) && d0 <= Duration::from_millis(100));
            let d3 = p.backoff(3);
            assert!(d3 >= Duration::from_millis(400) && d3 <= Duration::from_millis(800));
            let d40 = p.backoff(40);
            assert!(d40 >= Duration::from_millis(2500) && d40 <= Duration::from_secs(5));
        }
    }
}
