//! The one retry policy of everything that submits votes to ingest: the polling-station
//! client ([`super::Client`]) and the chaos load (`chaos::load`).
//!
//! - What to do with an answer: [`classify`] (202 acknowledged; 429, 503 and other 5xx or
//!   no answer at all: retry the same vote_id and salt; any other status: refused, since
//!   retrying the same request cannot change the answer).
//! - How long to wait: [`Retrier::wait`], exponential backoff with jitter from `backon`
//!   (maintained; `backoff` is unmaintained, RUSTSEC-2025-0012), never shorter than the
//!   server's `Retry-After`, and `None` once the total deadline has passed.
//!
//! The loop itself stays with each caller (they differ in what they record per attempt);
//! what must not differ between them (classification, the delays, the deadline) is here.

use backon::BackoffBuilder;
use std::time::Duration;
use tokio::time::Instant;

/// How a caller retries: the first and the largest delay, and when to give up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub initial: Duration,
    pub max: Duration,
    /// Give up after this long in all (`None`: never; the caller stops the loop).
    pub give_up_after: Option<Duration>,
}

/// What an answer (or its absence) means for the vote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// 202: the vote is recorded (or was already).
    Acked,
    /// Maybe not recorded: send the same vote again, no sooner than `Retry-After`.
    Retry { after: Option<Duration> },
    /// The server refused this request itself (400, 401, 403, 413, 422, ...).
    Refused,
}

/// The class of an HTTP status (`None`: no answer: a timeout or a broken connection).
pub fn classify(status: Option<u16>, retry_after: Option<Duration>) -> Class {
    match status {
        Some(202) => Class::Acked,
        None | Some(408) | Some(429) | Some(500..=599) => Class::Retry { after: retry_after },
        Some(_) => Class::Refused,
    }
}

/// `Retry-After` in seconds (the only form ingest sends; an HTTP date is ignored), capped
/// at 10 minutes so a wrong header cannot park a station for hours.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let secs: u64 = headers
        .get("retry-after")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs.min(600)))
}

/// The delays of one vote's retries.
pub struct Retrier {
    backoff: backon::ExponentialBackoff,
    max: Duration,
    deadline: Option<Instant>,
}

impl Retrier {
    pub fn new(p: &Policy) -> Retrier {
        let backoff = backon::ExponentialBuilder::default()
            .with_min_delay(p.initial)
            .with_max_delay(p.max)
            .with_jitter()
            .without_max_times()
            .build();
        Retrier {
            backoff,
            max: p.max,
            deadline: p.give_up_after.map(|d| Instant::now() + d),
        }
    }

    /// The wait before the next attempt (at least `retry_after`), or `None` when the
    /// deadline has passed: give up, the vote stays pending.
    pub fn wait(&mut self, retry_after: Option<Duration>) -> Option<Duration> {
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return None;
        }
        let next = self.backoff.next().unwrap_or(self.max);
        Some(retry_after.map_or(next, |r| r.max(next)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified_as_the_contract_means_them() {
        assert_eq!(classify(Some(202), None), Class::Acked);
        let after = Some(Duration::from_secs(2));
        for s in [None, Some(408), Some(429), Some(500), Some(503), Some(504)] {
            assert_eq!(classify(s, after), Class::Retry { after }, "{s:?}");
        }
        for s in [200, 400, 401, 403, 404, 409, 413, 422] {
            assert_eq!(classify(Some(s), None), Class::Refused, "{s}");
        }
    }

    #[test]
    fn retry_after_is_read_in_seconds_and_capped() {
        let mut h = reqwest::header::HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert("retry-after", "3".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
        h.insert("retry-after", "86400".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(600)));
        h.insert(
            "retry-after",
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h), None);
    }

    #[tokio::test(start_paused = true)]
    async fn delays_grow_with_jitter_up_to_the_max_and_respect_retry_after() {
        let p = Policy {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(2),
            give_up_after: Some(Duration::from_secs(30)),
        };
        let mut r = Retrier::new(&p);
        let d: Vec<Duration> = (0..12).map(|_| r.wait(None).unwrap()).collect();
        assert!(d[0] >= p.initial && d[0] <= 2 * p.initial, "{d:?}");
        // Jitter adds at most the current delay; the delay itself stops at max.
        assert!(d.iter().all(|x| *x <= 2 * p.max), "{d:?}");
        assert!(d[11] >= p.max, "{d:?}");
        // Retry-After is a floor, never shortened by the backoff.
        assert!(r.wait(Some(Duration::from_secs(9))).unwrap() >= Duration::from_secs(9));
        // Past the deadline: give up.
        tokio::time::advance(Duration::from_secs(31)).await;
        assert_eq!(r.wait(None), None);
    }
}
