//! Shard lineage, as KCL handles it: a child shard is processed only after all its
//! parents are checkpointed at `SHARD_END`. Only the elected shard-sync worker reads
//! `DescribeStream`; everything the others need is in the lease table, which keeps three
//! invariants the functions here maintain:
//!
//! 1. **Parents first.** Leases are created in lineage order ([`new_leases`]), so a child's
//!    lease never exists without its parent's, unless the parent's is gone for good.
//! 2. **A missing parent lease means done or lost, never "not yet".** A parent's lease is
//!    deleted only once every child has checkpointed past `TRIM_HORIZON` ([`deletable`]);
//!    otherwise it was never created because the stream had already dropped the parent
//!    (trimmed: records lost, [`lineage_gaps`]). Either way it cannot block ([`ready`]).
//! 3. **Nothing is read twice.** A closed shard still listed by the stream whose lease was
//!    deleted is not leased again: a shard with a leased descendant is finished.
//!
//! Pure functions over synthetic or real shard lists; the many-generations cases are
//! unit-tested here and driven end to end through the fault proxy's Streams topology.

use crate::lease::{Lease, SHARD_END, TRIM_HORIZON};
use std::collections::{HashMap, HashSet};

/// A shard as DescribeStream reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shard {
    pub id: String,
    pub parent: Option<String>,
    /// DescribeStream reports an ending sequence number once the shard is closed.
    pub closed: bool,
}

/// Leases to create for shards that have none yet, each recording its parent, in lineage
/// order (a parent before its children; create them in this order and stop at the first
/// failure). A closed shard with a leased descendant is finished and never leased again.
pub fn new_leases(shards: &[Shard], leases: &[Lease]) -> Vec<Lease> {
    let have: HashSet<&str> = leases.iter().map(|l| l.key.as_str()).collect();
    let by_id: HashMap<&str, &Shard> = shards.iter().map(|s| (s.id.as_str(), s)).collect();
    let mut children: HashMap<&str, Vec<&str>> = HashMap::new();
    for s in shards {
        if let Some(p) = &s.parent {
            children.entry(p.as_str()).or_default().push(&s.id);
        }
    }
    let leased_descendant = |root: &str| {
        let mut stack: Vec<&str> = children.get(root).cloned().unwrap_or_default();
        let mut seen = HashSet::new();
        while let Some(c) = stack.pop() {
            if !seen.insert(c) {
                continue;
            }
            if have.contains(c) {
                return true;
            }
            stack.extend(children.get(c).cloned().unwrap_or_default());
        }
        false
    };
    let fresh: Vec<&Shard> = shards
        .iter()
        .filter(|s| !have.contains(s.id.as_str()))
        .filter(|s| !(s.closed && leased_descendant(&s.id)))
        .collect();
    // Depth in the stream's lineage: parents (shallower) first.
    let depth = |s: &Shard| {
        let mut d = 0usize;
        let mut cur = s.parent.as_deref();
        while let Some(p) = cur.and_then(|p| by_id.get(p)) {
            d += 1;
            cur = p.parent.as_deref();
            if d > shards.len() {
                break; // a cycle would be the stream's bug; do not loop on it
            }
        }
        d
    };
    let mut fresh: Vec<(usize, &Shard)> = fresh.into_iter().map(|s| (depth(s), s)).collect();
    fresh.sort_by(|a, b| (a.0, &a.1.id).cmp(&(b.0, &b.1.id)));
    fresh
        .into_iter()
        .map(|(_, s)| Lease::new_for_shard(&s.id, s.parent.iter().cloned().collect()))
        .collect()
}

/// Leases that may be processed now: not finished, and every parent either finished
/// (`SHARD_END`) or without a lease (deleted once done, or dropped by the stream before it
/// was leased: see the module's invariants).
pub fn ready(leases: &[Lease]) -> Vec<Lease> {
    let by_key: HashMap<&str, &Lease> = leases.iter().map(|l| (l.key.as_str(), l)).collect();
    leases
        .iter()
        .filter(|l| l.checkpoint != SHARD_END)
        .filter(|l| {
            l.parents.iter().all(|p| {
                by_key
                    .get(p.as_str())
                    .is_none_or(|parent| parent.checkpoint == SHARD_END)
            })
        })
        .cloned()
        .collect()
}

/// Finished leases that can be deleted: at `SHARD_END`, with at least one child, and every
/// child (from the stream and from the lease table) leased and checkpointed past
/// `TRIM_HORIZON`. Keeps the lease table bounded as shards roll over.
pub fn deletable(leases: &[Lease], shards: &[Shard]) -> Vec<String> {
    let by_key: HashMap<&str, &Lease> = leases.iter().map(|l| (l.key.as_str(), l)).collect();
    let mut children: HashMap<&str, HashSet<&str>> = HashMap::new();
    for s in shards {
        if let Some(p) = &s.parent {
            children.entry(p.as_str()).or_default().insert(&s.id);
        }
    }
    for l in leases {
        for p in &l.parents {
            children.entry(p.as_str()).or_default().insert(&l.key);
        }
    }
    leases
        .iter()
        .filter(|l| l.checkpoint == SHARD_END)
        .filter(|l| {
            children.get(l.key.as_str()).is_some_and(|cs| {
                !cs.is_empty()
                    && cs.iter().all(|c| {
                        by_key
                            .get(c)
                            .is_some_and(|cl| cl.checkpoint != TRIM_HORIZON)
                    })
            })
        })
        .map(|l| l.key.clone())
        .collect()
}

/// New leases whose parent is neither in the stream nor in the lease table, while the
/// table already tracks this stream: the stream dropped the parent (its records expired)
/// before any worker finished it, so records between what was applied and the child are
/// lost. On a first start (no leases) a missing parent is the stream's history before
/// retention instead, judged by the stream's age.
pub fn lineage_gaps(shards: &[Shard], leases: &[Lease], fresh: &[Lease]) -> Vec<String> {
    if leases.is_empty() {
        return vec![];
    }
    let in_stream: HashSet<&str> = shards.iter().map(|s| s.id.as_str()).collect();
    let leased: HashSet<&str> = leases.iter().map(|l| l.key.as_str()).collect();
    fresh
        .iter()
        .filter(|l| {
            l.parents
                .iter()
                .any(|p| !in_stream.contains(p.as_str()) && !leased.contains(p.as_str()))
        })
        .map(|l| l.key.clone())
        .collect()
}

/// Shards that are still open (the scaling signal counts them).
pub fn open_count(shards: &[Shard]) -> usize {
    shards.iter().filter(|s| !s.closed).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard(id: &str, parent: Option<&str>, closed: bool) -> Shard {
        Shard {
            id: id.into(),
            parent: parent.map(String::from),
            closed,
        }
    }
    fn lease(id: &str, parent: Option<&str>, cp: &str) -> Lease {
        Lease {
            checkpoint: cp.into(),
            ..Lease::new_for_shard(id, parent.iter().map(|p| p.to_string()).collect())
        }
    }
    fn keys(v: &[Lease]) -> Vec<&str> {
        v.iter().map(|l| l.key.as_str()).collect()
    }

    #[test]
    fn new_leases_cover_unknown_shards_with_their_parents() {
        let shards = vec![shard("a", None, true), shard("b", Some("a"), false)];
        let got = new_leases(&shards, &[lease("a", None, TRIM_HORIZON)]);
        assert_eq!(keys(&got), vec!["b"]);
        assert_eq!(got[0].parents, vec!["a".to_string()]);
        assert_eq!(got[0].checkpoint, TRIM_HORIZON);
    }

    #[test]
    fn child_waits_for_parent_shard_end() {
        let mid = vec![
            lease("a", None, "000123"),
            lease("b", Some("a"), TRIM_HORIZON),
        ];
        assert_eq!(keys(&ready(&mid)), vec!["a"]);
        let done = vec![
            lease("a", None, SHARD_END),
            lease("b", Some("a"), TRIM_HORIZON),
        ];
        assert_eq!(keys(&ready(&done)), vec!["b"]);
    }

    #[test]
    fn many_generations_and_a_split_proceed_in_order() {
        // a -> b -> {c, d} (split) -> e (child of d)
        let shards = vec![
            shard("a", None, true),
            shard("b", Some("a"), true),
            shard("c", Some("b"), false),
            shard("d", Some("b"), true),
            shard("e", Some("d"), false),
        ];
        let mut leases: Vec<Lease> = new_leases(&shards, &[]);
        let mut order = vec![];
        for _ in 0..10 {
            let r = ready(&leases);
            if r.is_empty() {
                break;
            }
            let k = r[0].key.clone();
            order.push(k.clone());
            leases.iter_mut().find(|l| l.key == k).unwrap().checkpoint = SHARD_END.into();
        }
        assert_eq!(order, vec!["a", "b", "c", "d", "e"]);
        let pos = |s: &str| order.iter().position(|x| x == s).unwrap();
        assert!(pos("d") < pos("e") && pos("b") < pos("c"));
    }

    #[test]
    fn a_parent_without_a_lease_does_not_block() {
        // Parent "z" expired out of the stream and was never leased.
        let shards = vec![shard("b", Some("z"), false)];
        let leases = new_leases(&shards, &[]);
        assert_eq!(keys(&ready(&leases)), vec!["b"]);
        assert_eq!(open_count(&shards), 1);
    }

    #[test]
    fn leases_are_created_parents_first() {
        // Listed children first: creation order must still be a, b, then c and d, then e.
        let shards = vec![
            shard("e", Some("d"), false),
            shard("d", Some("b"), true),
            shard("c", Some("b"), false),
            shard("b", Some("a"), true),
            shard("a", None, true),
        ];
        assert_eq!(
            keys(&new_leases(&shards, &[])),
            vec!["a", "b", "c", "d", "e"]
        );
    }

    #[test]
    fn a_finished_shard_is_never_leased_again() {
        // a's lease was deleted after b progressed; the stream still lists a (closed).
        let shards = vec![shard("a", None, true), shard("b", Some("a"), false)];
        let leases = vec![lease("b", Some("a"), "000042")];
        assert!(new_leases(&shards, &leases).is_empty());
        // Two generations deleted: still finished (b's descendant c holds a lease).
        let shards = vec![
            shard("a", None, true),
            shard("b", Some("a"), true),
            shard("c", Some("b"), false),
        ];
        let leases = vec![lease("c", Some("b"), TRIM_HORIZON)];
        assert!(new_leases(&shards, &leases).is_empty());
        // But an open shard without a lease is always leased.
        let shards = vec![shard("x", None, false)];
        assert_eq!(keys(&new_leases(&shards, &leases)), vec!["x"]);
    }

    #[test]
    fn finished_leases_go_once_every_child_progressed() {
        let shards = vec![
            shard("a", None, true),
            shard("b", Some("a"), false),
            shard("c", Some("a"), false),
        ];
        let mut leases = vec![
            lease("a", None, SHARD_END),
            lease("b", Some("a"), "0001"),
            lease("c", Some("a"), TRIM_HORIZON),
        ];
        // c has not started: a stays (its lease is what keeps c waiting in order).
        assert!(deletable(&leases, &shards).is_empty());
        leases[2].checkpoint = "0002".into();
        assert_eq!(deletable(&leases, &shards), vec!["a".to_string()]);
        // A child the stream lists but the table does not know yet also keeps a.
        let shards2 = [shards.clone(), vec![shard("d", Some("a"), false)]].concat();
        assert!(deletable(&leases, &shards2).is_empty());
        // Unfinished or childless leases are never deleted.
        let alone = vec![lease("z", None, SHARD_END), lease("y", None, "0003")];
        assert!(deletable(&alone, &[]).is_empty());
    }

    #[test]
    fn a_parent_dropped_before_it_was_leased_is_a_gap() {
        let shards = vec![shard("c", Some("b"), false)];
        let before = vec![lease("a", None, "0009")];
        let fresh = new_leases(&shards, &before);
        assert_eq!(
            lineage_gaps(&shards, &before, &fresh),
            vec!["c".to_string()]
        );
        // Parent still leased (being read): no gap.
        let before = vec![lease("b", None, "0009")];
        let fresh = new_leases(&shards, &before);
        assert!(lineage_gaps(&shards, &before, &fresh).is_empty());
        // First start: judged by the stream's age instead.
        let fresh = new_leases(&shards, &[]);
        assert!(lineage_gaps(&shards, &[], &fresh).is_empty());
    }
}
