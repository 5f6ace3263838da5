//! Per-key vote quotas: a token bucket per client key (`governor`'s GCRA: lock-free, no
//! background task), so one key's flood is answered 429 with `Retry-After` while every
//! other key is served as before. Rates come from `ingest.key_votes_per_s` and
//! `ingest.key_burst`, or a key's own `votes_per_s`; 0 is unlimited.

use crate::config::IngestConfig;
use governor::clock::{Clock, DefaultClock};
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::time::Duration;

type Bucket = RateLimiter<NotKeyed, InMemoryState, DefaultClock>;

/// One bucket per limited key, by client id.
pub struct Quotas {
    buckets: HashMap<String, Bucket>,
    clock: DefaultClock,
}

impl Quotas {
    pub fn new(cfg: &IngestConfig) -> Quotas {
        let clock = DefaultClock::default();
        let buckets = cfg
            .clients
            .iter()
            .filter_map(|c| {
                let rate = NonZeroU32::new(c.votes_per_s.unwrap_or(cfg.key_votes_per_s))?;
                let burst = NonZeroU32::new(cfg.key_burst).unwrap_or(rate);
                let quota = Quota::per_second(rate).allow_burst(burst);
                Some((
                    c.id.clone(),
                    RateLimiter::direct_with_clock(quota, clock.clone()),
                ))
            })
            .collect();
        Quotas { buckets, clock }
    }

    /// Takes one vote from `client`'s bucket, or says how long until it may send again.
    pub fn check(&self, client: &str) -> Result<(), Duration> {
        match self.buckets.get(client) {
            None => Ok(()),
            Some(b) => b
                .check()
                .map_err(|not_until| not_until.wait_time_from(self.clock.now())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ClientKey;

    fn client(id: &str, votes_per_s: Option<u32>) -> ClientKey {
        ClientKey {
            id: id.into(),
            key: Some(format!("key-of-{id}")),
            key_env: None,
            votes_per_s,
        }
    }

    #[test]
    fn a_key_over_its_rate_waits_and_the_others_do_not() {
        let cfg = IngestConfig {
            clients: vec![
                client("a", None),
                client("b", None),
                client("feed", Some(0)),
            ],
            key_votes_per_s: 2,
            key_burst: 3,
            ..Default::default()
        };
        let q = Quotas::new(&cfg);
        for _ in 0..3 {
            q.check("a").unwrap();
        }
        let wait = q.check("a").unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_millis(500),
            "{wait:?}"
        );
        // Another key has its own bucket; a key with votes_per_s = 0 is unlimited.
        q.check("b").unwrap();
        for _ in 0..1000 {
            q.check("feed").unwrap();
        }
    }

    #[test]
    fn no_rate_means_no_limit() {
        let cfg = IngestConfig {
            clients: vec![client("a", None)],
            ..Default::default()
        };
        let q = Quotas::new(&cfg);
        for _ in 0..10_000 {
            q.check("a").unwrap();
        }
    }
}
