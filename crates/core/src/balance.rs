//! Which projector worker processes which shard, as pure functions over a snapshot of the
//! lease table.
//!
//! - A lease (or a worker's registration) is **expired** when its counter has not moved
//!   for `failover` on the observer's own monotonic clock ([`ExpiryTracker`]); no clock
//!   sync is needed.
//! - **Assignment is deterministic**: every ready shard belongs to the live worker with
//!   the highest rendezvous weight `SHA-256(worker || 0 || shard)` ([`rendezvous`]). Every
//!   worker computes the same answer from the same registry, and a worker leaving or
//!   joining moves only the shards whose winner it was or becomes.
//! - The lease stays the fence: [`plan`] only says what to try. A worker takes a shard
//!   assigned to it when the lease is unowned, expired, or its own; it **hands off** a
//!   shard it holds but that hashes elsewhere (checkpoint, release; the new owner takes the
//!   unowned lease on its next tick, without waiting for expiry).

use crate::lease::Lease;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::time::Duration;
use std::time::Instant;

/// Remembers, per key (a lease or a worker registration), the last counter seen and when
/// it was first seen at that value.
#[derive(Debug, Default)]
pub struct ExpiryTracker {
    seen: HashMap<String, (i64, Instant)>,
}

impl ExpiryTracker {
    /// Folds in a fresh scan at `now`; forgets leases no longer in the table.
    pub fn observe(&mut self, leases: &[Lease], now: Instant) {
        self.observe_counters(leases.iter().map(|l| (l.key.as_str(), l.counter)), now);
    }

    /// The same for any `(key, counter)` pairs: the complete set of keys tracked.
    pub fn observe_counters<'a>(
        &mut self,
        counters: impl IntoIterator<Item = (&'a str, i64)> + Clone,
        now: Instant,
    ) {
        self.seen
            .retain(|k, _| counters.clone().into_iter().any(|(c, _)| c == k));
        for (key, counter) in counters {
            match self.seen.get(key) {
                Some((c, _)) if *c == counter => {}
                _ => {
                    self.seen.insert(key.to_string(), (counter, now));
                }
            }
        }
    }

    /// True when the key's counter has not moved for `failover` (as seen from here).
    pub fn is_expired(&self, key: &str, failover: Duration, now: Instant) -> bool {
        self.seen
            .get(key)
            .is_some_and(|(_, since)| now.duration_since(*since) > failover)
    }
}

/// Why a lease is taken (`votechain_projector_leases_taken_total{how}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    /// Nobody holds it: new, released on shutdown, or handed off to us.
    Unowned,
    /// Its owner stopped renewing it for `failover`.
    Expired,
    /// Our worker id holds it but no worker of ours serves it (a restarted worker).
    Reacquired,
}

impl Take {
    pub const ALL: [Take; 3] = [Take::Unowned, Take::Expired, Take::Reacquired];

    pub fn label(self) -> &'static str {
        match self {
            Take::Unowned => "unowned",
            Take::Expired => "expired",
            Take::Reacquired => "reacquired",
        }
    }
}

/// The rendezvous weight of `worker` for `shard`: the first 8 bytes of
/// `SHA-256(worker || 0x00 || shard)`, big-endian.
pub fn weight(worker: &str, shard: &str) -> u64 {
    let mut h = Sha256::new();
    h.update(worker.as_bytes());
    h.update([0u8]);
    h.update(shard.as_bytes());
    let d = h.finalize();
    u64::from_be_bytes(d[..8].try_into().expect("8 bytes"))
}

/// The worker `shard` belongs to: the highest weight among `workers` (ties, which need a
/// SHA-256 collision on 64 bits, go to the smaller id). `None` without workers.
pub fn rendezvous<'a>(shard: &str, workers: &'a [String]) -> Option<&'a str> {
    workers
        .iter()
        .max_by(|a, b| {
            (weight(a, shard), std::cmp::Reverse(*a))
                .cmp(&(weight(b, shard), std::cmp::Reverse(*b)))
        })
        .map(String::as_str)
}

/// The live workers as `me` sees them: itself, and every registered worker whose heartbeat
/// has not been still for `failover` (per `expired`). Sorted, without duplicates.
pub fn live_workers(
    me: &str,
    registered: &[(String, i64)],
    expired: impl Fn(&str) -> bool,
) -> Vec<String> {
    let mut live: Vec<String> = registered
        .iter()
        .filter(|(w, _)| w != me && !expired(w))
        .map(|(w, _)| w.clone())
        .collect();
    live.push(me.to_string());
    live.sort();
    live.dedup();
    live
}

/// What a worker does about one lease this tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Try to take it (conditional on the counter seen).
    Take(String, Take),
    /// It hashes to another live worker: stop our worker after its batch, then release.
    HandOff(String),
}

/// What `me` does this tick. `ready` are the leases that can be processed (not finished,
/// parents done); `live` the live workers (see [`live_workers`]); `expired(key)` whether a
/// lease's counter stood still for `failover`; `serving(key)` whether a worker of ours is
/// running (or still stopping) on it.
pub fn plan(
    me: &str,
    ready: &[Lease],
    live: &[String],
    expired: impl Fn(&str) -> bool,
    serving: impl Fn(&str) -> bool,
) -> Vec<Action> {
    let mut out = vec![];
    for l in ready {
        let mine = rendezvous(&l.key, live) == Some(me);
        let owner = l.owner.as_deref();
        // A shard a worker of ours still serves (or is still stopping on) is never taken
        // again: one process never runs two workers for one shard.
        let free = !serving(&l.key);
        match (mine, owner) {
            (true, None) if free => out.push(Action::Take(l.key.clone(), Take::Unowned)),
            (true, Some(o)) if o == me && free => {
                out.push(Action::Take(l.key.clone(), Take::Reacquired))
            }
            (true, Some(o)) if o != me && expired(&l.key) && free => {
                out.push(Action::Take(l.key.clone(), Take::Expired))
            }
            (false, Some(o)) if o == me => out.push(Action::HandOff(l.key.clone())),
            // Ours and served; or another live owner that will hand it off to us; or not ours.
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(key: &str, owner: Option<&str>, counter: i64) -> Lease {
        Lease {
            key: key.into(),
            owner: owner.map(String::from),
            counter,
            ..Lease::new_for_shard(key, vec![])
        }
    }
    fn workers(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }
    fn shards(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("shardId-{i:04}")).collect()
    }

    #[test]
    fn rendezvous_is_a_pure_function_of_the_worker_set() {
        let w = workers(&["a", "b", "c"]);
        let mut rev = w.clone();
        rev.reverse();
        for s in shards(50) {
            assert_eq!(rendezvous(&s, &w), rendezvous(&s, &rev), "{s}");
        }
        assert_eq!(rendezvous("s", &[]), None);
        // Pinned: an independent implementation must agree (SHA-256("a\0s")[..8]).
        assert_eq!(weight("a", "s"), {
            let d = Sha256::digest(b"a\0s");
            u64::from_be_bytes(d[..8].try_into().unwrap())
        });
    }

    #[test]
    fn a_leaving_worker_moves_only_its_own_shards() {
        let all = workers(&["a", "b", "c"]);
        let without_b = workers(&["a", "c"]);
        let ss = shards(300);
        let mut moved = 0;
        for s in &ss {
            let before = rendezvous(s, &all).unwrap();
            let after = rendezvous(s, &without_b).unwrap();
            if before != "b" {
                assert_eq!(before, after, "{s} moved although its owner stayed");
            } else {
                moved += 1;
            }
        }
        // And the spread is fair enough: each of 3 workers has roughly a third.
        assert!((70..=130).contains(&moved), "b had {moved} of 300");
    }

    #[test]
    fn a_joining_worker_takes_only_what_it_wins() {
        let old = workers(&["a", "b"]);
        let new = workers(&["a", "b", "d"]);
        for s in shards(200) {
            let after = rendezvous(&s, &new).unwrap();
            if after != "d" {
                assert_eq!(rendezvous(&s, &old).unwrap(), after);
            }
        }
    }

    #[test]
    fn live_workers_include_me_and_drop_the_silent() {
        let reg = vec![
            ("b".to_string(), 3),
            ("dead".to_string(), 9),
            ("a".to_string(), 1),
        ];
        assert_eq!(
            live_workers("a", &reg, |w| w == "dead"),
            workers(&["a", "b"])
        );
        assert_eq!(live_workers("z", &[], |_| false), workers(&["z"]));
    }

    #[test]
    fn plan_takes_what_hashes_here_and_hands_off_the_rest() {
        let live = workers(&["a", "b", "c"]);
        let ss = shards(12);
        let mine: Vec<&String> = ss
            .iter()
            .filter(|s| rendezvous(s, &live) == Some("a"))
            .collect();
        let theirs: Vec<&String> = ss
            .iter()
            .filter(|s| rendezvous(s, &live) != Some("a"))
            .collect();
        assert!(!mine.is_empty() && !theirs.is_empty());
        // Unowned: a takes exactly its own.
        let ready: Vec<Lease> = ss.iter().map(|s| lease(s, None, 0)).collect();
        let got = plan("a", &ready, &live, |_| false, |_| false);
        let want: Vec<Action> = mine
            .iter()
            .map(|s| Action::Take(s.to_string(), Take::Unowned))
            .collect();
        assert_eq!(got, want);
        // a holds everything (it was alone): it hands off the others' shards, keeps its own.
        let ready: Vec<Lease> = ss.iter().map(|s| lease(s, Some("a"), 5)).collect();
        let got = plan("a", &ready, &live, |_| false, |_| true);
        let want: Vec<Action> = theirs
            .iter()
            .map(|s| Action::HandOff(s.to_string()))
            .collect();
        assert_eq!(got, want);
        // The others wait for the handoff: a live owner's lease is never taken.
        let got = plan("b", &ready, &live, |_| false, |_| false);
        assert!(got.is_empty(), "{got:?}");
    }

    #[test]
    fn plan_takes_expired_and_reacquires_its_own() {
        let live = workers(&["a"]);
        let ready = vec![
            lease("s1", Some("dead"), 7),
            lease("s2", Some("dead"), 9),
            lease("s3", Some("a"), 2),
        ];
        // Not yet expired: wait.
        let got = plan("a", &ready, &live, |_| false, |k| k == "s3");
        assert!(got.is_empty());
        let got = plan("a", &ready, &live, |k| k != "s3", |_| false);
        assert_eq!(
            got,
            vec![
                Action::Take("s1".into(), Take::Expired),
                Action::Take("s2".into(), Take::Expired),
                Action::Take("s3".into(), Take::Reacquired),
            ]
        );
    }

    #[test]
    fn a_shard_still_served_here_is_never_taken_again() {
        // Our worker on s1 was told to stop (lease lost) and has not exited yet; the lease
        // is unowned, expired or ours again in the table: wait for the exit.
        let live = workers(&["a"]);
        for l in [
            lease("s1", None, 3),
            lease("s1", Some("b"), 3),
            lease("s1", Some("a"), 3),
        ] {
            let ready = vec![l];
            assert!(
                plan("a", &ready, &live, |_| true, |_| true).is_empty(),
                "{ready:?}"
            );
            assert_eq!(plan("a", &ready, &live, |_| true, |_| false).len(), 1);
        }
    }

    #[test]
    fn expiry_follows_the_observers_clock() {
        let mut now = Instant::now();
        let failover = Duration::from_secs(10);
        let mut t = ExpiryTracker::default();
        t.observe(&[lease("s1", Some("b"), 1)], now);
        now += Duration::from_secs(6);
        t.observe(&[lease("s1", Some("b"), 2)], now); // renewed: clock restarts
        now += Duration::from_secs(9);
        assert!(!t.is_expired("s1", failover, now));
        now += Duration::from_secs(2);
        t.observe(&[lease("s1", Some("b"), 2)], now);
        assert!(t.is_expired("s1", failover, now));
        // A key that left the table is forgotten (and never reported expired).
        t.observe(&[], now);
        assert!(!t.is_expired("s1", failover, now + failover * 2));
    }
}
