//! KCL's lease-taking rules as pure functions over a snapshot of the lease table.
//!
//! - A lease is **expired** when its `leaseCounter` has not moved for `failover` on the
//!   observer's own monotonic clock ([`ExpiryTracker`]); no clock sync is needed.
//! - A worker takes **expired and unowned** leases first, up to its target
//!   `ceil(leases / workers)`; then, if still under target, **steals at most one** lease
//!   from the most loaded worker ([`choose_leases`]).

use crate::lease::Lease;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
use std::time::Instant;

/// Remembers, per lease, the last counter seen and when it was first seen at that value.
#[derive(Debug, Default)]
pub struct ExpiryTracker {
    seen: HashMap<String, (i64, Instant)>,
}

impl ExpiryTracker {
    /// Folds in a fresh scan at `now`; forgets leases no longer in the table.
    pub fn observe(&mut self, leases: &[Lease], now: Instant) {
        self.seen.retain(|k, _| leases.iter().any(|l| &l.key == k));
        for l in leases {
            match self.seen.get(&l.key) {
                Some((c, _)) if *c == l.counter => {}
                _ => {
                    self.seen.insert(l.key.clone(), (l.counter, now));
                }
            }
        }
    }

    /// True when the lease's counter has not moved for `failover` (as seen from here).
    pub fn is_expired(&self, key: &str, failover: Duration, now: Instant) -> bool {
        self.seen
            .get(key)
            .is_some_and(|(_, since)| now.duration_since(*since) > failover)
    }
}

/// Why a lease is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    Unowned,
    Expired,
    Stolen,
}

impl Take {
    pub fn label(self) -> &'static str {
        match self {
            Take::Unowned => "unowned",
            Take::Expired => "expired",
            Take::Stolen => "stolen",
        }
    }
}

/// Which leases `me` should try to take now. `active` are the leases that can be
/// processed (not finished, parents done); `expired(key)` says whether one is expired.
pub fn choose_leases(
    me: &str,
    active: &[Lease],
    expired: impl Fn(&str) -> bool,
) -> Vec<(String, Take)> {
    if active.is_empty() {
        return vec![];
    }
    // Live owners and their loads (an expired lease counts for nobody).
    let mut load: BTreeMap<&str, usize> = BTreeMap::new();
    load.insert(me, 0);
    let mut free = Vec::new();
    for l in active {
        match l.owner.as_deref() {
            None => free.push((l.key.clone(), Take::Unowned)),
            Some(o) if expired(&l.key) && o != me => free.push((l.key.clone(), Take::Expired)),
            Some(o) => *load.entry(o).or_default() += 1,
        }
    }
    let workers = load.len();
    let target = active.len().div_ceil(workers);
    let mine = load[me];
    if mine >= target {
        return vec![];
    }
    let needed = target - mine;
    // Unowned first, then expired; stable order for determinism.
    free.sort_by(|a, b| (a.1 != Take::Unowned, &a.0).cmp(&(b.1 != Take::Unowned, &b.0)));
    if !free.is_empty() {
        return free.into_iter().take(needed).collect();
    }
    // Steal at most one from the most loaded other worker, if it is above target
    // (or at target while we are two or more short).
    let Some((victim, count)) = load
        .iter()
        .filter(|(w, _)| **w != me)
        .max_by_key(|(w, c)| (**c, std::cmp::Reverse(**w)))
    else {
        return vec![];
    };
    if *count > target || (*count == target && needed >= 2) {
        let mut theirs: Vec<&Lease> = active
            .iter()
            .filter(|l| l.owner.as_deref() == Some(victim))
            .collect();
        theirs.sort_by(|a, b| a.key.cmp(&b.key));
        if let Some(l) = theirs.first() {
            return vec![(l.key.clone(), Take::Stolen)];
        }
    }
    vec![]
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

    #[test]
    fn unowned_are_taken_up_to_target() {
        let active = vec![
            lease("s1", None, 0),
            lease("s2", None, 0),
            lease("s3", Some("b"), 4),
        ];
        // workers a, b -> target ceil(3/2) = 2; a holds 0 -> takes 2 unowned.
        let got = choose_leases("a", &active, |_| false);
        assert_eq!(
            got,
            vec![("s1".into(), Take::Unowned), ("s2".into(), Take::Unowned)]
        );
    }

    #[test]
    fn expired_leases_are_taken_and_their_owner_does_not_count() {
        let active = vec![lease("s1", Some("dead"), 7), lease("s2", Some("dead"), 9)];
        let got = choose_leases("a", &active, |_| true);
        assert_eq!(got.len(), 2);
        assert!(got.iter().all(|(_, t)| *t == Take::Expired));
    }

    #[test]
    fn steals_one_at_a_time_from_the_most_loaded() {
        let active: Vec<Lease> = (0..6)
            .map(|i| lease(&format!("s{i}"), Some("b"), 1))
            .collect();
        // a and b; target 3; b holds 6 -> steal exactly one.
        assert_eq!(
            choose_leases("a", &active, |_| false),
            vec![("s0".into(), Take::Stolen)]
        );
    }

    #[test]
    fn balanced_workers_take_nothing() {
        let active = vec![
            lease("s1", Some("a"), 1),
            lease("s2", Some("b"), 1),
            lease("s3", Some("c"), 1),
        ];
        for w in ["a", "b", "c"] {
            assert!(choose_leases(w, &active, |_| false).is_empty());
        }
        // A fourth worker: target ceil(3/4) = 1; everyone is at target and it needs only 1: no steal.
        assert!(choose_leases("d", &active, |_| false).is_empty());
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
    }
}
