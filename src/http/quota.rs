//! Per-key vote quotas: a token bucket per client key (`governor`'s GCRA: lock-free, no
//! background task), so one key's flood is answered 429 with `Retry-After` while every
//! other key is served as before. Rates come from `ingest.key_votes_per_s` and
//! `ingest.key_burst`, or a key's own `votes_per_s`; 0 is unlimited.

use crate::config::IngestConfig;
use crate::keys::KeyEntry;
use governor::clock::{Clock, DefaultClock};
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Bucket = RateLimiter<NotKeyed, InMemoryState, DefaultClock>;

/// One bucket per limited key, by client id, made at its first vote (keys come and go with
/// the keys file; a rotated key keeps its station's bucket).
pub struct Quotas {
    rate: u32,
    burst: u32,
    buckets: Mutex<HashMap<String, Arc<Bucket>>>,
    clock: DefaultClock,
}

impl Quotas {
    pub fn new(cfg: &IngestConfig) -> Quotas {
        Quotas {
            rate: cfg.key_votes_per_s,
            burst: cfg.key_burst,
            buckets: Mutex::new(HashMap::new()),
            clock: DefaultClock::default(),
        }
    }

    /// Takes one vote from `key`'s bucket, or says how long until it may send again.
    pub fn check(&self, key: &KeyEntry) -> Result<(), Duration> {
        let Some(rate) = NonZeroU32::new(key.votes_per_s.unwrap_or(self.rate)) else {
            return Ok(());
        };
        let bucket = {
            let mut all = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
            all.entry(key.id.clone())
                .or_insert_with(|| {
                    let burst = NonZeroU32::new(self.burst).unwrap_or(rate);
                    let quota = Quota::per_second(rate).allow_burst(burst);
                    Arc::new(RateLimiter::direct_with_clock(quota, self.clock.clone()))
                })
                .clone()
        };
        bucket
            .check()
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(id: &str, votes_per_s: Option<u32>) -> KeyEntry {
        KeyEntry {
            id: id.into(),
            digest: [0; 32],
            elections: Default::default(),
            regions: Default::default(),
            votes_per_s,
            max_votes: None,
        }
    }

    #[test]
    fn a_key_over_its_rate_waits_and_the_others_do_not() {
        let cfg = IngestConfig {
            key_votes_per_s: 2,
            key_burst: 3,
            ..Default::default()
        };
        let (a, b, feed) = (
            client("a", None),
            client("b", None),
            client("feed", Some(0)),
        );
        let q = Quotas::new(&cfg);
        for _ in 0..3 {
            q.check(&a).unwrap();
        }
        let wait = q.check(&a).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_millis(500),
            "{wait:?}"
        );
        // Another key has its own bucket; a key with votes_per_s = 0 is unlimited.
        q.check(&b).unwrap();
        for _ in 0..1000 {
            q.check(&feed).unwrap();
        }
    }

    #[test]
    fn no_rate_means_no_limit() {
        let q = Quotas::new(&IngestConfig::default());
        for _ in 0..10_000 {
            q.check(&client("a", None)).unwrap();
        }
    }
}
